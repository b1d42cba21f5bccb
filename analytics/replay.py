"""Call replay: find a call, load it as a `CallTrace`, and share it (capture format v1, a text summary).

Loading one call reads, all by bound parameters and all pruned by an index-like order (call_messages is sorted
by call_id; events by time within each load):
1. `CALL_SQL`: its `calls` row;
2. `CALL_INSTANCES_SQL`: the instances that carried its messages, those HubSpot handed it to (SYNC with its
   engagementId), and those that replaced them in the same tab (the page navigation that re-mounted the iframe);
3. `TRACE_EVENTS_SQL`: the full `events` rows of its `call_messages`, plus the other events of those instances
   around the call: their SYNC handshake, the last availability message before the ring, everything in the
   window `[first message - LEAD, last message or went-away + TAIL]` that belongs to no other call;
4. `PORTAL_MEDIANS_SQL`: the portal's median HubSpot reply latencies, for "slow reply" findings.

`load_trace(run, call_id)` runs them through any `run(sql, **params) -> DataFrame`: `ui.data.run` in the
dashboard (cached per snapshot), `reader_run(con)` headless.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable

import duckdb
import pandas as pd

from analytics.db import query
from analytics.trace import CallTrace, Instance, Message
from ingest import sdk
from ingest.redact import EMAIL_RE, PHONE_RE

Run = Callable[..., pd.DataFrame]

LEAD_MS = 60_000        # context before the call's first message (DIAL_NUMBER, availability, navigation)
TAIL_MS = 30_000        # context after its last message or the moment its instance went away
HANDSHAKE_MS = 30_000   # an instance's first 30 s: its SYNC/SYNC_ACK (HubSpot gives up on SYNC_ACK after 30 s)
FIND_LIMIT = 200
# Types that always belong to some call: in a window they are context only when tied to this call.
CALL_TYPES = sorted(sdk.CALL_LIFECYCLE_TYPES | sdk.CALL_REPLY_TYPES)

CALL_SQL = """
SELECT external_call_id, direction, outcome, portal_id, user_id, app, sdk_version, answered, end_status,
       transferred, engagement, engagement_id, engagement_error, caller_id, caller_id_matches, caller_id_error,
       update_engagement_failed, iframe_locations, uses_calling_window, instances, tabs, instances_involved,
       arrived_while_unavailable, time_to_answer_ms, duration_ms, engagement_latency_ms, caller_id_latency_ms,
       from_number, to_number, messages,
       epoch_ms(started_at) AS started_ms, epoch_ms(answered_at) AS answered_ms, epoch_ms(ended_at) AS ended_ms,
       epoch_ms(completed_at) AS completed_ms, epoch_ms(transferred_at) AS transferred_ms,
       epoch_ms(last_event_at) AS last_event_ms, epoch_ms(went_away_at) AS went_away_ms
FROM calls
WHERE external_call_id = $call_id
"""

CALL_INSTANCES_SQL = """
WITH own AS (SELECT DISTINCT instance FROM call_messages WHERE call_id = $call_id),
call AS (
    SELECT engagement_id, started_at,
           greatest(last_event_at, coalesce(went_away_at, last_event_at)) + to_milliseconds($tail_ms) AS until
    FROM calls WHERE external_call_id = $call_id
),
involved AS (
    SELECT i.*, 'call' AS role FROM instances i WHERE i.instance IN (SELECT instance FROM own)
    UNION ALL BY NAME
    -- HubSpot hands a reloaded iframe the call in progress: its SYNC carries the call's engagementId.
    SELECT i.*, 'handover' AS role FROM instances i, call c
    WHERE i.sync_engagement_id = c.engagement_id AND i.started_at >= c.started_at
),
replacing AS (
    -- The iframe that took an involved one's place in the same tab, while the call was on: the navigation.
    SELECT b.*, 'replacement' AS role
    FROM involved a JOIN instances b ON b.tab = a.tab AND b.started_at = a.replaced_at AND b.instance <> a.instance,
         call c
    WHERE b.started_at <= c.until
)
SELECT instance, role, tab, iframe_location, uses_calling_window, portal_id, sdk_version, handshake_done,
       sync_engagement_id, epoch_ms(started_at) AS started_ms, epoch_ms(last_message_at) AS last_message_ms,
       epoch_ms(unloaded_at) AS unloaded_ms, epoch_ms(replaced_at) AS replaced_ms,
       epoch_ms(went_away_at) AS went_away_ms
FROM (SELECT * FROM involved UNION ALL BY NAME SELECT * FROM replacing)
QUALIFY row_number() OVER (PARTITION BY instance ORDER BY CASE role WHEN 'call' THEN 0 WHEN 'handover' THEN 1 ELSE 2 END) = 1
ORDER BY started_at, instance
"""

TRACE_EVENTS_SQL = """
WITH tied AS (SELECT event_key, any_value(tied_by) AS tied_by FROM call_messages WHERE call_id = $call_id GROUP BY 1),
candidates AS (
    SELECT e.*, t.tied_by,
           min(e.ts) OVER (PARTITION BY e.instance) AS instance_first_ts,
           max(CASE WHEN e.type IN ('USER_AVAILABLE', 'USER_UNAVAILABLE') AND e.ts < $lo THEN e.ts END)
               OVER (PARTITION BY e.instance) AS last_availability_ts
    FROM events e LEFT JOIN tied t ON t.event_key = e.event_key
    WHERE e.ts BETWEEN $span_lo AND $hi
      AND list_contains($instances, e.instance)
      AND (t.tied_by IS NOT NULL OR NOT list_contains($call_types, e.type))
)
SELECT epoch_ms(ts) AS ts_ms, direction, instance, tab, type, known_type, message_id, external_call_id,
       engagement_id, call_end_status, error_message, error_type, caller_id_matches, url, app, sdk_version,
       redacted, message, tied_by, event_key
FROM candidates
WHERE tied_by IS NOT NULL
   OR ts >= $lo
   OR ts <= instance_first_ts + to_milliseconds($handshake_ms)
   OR ts = last_availability_ts
ORDER BY ts, load_id, line_no
"""

PORTAL_MEDIANS_SQL = """
SELECT median(engagement_latency_ms) AS engagement, median(caller_id_latency_ms) AS caller_id
FROM calls
WHERE portal_id = $portal_id
"""

# Find calls: a call id (prefix), an engagement id, the last digits of a phone number (a redacted number keeps
# its last 4: `~3fa9c21b0d-0123`), a portal, a time window (UTC), an outcome. NULL means "any".
FIND_CALLS_SQL = """
SELECT external_call_id, started_at, direction, outcome, portal_id, app, sdk_version, engagement_id,
       from_number, to_number, tabs, messages
FROM calls
WHERE ($text IS NULL OR starts_with(external_call_id, $text) OR engagement_id = TRY_CAST($text AS BIGINT)
       OR ($digits IS NOT NULL AND (ends_with(from_number, $digits) OR ends_with(to_number, $digits)
            OR (starts_with(from_number, '~') AND ends_with(from_number, right($digits, 4)))
            OR (starts_with(to_number, '~') AND ends_with(to_number, right($digits, 4))))))
  AND ($portal_id IS NULL OR portal_id = $portal_id)
  AND ($since IS NULL OR started_at >= $since)
  AND ($until IS NULL OR started_at < $until)
  AND ($outcome IS NULL OR outcome = $outcome)
ORDER BY started_at DESC, external_call_id
LIMIT $limit
"""


def reader_run(con: duckdb.DuckDBPyConnection) -> Run:
    """A `run(sql, **params)` on one reader connection (for scripts, tests and the benchmark)."""
    return lambda sql, **params: query(con, sql, params)


def find_params(text: str | None = None, *, portal_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None, outcome: str | None = None, limit: int = FIND_LIMIT) -> dict:
    """Parameters of FIND_CALLS_SQL from what a person typed: a call id, an engagement id or phone digits."""
    text = (text or "").strip() or None
    digits = re.sub(r"\D", "", text or "")
    phone_like = text is not None and re.fullmatch(r"[\d\s()+.-]+", text) is not None and 3 <= len(digits) <= 15
    return {"text": text, "digits": digits if phone_like else None, "portal_id": portal_id, "since": since,
            "until": until, "outcome": outcome, "limit": limit}


def find_calls(run: Run, text: str | None = None, **filters: Any) -> pd.DataFrame:
    return run(FIND_CALLS_SQL, **find_params(text, **filters))


def load_trace(run: Run, call_id: str) -> CallTrace | None:
    """The call with this externalCallId as a trace, or None when no call has that id."""
    calls = run(CALL_SQL, call_id=call_id)
    if calls.empty:
        return None
    call = _record(calls.iloc[0])
    instances = [Instance(**_record(row)) for _, row in run(CALL_INSTANCES_SQL, call_id=call_id,
                                                               tail_ms=TAIL_MS).iterrows()]
    end = max(call["last_event_ms"], call["went_away_ms"] or 0)
    lo, hi = call["started_ms"] - LEAD_MS, end + TAIL_MS
    span_lo = min([i.started_ms for i in instances] + [lo])
    events = run(TRACE_EVENTS_SQL, call_id=call_id, instances=[i.instance for i in instances],
                 call_types=CALL_TYPES, lo=_ts(lo), hi=_ts(hi), span_lo=_ts(span_lo), handshake_ms=HANDSHAKE_MS)
    messages = [_message(i, _record(row)) for i, (_, row) in enumerate(events.iterrows())]
    medians = {}
    if call["portal_id"] is not None:
        row = run(PORTAL_MEDIANS_SQL, portal_id=call["portal_id"])
        medians = {k: float(v) for k, v in _record(row.iloc[0]).items() if v is not None} if not row.empty else {}
    return CallTrace(call_id, call, messages, instances, medians)


def _ts(ms: int) -> datetime:
    """A bound TIMESTAMP parameter (naive UTC, as stored)."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(tzinfo=None)


def _clean(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict, bytes, bytearray, str, bool)) or value is None:
        return bytes(value) if isinstance(value, bytearray) else value
    if hasattr(value, "tolist") and not isinstance(value, (int, float)):  # numpy arrays and scalars
        value = value.tolist()
        return value if not isinstance(value, float) or value == value else None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _record(row: pd.Series) -> dict[str, Any]:
    return {k: _clean(v) for k, v in row.items()}


def _message(index: int, row: dict[str, Any]) -> Message:
    row["message"] = json.loads(row["message"]) if isinstance(row["message"], str) else row["message"]
    tied_by = row.pop("tied_by")
    return Message(index=index, in_call=tied_by is not None, tied_by=tied_by, known_type=bool(row.pop("known_type")),
                   redacted=bool(row.pop("redacted")), **row)


def capture_records(trace: CallTrace) -> list[dict[str, Any]]:
    """The trace's messages as capture format v1 records; `event_id` is the stored event key (hex)."""
    records = []
    for m in trace.messages:
        record = {"ts": m.ts_ms, "direction": m.direction, "instance": m.instance, "tab": m.tab, "app": m.app,
                  "sdk_version": m.sdk_version, "url": m.url, "event_id": m.event_key.hex(), "message": m.message}
        records.append({k: v for k, v in record.items() if v is not None})
    return records


def to_ndjson(trace: CallTrace) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in capture_records(trace))


def scrub(text: str) -> str:
    """Hide phone numbers and emails that were not redacted at ingest (redacted tokens start with `~`)."""
    text = EMAIL_RE.sub("[email]", text)
    return PHONE_RE.sub("[phone]", text)
