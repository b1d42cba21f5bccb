"""Derive `instances` and `calls` from `events`: one row per SDK instance, one row per call.

A call is keyed by the app's `externalCallId` and joined across instances and tabs: a call that rang in three
tabs is one call. The outcome rules, in the order they are tried (CALLS_SQL, `outcome`):

- answered:    CALL_ANSWERED was sent, and the call then ended (CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED).
               Only CALL_ANSWERED means answered: `callEndStatus: COMPLETED` does not (the SDK's react demo sends
               COMPLETED when the user hangs up while dialing).
- failed:      never answered, and it ended with status FAILED (CALL_ENDED.callEndStatus, else the
               CALL_COMPLETED engagementProperties.hs_call_status).
- missed:      inbound, never answered, ended with any other status or none (a transfer away counts as ended).
- unanswered:  the same for an outbound call (or one whose start was not captured).
- dropped:     no CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED, and every instance carrying the call went away:
               its page unloaded (capture marker PAGEHIDE after its last message), or a new instance started in
               the same tab and iframe location after its last message (a HubSpot page navigation re-mounts the
               iframe: inbound-calling guide, "Prevent dropped calls"). The carriers are the instances that sent
               the call's messages (from its CALL_ANSWERED on, once answered) plus any later instance whose SYNC
               carries the call's engagementId (HubSpot hands a reloaded iframe the call in progress).
- in_progress: nothing says it ended or that its instance went away. Silence is not a drop: the SDK sends
               nothing while people talk.

HubSpot's replies carry no externalCallId (only the SYNC handshake pairs by messageId): CREATE_ENGAGEMENT_*,
CALLER_ID_MATCH_* and NAVIGATE_TO_RECORD* belong to the latest call started in the same instance at or before
them; UPDATE_ENGAGEMENT_* and FINALIZE_ENGAGEMENT_* to the call holding that engagementId, or, when they carry
none (failures are `{error: {message}}`), to the latest CALL_COMPLETED / FINALIZE_ENGAGEMENT in the instance. Lifecycle messages
sent without an externalCallId (CALL_ANSWERED before SDK 0.6.3) also go to the instance's latest call.
"""

from __future__ import annotations

import re

import duckdb

from ingest import sdk

INSTANCES_SQL = """
CREATE OR REPLACE TABLE instances AS
WITH per_instance AS (
    SELECT
        instance,
        any_value(tab) FILTER (WHERE tab IS NOT NULL)                                  AS tab,
        any_value(app) FILTER (WHERE app IS NOT NULL)                                  AS app,
        min(ts)                                                                        AS started_at,
        max(ts) FILTER (WHERE direction <> 'capture')                                  AS last_message_at,
        arg_min(iframe_location, ts) FILTER (WHERE type = 'SYNC' AND iframe_location IS NOT NULL) AS iframe_location,
        arg_min(uses_calling_window, ts) FILTER (WHERE type = 'SYNC' AND uses_calling_window IS NOT NULL) AS uses_calling_window,
        arg_min(portal_id, ts) FILTER (WHERE list_contains($handshake_types, type) AND portal_id IS NOT NULL) AS portal_id,
        arg_min(user_id, ts) FILTER (WHERE list_contains($handshake_types, type) AND user_id IS NOT NULL) AS user_id,
        arg_min(engagement_id, ts) FILTER (WHERE type = 'SYNC' AND engagement_id IS NOT NULL) AS sync_engagement_id,
        coalesce(arg_min(sdk_version, ts) FILTER (WHERE type = 'SYNC_ACK' AND sdk_version IS NOT NULL),
                 any_value(sdk_version) FILTER (WHERE sdk_version IS NOT NULL))       AS sdk_version,
        bool_or(type = 'SYNC_ACK')                                                     AS handshake_done,
        -- The handshake's moments: HubSpot's first SYNC (it resends until acknowledged), the app's SYNC_ACK
        -- (onReady: the SDK is ready) and INITIALIZED.
        min(ts) FILTER (WHERE type = 'SYNC')                                           AS first_sync_at,
        min(ts) FILTER (WHERE type = 'SYNC_ACK')                                       AS ready_at,
        min(ts) FILTER (WHERE type = 'INITIALIZED')                                    AS initialized_at,
        list(ts ORDER BY ts) FILTER (WHERE type = 'USER_UNAVAILABLE')                  AS unavailable_at,
        min(ts) FILTER (WHERE type = 'PAGEHIDE')                                       AS pagehide_at,
        count(*)                                                                       AS events
    FROM events
    WHERE instance IS NOT NULL
    GROUP BY instance
),
replaced AS (
    -- The first instance started in the same tab (and iframe location, when both are known) after this
    -- instance's last message: the iframe was re-mounted.
    SELECT a.instance, min(b.started_at) AS replaced_at
    FROM per_instance a
    JOIN per_instance b
      ON a.tab = b.tab AND b.instance <> a.instance AND b.started_at > coalesce(a.last_message_at, a.started_at)
     AND (a.iframe_location IS NULL OR b.iframe_location IS NULL OR a.iframe_location = b.iframe_location)
    GROUP BY a.instance
)
SELECT
    p.*,
    r.replaced_at,
    CASE WHEN p.pagehide_at >= coalesce(p.last_message_at, p.started_at) THEN p.pagehide_at END AS unloaded_at,
    least(CASE WHEN p.pagehide_at >= coalesce(p.last_message_at, p.started_at) THEN p.pagehide_at END,
          r.replaced_at)                                                              AS went_away_at
FROM per_instance p LEFT JOIN replaced r USING (instance)
"""

CALL_MESSAGES_SQL = """
CREATE OR REPLACE TABLE call_messages AS
WITH starts AS (
    SELECT instance, ts, external_call_id
    FROM events
    WHERE list_contains($start_types, type) AND external_call_id IS NOT NULL
      AND instance IS NOT NULL
),
by_order AS (
    -- Messages tied to the latest call started in their instance.
    SELECT e.*, s.external_call_id AS call_id, 'order' AS tied_by
    FROM events e ASOF JOIN starts s ON e.instance = s.instance AND e.ts >= s.ts
    WHERE list_contains($latest_call_types, e.type)
       OR (e.external_call_id IS NULL AND list_contains($progress_types, e.type))
),
named AS (
    SELECT e.*, e.external_call_id AS call_id, 'external_call_id' AS tied_by
    FROM events e
    WHERE e.external_call_id IS NOT NULL
      AND list_contains($lifecycle_types, e.type)
),
engagement_owner AS (
    SELECT engagement_id, arg_max(call_id, ts) AS call_id
    FROM (SELECT * FROM named UNION ALL BY NAME SELECT * FROM by_order)
    WHERE engagement_id IS NOT NULL AND engagement_id <> 0
      AND (list_contains($engagement_created_types, type) OR list_contains($app_engagement_types, type))
    GROUP BY engagement_id
),
by_engagement AS (
    SELECT e.*, o.call_id, 'engagement_id' AS tied_by
    FROM events e JOIN engagement_owner o USING (engagement_id)
    WHERE list_contains($engagement_reply_types, e.type)
),
completions AS (
    SELECT instance, ts, call_id FROM named
    WHERE list_contains($completion_types, type)
),
by_reply_order AS (
    -- HubSpot's failure shape is {error: {message}}, with no engagementId: such an UPDATE_/FINALIZE_/PUBLISH_*
    -- reply answers the latest CALL_COMPLETED / FINALIZE_ENGAGEMENT / PUBLISH_TO_CHANNEL sent in its instance.
    SELECT e.*, c.call_id, 'order' AS tied_by
    FROM events e ASOF JOIN completions c ON e.instance = c.instance AND e.ts >= c.ts
    WHERE list_contains($engagement_reply_types, e.type)
      AND NOT EXISTS (SELECT 1 FROM engagement_owner o WHERE o.engagement_id = e.engagement_id)
),
tied AS (
    SELECT * FROM named
    UNION ALL BY NAME SELECT * FROM by_order
    UNION ALL BY NAME SELECT * FROM by_engagement
    UNION ALL BY NAME SELECT * FROM by_reply_order
)
-- One row per (call, message): which messages belong to which call, and by which rule (`tied_by`).
SELECT call_id, event_key, ts, load_id, line_no, instance, tab, app, direction, type, tied_by, call_end_status,
       CASE WHEN type = 'CALL_COMPLETED' THEN upper(message->>'$.data.engagementProperties.hs_call_status') END
           AS hs_call_status,
       call_start_time, engagement_id, error_message, caller_id_matches, caller_id_types, from_number, to_number
FROM tied
ORDER BY call_id, ts, load_id, line_no
"""

CALLS_SQL = """
CREATE OR REPLACE TABLE calls AS
WITH msgs AS (SELECT * FROM call_messages),
agg AS (
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
        arg_max(call_end_status, ts) FILTER (WHERE type = 'CALL_ENDED' AND call_end_status IS NOT NULL) AS ended_status,
        arg_max(hs_call_status, ts) FILTER (WHERE type = 'CALL_COMPLETED')           AS completed_status,
        arg_max(engagement_id, ts) FILTER (WHERE list_contains($engagement_created_types, type)
                                           AND engagement_id IS NOT NULL)              AS created_engagement_id,
        arg_max(engagement_id, ts) FILTER (WHERE list_contains($app_engagement_types, type)
                                           AND engagement_id IS NOT NULL AND engagement_id <> 0) AS app_engagement_id,
        bool_or(type = 'CREATE_ENGAGEMENT_FAILED')                                     AS engagement_failed,
        arg_max(error_message, ts) FILTER (WHERE type = 'CREATE_ENGAGEMENT_FAILED')   AS engagement_error,
        min(ts) FILTER (WHERE list_contains($create_engagement_reply_types, type))     AS engagement_reply_at,
        arg_max(type, ts) FILTER (WHERE list_contains($caller_id_reply_types, type))   AS caller_id_reply,
        arg_max(caller_id_matches, ts) FILTER (WHERE list_contains($caller_id_reply_types, type)) AS caller_id_matches,
        arg_max(caller_id_types, ts) FILTER (WHERE list_contains($caller_id_reply_types, type)) AS caller_id_types,
        arg_max(error_message, ts) FILTER (WHERE type = 'CALLER_ID_MATCH_FAILED')     AS caller_id_error,
        min(ts) FILTER (WHERE list_contains($caller_id_reply_types, type))             AS caller_id_reply_at,
        bool_or(type = 'UPDATE_ENGAGEMENT_FAILED')                                     AS update_engagement_failed,
        count(*) FILTER (WHERE type = 'INCOMING_CALL')                                 AS incoming_messages,
        count(DISTINCT instance) FILTER (WHERE list_contains($start_types, type))      AS instances_rang,
        count(DISTINCT tab) FILTER (WHERE list_contains($start_types, type))           AS tabs_rang,
        list(DISTINCT instance)                                                        AS instance_ids,
        arg_min(instance, ts) FILTER (WHERE list_contains($start_types, type))         AS first_instance,
        bool_or(list_contains($finalize_types, type))                                  AS finalized,
        any_value(app) FILTER (WHERE app IS NOT NULL)                                  AS app,
        any_value(from_number) FILTER (WHERE from_number IS NOT NULL)                  AS from_number,
        any_value(to_number) FILTER (WHERE to_number IS NOT NULL)                      AS to_number,
        count(*)                                                                       AS messages
    FROM msgs
    GROUP BY call_id
),
carrier_msgs AS (
    -- Instances that carry the call: those that sent its messages, from its answer on once answered.
    SELECT DISTINCT m.call_id, m.instance
    FROM msgs m JOIN agg a USING (call_id)
    WHERE m.direction = 'to_hubspot' AND (a.answered_at IS NULL OR m.ts >= a.answered_at)
    UNION
    -- ... and later instances HubSpot handed the call to (their SYNC carries its engagementId).
    SELECT a.call_id, i.instance
    FROM agg a JOIN instances i
      ON i.sync_engagement_id = coalesce(a.created_engagement_id, a.app_engagement_id)
     AND i.started_at >= a.started_at
),
carriers AS (
    SELECT c.call_id,
           count(*)                                         AS carriers,
           count(i.went_away_at)                            AS carriers_gone,
           max(i.went_away_at)                              AS went_away_at
    FROM carrier_msgs c JOIN instances i USING (instance)
    GROUP BY c.call_id
),
involved AS (
    SELECT a.call_id,
           list(DISTINCT i.iframe_location ORDER BY i.iframe_location) FILTER (WHERE i.iframe_location IS NOT NULL) AS iframe_locations,
           bool_or(i.uses_calling_window)                   AS uses_calling_window,
           any_value(i.portal_id) FILTER (WHERE i.portal_id IS NOT NULL) AS portal_id,
           any_value(i.user_id) FILTER (WHERE i.user_id IS NOT NULL)     AS user_id,
           any_value(i.sdk_version) FILTER (WHERE i.sdk_version IS NOT NULL) AS sdk_version,
           count(DISTINCT i.tab)                            AS tabs
    FROM agg a, unnest(a.instance_ids) AS u(instance_id) JOIN instances i ON i.instance = u.instance_id
    GROUP BY a.call_id
),
recreated AS (
    -- Iframes re-created mid-call: instances in a tab where the call rang that went away (page unload, or a newer
    -- instance started) after its first ring and by its end, and that a newer instance in the same tab replaced.
    -- Each is a HubSpot page navigation re-mounting the iframe while the call was on (inbound-calling guide).
    SELECT r.call_id, count(DISTINCT n.instance) AS iframes_recreated
    FROM (SELECT DISTINCT call_id, tab FROM msgs
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
    -- The user's last availability message in the ringing instance before the call arrived.
    SELECT s.external_call_id AS call_id, bool_or(v.type = 'USER_UNAVAILABLE') AS arrived_while_unavailable
    FROM (SELECT * FROM events WHERE type = 'INCOMING_CALL' AND external_call_id IS NOT NULL) s
    ASOF JOIN (SELECT instance, ts, type FROM events WHERE list_contains($availability_types, type)) v
      ON s.instance = v.instance AND s.ts >= v.ts
    GROUP BY s.external_call_id
),
shaped AS (
    SELECT
        a.call_id                                                    AS external_call_id,
        a.direction, v.portal_id, v.user_id, a.app, v.sdk_version,
        a.started_at, a.call_start_time, a.answered_at, a.ended_at, a.completed_at, a.transferred_at,
        a.last_event_at,
        a.answered_at IS NOT NULL                                    AS answered,
        coalesce(a.ended_status, a.completed_status)                 AS end_status,
        a.transferred_at IS NOT NULL                                 AS transferred,
        CASE WHEN a.answered_at IS NOT NULL THEN datediff('millisecond', a.started_at, a.answered_at) END AS time_to_answer_ms,
        -- Talk time: answer to end; for a dropped call, answer to the moment its instance went away.
        CASE WHEN a.answered_at IS NOT NULL
             THEN datediff('millisecond', a.answered_at,
                           coalesce(a.ended_at, a.completed_at, a.transferred_at,
                                    CASE WHEN c.carriers > 0 AND c.carriers = c.carriers_gone THEN c.went_away_at END))
             END AS duration_ms,
        coalesce(a.created_engagement_id, a.app_engagement_id)      AS engagement_id,
        CASE WHEN a.created_engagement_id IS NOT NULL THEN 'created'
             WHEN a.engagement_failed THEN 'failed'
             WHEN a.app_engagement_id IS NOT NULL THEN 'created'
             END                                                     AS engagement,
        a.engagement_error,
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
        len(a.instance_ids)                                          AS instances_involved,
        coalesce(av.arrived_while_unavailable, false)                AS arrived_while_unavailable,
        coalesce(rc.iframes_recreated, 0)                            AS iframes_recreated,
        a.first_instance, a.finalized,
        CASE WHEN a.ended_at IS NULL AND a.completed_at IS NULL AND a.transferred_at IS NULL
              AND c.carriers > 0 AND c.carriers = c.carriers_gone THEN c.went_away_at END AS went_away_at,
        a.from_number, a.to_number, a.messages,
        (a.ended_at IS NULL AND a.completed_at IS NULL AND a.transferred_at IS NULL) AS no_end,
        coalesce(c.carriers > 0 AND c.carriers = c.carriers_gone, false) AS carriers_gone
    FROM agg a
    LEFT JOIN involved v USING (call_id)
    LEFT JOIN carriers c USING (call_id)
    LEFT JOIN availability av USING (call_id)
    LEFT JOIN recreated rc USING (call_id)
)
SELECT
    * EXCLUDE (no_end, carriers_gone),
    CASE
        WHEN answered AND NOT no_end                                        THEN 'answered'
        WHEN NOT answered AND NOT no_end AND end_status = 'FAILED'          THEN 'failed'
        WHEN NOT answered AND NOT no_end AND direction = 'inbound'          THEN 'missed'
        WHEN NOT answered AND NOT no_end                                    THEN 'unanswered'
        WHEN no_end AND carriers_gone                                       THEN 'dropped'
        ELSE 'in_progress'
    END AS outcome
FROM shaped
"""

OUTCOMES = ("answered", "missed", "unanswered", "failed", "dropped", "in_progress")


# The SDK's vocabulary as the statements above bind it (`$start_types`, ...): each group of message types is
# defined once, in ingest.sdk.
SDK_TYPES = {
    "handshake_types": sdk.HANDSHAKE_TYPES,
    "start_types": sdk.CALL_START_TYPES,
    "progress_types": sdk.CALL_PROGRESS_TYPES,
    "lifecycle_types": sdk.CALL_LIFECYCLE_TYPES,
    "finalize_types": sdk.FINALIZE_TYPES,
    "completion_types": sdk.COMPLETION_TYPES,
    "latest_call_types": sdk.LATEST_CALL_TYPES,
    "engagement_created_types": sdk.ENGAGEMENT_CREATED_TYPES,
    "create_engagement_reply_types": sdk.CREATE_ENGAGEMENT_REPLY_TYPES,
    "app_engagement_types": sdk.APP_ENGAGEMENT_TYPES,
    "engagement_reply_types": sdk.ENGAGEMENT_REPLY_TYPES,
    "caller_id_reply_types": sdk.CALLER_ID_REPLY_TYPES,
    "availability_types": sdk.AVAILABILITY_TYPES,
}


def _sdk_params(sql: str) -> dict[str, list[str]]:
    """The SDK_TYPES lists `sql` binds (DuckDB refuses a parameter that a statement does not name)."""
    return {name: sorted(SDK_TYPES[name]) for name in set(re.findall(r"\$(\w+)", sql))}


def derive(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild `instances`, `call_messages` and `calls` from all events, so load order never changes a call."""
    for sql in (INSTANCES_SQL, CALL_MESSAGES_SQL, CALLS_SQL):
        con.execute(sql, _sdk_params(sql))


# `calls --json`: the public shape of a call. Filters are bound parameters; NULL means "any".
SELECT_CALLS_SQL = """
SELECT
    external_call_id, direction, outcome, answered, end_status, engagement, engagement_id, engagement_error,
    caller_id, caller_id_matches, caller_id_types, caller_id_error, iframe_locations, uses_calling_window,
    instances, tabs, instances_involved, portal_id, user_id, app, sdk_version,
    strftime(started_at, '%Y-%m-%dT%H:%M:%S.%gZ')   AS started_at,
    strftime(answered_at, '%Y-%m-%dT%H:%M:%S.%gZ')  AS answered_at,
    strftime(coalesce(ended_at, completed_at, transferred_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS ended_at,
    strftime(went_away_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS went_away_at,
    time_to_answer_ms, duration_ms, transferred, arrived_while_unavailable, from_number, to_number, messages
FROM calls
WHERE ($outcome IS NULL OR outcome = $outcome)
  AND ($direction IS NULL OR direction = $direction)
  AND ($portal_id IS NULL OR portal_id = $portal_id)
  AND ($call_id IS NULL OR external_call_id = $call_id)
  AND ($since IS NULL OR started_at >= $since)
  AND ($until IS NULL OR started_at < $until)
ORDER BY started_at, external_call_id
LIMIT $limit
"""


def select_calls(
    con: duckdb.DuckDBPyConnection,
    *,
    outcome: str | None = None,
    direction: str | None = None,
    portal_id: int | None = None,
    call_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    params = {
        "outcome": outcome, "direction": direction, "portal_id": portal_id, "call_id": call_id,
        "since": since, "until": until, "limit": limit if limit is not None else 2**62,
    }
    cur = con.execute(SELECT_CALLS_SQL, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
