"""Iframes & tabs: where the SDK runs (onReady iframeLocation, usesCallingWindow), calls ringing in several
instances, drops by iframe location, iframes re-created mid-call, and user availability.

Instance-level numbers read `i` (FILTERED_INSTANCES_SQL): SDK instances (iframe page loads) started in the period,
filtered by portal, app and SDK version. Instances have no direction: the direction filter does not apply to them.
Call-level numbers read `f` (FILTERED_CALLS_SQL) and count a call once however many tabs it rang in.

Definitions:
- Iframe location: the `iframeLocation` of the instance's first SYNC (HubSpot's onReady payload: widget, remote,
  window); `(unknown)` when the SYNC had none (SDK before 0.8.1, or `supportsRemote` not set). A call's locations
  are those of the instances it rang in (`remote + window` when it rang in both); the location charts count calls.
- Uses a calling window: the app's SYNC said `usesCallingWindow: true` (HubSpot opens its calls in a window of their
  own). Share of instances: instances whose SYNC said true ÷ instances whose SYNC said either way. Not the same as
  an instance *in* the calling window: iframe location `window`, the iframe inside that window.
- Simultaneous ringing: a call whose INCOMING_CALL / OUTGOING_CALL_STARTED was sent by more than one SDK instance
  (`calls.instances > 1`: several open HubSpot tabs, each with its own iframe, rang for the one call).
- Dropped: the metrics dropped rate, by the call's iframe locations (metrics.BREAKDOWN_SQL) and by whether it used
  the calling window (RECREATED_SQL's counts added up per group: the same numerator and denominator).
- Iframes re-created during a call: `calls.iframes_recreated` (ingest/calls.py): instances in a tab where the call
  rang that went away (page unload, or a newer instance started) after its first ring and by its end, and that a
  newer instance in the same tab replaced. Each is a HubSpot page navigation re-mounting the iframe mid-call; a
  call in the calling window lives in the window's tab, which navigations leave alone.
- Availability: USER_UNAVAILABLE messages sent in the period by instances of the filtered portals, apps and SDK
  versions, and the users who sent them. USER_AVAILABLE is not counted over time: every instance sends it as the
  last step of its start-up (SDK lifecycle, section 8), so its count follows page loads (the SDK instances tile).
  Calls that arrived while unavailable: inbound calls that rang after the ringing instance's last availability
  message said USER_UNAVAILABLE (`calls.arrived_while_unavailable`).

Speed: availability buckets are made from 15-minute UTC buckets turned into the user's time zone afterwards (every
zone's offset is a multiple of 15 minutes), so no per-row time-zone conversion; only `calls` and `instances` are read.
"""

from __future__ import annotations

import pandas as pd

from analytics import metrics
from analytics.explorer import DRILL_COLUMNS, DRILL_LIMIT
from analytics.filters import FILTERED_CALLS_SQL
from analytics.metrics import COUNTS_SQL as CALL_COUNTS  # the one definition of each rate
from analytics.metrics import LOCATION_KEY_SQL
from analytics.metrics import RATES_SQL as CALL_RATES

# The two things "calling window" can mean, named apart everywhere: an app that *uses* a calling window (its SYNC
# said usesCallingWindow: true, so HubSpot opens calls in a window of their own), and an instance *in* the calling
# window (iframe location `window`: the iframe inside that window).
USES_CALLING_WINDOW, NO_CALLING_WINDOW = "uses a calling window", "no calling window"

# Instances matching the shared filter's portal / app / SDK version (`n` is an alias of `instances`).
_INSTANCE_MATCHES = """(len($portals) = 0 OR list_contains($portals, n.portal_id))
  AND (len($apps) = 0 OR list_contains($apps, n.app))
  AND (len($sdk_versions) = 0 OR list_contains($sdk_versions, n.sdk_version))"""

FILTERED_INSTANCES_SQL = f"""
SELECT n.*, timezone($tz, timezone('UTC', n.started_at)) AS started_local
FROM instances n
WHERE n.started_at >= $start_utc AND n.started_at < $end_utc
  AND {_INSTANCE_MATCHES}
"""

_WITH = f"WITH f AS ({FILTERED_CALLS_SQL}),\ni AS ({FILTERED_INSTANCES_SQL})"

SUMMARY_SQL = f"""
{_WITH},
inst AS (
    SELECT count(*)                                    AS instances,
           count(*) FILTER (WHERE uses_calling_window) AS calling_window_instances,
           count(uses_calling_window)                  AS calling_window_known
    FROM i
),
c AS (
    SELECT count(*)                                                                    AS calls,
           count(*) FILTER (WHERE instances > 1)                                       AS ringing_incidents,
           count(*) FILTER (WHERE direction = 'inbound')                               AS inbound,
           count(*) FILTER (WHERE direction = 'inbound' AND arrived_while_unavailable) AS arrived_unavailable
    FROM f
)
SELECT *, calling_window_instances / nullif(calling_window_known, 0) AS calling_window_share,
       ringing_incidents / nullif(calls, 0)                          AS ringing_share,
       arrived_unavailable / nullif(inbound, 0)                      AS arrived_unavailable_share
FROM inst, c
"""


def _quarter(column: str) -> str:
    """The 15-minute UTC bucket of a timestamp column: group by this first, then _local() the few buckets."""
    return f"time_bucket(INTERVAL 15 MINUTES, {column})"


def _local(column: str) -> str:
    """A UTC timestamp column in the user's time zone ($tz), truncated to $bucket."""
    return f"date_trunc($bucket, timezone($tz, timezone('UTC', {column})))"


# Calls per bucket (the user's time zone) and the iframe locations they rang in (`remote + window` when they rang
# in both), with how many came from an app that uses a calling window: every bar is calls, so it drills to them.
LOCATIONS_TREND_SQL = f"""
{_WITH}
SELECT date_trunc($bucket, started_local) AS bucket, {LOCATION_KEY_SQL} AS location, count(*) AS calls,
       count(*) FILTER (WHERE uses_calling_window) AS calling_window, count(uses_calling_window) AS calling_window_known
FROM f
GROUP BY ALL
ORDER BY bucket, location
"""

# The same per portal.
LOCATIONS_BY_PORTAL_SQL = f"""
{_WITH}
SELECT coalesce(portal_id::VARCHAR, '(unknown)') AS portal, {LOCATION_KEY_SQL} AS location, count(*) AS calls,
       count(*) FILTER (WHERE uses_calling_window) AS calling_window, count(uses_calling_window) AS calling_window_known
FROM f
GROUP BY ALL
ORDER BY portal, location
"""

_RINGING_KEY = "CASE WHEN instances >= 4 THEN '4+' ELSE coalesce(instances, 0)::VARCHAR END"

# Calls by how many instances they rang in (1, 2, 3, 4+) and outcome.
RINGING_SQL = f"""
{_WITH}
SELECT {_RINGING_KEY} AS ringing, outcome, count(*) AS calls
FROM f
GROUP BY ALL
ORDER BY ringing, outcome
"""

_CALLING_WINDOW_KEY = f"""CASE uses_calling_window WHEN true THEN '{USES_CALLING_WINDOW}'
                          WHEN false THEN '{NO_CALLING_WINDOW}' ELSE '(unknown)' END"""
_RECREATED_KEY = "CASE WHEN iframes_recreated >= 3 THEN '3+' ELSE iframes_recreated::VARCHAR END"

# Calls by iframes re-created during them (0, 1, 2, 3+) and calling window, with every metrics count and rate.
RECREATED_SQL = f"""
{_WITH},
keyed AS (SELECT *, {_RECREATED_KEY} AS recreated, {_CALLING_WINDOW_KEY} AS calling_window FROM f),
counts AS (
    SELECT recreated, calling_window, sum(iframes_recreated)::BIGINT AS recreations, {CALL_COUNTS}
    FROM keyed
    GROUP BY ALL
)
SELECT *, {CALL_RATES} FROM counts ORDER BY recreated, calling_window
"""


def by_calling_window(recreated: pd.DataFrame) -> pd.DataFrame:
    """RECREATED_SQL's rows added up per calling-window group: `key`, the dropped rate's numerator and denominator
    (metrics.RATE_PARTS) and the rate, so drops can be compared with and without the calling window."""
    numerator, denominator = metrics.RATE_PARTS["dropped_rate"]
    out = recreated.groupby("calling_window", as_index=False)[[numerator, denominator]].sum()
    out["dropped_rate"] = out[numerator] / out[denominator].where(out[denominator] > 0)
    return out.rename(columns={"calling_window": "key"}).sort_values("key", ascending=False, ignore_index=True)


# USER_UNAVAILABLE messages and the users who sent them per bucket, and the inbound calls that arrived while the
# user was unavailable. The messages' times come from `instances.unavailable_at` (a list per instance, so the
# 10M-row events table is not read), bounded to the period.
AVAILABILITY_SQL = f"""
{_WITH},
away AS (
    SELECT portal_id, user_id, unnest(unavailable_at) AS ts
    FROM instances n
    WHERE n.unavailable_at IS NOT NULL AND {_INSTANCE_MATCHES}
),
quarters AS (  -- per 15-minute UTC bucket and user, so the time-zone conversion runs on few rows
    SELECT {_quarter('ts')} AS q, portal_id, user_id, count(*) AS messages
    FROM away
    WHERE ts >= $start_utc AND ts < $end_utc
    GROUP BY ALL
),
msgs AS (
    SELECT {_local('q')} AS bucket, sum(messages)::BIGINT AS unavailable_messages,
           count(DISTINCT (portal_id, user_id)) AS users_unavailable
    FROM quarters
    GROUP BY 1
),
arrivals AS (
    SELECT {_local('q')} AS bucket, sum(arrived)::BIGINT AS arrived_unavailable,
           sum(missed)::BIGINT AS arrived_unavailable_missed
    FROM (SELECT {_quarter('started_at')} AS q, count(*) AS arrived,
                 count(*) FILTER (WHERE outcome = 'missed') AS missed
          FROM f WHERE direction = 'inbound' AND arrived_while_unavailable GROUP BY 1)
    GROUP BY 1
)
SELECT bucket, coalesce(unavailable_messages, 0) AS unavailable_messages,
       coalesce(users_unavailable, 0) AS users_unavailable,
       coalesce(arrived_unavailable, 0) AS arrived_unavailable,
       coalesce(arrived_unavailable_missed, 0) AS arrived_unavailable_missed
FROM msgs FULL OUTER JOIN arrivals USING (bucket)
ORDER BY bucket
"""

# The calls behind a bar. Extra parameters, NULL = any: $bucket_start (with $bucket), $location (one of the call's
# iframe locations), $portal, $ringing (1, 2, 3, 4+), $outcome, $recreated (0, 1, 2, 3+), $calling_window,
# $unavailable (true: inbound calls that arrived while the user was unavailable).
DRILL_SQL = f"""
{_WITH}
SELECT {DRILL_COLUMNS}, instances, iframes_recreated, uses_calling_window
FROM f
WHERE ($bucket_start IS NULL OR date_trunc($bucket, started_local) = $bucket_start)
  AND ($location IS NULL OR {LOCATION_KEY_SQL} = $location)
  AND ($portal IS NULL OR coalesce(portal_id::VARCHAR, '(unknown)') = $portal)
  AND ($ringing IS NULL OR {_RINGING_KEY} = $ringing)
  AND ($outcome IS NULL OR outcome = $outcome)
  AND ($recreated IS NULL OR {_RECREATED_KEY} = $recreated)
  AND ($calling_window IS NULL OR {_CALLING_WINDOW_KEY} = $calling_window)
  AND ($unavailable IS NULL OR (direction = 'inbound' AND arrived_while_unavailable = $unavailable))
ORDER BY started_at DESC
LIMIT {DRILL_LIMIT}
"""


def drill_params(bucket: str, **given) -> dict:
    """DRILL_SQL's parameters beyond `Filters.params()`: the given ones, NULL for the rest."""
    names = ("bucket_start", "location", "portal", "ringing", "outcome", "recreated", "calling_window", "unavailable")
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"unknown drill parameters: {sorted(unknown)}")
    return {"bucket": bucket, **{name: given.get(name) for name in names}}


HELP = {
    "instances": "SDK instances (iframe page loads) started in the period. The direction filter does not apply to "
    "instances.",
    "locations": "Calls by the iframeLocation (SYNC, onReady) of the instances they rang in: remote (the navigation "
    "bar), widget, window (the iframe inside the calling window); `remote + window` when they rang in both. The "
    "line: the share of calls whose app uses a calling window. Click a bar for its calls.",
    "calling_window": "Instances whose app uses a calling window (their SYNC said usesCallingWindow: true) ÷ "
    "instances whose SYNC said either way. Such an app's instances in the navigation bar (remote) hand calls to "
    "the calling window, so its calls ring in location `window`.",
    "ringing": "Calls whose INCOMING_CALL / OUTGOING_CALL_STARTED was sent by more than one SDK instance (several "
    "open HubSpot tabs rang for one call) ÷ all calls.",
    "dropped": metrics.RATE_HELP["dropped_rate"] + " By the iframe locations the call rang in, and by whether it "
    "used the calling window.",
    "recreated": "Iframes re-created during a call: instances in a tab where the call rang that went away (page "
    "unload, or a newer instance started) between the call's first ring and its end, and that a newer instance in "
    "the same tab replaced — a HubSpot page navigation re-mounting the iframe mid-call. "
    + metrics.RATE_HELP["dropped_rate"],
    "availability": "USER_UNAVAILABLE messages sent in the period by instances of the filtered portals, apps and SDK "
    "versions, and the users who sent them (the direction filter does not apply); USER_AVAILABLE is sent by every "
    "instance as it starts, so it is not charted. Bars: inbound calls that rang after the ringing instance's last "
    "availability message said USER_UNAVAILABLE.",
}
