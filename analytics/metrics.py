"""Call metrics, each defined once, here, next to its SQL. The dashboard and the beta report both use these.

Definitions (a call counts once however many tabs or instances it rang in; outcomes as in ingest/calls.py):
- offered (inbound): inbound calls whose outcome is known, i.e. every inbound call but `in_progress` (a
  `never_ended` call is known: it is over, the app just never said so).
- answer rate: answered inbound calls / offered inbound calls.
- miss rate: missed inbound calls / offered inbound calls (missed = never answered, ended with any status but
  FAILED, or transferred away unanswered).
- dropped rate: dropped calls / calls whose outcome is known, both directions (dropped = no CALL_ENDED,
  CALL_COMPLETED or CALL_TRANSFERRED, and every instance carrying it went away).
- failed rate: failed calls / calls whose outcome is known (never answered, ended FAILED).
- engagement-creation failure rate: calls with CREATE_ENGAGEMENT_FAILED / calls with any engagement-creation
  reply (created or failed).
- caller-ID match rate: inbound calls whose CALLER_ID_MATCH_SUCCEEDED had ≥1 match / inbound calls with any
  caller-ID reply (matched, no match, failed).
- time to answer: first ring (INCOMING_CALL / OUTGOING_CALL_STARTED) to CALL_ANSWERED, answered calls only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from analytics.explorer import DRILL_COLUMNS, DRILL_LIMIT
from analytics.filters import FILTERED_CALLS_SQL, Filters

RATE_HELP = {
    "answer_rate": "Answered inbound calls ÷ inbound calls offered (all inbound calls except those still in progress).",
    "miss_rate": "Missed inbound calls (never answered, ended with any status but FAILED, or transferred away) ÷ inbound calls offered.",
    "dropped_rate": "Dropped calls (no CALL_ENDED/COMPLETED and the iframe carrying them went away) ÷ calls with a known outcome, both directions.",
    "failed_rate": "Calls never answered that ended FAILED ÷ calls with a known outcome.",
    "engagement_failure_rate": "Calls with CREATE_ENGAGEMENT_FAILED ÷ calls with any engagement-creation reply.",
    "caller_id_match_rate": "Inbound calls matched to a contact or company ÷ inbound calls with a caller-ID reply.",
    "tta": "First ring to CALL_ANSWERED, answered calls only.",
}
# Each rate's label names the calls it counts, so a tile and the counts written under it agree.
RATE_LABELS = {
    "answer_rate": "Answer rate (inbound)", "miss_rate": "Miss rate (inbound)",
    "dropped_rate": "Dropped rate (all calls)", "failed_rate": "Failed rate (all calls)",
    "engagement_failure_rate": "Engagement failure rate (all calls)",
    "caller_id_match_rate": "Caller-ID match rate (inbound)",
}
# A rate over fewer calls is noise: trends leave a gap, comparisons say there is too little to compare.
MIN_CALLS_FOR_RATE = 10
# Which way is good, for the deltas and the report's wording.
HIGHER_IS_BETTER = {
    "calls": None, "answer_rate": True, "miss_rate": False, "dropped_rate": False, "failed_rate": False,
    "engagement_failure_rate": False, "caller_id_match_rate": True, "tta_median_s": False, "tta_p90_s": False,
}

# Numerators and denominators, so every rate can show the counts behind it.
COUNTS_SQL = """
    count(*)                                                                        AS calls,
    count(*) FILTER (WHERE direction = 'inbound')                                   AS inbound,
    count(*) FILTER (WHERE direction = 'outbound')                                  AS outbound,
    count(*) FILTER (WHERE direction = 'inbound' AND outcome <> 'in_progress')      AS offered,
    count(*) FILTER (WHERE direction = 'inbound' AND outcome = 'answered')          AS answered_inbound,
    count(*) FILTER (WHERE outcome = 'answered')                                    AS answered,
    count(*) FILTER (WHERE outcome = 'missed')                                      AS missed,
    count(*) FILTER (WHERE outcome = 'unanswered')                                  AS unanswered,
    count(*) FILTER (WHERE outcome = 'failed')                                      AS failed,
    count(*) FILTER (WHERE outcome = 'dropped')                                     AS dropped,
    count(*) FILTER (WHERE outcome = 'never_ended')                                 AS never_ended,
    count(*) FILTER (WHERE outcome = 'in_progress')                                 AS in_progress,
    count(*) FILTER (WHERE outcome <> 'in_progress')                                AS known,
    count(*) FILTER (WHERE engagement = 'failed')                                   AS engagement_failed,
    count(*) FILTER (WHERE engagement IS NOT NULL)                                  AS engagement_replied,
    count(*) FILTER (WHERE direction = 'inbound' AND caller_id = 'matched')         AS caller_id_matched,
    count(*) FILTER (WHERE direction = 'inbound' AND caller_id IS NOT NULL)         AS caller_id_replied,
    median(time_to_answer_ms) / 1000.0                                              AS tta_median_s,
    quantile_cont(time_to_answer_ms, 0.9) / 1000.0                                  AS tta_p90_s
"""

RATES_SQL = """
    answered_inbound / nullif(offered, 0)            AS answer_rate,
    missed / nullif(offered, 0)                      AS miss_rate,
    dropped / nullif(known, 0)                       AS dropped_rate,
    failed / nullif(known, 0)                        AS failed_rate,
    engagement_failed / nullif(engagement_replied, 0) AS engagement_failure_rate,
    caller_id_matched / nullif(caller_id_replied, 0) AS caller_id_match_rate
"""

KPIS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
counts AS (SELECT {COUNTS_SQL} FROM f)
SELECT *, {RATES_SQL} FROM counts
"""

TREND_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
counts AS (
    SELECT date_trunc($bucket, started_local) AS bucket, {COUNTS_SQL}
    FROM f GROUP BY ALL
)
SELECT *, {RATES_SQL} FROM counts ORDER BY bucket
"""

# Breakdowns by one dimension; `$dimension` picks the column (a fixed set, see DIMENSIONS), never user SQL.
# A call's iframe locations as one key: `remote`, `remote + window` (rang in both), `(unknown)` (none captured).
LOCATION_KEY_SQL = "coalesce(nullif(array_to_string(iframe_locations, ' + '), ''), '(unknown)')"
_DIMENSION_KEY = f"""CASE $dimension
    WHEN 'portal' THEN portal_id::VARCHAR
    WHEN 'app' THEN app
    WHEN 'sdk_version' THEN sdk_version
    WHEN 'iframe_location' THEN {LOCATION_KEY_SQL}
    WHEN 'direction' THEN direction
    WHEN 'user' THEN user_id::VARCHAR
END"""

BREAKDOWN_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
keyed AS (
    SELECT *, {_DIMENSION_KEY} AS key
    FROM f
),
counts AS (SELECT coalesce(key, '(unknown)') AS key, {COUNTS_SQL} FROM keyed GROUP BY ALL)
SELECT *, {RATES_SQL} FROM counts ORDER BY calls DESC
"""
DIMENSIONS = {"portal": "Portal", "app": "App", "sdk_version": "SDK version", "iframe_location": "Iframe location",
              "direction": "Direction", "user": "User"}

REJECTED_LINES_SQL = "SELECT count(*) AS rejected FROM rejects"

# The calls behind a number: the filter plus one optional outcome / direction / dimension value / time bucket.
DRILL_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT {DRILL_COLUMNS}, end_status, time_to_answer_ms / 1000 AS time_to_answer_s
FROM f
WHERE ($outcome IS NULL OR outcome = $outcome)
  AND ($direction IS NULL OR direction = $direction)
  AND ($bucket_start IS NULL OR date_trunc($bucket, started_local) = $bucket_start)
  AND ($dimension IS NULL OR {_DIMENSION_KEY} = $key)
ORDER BY started_at DESC
LIMIT {DRILL_LIMIT}
"""

# The calls a rate's numerator counts, as (outcome, direction or None): what a click on the rate lists.
RATE_CALLS = {"answer_rate": ("answered", "inbound"), "miss_rate": ("missed", "inbound"),
              "dropped_rate": ("dropped", None), "failed_rate": ("failed", None)}

# rate column -> (numerator column, denominator column)
RATE_PARTS = {
    "answer_rate": ("answered_inbound", "offered"),
    "miss_rate": ("missed", "offered"),
    "dropped_rate": ("dropped", "known"),
    "failed_rate": ("failed", "known"),
    "engagement_failure_rate": ("engagement_failed", "engagement_replied"),
    "caller_id_match_rate": ("caller_id_matched", "caller_id_replied"),
}


def counts_behind(row) -> pd.DataFrame:
    """One line per rate: its value, numerator, denominator and definition."""
    return pd.DataFrame([
        {"rate": RATE_LABELS[name], "value": row[name], "numerator": int(row[num]),
         "denominator": int(row[den]), "definition": RATE_HELP[name]}
        for name, (num, den) in RATE_PARTS.items()
    ])


def summed_rate(frame, rate: str) -> tuple[float | None, int, int]:
    """A rate over all rows of a TREND_SQL / BREAKDOWN_SQL result (numerator and denominator added up, which is
    the rate over the whole filter), with its numerator and denominator; saves running KPIS_SQL as well."""
    num, den = (int(frame[column].sum()) if len(frame) else 0 for column in RATE_PARTS[rate])
    return (num / den if den else None), num, den


# What the breakdown table shows: volume and every rate (a row drills to its calls, outcome by outcome).
BREAKDOWN_VIEW_COLUMNS = ["key", "calls", "inbound", "outbound", "answer_rate", "miss_rate", "dropped_rate",
                          "failed_rate", "engagement_failure_rate", "caller_id_match_rate", "tta_median_s",
                          "tta_p90_s"]


def previous_captured(f: Filters, first_call: datetime | None) -> bool:
    """Whether capture had started by the first day of the period before `f` (`first_call`: the first captured
    call, UTC). If not, the previous period's calls are partly calls nobody captured: comparing with it would
    report growth that is only the capture starting."""
    return first_call is not None and first_call < f.previous().bounds_utc()[0] + timedelta(days=1)


def enough_to_compare(before, column: str) -> bool:
    """Whether the previous period's `column` (a KPIS_SQL value) rests on at least MIN_CALLS_FOR_RATE calls: a
    rate's denominator, answered calls for the times to answer, all calls for a count."""
    denominator = RATE_PARTS[column][1] if column in RATE_PARTS else "answered" if column.startswith("tta") else "calls"
    return int(before[denominator] or 0) >= MIN_CALLS_FOR_RATE
