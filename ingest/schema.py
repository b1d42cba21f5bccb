"""The store's schema, defined once: the written tables' DDL, the events columns (from the `Event` fields), and the
statements the writer builds new rows with (by name, never by position)."""

from __future__ import annotations

import pyarrow as pa

from ingest.parse import Event

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


def events_table(events: list[Event]) -> pa.Table:
    """Events as a batch: a column per field."""
    if not events:
        return BATCH_SCHEMA.empty_table()
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(zip(*events, strict=True), BATCH_SCHEMA, strict=True)],
        schema=BATCH_SCHEMA)

EVENTS_DDL = "CREATE TABLE IF NOT EXISTS events (\n    load_id INTEGER NOT NULL,\n    {}\n);".format(
    ",\n    ".join(EVENT_COLUMNS[name][1] for name in Event._fields))

# The columns of `events` as stored, in order: the load that stored the row, then each `Event` field under its
# column's name.
EVENT_TABLE_COLUMNS = ["load_id", *(EVENT_COLUMNS[name][1].split()[0] for name in Event._fields)]

LOADS_DDL = """
CREATE TABLE IF NOT EXISTS loads (
    load_id       INTEGER NOT NULL,
    tool          VARCHAR NOT NULL,      -- cli | demo | collector | bench | prune
    sources       VARCHAR[] NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    duration_ms   BIGINT,
    lines_read    BIGINT,
    loaded        BIGINT,
    duplicates    BIGINT,
    rejected      BIGINT,
    redacted      BOOLEAN NOT NULL,
    status        VARCHAR NOT NULL       -- done | failed (an import under way is in import.json, not here)
);"""

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS rejects (
    load_id   INTEGER NOT NULL,
    source    VARCHAR NOT NULL,
    line_no   BIGINT NOT NULL,
    raw       VARCHAR NOT NULL,
    reason    VARCHAR NOT NULL,
    lines     BIGINT DEFAULT 1       -- rejected lines the row stands for: 1, or all those a summary row counts
);"""

# The tables whose rows an import writes, as DDL (the derived tables take the shape of their statements).
WRITTEN_TABLES_DDL = {"events": EVENTS_DDL, "loads": LOADS_DDL, "rejects": REJECTS_DDL}

# A batch as `events` rows: times are epoch milliseconds in the batch (cheap to build from Python ints) and
# TIMESTAMP in the table; the message is text in the batch and JSON in the table.
_FROM_BATCH = {"ts_ms": "epoch_ms(b.ts_ms)", "call_start_ms": "epoch_ms(b.call_start_ms)", "message": "b.message::JSON"}
EVENTS_FROM_BATCH_SQL = "SELECT $load_id::INTEGER AS load_id, {}\nFROM batch b".format(
    ", ".join(f"{_FROM_BATCH.get(name, 'b.' + name)} AS {column}"
              for name, column in zip(Event._fields, EVENT_TABLE_COLUMNS[1:], strict=True)))

# The days (UTC, as the `events` partition) a batch touches, with its first and last time in each: grouped by the
# day's number (a time is never before 1970: `ingest.parse.MIN_TS_MS`), each day named once, not every row.
BATCH_DAYS_SQL = """
SELECT strftime(epoch_ms(day_number * 86400000), '%Y-%m-%d') AS day, lo, hi
FROM (SELECT ts_ms // 86400000 AS day_number, min(ts_ms) AS lo, max(ts_ms) AS hi FROM batch GROUP BY day_number)
ORDER BY day
"""
# A batch's rows of one day ($lo..$hi, epoch ms), then without the copies of stored events (same key, same time)
# in that day's files `{files}` (the time bounds let Parquet statistics skip the rest of them).
BATCH_DAY_SQL = EVENTS_FROM_BATCH_SQL + "\nWHERE b.ts_ms BETWEEN $lo AND $hi"
NOT_STORED_SQL = """
  AND NOT EXISTS (SELECT 1 FROM {files} e WHERE e.event_key = b.event_key AND e.ts = epoch_ms(b.ts_ms)
                  AND e.ts BETWEEN epoch_ms($lo) AND epoch_ms($hi))"""

# Rejected lines not stored yet (same source, line and text) in files `{files}`.
DROP_STORED_REJECTS_SQL = """
DELETE FROM new_rejects WHERE (source, line_no, raw) IN (
    SELECT (x.source, x.line_no, x.raw) FROM {files} x
    WHERE x.source IN (SELECT source FROM new_rejects)
)
"""
