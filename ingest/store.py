"""Storage: the one writer of a store, and the read side everyone else uses (`ingest.catalog`).

A store is a folder of Parquet files and a manifest naming the live ones (the layout and the publish protocol are
in `ingest.manifest`). How processes share it:
- Only the process holding `writer.lock` (an flock) writes: the CLI `load`/`demo`/`derive`/`prune`/`compact`, or
  the collector's flusher. Another writer waits for the lock, then gives up with a clear message. The lock is
  held for one import (or command) at a time, so the collector and `ingest load` take turns.
- An import writes new files only, then publishes: one atomic rename of `manifest.json`. Readers build their
  views from the manifest (`ingest.catalog.connect_reader`), so they never wait for a writer and never see half
  an import; a running dashboard sees the new import on its next query.
- The import under way is described in `import.json`; killed (kill -9, power loss), it leaves that file and
  unpublished files behind: the next writer records the import in `loads` as `failed` and deletes the files,
  and loading the same sources again completes it.
- A disk that refuses a write (full, over quota) surfaces as `StorageFailed`, a sentence, not a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest import locks, partitions
from ingest import manifest as mf
from ingest.batches import Batch
from ingest.catalog import connect_reader, describe, read_files, reader_cursor, snapshot_generation
from ingest.errors import StorageFailed, WriterBusy
from ingest.memory import WRITER_MEMORY_LIMIT, hand_back, size_bytes
from ingest.parse import Event, Reject
from ingest.schema import (
    BATCH_DAY_SQL,
    BATCH_DAYS_SQL,
    DROP_STORED_REJECTS_SQL,
    NOT_STORED_SQL,
    WRITTEN_TABLES_DDL,
    events_table,
)

__all__ = ["DEFAULT_DB_PATH", "Writer", "Import", "LoadCounts", "connect_reader", "reader_cursor",
           "snapshot_generation", "snapshot_path", "store_dir", "MAX_STORED_REJECTS"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# CALLSCOPE_STORE (or its old name CALLSCOPE_DB) points every command and the dashboard at another store; a name
# ending in .duckdb is the old name of the store without the suffix (`ingest.manifest.store_dir`).
DEFAULT_DB_PATH = Path(os.environ.get("CALLSCOPE_STORE") or os.environ.get("CALLSCOPE_DB")
                       or REPO_ROOT / "data" / "callscope")
# Lines parsed and stored at a time: a day a big import touches gets a file per batch, and a day left with more
# than COMPACT_AT_FILES is merged at publish. Memory holds about three batches at a time (being parsed, parsed,
# being stored): 100,000 lines peaked at 1,145 MB while parsing a 10M-event log, 50,000 at 776 MB (the import took
# as long: 196 s against 198 s, alternating with the earlier commit).
BATCH_ROWS = 50_000
WRITER_WAIT_S = 30.0
# An import keeps this many rejected lines with their text and reason; past it, each source's further rejects are
# counted in one summary row (a file or request of nothing but garbage must not become millions of rows).
MAX_STORED_REJECTS = 10_000
REJECTS_NOT_KEPT = ("{lines:,} more rejected lines from here on, counted but not kept (an import keeps the first "
                    "{kept:,} rejected lines with their text)")
REJECT_BATCH_BYTES = 16 << 20  # rejected lines carry their text: a batch of them is written before it grows past this
# A write refused for these reasons is the disk's fault, not the data's.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})
JOURNAL = "import.json"  # the import under way: left behind by an import that was killed
LOCK = "writer.lock"

store_dir = mf.store_dir


def snapshot_path(db_path: Path) -> Path:
    """The file whose replacement publishes a new version (bench/ and tests wait for it to exist)."""
    return mf.manifest_path(db_path)


@dataclass
class LoadCounts:
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0


def _storage_failure(folder: Path, exc: BaseException) -> StorageFailed | None:
    """The sentence for an error of the disk under the store (full, over quota, failing), else None. DuckDB
    reports it as an IO error, or as a failed write that "Could not write file"."""
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        detail = exc.strerror or str(exc)
    elif isinstance(exc, duckdb.IOException) or (isinstance(exc, duckdb.Error) and "Could not write file" in str(exc)):
        detail = str(exc).splitlines()[0]
    else:
        return None
    return StorageFailed(
        f"could not write {folder.name} in {folder.parent} ({detail})",
        "Free some space on that disk (or fix what the error names), then run the same command again: what was "
        "stored before the failure counts as duplicates",
    )


@contextmanager
def _storage_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        failure = _storage_failure(folder, exc)
        if failure is None:
            raise
        raise failure from exc


def _writer_busy(folder: Path) -> locks.OnTimeout:
    def busy(holder: str | None) -> WriterBusy:
        return WriterBusy(
            f"{folder.name} is being written by process {holder or 'another process'}",
            "Wait for that import to finish or stop the collector, then run this again "
            "(the dashboard keeps reading the last published import meanwhile)",
        )
    return busy


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Writer:
    """The single writer of a store. Use as a context manager; every method runs under the lock.

    `manifest` is the working version: files join it as they are written (readers see none of them until
    `publish`), so an import's later batches find its earlier ones when they drop duplicates."""

    def __init__(self, db_path: Path, wait_s: float = WRITER_WAIT_S):
        self.db_path = Path(db_path)
        self.folder = mf.store_dir(self.db_path)
        self.wait_s = wait_s
        self._held = ExitStack()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.manifest = mf.Manifest()
        self.new_loads: list[dict] = []  # rows for `loads`, written at the next publish
        self.touched: dict[str, set[str | None]] = {}  # table -> partitions written since the last publish
        self.new_events: list[mf.DataFile] = []  # event files written since the last publish

    def __enter__(self) -> Writer:
        self.folder.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            stack.enter_context(locks.exclusive(self.folder / LOCK, self.wait_s, on_timeout=_writer_busy(self.folder)))
            with _storage_errors(self.folder):
                self.con = self._connect()
                stack.callback(lambda: self.con.close())
                self.manifest = mf.read(self.db_path) or self._empty_manifest()
                self._recover()
                if not self.manifest.generation and mf.legacy_file(self.db_path).exists():
                    from ingest.migrate import migrate_into  # a first start on a version-1 store

                    migrate_into(self)
            self._held = stack.pop_all()
        return self

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # The allocator's background threads hand freed memory back to the system as DuckDB goes (without them
        # an import keeps ~135 MB it no longer uses, at 1M events)
        con = duckdb.connect(config={"memory_limit": f"{size_bytes(WRITER_MEMORY_LIMIT)}B",
                                     "temp_directory": str(self.folder / ".tmp"),
                                     "allocator_background_threads": True})
        con.execute("SET enable_progress_bar = false")  # a long derive would draw DuckDB's bar on our stderr
        return con

    def _renew_connection(self) -> None:
        """A new, empty DuckDB: the parse's cache (~160 MB at 1M events) leaves the derive's budget to the derive."""
        self.con.close()
        self.con = self._connect()

    def _empty_manifest(self) -> mf.Manifest:
        manifest = mf.Manifest()
        for table, ddl in WRITTEN_TABLES_DDL.items():
            self.con.execute(ddl)
            manifest.schemas[table] = describe(self.con, table)
            self.con.execute(f"DROP TABLE {table}")
        return manifest

    def _recover(self) -> None:
        """This process holds the lock, so no import is under way: an `import.json` is one that was killed (or
        whose failure could not be recorded: disk full). Record it as failed; delete what no reader needs."""
        journal = self.folder / JOURNAL
        if journal.exists():
            try:
                row = json.loads(journal.read_text())
            except ValueError:  # torn while it was written: the import had stored nothing yet
                row = None
            if row is not None:
                row["started_at"] = datetime.fromisoformat(row["started_at"])
                self.new_loads.append(row | {"status": "failed"})
                self.manifest.next_load_id = max(self.manifest.next_load_id, row["load_id"] + 1)
        mf.collect_garbage(self.db_path, self.manifest)

    def __exit__(self, *exc: object) -> None:
        self._held.close()  # the connection, then the lock

    @contextmanager
    def importing(self, tool: str, sources: list[str], redacted: bool, *,
                  started: float | None = None) -> Iterator[Import]:
        """One import: its `loads` row, its writes (`Import.write`), then the calls derived and a version published.

        When the body raises, the import is closed as `failed` with the counts so far and still published
        (readers see the audit row of a failed import too), then the error goes on; a disk that refuses a write
        raises StorageFailed. `started` is the `time.perf_counter()` the import's duration counts from
        (default: now).
        """
        started = time.perf_counter() if started is None else started
        with _storage_errors(self.folder):
            imp = Import(self, self._begin_load(tool, sources, redacted))
            try:
                yield imp
            except BaseException:
                self._close_failed(imp, started)
                raise
            finishing = time.perf_counter()
            self._finish_load(imp, started)
            self.publish()
            imp.finish_s = time.perf_counter() - finishing

    def _close_failed(self, imp: Import, started: float) -> None:
        """Close a failed import's row as `failed` and publish it, if the disk still takes writes. When it does
        not (the disk that failed the import fails this too), `import.json` stays and the next writer records the
        import as `failed`, and the import's own error is the one to report."""
        try:
            self._finish_load(imp, started, status="failed")
            self.publish()
        except (OSError, duckdb.Error):
            pass

    def _begin_load(self, tool: str, sources: list[str], redacted: bool) -> int:
        load_id = self.manifest.next_load_id
        self.manifest.next_load_id += 1
        row = {"load_id": load_id, "tool": tool, "sources": sources, "started_at": _now().isoformat(),
               "redacted": redacted}
        (self.folder / JOURNAL).write_text(json.dumps(row))
        return load_id

    def _write(self, imp: Import, batches: Iterable[Batch]) -> None:
        counts, rejects, reject_bytes = imp.counts, [], 0
        not_kept: dict[str, list[int]] = {}  # source -> [first line not kept, lines not kept]
        for batch in batches:
            if batch.events is not None and len(batch.events):
                counts.read += len(batch.events)
                self._flush_events(imp.load_id, batch.events, counts)
            for item in batch.rejects:
                counts.read += 1
                counts.rejected += 1
                if imp.kept_rejects >= MAX_STORED_REJECTS:
                    not_kept.setdefault(item.source, [item.line_no, 0])[1] += 1
                    continue
                imp.kept_rejects += 1
                rejects.append(item)
                reject_bytes += len(item.text)
                if len(rejects) >= BATCH_ROWS or reject_bytes >= REJECT_BATCH_BYTES:
                    self._flush_rejects(imp.load_id, rejects)
                    rejects, reject_bytes = [], 0
        self._flush_rejects(imp.load_id, rejects)
        summaries = [Reject(source, first, "", REJECTS_NOT_KEPT.format(lines=lines, kept=MAX_STORED_REJECTS))
                     for source, (first, lines) in not_kept.items()]
        self._flush_rejects(imp.load_id, summaries, [lines for _, lines in not_kept.values()])

    def _flush_events(self, load_id: int, batch: pa.Table, counts: LoadCounts) -> None:
        """Store a batch (`BATCH_SCHEMA`): drop its own copies (the first wins), then write one sorted file per day
        it touches, straight from the batch, without the events already stored (looked up in that day's files)."""
        keys = batch.column("event_key").to_pylist()
        first = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))  # key -> its first row
        unique = batch if len(first) == len(keys) else batch.take(sorted(first.values()))
        con, generation, written = self.con, self.manifest.generation + 1, []
        con.register("batch", unique)
        try:
            for day, lo, hi in con.execute(BATCH_DAYS_SQL).fetchall():
                stored = self.manifest.files("events", {day})
                select = BATCH_DAY_SQL + (NOT_STORED_SQL.format(
                    files=read_files([self.folder / f.path for f in stored])) if stored else "")
                file = partitions.write_day(con, self.folder, "events", select, day, generation,
                                            {"load_id": load_id, "lo": lo, "hi": hi})
                written += [file] if file else []
        finally:
            con.unregister("batch")
        self.manifest.replace("events", [], written)
        self.new_events += written
        self.touched.setdefault("events", set()).update(f.day for f in written)
        inserted = sum(f.rows for f in written)
        counts.loaded += inserted
        counts.duplicates += len(keys) - inserted

    def _flush_rejects(self, load_id: int, rejects: list[Reject], lines: list[int] | None = None) -> None:
        """Store rejected lines (already counted) not stored before; `lines`: how many lines each row stands for
        (default 1)."""
        if not rejects:
            return
        batch = pa.table({
            "source": [r.source for r in rejects], "line_no": [r.line_no for r in rejects],
            "raw": [r.text for r in rejects], "reason": [r.reason for r in rejects],
            "lines": pa.array(lines or [1] * len(rejects), type=pa.int64()),
        })
        self.con.register("reject_batch", batch)
        self.con.execute("CREATE OR REPLACE TEMP TABLE new_rejects AS SELECT DISTINCT $load_id::INTEGER AS load_id, "
                         "source, line_no, raw, reason, lines FROM reject_batch", {"load_id": load_id})
        self.con.unregister("reject_batch")
        stored = self.manifest.files("rejects")
        if stored:
            self.con.execute(DROP_STORED_REJECTS_SQL.format(files=read_files([self.folder / f.path for f in stored])))
        written = partitions.write_days(self.con, self.folder, "rejects", "new_rejects", self.manifest.generation + 1)
        self.manifest.replace("rejects", [], written)
        self.touched.setdefault("rejects", set()).add(None)

    def _finish_load(self, imp: Import, started: float, status: str = "done") -> None:
        """Derive calls from the stored events and close the audit row (written with the next publish).

        A failed import keeps the batches written before the failure; its audit row says `failed` with the
        counts so far, and loading the same files again completes it (the event keys make that idempotent)."""
        from ingest.derived import INDEXES, derive_all  # calls read what this writer stored
        from ingest.incremental import derive_touched

        # Only a big parse leaves enough cached to be worth the ~20 ms (a collector flush of a few segments does not)
        if imp.counts.read >= BATCH_ROWS:
            self._renew_connection()
            hand_back()
        if INDEXES.keys() <= self.manifest.schemas.keys():
            derive_touched(self, self.new_events)
        else:  # a first import (or a store derived before the index existed)
            derive_all(self)
        counts = imp.counts
        journal = json.loads((self.folder / JOURNAL).read_text())
        self.new_loads.append(journal | {
            "started_at": datetime.fromisoformat(journal["started_at"]), "status": status, "finished_at": _now(),
            "duration_ms": round((time.perf_counter() - started) * 1000), "lines_read": counts.read,
            "loaded": counts.loaded, "duplicates": counts.duplicates, "rejected": counts.rejected})

    def record_load(self, row: dict) -> None:
        """A `loads` row for a command that is not an import (`prune`), written with the next publish."""
        load_id = self.manifest.next_load_id
        self.manifest.next_load_id += 1
        self.new_loads.append({"load_id": load_id, "redacted": False, "status": "done", "started_at": _now(),
                               "finished_at": _now()} | row)

    def publish(self) -> Path:
        """Write the new `loads` rows, compact the partitions this version touched, and publish the manifest."""
        generation = self.manifest.generation + 1
        if self.new_loads:
            self._write_loads(generation)
        for table, days in self.touched.items():
            partitions.compact(self.con, self.folder, self.manifest, table, days, generation)
        self.manifest.generation = generation
        mf.publish(self.db_path, self.manifest)
        self.touched, self.new_loads, self.new_events = {}, [], []
        (self.folder / JOURNAL).unlink(missing_ok=True)
        return mf.manifest_path(self.db_path)

    def _write_loads(self, generation: int) -> None:
        columns = [c for c, _ in self.manifest.schemas["loads"]]
        rows = [{c: row.get(c) for c in columns} for row in self.new_loads]
        self.con.execute(WRITTEN_TABLES_DDL["loads"].replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TEMP TABLE"))
        self.con.executemany(f"INSERT INTO loads VALUES ({', '.join('?' * len(columns))})",
                             [[row[c] for c in columns] for row in rows])
        written = partitions.write_days(self.con, self.folder, "loads", "loads", generation)
        self.con.execute("DROP TABLE loads")
        self.manifest.replace("loads", [], written)
        self.touched.setdefault("loads", set()).add(None)


@dataclass
class Import:
    """One import under way (`Writer.importing`): `write` its items; `counts` stay readable once it is closed."""

    writer: Writer
    load_id: int
    counts: LoadCounts = field(default_factory=LoadCounts)
    kept_rejects: int = 0  # rejected lines stored with their text so far (at most MAX_STORED_REJECTS)
    finish_s: float = 0.0  # of its duration: deriving the calls and publishing, after the last line was stored

    def write(self, items: Iterable[Event | Reject]) -> None:
        """Store a stream of events and rejects, BATCH_ROWS events at a time. Every rejected line is counted; past
        MAX_STORED_REJECTS, each source's further ones become one summary row."""
        self.writer._write(self, _batched(items))

    def write_batches(self, batches: Iterable[Batch]) -> None:
        """`write` for events already in batches (`ingest.batches.parse_blocks`)."""
        self.writer._write(self, batches)


def _batched(items: Iterable[Event | Reject]) -> Iterator[Batch]:
    events: list[Event] = []
    for item in items:
        if isinstance(item, Reject):
            yield Batch(rejects=[item])
            continue
        events.append(item)
        if len(events) >= BATCH_ROWS:
            yield Batch(events_table(events))
            events = []
    if events:
        yield Batch(events_table(events))
