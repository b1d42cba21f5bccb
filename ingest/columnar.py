"""Lines to typed events at columnar speed: DuckDB reads and checks a whole chunk of lines at once, Python parses
only the lines it cannot vouch for.

A line reaches DuckDB only when it is `canonical` (exactly what msgspec writes for it: strict, compact, no key
twice) and has no escapes. `extract` runs one statement over a chunk of such lines (an Arrow table): every line
that is *plainly* a capture record — an event_id, an integer ts, each field of a type the SQL below turns into the
same value as `ingest.parse` — becomes a row of typed columns; every other line is handed back by position, and
`ingest.parse.parse_line` (the reject-reason oracle) makes it an event or a reject with the exact reason. So the fast path is an optimisation of `parse_line`, never a second opinion: when in
doubt, a line goes to Python (tests/test_columnar.py compares the two on the garbage corpus and on generated
lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from hashlib import blake2b

import duckdb
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest import sdk
from ingest.parse import MAX_TIME_MS, MAX_TS_MS, MIN_TIME_MS, MIN_TS_MS

# The values one statement extracts from each line, by name: the common ones from every line, the handshake's own
# fields only from SYNC/SYNC_ACK, a failure's only from ERROR and *_FAILED (each line is parsed once per group).
COMMON_PATHS = {
    "ts": "$.ts", "direction": "$.direction", "message": "$.message", "instance": "$.instance", "tab": "$.tab",
    "app": "$.app", "sdk_version": "$.sdk_version", "url": "$.url", "event_id": "$.event_id",
    "type": "$.message.type", "message_id": "$.message.messageId",
    "to_number": "$.message.data.toNumber", "phone_number": "$.message.data.phoneNumber",
    "phone_number2": "$.message.data.phone_number", "from_number": "$.message.data.fromNumber",
    "external_call_id": "$.message.data.externalCallId", "d_engagement": "$.message.data.engagementId",
    "end_status": "$.message.data.callEndStatus", "create_engagement": "$.message.data.createEngagement",
    "call_start": "$.message.data.callStartTime", "caller_id_matches": "$.message.data.callerIdMatches",
}
HANDSHAKE_PATHS = {
    "version": "$.message.version", "m_engagement": "$.message.engagementId",
    "m_iframe": "$.message.iframeLocation", "m_calling_window": "$.message.usesCallingWindow",
    "m_portal": "$.message.portalId", "m_user": "$.message.userId", "m_owner": "$.message.ownerId",
}
FAILURE_PATHS = {
    "error": "$.message.data.error", "error_message": "$.message.data.error.message",
    "error_type": "$.message.data.error.type", "d_type": "$.message.data.type", "d_message": "$.message.data.message",
    "original_type": "$.message.data.data.originalMessage.type",
}
PATHS = COMMON_PATHS | HANDSHAKE_PATHS | FAILURE_PATHS
# A line with a backslash (an escape: `cs_text` below reads a string's text as it is written) is left to Python;
# a chunk without one skips the per-line check.
ESCAPE = re.compile(rb"\\")

EXTRACT_BATCH_ROWS = 4_096
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def canonical(text: bytes) -> bool:
    """Whether `text` is exactly what msgspec writes for the JSON value it holds: strict JSON (no NaN, no trailing
    comma), compact, no key twice in an object, numbers in msgspec's notation, nested less deeply than msgspec
    reads. Only such lines reach DuckDB, so DuckDB reads from each the same values msgspec would."""
    try:
        return _encode(_decode(text)) == text
    except (msgspec.DecodeError, RecursionError, ValueError, OverflowError):
        return False


# A value's kind from `json_type` (MISSING when the path is absent; a number is INT when DuckDB reads it as an
# integer, else OTHER, as is any kind not listed) and its text from `json_extract_string` (a string's own text: a
# line here has no escapes; any other value as JSON; NULL for null).
MACROS_SQL = """
CREATE OR REPLACE TEMP MACRO cs_kind(t) AS CASE t WHEN 'VARCHAR' THEN 'VARCHAR' WHEN 'UBIGINT' THEN 'INT'
    WHEN 'BIGINT' THEN 'INT' WHEN 'OBJECT' THEN 'OBJECT' WHEN 'NULL' THEN 'NULL' WHEN 'BOOLEAN' THEN 'BOOLEAN'
    WHEN 'ARRAY' THEN 'ARRAY' ELSE CASE WHEN t IS NULL THEN 'MISSING' ELSE 'OTHER' END END;
CREATE OR REPLACE TEMP MACRO cs_str(k, s) AS CASE WHEN k IN ('VARCHAR', 'INT', 'BOOLEAN') THEN s END;
CREATE OR REPLACE TEMP MACRO cs_opt_str(k) AS k IN ('MISSING', 'NULL', 'VARCHAR');
CREATE OR REPLACE TEMP MACRO cs_int(k, s) AS
    CASE WHEN k = 'INT' OR (k = 'VARCHAR' AND regexp_full_match(s, '-?[0-9]{1,18}')) THEN TRY_CAST(s AS BIGINT) END;
CREATE OR REPLACE TEMP MACRO cs_int_ok(k, s) AS CASE k
    WHEN 'INT' THEN TRY_CAST(s AS BIGINT) IS NOT NULL
    WHEN 'VARCHAR' THEN regexp_full_match(s, '-?[0-9]{1,18}') OR NOT regexp_matches(s, '[0-9]')
    WHEN 'OTHER' THEN false
    ELSE true END;
CREATE OR REPLACE TEMP MACRO cs_bool(k, s) AS CASE k WHEN 'BOOLEAN' THEN s = 'true'
    WHEN 'VARCHAR' THEN CASE lower(s) WHEN 'true' THEN true WHEN 'false' THEN false END END;
CREATE OR REPLACE TEMP MACRO cs_bool_ok(k, s) AS k <> 'VARCHAR' OR regexp_full_match(s, '[A-Za-z]*');
"""

# Rule by rule the same as `ingest.parse._parse`; `ok` is false for every line whose value the SQL would not
# compute exactly as Python does (Python then parses it).
EXTRACT_SQL = """
WITH checked AS (
    SELECT pos, line_no, text,
        ($no_escapes OR NOT contains(text, '\\')) AND ord(text) = 123 AND json_valid(text) AS plain
    FROM chunk_lines
), extracted AS (
    SELECT pos, line_no, text, json_type(text, $common) AS vt, json_extract_string(text, $common) AS v
    FROM checked WHERE plain
), by_type AS (
    SELECT pos, line_no, text, vt, v, list_contains($handshake, v[{type_index}]) AS sync,
        v[{type_index}] = 'ERROR' OR ends_with(v[{type_index}], '_FAILED') AS failure
    FROM extracted
), by_group AS (
    SELECT *,
        CASE WHEN sync THEN json_type(text, $handshake_paths) END AS ht,
        CASE WHEN sync THEN json_extract_string(text, $handshake_paths) END AS h,
        CASE WHEN failure THEN json_type(text, $failure_paths) END AS ft,
        CASE WHEN failure THEN json_extract_string(text, $failure_paths) END AS f
    FROM by_type
), fields AS (
    SELECT pos, line_no, text, sync, failure, {columns} FROM by_group
), typed AS (
    SELECT *, TRY_CAST(s_ts AS BIGINT) AS ts_ms,
        cs_str(k_message_id, s_message_id) AS message_id, cs_str(k_instance, s_instance) AS instance_field
    FROM fields
)
SELECT pos, line_no,
    k_ts = 'INT' AND ts_ms >= $min_ts AND ts_ms < $max_ts
    AND k_direction = 'VARCHAR' AND s_direction IN ('to_hubspot', 'from_hubspot', 'capture')
    AND k_message = 'OBJECT' AND contains(text, '"message":' || s_message) AND k_event_id = 'VARCHAR' AND s_event_id <> ''
    AND k_instance IN ('MISSING', 'NULL', 'VARCHAR', 'INT') AND k_tab IN ('MISSING', 'NULL', 'VARCHAR', 'INT')
    AND cs_opt_str(k_app) AND cs_opt_str(k_sdk_version) AND cs_opt_str(k_url)
    AND k_type = 'VARCHAR' AND regexp_full_match(s_type, '[A-Za-z0-9_]+')
    AND cs_opt_str(k_to_number) AND cs_opt_str(k_phone_number) AND cs_opt_str(k_phone_number2)
    AND cs_int_ok(k_d_engagement, s_d_engagement) AND cs_int_ok(k_call_start, s_call_start)
    AND (cs_int(k_call_start, s_call_start) IS NULL
         OR cs_int(k_call_start, s_call_start) BETWEEN $min_time AND $max_time - 1)
    AND cs_bool_ok(k_create_engagement, s_create_engagement)
    AND (cs_str(k_end_status, s_end_status) IS NULL
         OR regexp_full_match(cs_str(k_end_status, s_end_status), '[A-Za-z0-9_]*'))
    AND (NOT sync OR (cs_int_ok(k_m_engagement, s_m_engagement) AND cs_int_ok(k_m_portal, s_m_portal)
                      AND cs_int_ok(k_m_user, s_m_user) AND cs_bool_ok(k_m_calling_window, s_m_calling_window)))
    AND {no_other_numbers}
    AS ok,
    s_event_id AS event_id, ts_ms, s_direction AS direction,
    coalesce(instance_field, CASE WHEN s_direction = 'to_hubspot' AND s_type <> 'SYNC_ACK'
                                       AND contains(message_id, '_') THEN nullif(split_part(message_id, '_', 1), '') END)
        AS instance,
    CASE WHEN instance_field IS NOT NULL THEN 'field'
         WHEN s_direction = 'to_hubspot' AND s_type <> 'SYNC_ACK' AND contains(message_id, '_')
              AND split_part(message_id, '_', 1) <> '' THEN 'message_id'
         ELSE 'unknown' END AS instance_source,
    cs_str(k_tab, s_tab) AS tab, cs_str(k_app, s_app) AS app,
    CASE WHEN cs_str(k_sdk_version, s_sdk_version) <> '' THEN s_sdk_version
         WHEN s_type = 'SYNC_ACK' THEN cs_str(k_version, s_version) END AS sdk_version,
    cs_str(k_url, s_url) AS url, s_type AS type, list_contains($known, s_type) AS known_type, message_id,
    cs_str(k_external_call_id, s_external_call_id) AS external_call_id,
    CASE WHEN sync THEN cs_int(k_m_engagement, s_m_engagement) ELSE cs_int(k_d_engagement, s_d_engagement) END
        AS engagement_id,
    CASE WHEN starts_with(upper(cs_str(k_end_status, s_end_status)), 'INTERNAL_')
         THEN upper(cs_str(k_end_status, s_end_status))[10:] ELSE upper(cs_str(k_end_status, s_end_status)) END
        AS call_end_status,
    CASE WHEN sync THEN cs_str(k_m_iframe, s_m_iframe) END AS iframe_location,
    CASE WHEN sync THEN cs_bool(k_m_calling_window, s_m_calling_window) END AS uses_calling_window,
    CASE WHEN sync THEN cs_int(k_m_portal, s_m_portal) END AS portal_id,
    CASE WHEN sync THEN cs_int(k_m_user, s_m_user) END AS user_id,
    CASE WHEN sync THEN cs_str(k_m_owner, s_m_owner) END AS owner_id,
    cs_str(k_from_number, s_from_number) AS from_number,
    -- `toNumber or phoneNumber or phone_number`: the first non-empty string (null is not one), else the last
    CASE WHEN k_to_number = 'VARCHAR' AND s_to_number <> '' THEN s_to_number
         WHEN k_phone_number = 'VARCHAR' AND s_phone_number <> '' THEN s_phone_number
         ELSE cs_str(k_phone_number2, s_phone_number2) END AS to_number,
    -- a *_FAILED reply or an ERROR: `error` as an object (message, type) or a string; else an ERROR's own fields
    CASE WHEN NOT failure THEN NULL
         WHEN k_error = 'OBJECT' THEN cs_str(k_error_message, s_error_message)
         WHEN k_error = 'VARCHAR' THEN s_error
         WHEN s_type <> 'ERROR' THEN NULL
         WHEN cs_str(k_d_type, s_d_type) = $unknown_type_error
         THEN CASE WHEN cs_str(k_original_type, s_original_type) <> ''
                   THEN 'unknown message type ' || cs_str(k_original_type, s_original_type) END
         ELSE cs_str(k_d_message, s_d_message) END AS error_message,
    CASE WHEN NOT failure THEN NULL
         WHEN k_error = 'OBJECT' THEN cs_str(k_error_type, s_error_type)
         WHEN k_error = 'VARCHAR' THEN NULL
         WHEN s_type = 'ERROR' THEN cs_str(k_d_type, s_d_type) END AS error_type,
    CASE WHEN s_type = 'CALLER_ID_MATCH_SUCCEEDED' AND k_caller_id_matches = 'ARRAY'
         THEN json_array_length(s_caller_id_matches)::INTEGER END AS caller_id_matches,
    CASE WHEN s_type = 'CALLER_ID_MATCH_SUCCEEDED' AND k_caller_id_matches = 'ARRAY'
         THEN list_sort(list_distinct([json_extract_string(m, '$.callerIdType')
                                       FOR m IN json_extract(s_caller_id_matches, '$[*]')
                                       IF json_type(m, '$.callerIdType') = 'VARCHAR'])) END AS caller_id_types,
    cs_bool(k_create_engagement, s_create_engagement) AS create_engagement,
    cs_int(k_call_start, s_call_start) AS call_start_ms,
    s_message AS message, false AS redacted
FROM typed
"""

_COLUMNS = ", ".join(f"cs_kind({group}t[{i}]) AS k_{name}, {group}[{i}] AS s_{name}"
                     for group, paths in (("v", COMMON_PATHS), ("h", HANDSHAKE_PATHS), ("f", FAILURE_PATHS))
                     for i, name in enumerate(paths, start=1))
# A fraction or exponent in any value read: Python's text for it may differ from DuckDB's.
_NO_OTHER_NUMBERS = " AND ".join(f"k_{name} <> 'OTHER'" for name in PATHS)
_EXTRACT_SQL = (EXTRACT_SQL.replace("{columns}", _COLUMNS).replace("{no_other_numbers}", _NO_OTHER_NUMBERS)
                .replace("{type_index}", str(list(COMMON_PATHS).index("type") + 1)))


@cache
def _extract_statement() -> duckdb.Statement:
    """The statement parsed once (a chunk then costs DuckDB its binding, not parsing 8 KB of SQL again)."""
    return duckdb.extract_statements(_EXTRACT_SQL)[0]


@dataclass
class Extracted:
    events: pa.Table  # the plain lines as `events` batch columns (without event_key and source) and `pos`, in order
    routed: list[int]  # positions in the chunk of the lines Python must parse


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Define the statement's macros on `con` (once per connection)."""
    con.execute(MACROS_SQL)


def extract(con: duckdb.DuckDBPyConnection, line_nos: pa.Array, texts: pa.Array) -> Extracted:
    """One chunk of `canonical` lines (as Arrow text) → the rows of its plain lines, and the positions of the
    rest."""
    chunk = pa.table({"pos": pa.array(range(len(texts)), type=pa.int64()), "line_no": line_nos, "text": texts})
    # DuckDB scans an Arrow table one record batch per thread: a chunk in several keeps every core busy
    chunk = pa.Table.from_batches(chunk.to_batches(max_chunksize=EXTRACT_BATCH_ROWS))
    data = texts.buffers()[2] or b""  # every line's bytes, back to back
    con.register("chunk_lines", chunk)
    try:
        table = con.sql(_extract_statement(), params={
            "no_escapes": ESCAPE.search(data) is None,
            "common": list(COMMON_PATHS.values()), "handshake_paths": list(HANDSHAKE_PATHS.values()),
            "failure_paths": list(FAILURE_PATHS.values()),
            "handshake": sorted(sdk.HANDSHAKE_TYPES), "unknown_type_error": sdk.UNKNOWN_MESSAGE_TYPE_ERROR, "known": sorted(sdk.MESSAGE_TYPES | sdk.CAPTURE_MARKERS),
            "min_ts": MIN_TS_MS, "max_ts": MAX_TS_MS, "min_time": MIN_TIME_MS, "max_time": MAX_TIME_MS,
        }).to_arrow_table()
    finally:
        con.unregister("chunk_lines")
    ok = pc.fill_null(table.column("ok"), False)
    events = table.drop_columns(["ok"])
    routed = []
    if not pc.all(ok).as_py():  # each of these copies every column: only when some line goes to Python
        routed = pc.filter(table.column("pos"), pc.invert(ok)).to_pylist()
        events = events.filter(ok)
    if len(table) < len(texts):  # lines that are not plain JSON objects have no row
        has_row = np.zeros(len(texts), dtype=bool)
        has_row[table.column("pos").to_numpy()] = True
        routed += np.flatnonzero(~has_row).tolist()
    pos = events.column("pos").to_numpy()
    if len(pos) > 1 and not (pos[1:] > pos[:-1]).all():  # DuckDB keeps the lines' order (preserve_insertion_order)
        events = events.sort_by("pos")
    return Extracted(events, sorted(routed))


_ID_KEY = blake2b(b"id:", digest_size=16)  # `ingest.parse.event_key`'s hash, fed its prefix once


def event_keys(event_ids: pa.ChunkedArray) -> pa.Array:
    """`ingest.parse.event_key` of records that carry an event_id (a non-empty string)."""
    keys = []
    for event_id in pc.cast(event_ids, pa.binary()).to_pylist():
        key = _ID_KEY.copy()
        key.update(event_id)
        keys.append(key.digest())
    return pa.array(keys, type=pa.binary())
