"""Lifecycle funnel: how far each call got through the SDK's lifecycle, and how fast instances got ready.

A call passes a step when it passed every step before it and this step's message was sent (STEPS, in order). The
first three steps belong to the SDK instance the call first rang in (`calls.first_instance`: its first
INCOMING_CALL / OUTGOING_CALL_STARTED); the others to the call (`calls`). Conversion at a step = calls that
passed it ÷ calls that passed the step before; the calls lost at a step passed the step before but not this one.
Inbound and outbound calls have different funnels (a missed inbound call is lost at "answered"); calls whose start
was not captured (direction unknown) are left out.

Time to ready, per SDK instance started in the period (analytics.iframes.FILTERED_INSTANCES_SQL: the direction
filter does not apply): HubSpot's first SYNC to the app's SYNC_ACK (HubSpot resends SYNC every ~100 ms until
acknowledged; the SDK's onReady fires on the first). A handshake that never completed: SYNC seen, no SYNC_ACK.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.explorer import DRILL_COLUMNS, DRILL_LIMIT
from analytics.filters import FILTERED_CALLS_SQL
from analytics.iframes import FILTERED_INSTANCES_SQL

# (key, label, what passing it means, the SQL condition on one call)
STEPS = (
    ("sync", "SYNC", "HubSpot's SYNC reached the instance the call first rang in", "i.first_sync_at IS NOT NULL"),
    ("ready", "ready (SYNC_ACK)", "that instance answered SYNC_ACK (onReady)", "i.ready_at IS NOT NULL"),
    ("initialized", "INITIALIZED", "that instance sent INITIALIZED", "i.initialized_at IS NOT NULL"),
    ("started", "call started", "INCOMING_CALL / OUTGOING_CALL_STARTED sent", "f.direction IN ('inbound', 'outbound')"),
    ("engagement", "engagement created", "CREATE_ENGAGEMENT_SUCCEEDED or ENGAGEMENT_CREATED received (or the app "
     "sent an engagementId)", "f.engagement = 'created'"),
    ("answered", "answered", "CALL_ANSWERED sent", "f.answered_at IS NOT NULL"),
    ("ended", "ended", "CALL_ENDED (or CALL_TRANSFERRED) sent", "coalesce(f.ended_at, f.transferred_at) IS NOT NULL"),
    ("completed", "completed", "CALL_COMPLETED sent", "f.completed_at IS NOT NULL"),
    ("finalized", "finalized (optional)", "FINALIZE_ENGAGEMENT or PUBLISH_TO_CHANNEL sent: only help-desk and "
     "channel calls do", "f.finalized"),
)

# Steps a healthy call may skip: a call that does not pass one is not lost (help-desk and channel calls only).
OPTIONAL_STEPS = ("finalized",)

# The number of steps each call passed in a row (0 = lost at the first step).
_REACHED = "CASE " + " ".join(f"WHEN NOT coalesce({cond}, false) THEN {n}" for n, (*_, cond) in enumerate(STEPS)) \
    + f" ELSE {len(STEPS)} END"

# `calls.first_instance` is the instance of the call's first INCOMING_CALL / OUTGOING_CALL_STARTED.
_WITH_REACHED = f"""WITH f AS ({FILTERED_CALLS_SQL}),
reached AS (
    SELECT f.*, {_REACHED} AS reached
    FROM f LEFT JOIN instances i ON i.instance = f.first_instance
    WHERE f.direction IN ('inbound', 'outbound')
)"""

# Calls per direction and number of steps passed; funnel_steps() turns it into the funnel.
FUNNEL_SQL = f"""
{_WITH_REACHED}
SELECT direction, reached, count(*) AS calls
FROM reached
GROUP BY ALL
ORDER BY direction, reached
"""

# The calls behind a step: $direction, $step (1 = the first step), $lost (true: lost at the step; false: passed it).
DRILL_SQL = f"""
{_WITH_REACHED}
SELECT {DRILL_COLUMNS}
FROM reached
WHERE direction = $direction AND CASE WHEN $lost THEN reached = $step - 1 ELSE reached >= $step END
ORDER BY started_at DESC
LIMIT {DRILL_LIMIT}
"""


def funnel_steps(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """One row per step: calls that passed it, calls lost there (for an optional step: that skipped it), conversion
    from the step before and overall, and whether the step is optional."""
    rows = frame[frame["direction"] == direction]
    total = int(rows["calls"].sum())
    out, before = [], total
    for n, (key, label, meaning, _) in enumerate(STEPS, start=1):
        passed = int(rows.loc[rows["reached"] >= n, "calls"].sum())
        out.append({"step": n, "key": key, "label": label, "passed": passed, "lost": before - passed,
                    "conversion": passed / before if before else None, "of_all": passed / total if total else None,
                    "meaning": meaning, "optional": key in OPTIONAL_STEPS})
        before = passed
    return pd.DataFrame(out)


def steps_help() -> str:
    return "; ".join(f"**{label}**: {meaning}" for _, label, meaning, _ in STEPS) + "."


# The distribution of time to ready: bins with upper bounds in ms (HubSpot resends SYNC about every 100 ms, so an
# app that misses the first SYNC lands in the 100–200 ms bin).
READY_BINS = ((10, "<10 ms"), (50, "10–50 ms"), (100, "50–100 ms"), (200, "100–200 ms"), (500, "200–500 ms"),
              (1000, "0.5–1 s"), (2000, "1–2 s"), (5000, "2–5 s"), (30000, "5–30 s"), (None, "≥30 s"))
HANDSHAKE_DIMENSIONS = {"portal": "portal", "app": "app", "iframe_location": "iframe location",
                        "sdk_version": "SDK version"}

# Instances per group ($dimension: portal, app, iframe_location, sdk_version) and time to ready in ms (NULL when
# it never got ready or its SYNC was not captured): few rows, since times repeat. ready_stats() and ready_bins()
# shape it.
READY_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
i AS ({FILTERED_INSTANCES_SQL})
SELECT coalesce(CASE $dimension WHEN 'portal' THEN portal_id::VARCHAR WHEN 'app' THEN app
                                WHEN 'iframe_location' THEN iframe_location WHEN 'sdk_version' THEN sdk_version END,
                '(unknown)')                                                     AS key,
       datediff('millisecond', first_sync_at, ready_at)                          AS ready_ms,
       count(*)                                                                  AS instances,
       count(first_sync_at)                                                      AS handshakes,
       count(*) FILTER (WHERE first_sync_at IS NOT NULL AND ready_at IS NULL)    AS never_ready
FROM i
GROUP BY ALL
ORDER BY key, ready_ms
"""


def _nearest_rank(values: pd.Series, counts: pd.Series, q: float) -> float | None:
    """The smallest value with at least q of the counted values at or below it."""
    order = values.argsort(kind="stable")
    values, cumulative = values.iloc[order], counts.iloc[order].cumsum()
    total = cumulative.iloc[-1] if len(cumulative) else 0
    if not total:
        return None
    return float(values[cumulative >= q * total].iloc[0])


def ready_stats(frame: pd.DataFrame) -> dict:
    """READY_SQL over every group: instances, handshakes, never_ready, timed, median_ms, p90_ms."""
    timed = frame[frame["ready_ms"].notna()]
    return {"instances": int(frame["instances"].sum()), "handshakes": int(frame["handshakes"].sum()),
            "never_ready": int(frame["never_ready"].sum()), "timed": int(timed["instances"].sum()),
            "median_ms": _nearest_rank(timed["ready_ms"], timed["instances"], 0.5),
            "p90_ms": _nearest_rank(timed["ready_ms"], timed["instances"], 0.9)}


def ready_bins(frame: pd.DataFrame) -> pd.DataFrame:
    """READY_SQL's timed instances per group and READY_BINS bin (`bin` indexes READY_BINS)."""
    timed = frame[frame["ready_ms"].notna()]
    bounds = [hi for hi, _ in READY_BINS[:-1]]
    bins = np.searchsorted(bounds, timed["ready_ms"].to_numpy(), side="right")  # how many bounds are <= the time
    return (timed.assign(bin=bins).groupby(["key", "bin"], as_index=False)["instances"].sum()
            .sort_values(["key", "bin"], ignore_index=True))


# Instances whose handshake never completed (SYNC, no SYNC_ACK), newest first.
NEVER_READY_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
i AS ({FILTERED_INSTANCES_SQL})
SELECT instance, tab, started_local AS started, portal_id, app, iframe_location, sdk_version, events,
       datediff('millisecond', first_sync_at, coalesce(last_message_at, first_sync_at)) AS waited_ms
FROM i
WHERE first_sync_at IS NOT NULL AND ready_at IS NULL
ORDER BY started_at DESC
LIMIT 200
"""

HELP = {
    "funnel": "Each step counts the calls that passed it and every step before it. Conversion = calls passing the "
    "step ÷ calls passing the step before; lost = passed the step before, not this one. Calls whose start was not "
    "captured are left out. A call counts once however many tabs it rang in.",
    "ready": "SDK instances started in the period: HubSpot's first SYNC to the app's SYNC_ACK (onReady). HubSpot "
    "resends SYNC about every 100 ms until acknowledged. The direction filter does not apply to instances. Bars: "
    "the share of each group's instances in each time bin.",
    "never_ready": "Instances that received SYNC but never answered SYNC_ACK: the app never got ready, and HubSpot "
    "cannot talk to it.",
}
