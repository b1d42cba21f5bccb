"""Storage: the DuckDB schema, the one writer, and read-only snapshots for everyone else.

How processes share the data (DuckDB lets one process open a file for writing, and then no other process can
open it at all):
- `callscope.duckdb` is the primary. Only the process holding `callscope.duckdb.lock` (an flock) opens it: the
  CLI `load`/`demo`, or the collector. Another writer waits for the lock, then gives up with a clear message.
- After every commit the writer publishes a snapshot: it checkpoints, copies the file to a temporary name and
  renames it over `callscope.read.duckdb` (atomic). Readers (dashboard, `calls --json`, reports) only ever
  open the snapshot, read-only; an open reader keeps the inode it opened, and reconnects when the snapshot's
  generation (its inode and mtime) changes. So reads never block on a write and never see half an import.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)

from ingest.errors import NoData, WriterBusy
from ingest.parse import Event, Reject

REPO_ROOT = Path(__file__).resolve().parent.parent
# CALLSCOPE_DB points every command and the dashboard at another database file.
DEFAULT_DB_PATH = Path(os.environ.get("CALLSCOPE_DB") or REPO_ROOT / "data" / "callscope.duckdb")
BATCH_ROWS = 50_000
WRITER_WAIT_S = 30.0
# The writer's DuckDB memory cap: each batch commits on its own, so an import's memory stays flat whatever the
# size of the file; DuckDB spills to disk beyond this.
WRITER_MEMORY_LIMIT = os.environ.get("CALLSCOPE_WRITER_MEMORY", "1GB")

SCHEMA_SQL = """
CREATE SEQUENCE IF NOT EXISTS load_ids START 1;

CREATE TABLE IF NOT EXISTS loads (
    load_id       INTEGER PRIMARY KEY,
    tool          VARCHAR NOT NULL,      -- cli | demo | collector
    sources       VARCHAR[] NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    duration_ms   BIGINT,
    lines_read    BIGINT,
    loaded        BIGINT,
    duplicates    BIGINT,
    rejected      BIGINT,
    redacted      BOOLEAN NOT NULL,
    status        VARCHAR NOT NULL       -- running | done | failed
);

-- One row per SDK message (or capture marker) as it crossed; ts is UTC. Ordered per instance by (ts, load_id,
-- line_no). event_key is the idempotency key (ingest.parse.event_key).
CREATE TABLE IF NOT EXISTS events (
    load_id             INTEGER NOT NULL,
    event_key           BLOB NOT NULL,
    source              VARCHAR NOT NULL,
    line_no             BIGINT NOT NULL,
    ts                  TIMESTAMP NOT NULL,
    direction           VARCHAR NOT NULL,  -- to_hubspot | from_hubspot | capture
    instance            VARCHAR,
    instance_source     VARCHAR NOT NULL,  -- field | message_id | inferred | unknown
    tab                 VARCHAR,
    app                 VARCHAR,
    sdk_version         VARCHAR,
    url                 VARCHAR,
    type                VARCHAR NOT NULL,
    known_type          BOOLEAN NOT NULL,
    message_id          VARCHAR,
    external_call_id    VARCHAR,
    engagement_id       BIGINT,
    call_end_status     VARCHAR,
    iframe_location     VARCHAR,
    uses_calling_window BOOLEAN,
    portal_id           BIGINT,
    user_id             BIGINT,
    owner_id            VARCHAR,
    from_number         VARCHAR,
    to_number           VARCHAR,
    error_message       VARCHAR,
    error_type          VARCHAR,
    caller_id_matches   INTEGER,
    caller_id_types     VARCHAR[],
    create_engagement   BOOLEAN,
    call_start_time     TIMESTAMP,
    message             JSON NOT NULL,
    redacted            BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS rejects (
    load_id   INTEGER NOT NULL,
    source    VARCHAR NOT NULL,
    line_no   BIGINT NOT NULL,
    raw       VARCHAR NOT NULL,
    reason    VARCHAR NOT NULL
);
"""

BATCH_SCHEMA = pa.schema([
    ("event_key", pa.binary()), ("source", pa.string()), ("line_no", pa.int64()), ("ts_ms", pa.int64()),
    ("direction", pa.string()), ("instance", pa.string()), ("instance_source", pa.string()), ("tab", pa.string()),
    ("app", pa.string()), ("sdk_version", pa.string()), ("url", pa.string()), ("type", pa.string()),
    ("known_type", pa.bool_()), ("message_id", pa.string()), ("external_call_id", pa.string()),
    ("engagement_id", pa.int64()), ("call_end_status", pa.string()), ("iframe_location", pa.string()),
    ("uses_calling_window", pa.bool_()), ("portal_id", pa.int64()), ("user_id", pa.int64()),
    ("owner_id", pa.string()), ("from_number", pa.string()), ("to_number", pa.string()),
    ("error_message", pa.string()), ("error_type", pa.string()), ("caller_id_matches", pa.int32()),
    ("caller_id_types", pa.list_(pa.string())), ("create_engagement", pa.bool_()), ("call_start_ms", pa.int64()),
    ("message", pa.string()), ("redacted", pa.bool_()),
])

# New events only: not already stored (same key; the ts equality lets zone maps skip old row groups). Copies
# inside one batch are dropped before it gets here.
INSERT_EVENTS_SQL = """
INSERT INTO events
SELECT $load_id, b.event_key, b.source, b.line_no, epoch_ms(b.ts_ms), b.direction, b.instance, b.instance_source,
       b.tab, b.app, b.sdk_version, b.url, b.type, b.known_type, b.message_id, b.external_call_id,
       b.engagement_id, b.call_end_status, b.iframe_location, b.uses_calling_window, b.portal_id, b.user_id,
       b.owner_id, b.from_number, b.to_number, b.error_message, b.error_type, b.caller_id_matches,
       b.caller_id_types, b.create_engagement, epoch_ms(b.call_start_ms), b.message::JSON, b.redacted
FROM batch b
WHERE NOT EXISTS (
    SELECT 1 FROM events e
    WHERE e.ts BETWEEN epoch_ms($lo_ms) AND epoch_ms($hi_ms)  -- constant bounds: zone maps skip the rest
      AND e.ts = epoch_ms(b.ts_ms) AND e.event_key = b.event_key
)
"""

INSERT_REJECTS_SQL = """
INSERT INTO rejects
SELECT DISTINCT $load_id, r.source, r.line_no, r.raw, r.reason FROM reject_batch r
WHERE NOT EXISTS (
    SELECT 1 FROM rejects x WHERE x.source = r.source AND x.line_no = r.line_no AND x.raw = r.raw
)
"""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def snapshot_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + ".read" + db_path.suffix)


@dataclass
class LoadCounts:
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0


class Writer:
    """The single writer of the primary file. Use as a context manager; every method runs under the lock."""

    def __init__(self, db_path: Path, wait_s: float = WRITER_WAIT_S):
        self.db_path = Path(db_path)
        self.wait_s = wait_s
        self._lock_fd: int | None = None
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "Writer":
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _acquire_lock(lock_path(self.db_path), self.wait_s)
        self.con = self._connect()
        self.con.execute(SCHEMA_SQL)
        return self

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.db_path), config={"memory_limit": WRITER_MEMORY_LIMIT})
        con.execute("SET enable_progress_bar = false")  # a long derive would draw DuckDB's bar on our stderr
        return con

    def __exit__(self, *exc: object) -> None:
        if self.con is not None:
            self.con.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    def begin_load(self, tool: str, sources: list[str], redacted: bool) -> int:
        load_id = self.con.execute("SELECT nextval('load_ids')").fetchone()[0]
        self.con.execute(
            "INSERT INTO loads (load_id, tool, sources, started_at, redacted, status) "
            "VALUES (?, ?, ?, now()::TIMESTAMP, ?, 'running')",
            [load_id, tool, sources, redacted],
        )
        return load_id

    def write(self, load_id: int, items: Iterator[Event | Reject], counts: LoadCounts) -> None:
        events: list[Event] = []
        rejects: list[Reject] = []
        for item in items:
            counts.read += 1
            if isinstance(item, Event):
                events.append(item)
                if len(events) >= BATCH_ROWS:
                    self._flush_events(load_id, events, counts)
                    events = []
            else:
                rejects.append(item)
                if len(rejects) >= BATCH_ROWS:
                    self._flush_rejects(load_id, rejects, counts)
                    rejects = []
        self._flush_events(load_id, events, counts)
        self._flush_rejects(load_id, rejects, counts)

    def _flush_events(self, load_id: int, events: list[Event], counts: LoadCounts) -> None:
        if not events:
            return
        unique = list({e.event_key: e for e in reversed(events)}.values())  # the first copy in the batch wins
        batch = pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(zip(*unique), BATCH_SCHEMA)], schema=BATCH_SCHEMA)
        self.con.register("batch", batch)
        ts = batch.column("ts_ms")
        bounds = {"lo_ms": pa.compute.min(ts).as_py(), "hi_ms": pa.compute.max(ts).as_py()}
        inserted = self.con.execute(INSERT_EVENTS_SQL, {"load_id": load_id, **bounds}).fetchone()[0]
        self.con.unregister("batch")
        counts.loaded += inserted
        counts.duplicates += len(events) - inserted

    def _flush_rejects(self, load_id: int, rejects: list[Reject], counts: LoadCounts) -> None:
        if not rejects:
            return
        batch = pa.table({
            "source": [r.source for r in rejects], "line_no": [r.line_no for r in rejects],
            "raw": [r.text for r in rejects], "reason": [r.reason for r in rejects],
        })
        self.con.register("reject_batch", batch)
        self.con.execute(INSERT_REJECTS_SQL, {"load_id": load_id})
        self.con.unregister("reject_batch")
        counts.rejected += len(rejects)

    def finish_load(self, load_id: int, counts: LoadCounts, started: float, status: str = "done") -> None:
        """Derive calls from everything stored and close the audit row, in one transaction.

        Batches commit one by one (flat memory), so a failed import keeps the batches before the failure; its
        audit row says `failed` with the counts so far, and loading the same files again completes it (the
        event keys make that idempotent). Readers see none of it until the snapshot is published.
        """
        from ingest.calls import derive  # calls read what this writer stored

        self.con.execute("BEGIN TRANSACTION")
        derive(self.con)
        self.con.execute(
            "UPDATE loads SET status = ?, finished_at = now()::TIMESTAMP, duration_ms = ?, lines_read = ?, "
            "loaded = ?, duplicates = ?, rejected = ? WHERE load_id = ?",
            [status, round((time.perf_counter() - started) * 1000), counts.read, counts.loaded, counts.duplicates,
             counts.rejected, load_id],
        )
        self.con.execute("COMMIT")

    def publish(self) -> Path:
        """Checkpoint and atomically replace the read snapshot with a copy of the primary."""
        self.con.execute("CHECKPOINT")
        self.con.close()
        target = snapshot_path(self.db_path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.db_path, tmp)
        os.replace(tmp, target)
        self.con = self._connect()
        return target


def _acquire_lock(path: Path, wait_s: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise WriterBusy(
                    f"{path.name.removesuffix('.lock')} is being written by process {holder}",
                    "Wait for that import to finish or stop the collector, then run this again "
                    "(the dashboard keeps reading the last snapshot meanwhile)",
                ) from None
            time.sleep(0.2)


def snapshot_generation(db_path: Path) -> tuple[int, int] | None:
    """Changes whenever a writer publishes: readers use it to reconnect and to invalidate caches."""
    try:
        st = os.stat(snapshot_path(Path(db_path)))
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def connect_reader(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the latest snapshot."""
    path = snapshot_path(Path(db_path))
    if not path.exists():
        raise NoData(
            f"no Callscope data at {db_path}",
            "Load a log with `python -m ingest load FILE` or build the demo with `python -m ingest demo`",
        )
    return duckdb.connect(str(path), read_only=True)
