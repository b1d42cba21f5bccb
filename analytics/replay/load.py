"""Call replay: find a call, load it as a `CallTrace`, and share it (capture format v1, a text summary).

Opening one call takes five statements, all with bound parameters. Only the first reads every day of a table
(the id column of `calls`); the others read the `<table>_by_day` views (ingest/catalog.py) for the days the
call spans, so their cost does not grow with the store's history, and within a day DuckDB's zone maps skip the
row groups of other calls (call_messages is sorted by call_id; events by instance, then time):
1. `CALL_SQL`: its `calls` row; `CALL_INSTANCES_SQL`: the instances and tabs its `call_messages` crossed;
2. `NEIGHBOURS_SQL`: the iframes that started during the call in those tabs, or with its engagementId;
3. `TRACE_EVENTS_SQL`: the full `events` rows of its messages, plus the other events of those instances around the
   call (their SYNC handshake, the last availability message before the ring, everything in the window
   `[start - LEAD_MS, last message or went-away + TAIL_MS]` that belongs to no other call), plus the iframes that
   started in the window in the same tabs (a navigation re-mounting one) or with the call's engagementId in their
   SYNC (HubSpot handing it over). How far back to read comes from the instance ids when they are SDK instanceIds
   (`_span_hint`), else from `instances` (`INSTANCE_STARTS_SQL`, one more statement);
4. `PORTAL_MEDIANS_SQL`: the portal's median HubSpot reply latencies over the MEDIAN_DAYS up to the call's
   day, for "slow reply" findings.
The instances' lanes (start, last message, went away) are read off those events (`instances_of`); whether the call
dropped is the `calls` row's outcome (ingest/calls.py).

`load_trace(run, call_id)` runs them through any `analytics.db.Runner`, `run(sql, **params) -> list[dict]`:
`ui.data.rows` in the dashboard (cached per snapshot), `analytics.db.runner(con)` headless.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from analytics.db import Runner
from analytics.format import scrub, shown, utc
from analytics.replay.trace import AVAILABILITY_TYPES, ORPHAN, CallTrace, Instance, Message, pair_replies
from ingest import sdk

LEAD_MS = 60_000        # context before the call's first message (DIAL_NUMBER, availability, navigation)
TAIL_MS = 30_000        # context after its last message or the moment its instance went away
HANDSHAKE_MS = 30_000   # an instance's first 30 s: its SYNC/SYNC_ACK (HubSpot gives up on SYNC_ACK after 30 s,
                        # IFrameManager.sendSync in the SDK's src/IFrameManager.ts)
INSTANCE_ID_SLACK_MS = 5_000             # read from this long before an instanceId's time (clock skew)
INSTANCE_ID_MAX_AGE_MS = 7 * 86_400_000  # an id older than this before the call is not taken as a time
FIND_LIMIT = 200
MEDIAN_DAYS = 30        # the portal's reply latencies a call is compared with: its calls of these days
# Types that always belong to some call: in a window they are context only when tied to this call.
CALL_TYPES = sorted(sdk.CALL_LIFECYCLE_TYPES | sdk.CALL_REPLY_TYPES)
# Replies call_messages ties by engagementId; a failure carries only {error: {message}}, so it is tied to no call.
# The replay ties it by order to the request it answers (CALL_COMPLETED → UPDATE_ENGAGEMENT_FAILED, …), if that
# request is this call's.
UNNAMED_REPLY_TYPES = ["FINALIZE_ENGAGEMENT_FAILED", "PUBLISH_TO_CHANNEL_FAILED", "UPDATE_ENGAGEMENT_FAILED"]

CALL_SQL = """
SELECT external_call_id, direction, outcome, portal_id, user_id, app, sdk_version, answered, end_status,
       transferred, engagement, engagement_id, engagement_error, caller_id, caller_id_matches, caller_id_error,
       update_engagement_failed, iframe_locations, uses_calling_window, instances, tabs, instances_involved,
       arrived_while_unavailable, time_to_answer_ms, duration_ms, engagement_latency_ms, caller_id_latency_ms,
       from_number, to_number, messages, aliases, foreign_engagements, never_ended_because,
       epoch_ms(started_at) AS started_ms, epoch_ms(answered_at) AS answered_ms, epoch_ms(ended_at) AS ended_ms,
       epoch_ms(completed_at) AS completed_ms, epoch_ms(transferred_at) AS transferred_ms,
       epoch_ms(last_event_at) AS last_event_ms, epoch_ms(went_away_at) AS went_away_ms,
       CAST(started_at AS DATE) AS start_day
FROM calls
WHERE external_call_id = $call_id
"""

# The instances and tabs the call's messages crossed (call_messages is partitioned by the day its call started).
CALL_INSTANCES_SQL = """
SELECT list(DISTINCT instance ORDER BY instance) AS instance_ids, list(DISTINCT tab ORDER BY tab) AS instance_tabs
FROM call_messages_by_day
WHERE day = $start_day AND call_id = $call_id
"""

# When an instance id is not the SDK's instanceId (see _span_hint), where its events start: its first event.
INSTANCE_STARTS_SQL = """
SELECT instance, epoch_ms(started_at) AS started_ms FROM instances WHERE instance IN (SELECT unnest($instances))
"""

# The other iframes the call's window [$lo, $hi] can show: those that started in it and whose events carry one of
# the call's tabs or its engagementId (instance_keys: each instance's first event, partitioned by its day, and
# every tab and engagementId its events carry).
NEIGHBOURS_SQL = """
SELECT instance FROM instance_keys_by_day
WHERE day BETWEEN $lo_day AND $hi_day AND first_at BETWEEN $lo AND $hi AND instance <> ''
  AND (list_has_any(keys, $tab_keys) OR list_contains(keys, $engagement_key))
"""

# The call's messages and its instances' context; plus, in the call's window, the iframes that started in the
# same tabs (a navigation re-mounting one) or with the call's engagementId in their SYNC (HubSpot handing it over).
# Only the days from $first_day to $last_day are opened, and within them the row groups of the instances from
# $scope_first to $scope_last (events are sorted by instance, then time, within a day).
TRACE_EVENTS_SQL = """
WITH tied AS (SELECT event_key, min(tied_by) AS tied_by FROM call_messages_by_day
              WHERE day = $start_day AND call_id = $call_id GROUP BY 1),
candidates AS (
    -- Light columns only: the whole message is read for the kept rows alone (by time and key, below).
    SELECT e.event_key, e.ts, t.tied_by, list_contains($instances, e.instance) AS own,
           min(e.ts) OVER (PARTITION BY e.instance) AS instance_first_ts,
           max(CASE WHEN list_contains($availability_types, e.type) AND e.ts < $lo THEN e.ts END)
               OVER (PARTITION BY e.instance) AS last_availability_ts
    FROM events_by_day e LEFT JOIN tied t ON t.event_key = e.event_key
    WHERE e.day BETWEEN $first_day AND $last_day AND e.ts BETWEEN $span_lo AND $hi
      AND e.instance BETWEEN $scope_first AND $scope_last
      AND (list_contains($instances, e.instance)
           OR (e.ts >= $lo AND list_contains($neighbours, e.instance)
               AND (list_contains($tabs, e.tab) OR (e.type = 'SYNC' AND e.engagement_id = $engagement_id))))
      AND (t.tied_by IS NOT NULL OR NOT list_contains($call_types, e.type)
           OR (list_contains($unnamed_reply_types, e.type) AND e.engagement_id IS NULL))
),
kept AS (
    SELECT event_key, ts, tied_by, own FROM candidates
    WHERE (own OR instance_first_ts >= $lo)
      AND (tied_by IS NOT NULL
           OR ts >= $lo
           OR ts <= instance_first_ts + to_milliseconds($handshake_ms)
           OR ts = last_availability_ts)
)
SELECT epoch_ms(e.ts) AS ts_ms, e.direction, e.instance, e.tab, e.type, e.known_type, e.message_id,
       e.external_call_id, e.engagement_id, e.call_end_status, e.error_message, e.error_type, e.caller_id_matches,
       e.url, e.app, e.sdk_version, e.redacted, e.message, k.tied_by, e.event_key, k.own
FROM events_by_day e JOIN kept k ON e.ts = k.ts AND e.event_key = k.event_key
WHERE e.day BETWEEN $first_day AND $last_day AND e.ts BETWEEN $span_lo AND $hi
  AND e.instance BETWEEN $scope_first AND $scope_last
ORDER BY e.ts, e.load_id, e.line_no
"""

# The portal's typical reply latencies: its calls' medians over the MEDIAN_DAYS up to the call's day.
PORTAL_MEDIANS_SQL = """
SELECT median(engagement_latency_ms) AS engagement, median(caller_id_latency_ms) AS caller_id
FROM calls_by_day
WHERE day BETWEEN $start_day - to_days($days) AND $start_day AND portal_id = $portal_id
"""

# Find calls: a call id (prefix), an engagement id, the last digits of a phone number (a redacted number keeps
# its last 4: `~3fa9c21b0d-0123`), a portal, a time window (UTC), an outcome. NULL means "any".
FIND_CALLS_SQL = """
SELECT external_call_id, started_at, direction, outcome, portal_id, app, sdk_version, engagement_id,
       from_number, to_number, tabs, messages
FROM calls
WHERE ($text IS NULL OR starts_with(external_call_id, $text) OR list_contains(aliases, $text)
       OR engagement_id = TRY_CAST($text AS BIGINT)
       OR ($digits IS NOT NULL AND (ends_with(from_number, $digits) OR ends_with(to_number, $digits)
            OR (starts_with(from_number, '~') AND ends_with(from_number, right($digits, 4)))
            OR (starts_with(to_number, '~') AND ends_with(to_number, right($digits, 4))))))
  AND ($portal_id IS NULL OR portal_id = $portal_id)
  AND ($since IS NULL OR started_at >= $since)
  AND ($until IS NULL OR started_at < $until)
  AND ($outcome IS NULL OR outcome = $outcome)
ORDER BY started_at DESC, external_call_id
LIMIT $limit
"""

PORTALS_SQL = "SELECT DISTINCT portal_id FROM calls WHERE portal_id IS NOT NULL ORDER BY portal_id"


def find_params(text: str | None = None, *, portal_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None, outcome: str | None = None, limit: int = FIND_LIMIT) -> dict:
    """Parameters of FIND_CALLS_SQL from what a person typed: a call id, an engagement id or phone digits."""
    text = (text or "").strip() or None
    digits = re.sub(r"\D", "", text or "")
    phone_like = text is not None and re.fullmatch(r"[\d\s()+.-]+", text) is not None and 3 <= len(digits) <= 15
    return {"text": text, "digits": digits if phone_like else None, "portal_id": portal_id, "since": since,
            "until": until, "outcome": outcome, "limit": limit}


def find_calls(run, text: str | None = None, **filters: Any):
    """FIND_CALLS_SQL through `run`: rows from an `analytics.db.Runner`, a DataFrame from `ui.data.run`."""
    return run(FIND_CALLS_SQL, **find_params(text, **filters))


def load_trace(run: Runner, call_id: str) -> CallTrace | None:
    """The call with this externalCallId as a trace, or None when no call has that id."""
    found = run(CALL_SQL, call_id=call_id)
    if not found:
        return None
    call = dict(found[0])
    start_day = call.pop("start_day")
    crossed = run(CALL_INSTANCES_SQL, call_id=call_id, start_day=start_day)[0]
    own, tabs = crossed["instance_ids"] or [], crossed["instance_tabs"] or []
    end = max(call["last_event_ms"], call["went_away_ms"] or 0)
    lo, hi = call["started_ms"] - LEAD_MS, end + TAIL_MS
    hint = _span_hint(own, call["started_ms"])
    engagement = call["engagement_id"]
    neighbours = [r["instance"] for r in run(
        NEIGHBOURS_SQL, lo=_ts(lo), hi=_ts(hi), lo_day=_ts(lo).date(), hi_day=_ts(hi).date(),
        tab_keys=[f"t:{t}" for t in tabs], engagement_key=f"e:{engagement}" if engagement else None)]
    scope = sorted({i for i in own + neighbours if i is not None})

    def read(span_lo: int) -> list[dict]:
        return run(TRACE_EVENTS_SQL, call_id=call_id, start_day=start_day, instances=own, neighbours=neighbours,
                   tabs=tabs, engagement_id=engagement, call_types=CALL_TYPES,
                   unnamed_reply_types=UNNAMED_REPLY_TYPES, availability_types=list(AVAILABILITY_TYPES),
                   lo=_ts(lo), hi=_ts(hi), span_lo=_ts(span_lo), first_day=_ts(span_lo).date(),
                   last_day=_ts(hi).date(), handshake_ms=HANDSHAKE_MS, scope_first=scope[0] if scope else None,
                   scope_last=scope[-1] if scope else None)

    rows = read(min(hint, lo)) if hint is not None else None
    if rows is None or not _handshakes_seen(rows, own):
        starts = [r["started_ms"] for r in run(INSTANCE_STARTS_SQL, instances=own) if r["started_ms"] is not None]
        rows = read(min(starts + [lo]))
    # A navigation matters until the call was logged (CALL_COMPLETED) or handed on; without either, until the end.
    until = call["completed_ms"] or call["transferred_ms"] or hi
    roles = instance_roles(rows, call, until)
    rows = [r for r in rows if r["instance"] in roles]
    messages = _tie_unnamed_replies([_message(i, r) for i, r in enumerate(rows)])
    medians = {}
    if call["portal_id"] is not None:
        found = run(PORTAL_MEDIANS_SQL, portal_id=call["portal_id"], start_day=start_day, days=MEDIAN_DAYS)
        medians = {k: float(v) for k, v in found[0].items() if v is not None} if found else {}
    return CallTrace(call_id, call, messages, instances_of(messages, roles), medians)


def _span_hint(own: list[str], call_start_ms: int) -> int | None:
    """How far back the call's instances start, from their ids, when they are SDK instanceIds: `Date.now()` when
    the iframe's SDK started, which is just before HubSpot's SYNC (capture format v1 recommends that id). The
    events read from there must then show each instance's SYNC handshake, else the instances table says."""
    hints = []
    for instance in own:
        if not (instance and instance.isdigit() and len(instance) == 13):
            return None
        started = int(instance)
        if not call_start_ms - INSTANCE_ID_MAX_AGE_MS <= started <= call_start_ms:
            return None
        hints.append(started - INSTANCE_ID_SLACK_MS)
    return min(hints) if hints else None


def _handshakes_seen(rows: list[dict], own: list[str]) -> bool:
    first: dict[str, str] = {}
    for r in rows:
        first.setdefault(r["instance"], r["type"])
    return all(first.get(i) in ("SYNC", "SYNC_ACK") for i in own)


def instance_roles(rows: list[dict], call: dict, until: int) -> dict[str, str]:
    """Which instance is what to the call: `call` (carried its messages), `handover` (a new iframe whose SYNC carries
    the call's engagementId: HubSpot handed it the call in progress), `replacement` (a new iframe in the same tab
    and location after the last message of one of those: the navigation that re-mounted it). Others are left out."""
    roles = {r["instance"]: "call" for r in rows if r["own"]}
    firsts: dict[str, dict] = {}
    last_message: dict[str, int] = {}
    for r in rows:
        firsts.setdefault(r["instance"], r)
        if r["direction"] != "capture":
            last_message[r["instance"]] = r["ts_ms"]
    engagement = call.get("engagement_id")
    for instance, first in firsts.items():
        if instance in roles or first["type"] != "SYNC":  # a SYNC starts an SDK instance
            continue
        sync = json.loads(first["message"])
        if engagement and sync.get("engagementId") == engagement and first["ts_ms"] >= call["started_ms"]:
            roles[instance] = "handover"
            continue
        for other in list(roles):
            other_first = json.loads(firsts[other]["message"]) if firsts[other]["type"] == "SYNC" else {}
            if (firsts[other]["tab"] == first["tab"] and first["ts_ms"] > last_message.get(other, 0)
                    and first["ts_ms"] <= until
                    and other_first.get("iframeLocation") in (None, sync.get("iframeLocation"))):
                roles[instance] = "replacement"
                break
    return roles


def instances_of(messages: list[Message], roles: dict[str, str]) -> list[Instance]:
    """Each instance as the trace shows it: its SYNC's facts, when it started, its last message, and whether it
    went away while the call was on (its PAGEHIDE after its last message, or a replacement iframe)."""
    by: dict[str, list[Message]] = {}
    for m in messages:
        by.setdefault(m.instance, []).append(m)
    started = {i: ms[0].ts_ms for i, ms in by.items()}
    out = []
    for instance, ms in by.items():
        sync = next((m.message for m in ms if m.type in ("SYNC", "SYNC_ACK")), {})
        ack = next((m.message for m in ms if m.type == "SYNC_ACK"), None)
        last = max((m.ts_ms for m in ms if m.direction != "capture"), default=None)
        unloaded = next((m.ts_ms for m in ms if m.type == "PAGEHIDE" and m.ts_ms >= (last or 0)), None)
        replaced = min((started[o] for o, role in roles.items() if role == "replacement" and o in by
                        and by[o][0].tab == ms[0].tab and started[o] > (last or 0)), default=None)
        gone = min((t for t in (unloaded, replaced) if t is not None), default=None)
        out.append(Instance(
            instance=instance, role=roles[instance], tab=ms[0].tab, iframe_location=sync.get("iframeLocation"),
            uses_calling_window=sync.get("usesCallingWindow"), portal_id=sync.get("portalId"),
            sdk_version=(ack or {}).get("version") or ms[0].sdk_version, handshake_done=ack is not None,
            started_ms=started[instance], last_message_ms=last, unloaded_ms=unloaded, replaced_ms=replaced,
            went_away_ms=gone, sync_engagement_id=sync.get("engagementId")))
    return sorted(out, key=lambda i: (i.started_ms, i.instance))


def _tie_unnamed_replies(messages: list[Message]) -> list[Message]:
    """A failure reply tied to no call belongs to this call when the request it answers is this call's."""
    by_index = {m.index: m for m in messages}
    for pair in pair_replies(messages):
        reply, request = by_index[pair.reply], by_index[pair.request]
        if reply.type in UNNAMED_REPLY_TYPES and not reply.in_call and request.in_call:
            by_index[reply.index] = replace(reply, in_call=True, tied_by="order")
    return [by_index[m.index] for m in messages]


def _ts(ms: int) -> datetime:
    """A bound TIMESTAMP parameter (naive UTC, as stored)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _message(index: int, row: dict[str, Any]) -> Message:
    """One TRACE_EVENTS_SQL row as a Message: its JSON parsed, tied to the call when call_messages ties it."""
    columns = {k: v for k, v in row.items() if k not in ("message", "tied_by", "own", "known_type", "redacted")}
    message = row["message"]
    return Message(index=index, in_call=row["tied_by"] not in (None, ORPHAN), tied_by=row["tied_by"],
                   known_type=bool(row["known_type"]), redacted=bool(row["redacted"]),
                   message=json.loads(message) if isinstance(message, str) else message, **columns)


def capture_records(trace: CallTrace) -> list[dict[str, Any]]:
    """The trace's messages as capture format v1 records; `event_id` is the stored event key (hex)."""
    records = []
    for m in trace.messages:
        record = {"ts": m.ts_ms, "direction": m.direction, "instance": m.instance, "tab": m.tab, "app": m.app,
                  "sdk_version": m.sdk_version, "url": m.url, "event_id": m.event_key.hex(), "message": m.message}
        records.append({k: v for k, v in record.items() if v is not None})
    return records


def to_ndjson(trace: CallTrace) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in capture_records(trace))


def summary_text(trace: CallTrace, findings: list, url: str | None = None) -> str:
    """A short plain-text summary to paste into a ticket: what happened and the findings, no personal data
    (only numbers and names already redacted at ingest, `~…` tokens, can appear; others are masked)."""
    c = trace.call
    fact = {k: shown(c.get(k)) for k in ("direction", "outcome", "portal_id", "app", "sdk_version", "instances",
                                         "tabs")}
    lines = [f"Call {trace.call_id}: {fact['direction']} call, outcome {fact['outcome']}",
             f"Portal {fact['portal_id']}, app {fact['app']}, SDK {fact['sdk_version']}; "
             f"started {utc(c['started_ms'])} UTC; rang in {fact['instances']} instance(s) in {fact['tabs']} tab(s) "
             f"({', '.join(c.get('iframe_locations') or []) or 'location unknown'}).",
             f"Engagement: {c.get('engagement') or 'none'} {c.get('engagement_id') or ''}".rstrip()
             + f"; caller ID: {c.get('caller_id') or 'not asked'}; {len(trace.messages)} messages "
               f"({len(trace.call_messages)} of the call itself).",
             ""]
    if not findings:
        lines.append("Diagnosis: no problems found.")
    else:
        lines.append("Diagnosis (most severe first):")
        for n, f in enumerate(findings, 1):
            refs = ", ".join(f"#{i + 1}" for i in f.message_indexes[:6])
            lines.append(f"{n}. [{f.severity}] {f.title}. {f.detail} What to do: {f.advice} (messages {refs})")
    if url:
        lines += ["", f"Replay: {url}"]
    return scrub("\n".join(lines)) + "\n"
