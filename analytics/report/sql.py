"""The beta report's own statements: what the dashboard does not show. Call-level rates come from
analytics/metrics.py; these add adoption, HubSpot-side detail, incidents and unknown message types.

Every statement starts `WITH f AS (FILTERED_CALLS_SQL)` so it takes exactly `Filters.params()` (plus the named
extras its comment lists) and cannot drift from the dashboard's filter. Instance-level numbers read `i`, the Iframes
page's FILTERED_INSTANCES_SQL: SDK instances (iframe page loads) started in the period, filtered by portal, app and
SDK version; instances have no direction, so the direction filter does not apply to them. The calling-window share
and the incident shares are defined as on that page (analytics/iframes.py).
"""

from __future__ import annotations

from analytics.filters import FILTERED_CALLS_SQL
from analytics.iframes import FILTERED_INSTANCES_SQL

# Who receives inbound calls, and how the app is mounted. The calling-window share counts instances whose SYNC
# said usesCallingWindow (HubSpot's onReady payload), over instances whose SYNC said either way.
ADOPTION_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
i AS ({FILTERED_INSTANCES_SQL}),
calls_side AS (
    SELECT count(DISTINCT portal_id) FILTER (WHERE direction = 'inbound') AS inbound_portals,
           count(DISTINCT user_id) FILTER (WHERE direction = 'inbound')   AS inbound_users,
           count(DISTINCT portal_id)                                       AS portals_with_calls,
           count(DISTINCT user_id)                                         AS users_with_calls
    FROM f
),
instance_side AS (
    SELECT count(*)                                                        AS instances,
           count(DISTINCT portal_id)                                       AS portals_with_instances,
           count(*) FILTER (WHERE uses_calling_window)                     AS calling_window_instances,
           count(uses_calling_window)                                      AS calling_window_known,
           count(DISTINCT portal_id) FILTER (WHERE uses_calling_window)    AS calling_window_portals
    FROM i
)
SELECT *, calling_window_instances / nullif(calling_window_known, 0) AS calling_window_share
FROM calls_side, instance_side
"""

# Share of instances by iframeLocation (widget / remote / window, from the SYNC; unknown without one).
IFRAME_LOCATIONS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
i AS ({FILTERED_INSTANCES_SQL})
SELECT coalesce(iframe_location, '(unknown)') AS location, count(*) AS instances,
       count(*) / sum(count(*)) OVER () AS share
FROM i
GROUP BY ALL
ORDER BY instances DESC, location
"""

# SDK versions in use (the version the app reported in SYNC_ACK), by instances and portals.
SDK_VERSIONS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
i AS ({FILTERED_INSTANCES_SQL})
SELECT coalesce(sdk_version, '(unknown)') AS sdk_version, count(*) AS instances,
       count(*) / sum(count(*)) OVER () AS share, count(DISTINCT portal_id) AS portals
FROM i
GROUP BY ALL
ORDER BY instances DESC, sdk_version
"""

# HubSpot's replies beyond metrics.KPIS_SQL. Caller-ID rates use the same denominator as the match rate (inbound
# calls with any CALLER_ID_MATCH_* reply); latencies run from the call's first ring to HubSpot's first reply.
HUBSPOT_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
counts AS (
    SELECT
        count(*) FILTER (WHERE direction = 'inbound' AND caller_id = 'no_match')        AS caller_id_no_match,
        count(*) FILTER (WHERE direction = 'inbound' AND caller_id = 'failed')          AS caller_id_failed,
        count(*) FILTER (WHERE direction = 'inbound' AND caller_id IS NOT NULL)         AS caller_id_replied,
        count(*) FILTER (WHERE update_engagement_failed)                                AS update_engagement_failed,
        median(engagement_latency_ms) FILTER (WHERE engagement IS NOT NULL)             AS engagement_latency_median_ms,
        quantile_cont(engagement_latency_ms, 0.9) FILTER (WHERE engagement IS NOT NULL) AS engagement_latency_p90_ms,
        median(caller_id_latency_ms) FILTER (WHERE direction = 'inbound' AND caller_id IS NOT NULL)
                                                                                        AS caller_id_latency_median_ms,
        quantile_cont(caller_id_latency_ms, 0.9) FILTER (WHERE direction = 'inbound' AND caller_id IS NOT NULL)
                                                                                        AS caller_id_latency_p90_ms
    FROM f
)
SELECT *,
       caller_id_no_match / nullif(caller_id_replied, 0) AS caller_id_no_match_rate,
       caller_id_failed / nullif(caller_id_replied, 0)   AS caller_id_failure_rate
FROM counts
"""

# CREATE_ENGAGEMENT_FAILED messages grouped once digits become N and emails [email] (ids and addresses vary per
# call; the shape of the message is what HubSpot needs). Extra parameter: $top.
FAILURE_MESSAGES_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
failed AS (
    SELECT external_call_id, started_at,
           regexp_replace(regexp_replace(coalesce(engagement_error, '(no message)'),
                                         '[^\\s@]+@[^\\s@]+', '[email]', 'g'), '[0-9]+', 'N', 'g') AS message
    FROM f
    WHERE engagement = 'failed'
)
SELECT message, count(*) AS calls,
       list(external_call_id ORDER BY started_at DESC, external_call_id)[1:3] AS examples
FROM failed
GROUP BY message
ORDER BY calls DESC, message
LIMIT $top
"""

# Incidents worth raising, with up to three example calls each, newest first.
# - simultaneous_ringing: the call started in more than one SDK instance (diagnosis.simultaneous_ringing).
# - dropped: outcome `dropped`: its iframe went away mid-call, most likely a HubSpot page navigation.
# - arrived_while_unavailable: an inbound call rang after the user's last availability message said unavailable.
INCIDENTS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
flagged AS (
    SELECT 'simultaneous_ringing' AS incident, external_call_id, started_at FROM f WHERE instances > 1
    UNION ALL
    SELECT 'dropped', external_call_id, started_at FROM f WHERE outcome = 'dropped'
    UNION ALL
    SELECT 'arrived_while_unavailable', external_call_id, started_at FROM f
    WHERE direction = 'inbound' AND arrived_while_unavailable
)
SELECT incident, count(*) AS calls,
       list(external_call_id ORDER BY started_at DESC, external_call_id)[1:3] AS examples
FROM flagged
GROUP BY incident
"""

# Messages of a type the SDK does not define, sent in the period (by their own timestamp), from instances of the
# filtered portals / apps / SDK versions. Each is tied, for its examples, to the latest call started in its
# instance at or before it (the same rule as HubSpot's replies in ingest/calls.py).
UNKNOWN_TYPES_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
odd AS (
    SELECT e.ts, e.type, e.instance
    FROM events e LEFT JOIN instances n USING (instance)
    WHERE NOT e.known_type AND e.ts >= $start_utc AND e.ts < $end_utc
      AND (len($portals) = 0 OR list_contains($portals, n.portal_id))
      AND (len($apps) = 0 OR list_contains($apps, coalesce(n.app, e.app)))
      AND (len($sdk_versions) = 0 OR list_contains($sdk_versions, coalesce(n.sdk_version, e.sdk_version)))
),
starts AS (
    SELECT instance, ts, external_call_id
    FROM events
    WHERE type IN ('INCOMING_CALL', 'OUTGOING_CALL_STARTED') AND external_call_id IS NOT NULL AND instance IS NOT NULL
),
tied AS (
    SELECT o.type, o.ts, o.instance, s.external_call_id
    FROM odd o ASOF LEFT JOIN starts s ON o.instance = s.instance AND o.ts >= s.ts
),
per_call AS (
    SELECT type, external_call_id, max(ts) AS last_ts FROM tied WHERE external_call_id IS NOT NULL GROUP BY ALL
),
examples AS (
    SELECT type, list(external_call_id ORDER BY last_ts DESC, external_call_id)[1:3] AS examples
    FROM per_call GROUP BY type
)
SELECT t.type, count(*) AS messages, count(DISTINCT t.instance) AS instances,
       coalesce(any_value(x.examples), []) AS examples
FROM tied t LEFT JOIN examples x USING (type)
GROUP BY t.type
ORDER BY messages DESC, t.type
"""

# The calls named in the report (examples, tagged calls), whatever period they fall in. Extra: $call_ids.
# from_number / to_number / user_id are personal: the report drops them unless asked to include them.
CALL_DETAILS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT external_call_id, timezone($tz, timezone('UTC', started_at)) AS started, direction, outcome, portal_id,
       sdk_version, array_to_string(iframe_locations, ' + ') AS iframe_locations, instances, end_status, engagement,
       caller_id, user_id, from_number, to_number
FROM calls
WHERE list_contains($call_ids, external_call_id)
ORDER BY started_at DESC, external_call_id
"""
PERSONAL_COLUMNS = ("user_id", "from_number", "to_number")

# Of the calls carrying a tag ($call_ids, from analytics.annotations), those the filter keeps, newest first.
TAGGED_CALLS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT external_call_id, started_local AS started, outcome, portal_id
FROM f
WHERE list_contains($call_ids, external_call_id)
ORDER BY started_at DESC, external_call_id
"""
