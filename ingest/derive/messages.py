"""Which message belongs to which call.

`blank_id_messages`, one row per lifecycle message whose externalCallId is missing, empty or only whitespace
(CALL_ANSWERED before SDK 0.6.3 and CALL_ENDED before ~0.7 carried no data; the SDK's minimal demo sends CALL_ENDED
{externalCallId: ""} when "end call" is clicked with no call). A blank id is not an id: such a message
- belongs to the latest call started in its instance at or before it (`tied_by` = order), if that call is still
  open for it: not yet ended for a start, answer, end or transfer; not yet completed for CALL_COMPLETED; not yet
  finalized for FINALIZE_ENGAGEMENT / PUBLISH_TO_CHANNEL (the stages of ingest.sdk.CALL_STAGES, counting the
  call's messages before it in time, then event key);
- else to the call owning the engagementId it carries (`tied_by` = engagement_id), if that call is still open for
  it (an iframe HubSpot re-mounted mid-call speaks for the call by the engagementId onReady handed it);
- else it is an orphan (`call_id` NULL): kept and counted here, never part of a call, so it never overwrites a
  finished call's end status. An orphan that came within `$orphan_near_ms` after the last message of the latest
  call in its instance is shown with that call (`near_call_id`; in `call_messages` with `tied_by` = orphan), so the
  replay can say what it was.

`call_messages`, one row per (call, message), `tied_by` saying by which rule:
- external_call_id: the app named the call (lifecycle messages; `call_ids` maps the id to its call).
- engagement_id: an alias of the call (`call_ids`), a blank-id message by its engagementId (above), or HubSpot's
  UPDATE_ / FINALIZE_ / PUBLISH_TO_CHANNEL_* reply naming an engagement: it goes to the engagement's owner
  (`engagement_owners`), however many calls reported that engagementId.
- order: HubSpot's replies carry no externalCallId (only the SYNC handshake pairs by messageId): CREATE_ENGAGEMENT_*,
  CALLER_ID_MATCH_*, NAVIGATE_TO_RECORD* and END_CALL belong to the latest call started in the same instance at or
  before them. An UPDATE_ / FINALIZE_ / PUBLISH_TO_CHANNEL_* reply with no engagement of known owner (failures are
  `{error: {message}}`) answers the latest CALL_COMPLETED / FINALIZE_ENGAGEMENT / PUBLISH_TO_CHANNEL sent in its
  instance. Blank-id messages tied to their instance's open call (above).
- orphan: not the call's: a blank-id orphan that landed near it (above). Call outcomes never read these rows.
"""

from ingest.derive import BLANK_ID, STARTS_SQL

# "Open for it": nothing of the call before this message (time, then event key) reached the stage after which
# this message makes no sense, `greatest(its own stage, $ended_stage)`.
_OPEN = """coalesce(max(stage) OVER prior, -1) < greatest(stage, $ended_stage)"""
_PRIOR = "WINDOW prior AS (PARTITION BY call_id ORDER BY ts, event_key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"

BLANK_ID_MESSAGES_SQL = f"""
CREATE OR REPLACE TABLE blank_id_messages AS
WITH lifecycle AS (
    SELECT ts, event_key, instance, tab, app, type, engagement_id, external_call_id, {BLANK_ID} AS blank,
           $stage_numbers[list_position($stage_types, type)] AS stage
    FROM events
    WHERE list_contains($lifecycle_types, type)
),
starts AS ({STARTS_SQL}),
blank AS (
    SELECT b.ts, b.event_key, b.instance, b.tab, b.app, b.type, b.engagement_id, b.stage, i.call_id AS latest_call,
           g.call_id AS engagement_call
    FROM (SELECT * FROM lifecycle WHERE blank) b
    ASOF LEFT JOIN starts s ON b.instance = s.instance AND b.ts >= s.ts
    LEFT JOIN call_ids i ON i.external_call_id = s.external_call_id
    LEFT JOIN engagement_owners o ON o.engagement_id = b.engagement_id AND b.engagement_id <> 0
    LEFT JOIN call_ids g ON g.external_call_id = o.created_for
),
named AS (
    SELECT i.call_id, l.ts, l.event_key, l.stage
    FROM lifecycle l JOIN call_ids i USING (external_call_id)
    WHERE NOT l.blank AND (i.call_id IN (SELECT latest_call FROM blank) OR i.call_id IN (SELECT engagement_call FROM blank))
),
in_instance AS (
    SELECT ts, event_key, call_id, {_OPEN} AS open, max(ts) OVER prior AS last_word, candidate
    FROM (SELECT *, false AS candidate FROM named
          UNION ALL BY NAME
          SELECT latest_call AS call_id, ts, event_key, stage, true AS candidate FROM blank WHERE latest_call IS NOT NULL)
    {_PRIOR}
    QUALIFY candidate
),
by_engagement AS (
    SELECT ts, event_key, call_id, {_OPEN} AS open, candidate
    FROM (SELECT *, false AS candidate FROM named
          UNION ALL BY NAME
          SELECT a.call_id, b.ts, b.event_key, b.stage, false AS candidate
          FROM blank b JOIN in_instance a USING (ts, event_key) WHERE a.open
          UNION ALL BY NAME
          SELECT b.engagement_call AS call_id, b.ts, b.event_key, b.stage, true AS candidate
          FROM blank b LEFT JOIN in_instance a USING (ts, event_key)
          WHERE b.engagement_call IS NOT NULL AND NOT coalesce(a.open, false))
    {_PRIOR}
    QUALIFY candidate
)
SELECT b.ts, b.event_key, b.instance, b.tab, b.app, b.type, b.engagement_id,
       CASE WHEN a.open THEN a.call_id WHEN g.open THEN g.call_id END                AS call_id,
       CASE WHEN a.open THEN 'order' WHEN g.open THEN 'engagement_id' END            AS tied_by,
       CASE WHEN NOT coalesce(a.open, false) AND NOT coalesce(g.open, false)
             AND b.ts <= a.last_word + to_milliseconds($orphan_near_ms) THEN a.call_id END AS near_call_id
FROM blank b
LEFT JOIN in_instance a USING (ts, event_key)
LEFT JOIN by_engagement g USING (ts, event_key)
ORDER BY b.ts, b.event_key
"""

# The events' columns a call's message keeps (the message JSON is read once, for CALL_COMPLETED's status).
_COLUMNS = ", ".join(f"e.{c}" for c in (
    "event_key", "ts", "instance", "tab", "app", "direction", "type", "external_call_id", "call_end_status",
    "call_start_time", "engagement_id", "error_message", "caller_id_matches", "caller_id_types", "from_number",
    "to_number"))

CALL_MESSAGES_SQL = f"""
CREATE OR REPLACE TABLE call_messages AS
WITH starts AS (
    SELECT s.instance, s.ts, i.call_id FROM ({STARTS_SQL}) s JOIN call_ids i USING (external_call_id)
),
named AS (
    SELECT {_COLUMNS}, i.call_id, i.linked_by AS tied_by
    FROM events e JOIN call_ids i USING (external_call_id)
    WHERE list_contains($lifecycle_types, e.type)
),
blank AS (
    SELECT {_COLUMNS}, coalesce(b.call_id, b.near_call_id) AS call_id, coalesce(b.tied_by, 'orphan') AS tied_by
    FROM events e JOIN blank_id_messages b USING (ts, event_key)
    WHERE b.call_id IS NOT NULL OR b.near_call_id IS NOT NULL
),
by_order AS (
    SELECT {_COLUMNS}, s.call_id, 'order' AS tied_by
    FROM (SELECT * FROM events WHERE list_contains($latest_call_types, type)) e
    ASOF JOIN starts s ON e.instance = s.instance AND e.ts >= s.ts
),
owners AS (
    SELECT o.engagement_id, i.call_id
    FROM engagement_owners o JOIN call_ids i ON i.external_call_id = o.created_for
),
by_engagement AS (
    SELECT {_COLUMNS}, o.call_id, 'engagement_id' AS tied_by
    FROM events e JOIN owners o USING (engagement_id)
    WHERE list_contains($engagement_reply_types, e.type)
),
completions AS (
    SELECT instance, ts, arg_max(call_id, event_key) AS call_id
    FROM (SELECT * FROM named UNION ALL BY NAME SELECT * FROM blank WHERE tied_by <> 'orphan')
    WHERE list_contains($completion_types, type) AND instance IS NOT NULL
    GROUP BY instance, ts
),
by_reply_order AS (
    SELECT {_COLUMNS}, c.call_id, 'order' AS tied_by
    FROM (SELECT * FROM events
          WHERE list_contains($engagement_reply_types, type)
            AND (engagement_id IS NULL OR engagement_id NOT IN (SELECT engagement_id FROM owners))) e
    ASOF JOIN completions c ON e.instance = c.instance AND e.ts >= c.ts
),
completed AS (
    -- The one field read from a message's JSON, for the few messages that have it.
    SELECT ts, event_key, upper(message->>'$.data.engagementProperties.hs_call_status') AS hs_call_status
    FROM events WHERE type = 'CALL_COMPLETED'
),
tied AS (
    SELECT * FROM named
    UNION ALL BY NAME SELECT * FROM blank
    UNION ALL BY NAME SELECT * FROM by_order
    UNION ALL BY NAME SELECT * FROM by_engagement
    UNION ALL BY NAME SELECT * FROM by_reply_order
)
SELECT t.call_id, t.event_key, t.ts, t.instance, t.tab, t.app, t.direction, t.type, t.tied_by, t.external_call_id,
       t.call_end_status, c.hs_call_status, t.call_start_time, t.engagement_id, t.error_message, t.caller_id_matches,
       t.caller_id_types, t.from_number, t.to_number
FROM tied t LEFT JOIN completed c USING (ts, event_key)
"""
