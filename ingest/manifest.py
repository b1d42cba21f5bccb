"""The store's folder and its manifest: which files are live, published by one atomic rename.

A store is a folder (`data/callscope/`):
```
manifest.json                          the published version: every live file of every table, their schemas
events/day=YYYY-MM-DD/<name>.parquet   UTC day of the event's ts
instances/day=…, calls/day=…, …        derived tables: the day their instance / call started
rejects/<name>.parquet, loads/<name>.parquet
notes.duckdb, spool/, writer.lock, import.json (the import under way, if any)
```
A file that is not in the current manifest is invisible to readers. Publishing writes `.manifest.json.<pid>.tmp`,
fsyncs it, renames it over `manifest.json` and fsyncs the folder: a reader sees the previous version or the
next, whole. Files that leave the manifest (compaction, replaced derived partitions, pruned days) are listed in
`retired` with the time they left and deleted by a writer GRACE_S later, so a reader still on an older version can
finish its queries; files in no manifest at all (an import killed before it published) are deleted by the next
writer, which holds the lock, so no import of theirs is under way.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "callscope-store/2"
MANIFEST = "manifest.json"
GRACE_S = 600.0  # a file left the manifest this long ago: no reader still needs it
LEGACY_SUFFIX = ".duckdb"


def store_dir(db_path: Path) -> Path:
    """The store a `--db`/`CALLSCOPE_DB` names: the folder itself, or for the old name of a DuckDB file
    (`data/callscope.duckdb`) the folder without the suffix (`data/callscope`)."""
    path = Path(db_path)
    return path.with_suffix("") if path.suffix == LEGACY_SUFFIX else path


def manifest_path(db_path: Path) -> Path:
    return store_dir(db_path) / MANIFEST


def legacy_file(db_path: Path) -> Path:
    """Where a version-1 store (one DuckDB file) of the same name would be: `data/callscope.duckdb`."""
    folder = store_dir(db_path)
    return folder.with_name(folder.name + LEGACY_SUFFIX)


@dataclass
class DataFile:
    path: str  # relative to the store folder, `/`-separated
    rows: int
    day: str | None = None  # the partition (YYYY-MM-DD), None for unpartitioned tables

    def to_json(self) -> dict:
        return {"path": self.path, "rows": self.rows, **({"day": self.day} if self.day else {})}


@dataclass
class Manifest:
    generation: int = 0
    next_load_id: int = 1
    tables: dict[str, list[DataFile]] = field(default_factory=dict)
    schemas: dict[str, list[list[str]]] = field(default_factory=dict)  # table -> [[column, DuckDB type], ...]
    retired: list[dict] = field(default_factory=list)  # [{"path", "at"}]: left the manifest at `at` (epoch s)

    def files(self, table: str, days: set[str] | None = None) -> list[DataFile]:
        return [f for f in self.tables.get(table, []) if days is None or f.day in days]

    def days(self, table: str) -> set[str]:
        return {f.day for f in self.tables.get(table, []) if f.day}

    def replace(self, table: str, gone: list[DataFile], added: list[DataFile], now: float | None = None) -> None:
        """Swap files of `table`: `gone` leave it (retired, deleted after GRACE_S), `added` join it."""
        gone_paths = {f.path for f in gone}
        kept = [f for f in self.tables.get(table, []) if f.path not in gone_paths]
        self.tables[table] = kept + [f for f in added if f.rows]
        at = time.time() if now is None else now
        self.retired += [{"path": p, "at": at} for p in sorted(gone_paths)]

    def live_paths(self) -> set[str]:
        return {f.path for files in self.tables.values() for f in files}

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "generation": self.generation, "next_load_id": self.next_load_id,
            "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tables": {name: [f.to_json() for f in files] for name, files in sorted(self.tables.items())},
            "schemas": self.schemas, "retired": self.retired,
        }

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        return cls(
            generation=data["generation"], next_load_id=data["next_load_id"],
            tables={name: [DataFile(f["path"], f["rows"], f.get("day")) for f in files]
                    for name, files in data["tables"].items()},
            schemas=data.get("schemas", {}), retired=data.get("retired", []),
        )


def read(db_path: Path) -> Manifest | None:
    """The published manifest, or None when the store has none yet."""
    try:
        text = manifest_path(db_path).read_text()
    except FileNotFoundError:
        return None
    return Manifest.from_json(json.loads(text))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(db_path: Path, manifest: Manifest) -> None:
    """Make `manifest` the published version: a temporary file, fsync, one rename, fsync of the folder."""
    folder = store_dir(db_path)
    target = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(manifest.to_json(), fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def new_file(table: str, generation: int, day: str | None = None) -> str:
    """A fresh relative path for a data file of `table` written for `generation` (never reused)."""
    name = f"g{generation:08d}-{uuid.uuid4().hex[:12]}.parquet"
    return f"{table}/day={day}/{name}" if day else f"{table}/{name}"


def collect_garbage(db_path: Path, manifest: Manifest, now: float | None = None) -> None:
    """Delete what no reader can need (only the writer, under its lock, calls this): retired files past their
    grace period, and data files in no manifest (an import killed before it published). Changes `retired`."""
    folder = store_dir(db_path)
    now = time.time() if now is None else now
    due = [r for r in manifest.retired if now - r["at"] >= GRACE_S]
    for r in due:
        (folder / r["path"]).unlink(missing_ok=True)
    manifest.retired = [r for r in manifest.retired if now - r["at"] < GRACE_S]
    known = manifest.live_paths() | {r["path"] for r in manifest.retired}
    for table in manifest.tables.keys() | TABLE_FOLDERS:
        base = folder / table
        if not base.is_dir():
            continue
        for path in base.rglob("*.parquet"):
            if path.relative_to(folder).as_posix() not in known:
                path.unlink(missing_ok=True)
        for day in base.glob("day=*"):
            if day.is_dir() and not any(day.iterdir()):
                day.rmdir()


# Every table that has files (the writer creates these folders).
TABLE_FOLDERS = {"events", "rejects", "loads", "instances", "engagement_owners", "call_ids", "blank_id_messages",
                 "call_messages", "calls", "instance_keys", "key_links", "app_clocks"}
