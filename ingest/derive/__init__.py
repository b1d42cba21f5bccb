"""The call derivation, one statement per table, in the order `ingest.calls.derive` runs them.

- `instances.py`: `instances`, one row per SDK instance (one iframe page load).
- `ids.py`: `engagement_owners` (the call each engagement belongs to) and `call_ids` (which externalCallIds are
  one call).
- `messages.py`: `blank_id_messages` (lifecycle messages without a usable externalCallId, and where they went)
  and `call_messages` (which message belongs to which call, and by which rule).
- `outcomes.py`: `calls`, one row per call with its outcome (through `call_msgs` and three per-call aggregates,
  steps that are not stored).

Every choice among rows is made in a total order that does not depend on how the events were loaded: time, then
the event key (`events.event_key`, derived from the record's content), never `load_id` or `line_no`. Each call's
row depends only on the events of its instances and engagements, except the one rule that reads the newest event
of the call's app (`outcomes.NEVER_ENDED_SQL`), which only ever turns an `in_progress` call into `never_ended`.
"""


def sort_key(*columns: str) -> str:
    """The order of `columns` (ascending, NULLs last, as DuckDB orders rows) as one sortable value. A choice by
    time then event key reads `arg_min(x, event_order)` over a column `event_order = sort_key('ts', 'event_key')`
    built once per row: a row key `(ts, event_key)` is encoded again by every aggregate that orders by it (per
    instance at 10M events: 12 s against 6 s). Spark builds the equivalent struct (ingest/spark/rules.py)."""
    return "create_sort_key(" + ", ".join(f"{column}, 'ASC NULLS LAST'" for column in columns) + ")"


# Blank: an externalCallId that is missing, empty or only whitespace is not an id (the SDK's minimal demo sends
# CALL_ENDED {externalCallId: ""} when "end call" is clicked with no call).
BLANK_ID = r"regexp_full_match(coalesce(external_call_id, ''), '[\s\pZ]*')"

# The calls started in each instance, one per instance and millisecond (the greatest event key), so "the latest
# call started in the instance at or before a message" (an ASOF join) has exactly one answer.
STARTS_SQL = f"""
SELECT instance, ts, arg_max(external_call_id, event_key) AS external_call_id
FROM events
WHERE list_contains($start_types, type) AND instance IS NOT NULL AND NOT {BLANK_ID}
GROUP BY instance, ts
"""
