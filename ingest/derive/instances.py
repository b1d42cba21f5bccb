"""`instances`: one row per SDK instance (one iframe page load, `events.instance`).

- Its tab, app, iframe location, calling-window flag, portal, user and the engagementId of its SYNC come from its
  first event that has them (time, then event key): an instance id seen in two tabs still gets one tab.
- Its SDK version is the one its app reported in SYNC_ACK (IFrameManager.onMessage sends `version: VERSION`), else
  the first version its records carry. `sdk_version` is the release (`0.9.7` for the `0.9.7-beta.0` the 0.9.7
  bundle reports, its package.json version at build time), `sdk_version_raw` the string as sent. A SYNC record,
  captured before the app's reply, carries no version: it has its instance's.
- It went away when its page unloaded (capture marker PAGEHIDE after its last message: a PAGEHIDE followed by
  more messages was a page kept in the back-forward cache), or when a new instance started in the same tab and
  iframe location after its last message (a HubSpot page navigation re-mounts the iframe; inbound-calling guide,
  "Prevent dropped calls").
"""

from ingest.derive import sort_key

# Each instance's events, with their order (time, then event key) as one value. Read twice below, as a subquery:
# as a CTE named twice, DuckDB may materialise it (every column of every event).
ORDERED = f"(SELECT *, {sort_key('ts', 'event_key')} AS event_order FROM events WHERE instance IS NOT NULL)"

INSTANCES_SQL = f"""
CREATE OR REPLACE TABLE instances AS
WITH everything AS (
    SELECT
        instance,
        arg_min(tab, event_order) FILTER (WHERE tab IS NOT NULL)                       AS tab,
        arg_min(app, event_order) FILTER (WHERE app IS NOT NULL)                       AS app,
        min(ts)                                                                        AS started_at,
        max(ts) FILTER (WHERE direction <> 'capture')                                  AS last_message_at,
        arg_min(sdk_version, event_order) FILTER (WHERE sdk_version IS NOT NULL)       AS any_version,
        bool_or(type = 'SYNC_ACK')                                                     AS handshake_done,
        -- The handshake's moments: HubSpot's first SYNC (it resends until acknowledged), the app's SYNC_ACK
        -- (onReady: the SDK is ready) and INITIALIZED.
        min(ts) FILTER (WHERE type = 'SYNC')                                           AS first_sync_at,
        min(ts) FILTER (WHERE type = 'SYNC_ACK')                                       AS ready_at,
        min(ts) FILTER (WHERE type = 'INITIALIZED')                                    AS initialized_at,
        list(ts ORDER BY ts) FILTER (WHERE type = 'USER_UNAVAILABLE')                  AS unavailable_at,
        min(ts) FILTER (WHERE type = 'PAGEHIDE')                                       AS pagehide_at,
        count(*)                                                                       AS events
    FROM {ORDERED}
    GROUP BY instance
),
-- What the handshake says, from its messages only: aggregated apart from the rest, each aggregate's states (a
-- sort key per value) stay few enough not to spill (instances of 10M events: 9.8 -> 7.9 s).
handshake AS (
    SELECT
        instance,
        arg_min(iframe_location, event_order)
            FILTER (WHERE type = 'SYNC' AND iframe_location IS NOT NULL)               AS iframe_location,
        arg_min(uses_calling_window, event_order)
            FILTER (WHERE type = 'SYNC' AND uses_calling_window IS NOT NULL)           AS uses_calling_window,
        arg_min(portal_id, event_order) FILTER (WHERE portal_id IS NOT NULL)           AS portal_id,
        arg_min(user_id, event_order) FILTER (WHERE user_id IS NOT NULL)               AS user_id,
        arg_min(engagement_id, event_order)
            FILTER (WHERE type = 'SYNC' AND engagement_id IS NOT NULL)                 AS sync_engagement_id,
        arg_min(sdk_version, event_order)
            FILTER (WHERE type = 'SYNC_ACK' AND sdk_version IS NOT NULL)               AS ack_version
    FROM {ORDERED}
    WHERE list_contains($handshake_types, type)
    GROUP BY instance
),
per_instance AS (
    SELECT e.instance, e.tab, e.app, e.started_at, e.last_message_at, h.iframe_location, h.uses_calling_window,
        h.portal_id, h.user_id, h.sync_engagement_id, coalesce(h.ack_version, e.any_version) AS sdk_version_raw,
        e.handshake_done, e.first_sync_at, e.ready_at, e.initialized_at, e.unavailable_at, e.pagehide_at, e.events
    FROM everything e LEFT JOIN handshake h USING (instance)
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
    p.* EXCLUDE (sdk_version_raw),
    -- The release: major.minor.patch without a pre-release or build tag; a version in no such form stays as sent.
    coalesce(nullif(regexp_extract(p.sdk_version_raw, '^\\d+\\.\\d+\\.\\d+'), ''), p.sdk_version_raw) AS sdk_version,
    p.sdk_version_raw,
    r.replaced_at,
    CASE WHEN p.pagehide_at >= coalesce(p.last_message_at, p.started_at) THEN p.pagehide_at END AS unloaded_at,
    least(CASE WHEN p.pagehide_at >= coalesce(p.last_message_at, p.started_at) THEN p.pagehide_at END,
          r.replaced_at)                                                              AS went_away_at
FROM per_instance p LEFT JOIN replaced r USING (instance)
"""
