"""`calls`: one row per call, from its `call_messages` (orphans left out) and the instances they crossed.

The outcome rules, in the order they are tried:

- answered:    CALL_ANSWERED was sent, and the call then ended (CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED).
               Only CALL_ANSWERED means answered: `callEndStatus: COMPLETED` does not (the SDK's react demo sends
               COMPLETED when the user hangs up while dialing).
- failed:      never answered, and it ended with status FAILED (CALL_ENDED.callEndStatus, else the
               CALL_COMPLETED engagementProperties.hs_call_status: from the call's own id before its aliases,
               then from the instance that answered it, then the latest).
- missed:      inbound, never answered, ended with any other status or none (a transfer away counts as ended).
- unanswered:  the same for an outbound call (or one whose start was not captured).
- never_ended: no CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED, and an instance carrying the call started
               another call after the call's last message: the app moved on without ending it.
- dropped:     no end, and every instance carrying the call went away (`instances.went_away_at`) within the
               longest call (`$max_call_ms`) of the call's last message. A HubSpot page navigation destroys the
               iframe holding the call (inbound-calling guide, "Prevent dropped calls"). The carriers are the
               instances that sent the call's messages (from its CALL_ANSWERED on, once answered), plus a calling
               window holding it (a `window` instance with usesCallingWindow that sent or got any of its
               messages). A re-mounted iframe is no carrier because HubSpot's SYNC hands it the call's
               engagementId, nor because the app echoes it in INITIALIZED (the guide's own code passes the whole
               onReady payload to `initialized()`): only a lifecycle message with the call's externalCallId or
               engagementId makes an instance speak for the call. Its talk time ends when the last carrier
               went away.
- never_ended: no end, and every carrier went away longer than `$max_call_ms` after the call's last message.
- in_progress: nothing says it ended or that its instance went away. Silence is not a drop: the SDK sends
               nothing while people talk. NEVER_ENDED_SQL then turns an in_progress call whose last message is
               older than `$max_call_ms` behind the newest event of its app into never_ended.
"""

from ingest.derive import sort_key

OUTCOMES = ("answered", "missed", "unanswered", "failed", "dropped", "never_ended", "in_progress")

# A call's messages (orphans left out) with what its aggregates choose by. `foreign_engagement`: the app reported
# an engagement HubSpot created for another call. A call's end status comes from its own id first (HubSpot ties the
# lifecycle to the id that started the call), then from the instance that answered it (other tabs and relaying
# iframes end it their own way), then the latest; its engagement is first the one HubSpot created for its own id.
CALL_MSGS_SQL = f"""
CREATE OR REPLACE TABLE call_msgs AS
WITH answering AS (
    SELECT call_id, arg_min(instance, (ts, event_key)) AS instance
    FROM call_messages WHERE type = 'CALL_ANSWERED' AND tied_by <> 'orphan'
    GROUP BY call_id
)
SELECT m.*, i.call_id AS engagement_created_for,
       coalesce(o.created_by = 'hubspot' AND i.call_id <> m.call_id AND m.direction = 'to_hubspot'
                AND list_contains($lifecycle_types, m.type), false) AS foreign_engagement,
       coalesce(m.external_call_id, m.call_id) = m.call_id AS own_id,
       coalesce(m.instance = a.instance, false) AS from_answering,
       coalesce(o.created_for = m.call_id, false) AS own_engagement,
       {sort_key('m.ts', 'm.event_key')} AS event_order
FROM call_messages m
LEFT JOIN answering a USING (call_id)
LEFT JOIN engagement_owners o ON o.engagement_id = m.engagement_id
LEFT JOIN call_ids i ON i.external_call_id = o.created_for
WHERE m.tied_by <> 'orphan'
"""

# The per-call aggregates, as three tables of about a dozen columns each. Their states (strings, lists,
# distinct sets) stay in memory until the aggregate ends: all of them at once needed more than 600 MB at 10M
# events (278,799 calls); each third fits in 400 MB.
CALL_COURSE_SQL = """
CREATE OR REPLACE TABLE call_course AS
SELECT
    call_id,
    CASE WHEN bool_or(type = 'INCOMING_CALL') THEN 'inbound'
         WHEN bool_or(type = 'OUTGOING_CALL_STARTED') THEN 'outbound'
         ELSE 'unknown' END                                                        AS direction,
    coalesce(min(ts) FILTER (WHERE list_contains($start_types, type)), min(ts))    AS started_at,
    min(call_start_time) FILTER (WHERE list_contains($start_types, type))          AS call_start_time,
    min(ts) FILTER (WHERE type = 'CALL_ANSWERED')                                  AS answered_at,
    min(ts) FILTER (WHERE type = 'CALL_ENDED')                                     AS ended_at,
    min(ts) FILTER (WHERE type = 'CALL_COMPLETED')                                 AS completed_at,
    min(ts) FILTER (WHERE type = 'CALL_TRANSFERRED')                               AS transferred_at,
    max(ts)                                                                        AS last_event_at,
    arg_max(call_end_status, (own_id, from_answering, ts, event_key))
        FILTER (WHERE type = 'CALL_ENDED' AND call_end_status IS NOT NULL)        AS ended_status,
    arg_max(hs_call_status, (own_id, from_answering, ts, event_key))
        FILTER (WHERE type = 'CALL_COMPLETED' AND hs_call_status IS NOT NULL)     AS completed_status,
    bool_or(list_contains($finalize_types, type))                                  AS finalized,
    count(*)                                                                       AS messages
FROM call_msgs
GROUP BY call_id
"""
CALL_ENGAGEMENT_SQL = """
CREATE OR REPLACE TABLE call_engagement AS
SELECT
    call_id,
    arg_max(engagement_id, (own_engagement, ts, event_key))
        FILTER (WHERE list_contains($engagement_created_types, type) AND engagement_id IS NOT NULL) AS created_engagement_id,
    arg_max(engagement_id, event_order) FILTER (WHERE list_contains($app_engagement_types, type)
        AND engagement_id IS NOT NULL AND engagement_id <> 0 AND NOT foreign_engagement) AS app_engagement_id,
    bool_or(type = 'CREATE_ENGAGEMENT_FAILED')                                     AS engagement_failed,
    arg_max(error_message, event_order) FILTER (WHERE type = 'CREATE_ENGAGEMENT_FAILED') AS engagement_error,
    min(ts) FILTER (WHERE list_contains($create_engagement_reply_types, type))     AS engagement_reply_at,
    bool_or(type = 'UPDATE_ENGAGEMENT_FAILED')                                     AS update_engagement_failed,
    list(DISTINCT {'engagement_id': engagement_id, 'created_for': engagement_created_for})
        FILTER (WHERE foreign_engagement)                                          AS foreign_engagements
FROM call_msgs
GROUP BY call_id
"""
CALL_PARTIES_SQL = """
CREATE OR REPLACE TABLE call_parties AS
SELECT
    call_id,
    arg_max(type, event_order) FILTER (WHERE list_contains($caller_id_reply_types, type)) AS caller_id_reply,
    arg_max(caller_id_matches, event_order)
        FILTER (WHERE list_contains($caller_id_reply_types, type))                 AS caller_id_matches,
    arg_max(caller_id_types, event_order)
        FILTER (WHERE list_contains($caller_id_reply_types, type))                 AS caller_id_types,
    arg_max(error_message, event_order) FILTER (WHERE type = 'CALLER_ID_MATCH_FAILED') AS caller_id_error,
    min(ts) FILTER (WHERE list_contains($caller_id_reply_types, type))             AS caller_id_reply_at,
    count(DISTINCT instance) FILTER (WHERE list_contains($start_types, type))      AS instances_rang,
    count(DISTINCT tab) FILTER (WHERE list_contains($start_types, type))           AS tabs_rang,
    count(DISTINCT instance)                                                       AS instances_involved,
    arg_min(instance, event_order) FILTER (WHERE list_contains($start_types, type)) AS first_instance,
    arg_min(app, event_order) FILTER (WHERE app IS NOT NULL)                       AS app,
    arg_min(from_number, event_order) FILTER (WHERE from_number IS NOT NULL)       AS from_number,
    arg_min(to_number, event_order) FILTER (WHERE to_number IS NOT NULL)           AS to_number
FROM call_msgs
GROUP BY call_id
"""

# Reads `call_msgs` by its name wherever it needs it: a CTE over it, named five times, was materialised, a copy of
# every message of every call (10M events: 6.3-7.0 -> 5.5-5.7 s for this statement).
CALLS_SQL = """
CREATE OR REPLACE TABLE calls AS
WITH agg AS (SELECT * FROM call_course JOIN call_engagement USING (call_id) JOIN call_parties USING (call_id)),
carrier_msgs AS (
    -- Instances that carry the call: those that sent its messages, from its answer on once answered ...
    SELECT DISTINCT m.call_id, m.instance
    FROM call_msgs m JOIN agg a USING (call_id)
    WHERE m.direction = 'to_hubspot' AND (a.answered_at IS NULL OR m.ts >= a.answered_at)
    UNION
    -- ... and a calling window holding it.
    SELECT DISTINCT m.call_id, m.instance
    FROM call_msgs m JOIN instances i USING (instance)
    WHERE i.iframe_location = $calling_window_location AND i.uses_calling_window
),
carriers AS (
    SELECT c.call_id,
           count(*)                                         AS carriers,
           count(i.went_away_at)                            AS carriers_gone,
           max(i.went_away_at)                              AS went_away_at
    FROM carrier_msgs c JOIN instances i USING (instance)
    GROUP BY c.call_id
),
moved_on AS (
    -- A carrier started another call after this call's last message.
    SELECT DISTINCT c.call_id
    FROM carrier_msgs c JOIN agg a USING (call_id)
    JOIN call_messages s ON s.instance = c.instance AND s.call_id <> c.call_id AND s.ts > a.last_event_at
     AND list_contains($start_types, s.type) AND s.tied_by <> 'orphan'
),
involved AS (
    SELECT m.call_id,
           list(DISTINCT i.iframe_location ORDER BY i.iframe_location) FILTER (WHERE i.iframe_location IS NOT NULL) AS iframe_locations,
           bool_or(i.uses_calling_window)                                                  AS uses_calling_window,
           arg_min(i.portal_id, (i.started_at, i.instance)) FILTER (WHERE i.portal_id IS NOT NULL) AS portal_id,
           arg_min(i.user_id, (i.started_at, i.instance)) FILTER (WHERE i.user_id IS NOT NULL)     AS user_id,
           arg_min(i.sdk_version, (i.started_at, i.instance)) FILTER (WHERE i.sdk_version IS NOT NULL) AS sdk_version,
           arg_min(i.sdk_version_raw, (i.started_at, i.instance))
               FILTER (WHERE i.sdk_version_raw IS NOT NULL)                                AS sdk_version_raw,
           count(DISTINCT i.tab)                                                           AS tabs
    FROM (SELECT DISTINCT call_id, instance FROM call_msgs) m JOIN instances i USING (instance)
    GROUP BY m.call_id
),
recreated AS (
    -- Iframes re-created mid-call: instances in a tab where the call rang that went away (page unload, or a newer
    -- instance started) after its first ring and by its end, and that a newer instance in the same tab replaced.
    -- Each is a HubSpot page navigation re-mounting the iframe while the call was on (inbound-calling guide).
    SELECT r.call_id, count(DISTINCT n.instance) AS iframes_recreated
    FROM (SELECT DISTINCT call_id, tab FROM call_msgs
          WHERE list_contains($start_types, type) AND tab IS NOT NULL) r
    JOIN agg a USING (call_id)
    LEFT JOIN carriers c USING (call_id)
    JOIN instances n ON n.tab = r.tab AND n.replaced_at IS NOT NULL AND n.went_away_at > a.started_at
     AND n.went_away_at <= coalesce(a.ended_at, a.completed_at, a.transferred_at,
                                    CASE WHEN c.carriers > 0 AND c.carriers = c.carriers_gone THEN c.went_away_at END,
                                    a.last_event_at)
    GROUP BY r.call_id
),
availability AS (
    -- The user's last availability message in the ringing instance before the call arrived (one per instance and
    -- millisecond: the greatest event key).
    SELECT s.call_id, bool_or(v.type = 'USER_UNAVAILABLE') AS arrived_while_unavailable
    FROM (SELECT call_id, instance, ts FROM call_msgs WHERE type = 'INCOMING_CALL') s
    ASOF JOIN (SELECT instance, ts, arg_max(type, event_key) AS type FROM events
               WHERE list_contains($availability_types, type) GROUP BY instance, ts) v
      ON s.instance = v.instance AND s.ts >= v.ts
    GROUP BY s.call_id
),
ids AS (
    SELECT call_id, list(external_call_id ORDER BY external_call_id) FILTER (WHERE external_call_id <> call_id) AS aliases
    FROM call_ids GROUP BY call_id
),
shaped AS (
    SELECT
        a.call_id                                                    AS external_call_id,
        coalesce(d.aliases, [])                                      AS aliases,
        a.direction, v.portal_id, v.user_id, a.app, v.sdk_version, v.sdk_version_raw,
        a.started_at, a.call_start_time, a.answered_at, a.ended_at, a.completed_at, a.transferred_at,
        a.last_event_at,
        a.answered_at IS NOT NULL                                    AS answered,
        coalesce(a.ended_status, a.completed_status)                 AS end_status,
        a.transferred_at IS NOT NULL                                 AS transferred,
        CASE WHEN a.answered_at IS NOT NULL THEN datediff('millisecond', a.started_at, a.answered_at) END AS time_to_answer_ms,
        coalesce(a.ended_at, a.completed_at, a.transferred_at)       AS end_at,
        coalesce(a.created_engagement_id, a.app_engagement_id)      AS engagement_id,
        CASE WHEN a.created_engagement_id IS NOT NULL THEN 'created'
             WHEN a.engagement_failed THEN 'failed'
             WHEN a.app_engagement_id IS NOT NULL THEN 'created'
             END                                                     AS engagement,
        a.engagement_error,
        list_sort(coalesce(a.foreign_engagements, []))               AS foreign_engagements,
        datediff('millisecond', a.started_at, a.engagement_reply_at) AS engagement_latency_ms,
        CASE a.caller_id_reply
             WHEN 'CALLER_ID_MATCH_FAILED' THEN 'failed'
             WHEN 'CALLER_ID_MATCH_SUCCEEDED' THEN CASE WHEN a.caller_id_matches > 0 THEN 'matched' ELSE 'no_match' END
             END                                                     AS caller_id,
        CASE WHEN a.caller_id_reply = 'CALLER_ID_MATCH_SUCCEEDED' THEN a.caller_id_matches END AS caller_id_matches,
        a.caller_id_types,
        a.caller_id_error,
        datediff('millisecond', a.started_at, a.caller_id_reply_at)  AS caller_id_latency_ms,
        a.update_engagement_failed,
        coalesce(v.iframe_locations, [])                             AS iframe_locations,
        v.uses_calling_window,
        a.instances_rang                                             AS instances,
        a.tabs_rang                                                  AS tabs,
        a.instances_involved,
        coalesce(av.arrived_while_unavailable, false)                AS arrived_while_unavailable,
        coalesce(rc.iframes_recreated, 0)                            AS iframes_recreated,
        a.first_instance, a.finalized,
        CASE WHEN a.ended_at IS NULL AND a.completed_at IS NULL AND a.transferred_at IS NULL
              AND c.carriers > 0 AND c.carriers = c.carriers_gone THEN c.went_away_at END AS went_away_at,
        a.from_number, a.to_number, a.messages,
        mo.call_id IS NOT NULL                                       AS moved_on
    FROM agg a
    LEFT JOIN ids d USING (call_id)
    LEFT JOIN involved v USING (call_id)
    LEFT JOIN carriers c USING (call_id)
    LEFT JOIN moved_on mo USING (call_id)
    LEFT JOIN availability av USING (call_id)
    LEFT JOIN recreated rc USING (call_id)
),
decided AS (
    SELECT *,
        CASE
            WHEN answered AND end_at IS NOT NULL                                 THEN 'answered'
            WHEN end_at IS NOT NULL AND end_status = 'FAILED'                    THEN 'failed'
            WHEN end_at IS NOT NULL AND direction = 'inbound'                    THEN 'missed'
            WHEN end_at IS NOT NULL                                              THEN 'unanswered'
            WHEN moved_on                                                        THEN 'never_ended'
            WHEN went_away_at <= last_event_at + to_milliseconds($max_call_ms)   THEN 'dropped'
            WHEN went_away_at IS NOT NULL                                        THEN 'never_ended'
            ELSE 'in_progress'
        END AS outcome
    FROM shaped
)
SELECT
    * EXCLUDE (end_at, moved_on),
    -- Talk time: answer to end; for a dropped call, answer to the moment its last carrier went away.
    CASE WHEN answered THEN datediff('millisecond', answered_at,
                                     CASE WHEN outcome = 'dropped' THEN went_away_at ELSE end_at END)
         END AS duration_ms,
    CASE WHEN moved_on AND outcome = 'never_ended' THEN 'next_call'
         WHEN outcome = 'never_ended' THEN 'silence' END AS never_ended_because
FROM decided
"""

# The one rule that reads beyond the call: an in_progress call whose last message is older than the longest call
# behind the newest event of its app never ended. APP_CLOCK_SQL is that newest moment per app, over the table of
# instances `{instances}`; an incremental derive (ingest/incremental.py) computes it over every stored instance and
# re-runs the rule over the in_progress calls of every app, stored ones included (the clock only moves forward).
APP_CLOCK_SQL = """
SELECT app, max(greatest(coalesce(last_message_at, started_at), coalesce(pagehide_at, started_at))) AS newest_at
FROM {instances} GROUP BY app
"""
# The same clock per app and day its instances started (`app_clocks`, kept by the incremental derive): the clock
# is the newest of an app's rows, so an import recomputes only its own days' rows.
APP_CLOCKS_SQL = """
SELECT app, started_at::DATE AS started_on,
       max(greatest(coalesce(last_message_at, started_at), coalesce(pagehide_at, started_at))) AS newest_at
FROM {instances} GROUP BY app, started_on
"""
NEVER_ENDED_BY_CLOCK_SQL = """
UPDATE calls SET outcome = 'never_ended', never_ended_because = 'silence'
FROM ({clock}) clock
WHERE calls.outcome = 'in_progress' AND calls.app IS NOT DISTINCT FROM clock.app
  AND calls.last_event_at < clock.newest_at - to_milliseconds($max_call_ms)
"""
NEVER_ENDED_SQL = NEVER_ENDED_BY_CLOCK_SQL.format(clock=APP_CLOCK_SQL.format(instances="instances"))
