"""The version-1 store (one DuckDB file, a full derive and a whole-file copy per import), kept as the baseline of
`python -m bench.storage`: the same events imported the old way, in the same run. Never used by the product.

Condensed from `ingest/store.py` as it was before the store became Parquet files: the primary file, its lock, an
import in batches of BATCH_ROWS (dedup within ts bounds), `ingest.calls.derive` over every event, then a copy of
the file renamed over `<name>.read.duckdb`. Rejected lines are counted, not stored (the benchmark has none).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.calls import derive
from ingest.parse import Event, parse_lines
from ingest.read import read_lines
from ingest.schema import BATCH_SCHEMA, EVENTS_DDL, LOADS_DDL, REJECTS_DDL

BATCH_ROWS = 50_000
SCHEMA_SQL = f"CREATE SEQUENCE IF NOT EXISTS load_ids START 1;\n{LOADS_DDL}\n{EVENTS_DDL}\n{REJECTS_DDL}"
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
    WHERE e.ts BETWEEN epoch_ms($lo_ms) AND epoch_ms($hi_ms)
      AND e.ts = epoch_ms(b.ts_ms) AND e.event_key = b.event_key
)
"""


def snapshot(db: Path) -> Path:
    return db.with_name(db.stem + ".read" + db.suffix)


def _connect(db: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(db), config={"memory_limit": "1GB"})
    con.execute("SET enable_progress_bar = false")
    return con


def _flush(con: duckdb.DuckDBPyConnection, load_id: int, events: list[Event]) -> int:
    unique = list({e.event_key: e for e in reversed(events)}.values())
    batch = pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(zip(*unique, strict=True), BATCH_SCHEMA, strict=True)],
        schema=BATCH_SCHEMA)
    con.register("batch", batch)
    ts = batch.column("ts_ms")
    bounds = {"lo_ms": pc.min(ts).as_py(), "hi_ms": pc.max(ts).as_py()}
    inserted = con.execute(INSERT_EVENTS_SQL, {"load_id": load_id, **bounds}).fetchone()[0]
    con.unregister("batch")
    return inserted


def load_v1(paths: list[str], db: Path) -> int:
    """Import `paths` into the version-1 file `db` the old way; returns the events stored."""
    started = time.perf_counter()
    con = _connect(db)
    con.execute(SCHEMA_SQL)
    load_id = con.execute("SELECT nextval('load_ids')").fetchone()[0]
    con.execute("INSERT INTO loads (load_id, tool, sources, started_at, redacted, status) "
                "VALUES (?, 'bench', ?, now()::TIMESTAMP, false, 'running')", [load_id, paths])
    loaded, events = 0, []
    for item in parse_lines(line for p in paths for line in read_lines(str(Path(p).resolve()))):
        if isinstance(item, Event):
            events.append(item)
            if len(events) >= BATCH_ROWS:
                loaded += _flush(con, load_id, events)
                events = []
    if events:
        loaded += _flush(con, load_id, events)
    con.execute("BEGIN TRANSACTION")
    derive(con)
    con.execute("UPDATE loads SET status = 'done', finished_at = now()::TIMESTAMP, duration_ms = ?, loaded = ? "
                "WHERE load_id = ?", [round((time.perf_counter() - started) * 1000), loaded, load_id])
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()
    target = snapshot(db)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(db, tmp)
    os.replace(tmp, target)
    return loaded


def connect_v1(db: Path) -> duckdb.DuckDBPyConnection:
    """A reader of the version-1 snapshot, as the old `connect_reader` opened it."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{snapshot(db)}' AS snapshot (READ_ONLY)")
    con.execute("USE snapshot")
    _day_views(con)
    return con


def _day_views(con: duckdb.DuckDBPyConnection) -> None:
    """What today's replay reads that the old file lacks, as temp views over its tables (the instance-key index
    built once here, outside any timing): `<table>_by_day` with the day column the store's partitions give."""
    from ingest.derive.keys import INSTANCE_KEYS_SQL

    con.execute(f"CREATE TEMP TABLE instance_keys AS {INSTANCE_KEYS_SQL.format(events='events')}")
    con.execute("CREATE TEMP VIEW events_by_day AS SELECT *, ts::DATE AS day FROM events")
    con.execute("CREATE TEMP VIEW calls_by_day AS SELECT *, started_at::DATE AS day FROM calls")
    con.execute("CREATE TEMP VIEW instance_keys_by_day AS SELECT *, first_at::DATE AS day FROM temp.instance_keys")
    con.execute("CREATE TEMP VIEW call_messages_by_day AS SELECT m.*, coalesce(c.started_at, m.ts)::DATE AS day "
                "FROM call_messages m LEFT JOIN calls c ON c.external_call_id = m.call_id")
