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

import os
import shutil
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)

from ingest import locks
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

# The `events` columns, defined once: each `Event` field → the Arrow type of its batch column, and the table
# column it fills (name, SQL type). One row per SDK message (or capture marker) as it crossed, ordered per
# instance by (ts, load_id, line_no); event_key is the idempotency key (ingest.parse.event_key). The writer
# inserts BY NAME: a field whose column is named otherwise is converted in INSERT_EVENTS_SQL.
EVENT_COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "event_key": (pa.binary(), "event_key BLOB NOT NULL"),
    "source": (pa.string(), "source VARCHAR NOT NULL"),
    "line_no": (pa.int64(), "line_no BIGINT NOT NULL"),
    "ts_ms": (pa.int64(), "ts TIMESTAMP NOT NULL"),  # UTC
    "direction": (pa.string(), "direction VARCHAR NOT NULL"),  # to_hubspot | from_hubspot | capture
    "instance": (pa.string(), "instance VARCHAR"),
    "instance_source": (pa.string(), "instance_source VARCHAR NOT NULL"),  # field | message_id | inferred | unknown
    "tab": (pa.string(), "tab VARCHAR"),
    "app": (pa.string(), "app VARCHAR"),
    "sdk_version": (pa.string(), "sdk_version VARCHAR"),
    "url": (pa.string(), "url VARCHAR"),
    "type": (pa.string(), "type VARCHAR NOT NULL"),
    "known_type": (pa.bool_(), "known_type BOOLEAN NOT NULL"),
    "message_id": (pa.string(), "message_id VARCHAR"),
    "external_call_id": (pa.string(), "external_call_id VARCHAR"),
    "engagement_id": (pa.int64(), "engagement_id BIGINT"),
    "call_end_status": (pa.string(), "call_end_status VARCHAR"),
    "iframe_location": (pa.string(), "iframe_location VARCHAR"),
    "uses_calling_window": (pa.bool_(), "uses_calling_window BOOLEAN"),
    "portal_id": (pa.int64(), "portal_id BIGINT"),
    "user_id": (pa.int64(), "user_id BIGINT"),
    "owner_id": (pa.string(), "owner_id VARCHAR"),
    "from_number": (pa.string(), "from_number VARCHAR"),
    "to_number": (pa.string(), "to_number VARCHAR"),
    "error_message": (pa.string(), "error_message VARCHAR"),
    "error_type": (pa.string(), "error_type VARCHAR"),
    "caller_id_matches": (pa.int32(), "caller_id_matches INTEGER"),
    "caller_id_types": (pa.list_(pa.string()), "caller_id_types VARCHAR[]"),
    "create_engagement": (pa.bool_(), "create_engagement BOOLEAN"),
    "call_start_ms": (pa.int64(), "call_start_time TIMESTAMP"),
    "message": (pa.string(), "message JSON NOT NULL"),
    "redacted": (pa.bool_(), "redacted BOOLEAN NOT NULL"),
}
# The writer builds each batch column from the Event field of the same name.
BATCH_SCHEMA = pa.schema([(name, EVENT_COLUMNS[name][0]) for name in Event._fields])
EVENTS_DDL = "CREATE TABLE IF NOT EXISTS events (\n    load_id INTEGER NOT NULL,\n    {}\n);".format(
    ",\n    ".join(EVENT_COLUMNS[name][1] for name in Event._fields))

SCHEMA_SQL = f"""
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

{EVENTS_DDL}

CREATE TABLE IF NOT EXISTS rejects (
    load_id   INTEGER NOT NULL,
    source    VARCHAR NOT NULL,
    line_no   BIGINT NOT NULL,
    raw       VARCHAR NOT NULL,
    reason    VARCHAR NOT NULL
);
"""

# New events only: not already stored (same key; the ts equality lets zone maps skip old row groups). Copies
# inside one batch are dropped before it gets here. Times are epoch milliseconds in the batch (cheap to build
# from Python ints) and TIMESTAMP in the table; the message is text in the batch and JSON in the table.
INSERT_EVENTS_SQL = """
INSERT INTO events BY NAME
SELECT $load_id AS load_id,
       b.* EXCLUDE (ts_ms, call_start_ms, message),
       epoch_ms(b.ts_ms) AS ts,
       epoch_ms(b.call_start_ms) AS call_start_time,
       b.message::JSON AS message
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


def snapshot_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + ".read" + db_path.suffix)


@dataclass
class LoadCounts:
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0


def _writer_busy(db_path: Path) -> locks.OnTimeout:
    def busy(holder: str | None) -> WriterBusy:
        return WriterBusy(
            f"{db_path.name} is being written by process {holder or 'another process'}",
            "Wait for that import to finish or stop the collector, then run this again "
            "(the dashboard keeps reading the last snapshot meanwhile)",
        )
    return busy


class Writer:
    """The single writer of the primary file. Use as a context manager; every method runs under the lock."""

    def __init__(self, db_path: Path, wait_s: float = WRITER_WAIT_S):
        self.db_path = Path(db_path)
        self.wait_s = wait_s
        self._held = ExitStack()
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "Writer":
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            lock = locks.lock_path(self.db_path)
            stack.enter_context(locks.exclusive(lock, self.wait_s, on_timeout=_writer_busy(self.db_path)))
            self.con = self._connect()
            stack.callback(lambda: self.con.close())  # the connection of the moment: publish() reopens it
            self.con.execute(SCHEMA_SQL)
            self._held = stack.pop_all()
        return self

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.db_path), config={"memory_limit": WRITER_MEMORY_LIMIT})
        con.execute("SET enable_progress_bar = false")  # a long derive would draw DuckDB's bar on our stderr
        return con

    def __exit__(self, *exc: object) -> None:
        self._held.close()  # the connection, then the lock

    @contextmanager
    def importing(self, tool: str, sources: list[str], redacted: bool, *,
                  started: float | None = None) -> Iterator[Import]:
        """One import: its `loads` row, its writes (`Import.write`), then the calls derived and a snapshot published.

        When the body raises, the import is closed as `failed` with the counts so far and still published
        (readers see the audit row of a failed import too), then the error goes on. `started` is the
        `time.perf_counter()` the import's duration counts from (default: now).
        """
        started = time.perf_counter() if started is None else started
        imp = Import(self, self._begin_load(tool, sources, redacted))
        try:
            yield imp
        except BaseException:
            self._finish_load(imp, started, status="failed")
            self.publish()
            raise
        self._finish_load(imp, started)
        self.publish()

    def _begin_load(self, tool: str, sources: list[str], redacted: bool) -> int:
        load_id = self.con.execute("SELECT nextval('load_ids')").fetchone()[0]
        self.con.execute(
            "INSERT INTO loads (load_id, tool, sources, started_at, redacted, status) "
            "VALUES (?, ?, ?, now()::TIMESTAMP, ?, 'running')",
            [load_id, tool, sources, redacted],
        )
        return load_id

    def _write(self, load_id: int, items: Iterable[Event | Reject], counts: LoadCounts) -> None:
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

    def _finish_load(self, imp: Import, started: float, status: str = "done") -> None:
        """Derive calls from everything stored and close the audit row, in one transaction.

        Batches commit one by one (flat memory), so a failed import keeps the batches before the failure; its
        audit row says `failed` with the counts so far, and loading the same files again completes it (the
        event keys make that idempotent). Readers see none of it until the snapshot is published.
        """
        from ingest.calls import derive  # calls read what this writer stored

        counts = imp.counts
        self.con.execute("BEGIN TRANSACTION")
        derive(self.con)
        self.con.execute(
            "UPDATE loads SET status = ?, finished_at = now()::TIMESTAMP, duration_ms = ?, lines_read = ?, "
            "loaded = ?, duplicates = ?, rejected = ? WHERE load_id = ?",
            [status, round((time.perf_counter() - started) * 1000), counts.read, counts.loaded, counts.duplicates,
             counts.rejected, imp.load_id],
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


@dataclass
class Import:
    """One import under way (`Writer.importing`): `write` its items; `counts` stay readable once it is closed."""

    writer: Writer
    load_id: int
    counts: LoadCounts = field(default_factory=LoadCounts)

    def write(self, items: Iterable[Event | Reject]) -> None:
        """Store a stream of events and rejects, BATCH_ROWS at a time; each batch commits on its own."""
        self.writer._write(self.load_id, items, self.counts)


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
