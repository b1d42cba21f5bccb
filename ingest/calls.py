"""Derive `instances` and `calls` from `events`: one row per SDK instance, one row per call.

A call is keyed by the app's `externalCallId` and joined across instances and tabs: a call that rang in three
tabs is one call. The rules live in words above the SQL that implements them, in `ingest/derive/`:

- `derive/instances.py`: what an SDK instance is, when it went away, its SDK version (the release, and as sent).
- `derive/ids.py`: whose engagement is whose (HubSpot's CREATE_ENGAGEMENT_SUCCEEDED makes its call the owner),
  and which externalCallIds are one call (aliases joined by the engagement HubSpot created for the call).
- `derive/messages.py`: which message belongs to which call; a blank externalCallId is not an id (orphans).
- `derive/outcomes.py`: the outcome rules, in the order they are tried: answered, failed, missed, unanswered,
  never_ended, dropped, in_progress.

`derive(con)` rebuilds every derived table from all events, so load order never changes a call: every choice
among rows is made by time, then event key.
"""

from __future__ import annotations

import os
import re

import duckdb

from ingest import sdk
from ingest.derive.ids import CALL_IDS_SQL, ENGAGEMENT_OWNERS_SQL
from ingest.derive.instances import INSTANCES_SQL
from ingest.derive.messages import BLANK_ID_MESSAGES_SQL, CALL_MESSAGES_SQL
from ingest.derive.outcomes import (
    CALL_COURSE_SQL,
    CALL_ENGAGEMENT_SQL,
    CALL_MSGS_SQL,
    CALL_PARTIES_SQL,
    CALLS_SQL,
    NEVER_ENDED_SQL,
    OUTCOMES,
)
from ingest.memory import with_headroom

__all__ = ["OUTCOMES", "MAX_CALL_MS", "derive", "select_calls"]

# The longest call: a call silent longer than this (behind the newest event of its app, or before its iframe went
# away) is over, whether or not the app said so (outcome never_ended).
# A setting: CALLSCOPE_MAX_CALL_HOURS (default 4) for apps whose calls run longer.
MAX_CALL_MS = round(float(os.environ.get("CALLSCOPE_MAX_CALL_HOURS") or 4) * 3_600_000)
# An orphan (a lifecycle message with a blank externalCallId that belongs to no call) this soon after the last
# message of the latest call in its instance is shown with that call. The replay shows 30 s past a call's last
# message (analytics.replay.load.TAIL_MS), so this must not be longer.
ORPHAN_NEAR_MS = 30_000

# The statements, in order: each reads the tables the ones before it wrote. call_msgs, call_course,
# call_engagement and call_parties are steps toward `calls`, not stored.
STATEMENTS = (INSTANCES_SQL, ENGAGEMENT_OWNERS_SQL, CALL_IDS_SQL, BLANK_ID_MESSAGES_SQL, CALL_MESSAGES_SQL,
              CALL_MSGS_SQL, CALL_COURSE_SQL, CALL_ENGAGEMENT_SQL, CALL_PARTIES_SQL, CALLS_SQL, NEVER_ENDED_SQL)

# The SDK's vocabulary as the statements bind it (`$start_types`, ...): each group of message types is defined
# once, in ingest.sdk. Sets go as sorted lists; CALL_STAGES as two aligned lists (types, their stage).
SDK_PARAMS = {
    "handshake_types": sorted(sdk.HANDSHAKE_TYPES),
    "start_types": sorted(sdk.CALL_START_TYPES),
    "lifecycle_types": sorted(sdk.CALL_LIFECYCLE_TYPES),
    "finalize_types": sorted(sdk.FINALIZE_TYPES),
    "completion_types": sorted(sdk.COMPLETION_TYPES),
    "latest_call_types": sorted(sdk.LATEST_CALL_TYPES),
    "engagement_created_types": sorted(sdk.ENGAGEMENT_CREATED_TYPES),
    "create_engagement_reply_types": sorted(sdk.CREATE_ENGAGEMENT_REPLY_TYPES),
    "app_engagement_types": sorted(sdk.APP_ENGAGEMENT_TYPES),
    "engagement_reply_types": sorted(sdk.ENGAGEMENT_REPLY_TYPES),
    "caller_id_reply_types": sorted(sdk.CALLER_ID_REPLY_TYPES),
    "availability_types": sorted(sdk.AVAILABILITY_TYPES),
    "stage_types": list(sdk.CALL_STAGES),
    "stage_numbers": list(sdk.CALL_STAGES.values()),
    "ended_stage": sdk.ENDED_STAGE,
    "calling_window_location": sdk.CALLING_WINDOW_LOCATION,
}


def _params(sql: str, settings: dict) -> dict:
    """The parameters `sql` names (DuckDB refuses a parameter that a statement does not name)."""
    available = SDK_PARAMS | settings
    return {name: value for name, value in available.items() if f"${name}" in sql}


def derive(con: duckdb.DuckDBPyConnection, *, max_call_ms: int = MAX_CALL_MS,
           orphan_near_ms: int = ORPHAN_NEAR_MS) -> None:
    """Rebuild `instances`, `engagement_owners`, `call_ids`, `blank_id_messages`, `call_messages` and `calls` from
    all events, so load order never changes a call."""
    settings = {"max_call_ms": max_call_ms, "orphan_near_ms": orphan_near_ms}
    for sql in STATEMENTS:
        table = re.search(r"TABLE (\w+)", sql)
        with_headroom(con, lambda sql=sql: con.execute(sql, _params(sql, settings)),
                      f"deriving {table[1] if table else 'calls'}")


# `calls --json`: the public shape of a call. Filters are bound parameters; NULL means "any". A call id also finds
# the call it is an alias of.
SELECT_CALLS_SQL = """
SELECT
    external_call_id, aliases, direction, outcome, answered, end_status, engagement, engagement_id, engagement_error,
    foreign_engagements, caller_id, caller_id_matches, caller_id_types, caller_id_error, iframe_locations,
    uses_calling_window, instances, tabs, instances_involved, portal_id, user_id, app, sdk_version, sdk_version_raw,
    strftime(started_at, '%Y-%m-%dT%H:%M:%S.%gZ')   AS started_at,
    strftime(answered_at, '%Y-%m-%dT%H:%M:%S.%gZ')  AS answered_at,
    strftime(coalesce(ended_at, completed_at, transferred_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS ended_at,
    strftime(went_away_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS went_away_at,
    time_to_answer_ms, duration_ms, transferred, arrived_while_unavailable, from_number, to_number, messages
FROM calls
WHERE ($outcome IS NULL OR outcome = $outcome)
  AND ($direction IS NULL OR direction = $direction)
  AND ($portal_id IS NULL OR portal_id = $portal_id)
  AND ($call_id IS NULL OR external_call_id = $call_id OR list_contains(aliases, $call_id))
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
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
