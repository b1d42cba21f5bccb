"""Which engagement belongs to which call, and which externalCallIds are one call.

`engagement_owners`, one row per engagementId:
- The owner of an engagement is the call for which HubSpot created it: HubSpot's CREATE_ENGAGEMENT_SUCCEEDED (or
  the deprecated ENGAGEMENT_CREATED) carries no externalCallId, so it answers the latest call started in its
  instance at or before it; the first such reply decides (`created_by` = hubspot). An engagementId HubSpot was
  never seen creating (the app created it itself with createEngagement false, or the reply was not captured)
  belongs to the first id whose CALL_ENDED / CALL_COMPLETED reported it (`created_by` = app).

`call_ids`, one row per externalCallId the app sent in a lifecycle message (INCOMING_CALL, OUTGOING_CALL_STARTED,
CALL_ANSWERED, CALL_ENDED, CALL_COMPLETED, CALL_TRANSFERRED, FINALIZE_ENGAGEMENT, PUBLISH_TO_CHANNEL):
- An id is a call of its own (`linked_by` = external_call_id), unless it is another id of a call (an alias,
  `linked_by` = engagement_id): one of its messages carries an engagementId HubSpot created for call Y, the two
  were live at the same time (each began before the other's first CALL_ENDED / CALL_TRANSFERRED / CALL_COMPLETED;
  no end yet = still live), and Y is a call of its own (it carries no engagement HubSpot created for another call).
  The first such message (time, then event key) decides. This joins the ids an app makes up for a call it did
  not start: remote iframes answering a call the calling window rang (each with a fresh externalCallId, or
  relaying it under one with an INCOMING_CALL of their own) carry the engagementId HubSpot created for the
  ringing call, and HubSpot ties a call's lifecycle to that one engagement.
- An id that carries an engagement HubSpot created for a call that had already ended (or had not begun) is not
  joined: the app reported a stale engagementId (the SDK's minimal demo keeps the previous call's engagementId
  when HubSpot answers CREATE_ENGAGEMENT_FAILED), and `calls.foreign_engagements` says so.
"""

from ingest.derive import BLANK_ID, STARTS_SQL

ENGAGEMENT_OWNERS_SQL = f"""
CREATE OR REPLACE TABLE engagement_owners AS
WITH starts AS ({STARTS_SQL}),
created AS (
    SELECT e.engagement_id, s.external_call_id AS created_for, e.ts, e.event_key
    FROM (SELECT * FROM events
          WHERE list_contains($engagement_created_types, type) AND engagement_id IS NOT NULL AND engagement_id <> 0) e
    ASOF JOIN starts s ON e.instance = s.instance AND e.ts >= s.ts
),
reported AS (
    SELECT engagement_id, external_call_id AS created_for, ts, event_key
    FROM events
    WHERE list_contains($app_engagement_types, type) AND engagement_id IS NOT NULL AND engagement_id <> 0
      AND NOT {BLANK_ID}
)
SELECT engagement_id, 'hubspot' AS created_by, arg_min(created_for, (ts, event_key)) AS created_for,
       min(ts) AS created_at
FROM created
GROUP BY engagement_id
UNION ALL
SELECT engagement_id, 'app' AS created_by, arg_min(created_for, (ts, event_key)) AS created_for, min(ts) AS created_at
FROM reported
WHERE engagement_id NOT IN (SELECT engagement_id FROM created)
GROUP BY engagement_id
ORDER BY engagement_id
"""

CALL_IDS_SQL = f"""
CREATE OR REPLACE TABLE call_ids AS
WITH named AS (
    SELECT external_call_id, ts, event_key, type, engagement_id
    FROM events
    WHERE list_contains($lifecycle_types, type) AND NOT {BLANK_ID}
),
spans AS (
    -- Each id's life: its first message, its first end (no end: still live).
    SELECT external_call_id,
           bool_or(list_contains($start_types, type))                                  AS started,
           min(ts)                                                                     AS first_at,
           coalesce(min(ts) FILTER (WHERE $stage_numbers[list_position($stage_types, type)] >= $ended_stage),
                    'infinity'::TIMESTAMP)                                             AS ended_at
    FROM named
    GROUP BY external_call_id
),
claims AS (
    -- Messages of an id carrying an engagement HubSpot created for another id.
    SELECT n.external_call_id, n.engagement_id, o.created_for AS owner, n.ts, n.event_key
    FROM named n JOIN engagement_owners o USING (engagement_id)
    WHERE o.created_by = 'hubspot' AND o.created_for <> n.external_call_id
),
links AS (
    SELECT c.external_call_id,
           arg_min(c.owner, (c.ts, c.event_key))         AS call_id,
           arg_min(c.engagement_id, (c.ts, c.event_key)) AS engagement_id
    FROM claims c
    JOIN spans x ON x.external_call_id = c.external_call_id
    JOIN spans y ON y.external_call_id = c.owner
    WHERE x.first_at <= y.ended_at AND y.first_at <= x.ended_at
      AND c.owner NOT IN (SELECT external_call_id FROM claims)
    GROUP BY c.external_call_id
)
SELECT s.external_call_id,
       coalesce(l.call_id, s.external_call_id)                                          AS call_id,
       CASE WHEN l.call_id IS NULL THEN 'external_call_id' ELSE 'engagement_id' END     AS linked_by,
       l.engagement_id, s.started, s.first_at
FROM spans s LEFT JOIN links l USING (external_call_id)
ORDER BY call_id, external_call_id
"""
