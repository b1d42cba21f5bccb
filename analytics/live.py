"""Live: the calls that arrived most recently, for the page that follows the collector as it loads."""

from __future__ import annotations

# Newest first by when the call started; a call's row changes as its later messages arrive.
RECENT_CALLS_SQL = """
SELECT external_call_id, outcome, direction, started_at, last_event_at, duration_ms / 1000 AS talk_s, portal_id,
       app
FROM calls
ORDER BY started_at DESC, external_call_id
LIMIT $limit
"""

STATUS_SQL = """
SELECT
    (SELECT count(*) FROM calls WHERE outcome = 'in_progress')                       AS in_progress,
    (SELECT max(last_event_at) FROM calls)                                          AS last_message_at,
    (SELECT max(finished_at) FROM loads WHERE tool = 'collector' AND status = 'done') AS last_collector_load_at
"""
