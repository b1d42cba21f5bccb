"""Findings that say why a call came out failed, missed or never ended, and when its identity is muddled: several
externalCallIds for one call, another call's engagement, a message with a blank id that landed beside it.

Every failed, missed, dropped (diagnosis.call_dropped) or never-ended call gets at least one finding that explains
its outcome from the messages and says what to check. The outcomes are ingest/derive/outcomes.py's; each rule's
docstring states the rule and the SDK fact it rests on, as in analytics.replay.diagnosis.
"""

from __future__ import annotations

from analytics.format import duration
from analytics.replay.finding import Finding, ref
from analytics.replay.trace import ORPHAN, START_TYPES, CallTrace, Message
from ingest.calls import MAX_CALL_MS
from ingest.sdk import CREATE_ENGAGEMENT_REPLY_TYPES, ENGAGEMENT_CREATED_TYPES

ENDS = ("CALL_ENDED", "CALL_TRANSFERRED", "CALL_COMPLETED")

def _start(call: CallTrace) -> Message | None:
    return next(iter(call.of_type(*START_TYPES)), None)


def call_failed(call: CallTrace) -> list[Finding]:
    """The app ended the call with callEndStatus FAILED (CALL_ENDED, else CALL_COMPLETED's hs_call_status) before
    any CALL_ANSWERED (calls.py `failed`). The status is the app's own verdict: the SDK only carries it to HubSpot
    (OnCallEnded.callEndStatus, src/types.ts), so when the SDK traffic is clean the cause is on the telephony side."""
    if call.call.get("outcome") != "failed":
        return []
    ends = [m for m in call.call_messages if m.type in ENDS]
    end = next((m for m in ends if m.call_end_status == "FAILED"), ends[0] if ends else call.call_messages[-1])
    start = _start(call)
    troubles = [m for m in call.messages
                if m.failed and (m.in_call or (m.type == "ERROR" and m.ts_ms >= call.first_ring_ms))]
    detail = (f"The app reported the call FAILED in {ref(call, end)}"
              + (f", {duration(end.ts_ms - start.ts_ms)} after {ref(call, start)}" if start else "")
              + ", and never sent CALL_ANSWERED.")
    if troubles:
        detail += f" {ref(call, troubles[0])} may say why."
    else:
        detail += (" The SDK traffic is clean: HubSpot accepted every message and nothing reported an ERROR, so the "
                   "call failed on the telephony side.")
    advice = ("Look at the telephony provider's record of this call (carrier or SIP error, the number dialled, the "
              "user's microphone and network). When the app knows the cause, report it with sendError so the user "
              "sees it in HubSpot.")
    return [Finding("error", "call_failed", "The app reported the call failed", detail, advice,
                    tuple(m.index for m in (end, start) if m is not None))]


def call_missed(call: CallTrace) -> list[Finding]:
    """An inbound call that ended without CALL_ANSWERED is missed (calls.py `missed`): only CALL_ANSWERED tells
    HubSpot the user answered (`callAnswered`, src/CallingExtensions.ts); a callEndStatus of COMPLETED does not, so
    HubSpot logs such a call as not answered."""
    if call.call.get("outcome") != "missed":
        return []
    end = next((m for m in call.call_messages if m.type in ENDS), call.call_messages[-1])
    ring = _start(call)
    rang = f" after ringing {duration(end.ts_ms - ring.ts_ms)}" if ring else ""
    status = call.call.get("end_status")
    indexes = tuple(m.index for m in (end, ring) if m is not None)
    if status == "COMPLETED":
        return [Finding(
            "warning", "completed_without_answer", "The call ended COMPLETED but was never answered",
            f"The inbound call ended COMPLETED ({ref(call, end)}){rang}, with no CALL_ANSWERED. If the user did "
            f"answer, the app never reported it, and HubSpot logged the call as not answered.",
            "Send CALL_ANSWERED (callAnswered) when the user picks up, with the call's externalCallId. When the "
            "calling window relays calls to the remote iframes, relay CALL_ANSWERED too.", indexes)]
    how = ("was transferred away" if end.type == "CALL_TRANSFERRED"
           else f"ended {status}" if status else "ended with no callEndStatus")
    detail = f"The inbound call {how} ({ref(call, end)}){rang}, with no CALL_ANSWERED."
    if call.call.get("arrived_while_unavailable"):
        detail += " It arrived while the user had said they were unavailable."
    return [Finding("info", "call_missed", "The call was missed", detail,
                    "Nothing in the SDK traffic went wrong. If calls are missed that should have been answered, check "
                    "that the user was available and that the call rang in the tab they were using.", indexes)]


def call_never_ended(call: CallTrace) -> list[Finding]:
    """No CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED, and the call's instance then started another call, or
    nothing was heard of it for longer than the longest call (calls.py `never_ended`): HubSpot keeps a call going
    until the app ends it (`callEnded`, src/CallingExtensions.ts), so it is never logged with its outcome."""
    if call.call.get("outcome") != "never_ended" or not call.call_messages:
        return []
    last = call.call_messages[-1]
    longest = f"{MAX_CALL_MS / 3_600_000:g} h"
    because = {"next_call": "its instance then started another call",
               "silence": f"nothing was heard of it for more than {longest}"}.get(
        call.call.get("never_ended_because") or "",
        f"its instance then started another call, or nothing was heard of it for more than {longest}")
    return [Finding(
        "error", "call_never_ended", "The call never ended",
        f"The app never sent CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED for this call: its last message was "
        f"{ref(call, last)}, and {because}. HubSpot showed the call as still going on.",
        "End every call with CALL_ENDED (callEnded) before starting the next, including calls that were rejected, "
        "failed or hung up by the caller, then log it with CALL_COMPLETED.", (last.index,))]


def several_call_ids(call: CallTrace) -> list[Finding]:
    """The app used several externalCallIds for one call (calls.aliases: ids joined by the engagement HubSpot created
    for the call): HubSpot ties a call's lifecycle to the externalCallId that started it (OnCallAnswered,
    OnCallEnded and OnCallCompleted carry it, src/types.ts), so messages under another id belong to no call."""
    first: dict[str, Message] = {}
    for m in call.call_messages:
        if m.direction == "to_hubspot" and m.external_call_id and m.external_call_id.strip():
            first.setdefault(m.external_call_id, m)
    if len(first) < 2:
        return []
    others = [m for i, m in first.items() if i != call.call_id]
    detail = (f"The app used {len(first)} externalCallIds for this one call ({', '.join(first)}): "
              + "; ".join(f"{m.external_call_id} first in {ref(call, m)}" for m in others)
              + ". They carry the engagementId HubSpot created for the call, so Callscope shows one call; HubSpot "
                "ties the lifecycle to one id and sees the others as calls that never started.")
    advice = ("Use the externalCallId of the call's INCOMING_CALL / OUTGOING_CALL_STARTED in every later message, in "
              "every iframe: when the calling window relays a call to the remote iframes, relay its externalCallId, "
              "and let only the instance that rang send INCOMING_CALL.")
    return [Finding("warning", "several_call_ids", "The app used several externalCallIds for one call", detail,
                    advice, tuple(m.index for m in first.values()))]


def foreign_engagement(call: CallTrace) -> list[Finding]:
    """The app reported an engagementId that HubSpot did not create for this call (calls.foreign_engagements): an
    engagement belongs to the call HubSpot answered with CREATE_ENGAGEMENT_SUCCEEDED, so the update lands on that
    other call's record (an app that keeps the previous call's engagementId after CREATE_ENGAGEMENT_FAILED)."""
    created = {m.engagement_id for m in call.of_type(*ENGAGEMENT_CREATED_TYPES)}
    replies = call.of_type(*CREATE_ENGAGEMENT_REPLY_TYPES)
    owners = {f["engagement_id"]: f["created_for"] for f in call.call.get("foreign_engagements") or []}
    firsts: dict[int, Message] = {}
    for m in call.call_messages:
        if (m.direction == "to_hubspot" and m.engagement_id and m.engagement_id not in created
                and (m.engagement_id in owners or replies)):
            firsts.setdefault(m.engagement_id, m)
    findings = []
    for engagement_id, m in firsts.items():
        owner = owners.get(engagement_id)
        whose = f"which HubSpot created for call {owner}" if owner else "which HubSpot did not create for this call"
        parts = [f"The app reported engagement {engagement_id} in {ref(call, m)}, {whose}."]
        if created:
            parts.append(f"HubSpot created {', '.join(map(str, sorted(created)))} for this call.")
        elif replies:
            parts.append(f"HubSpot answered this call with {ref(call, replies[0])}.")
        parts.append(f"HubSpot applies the update to engagement {engagement_id}: that call's record gets this "
                     f"call's outcome, and this call is not logged.")
        findings.append(Finding(
            "error", "foreign_engagement", "The app reported another call's engagement", " ".join(parts),
            "Keep the engagementId per call: take it from this call's onCreateEngagementSucceeded and forget it when "
            "the call ends, so a call whose engagement creation failed sends none.",
            (m.index, *(r.index for r in replies[:1]))))
    return findings


def orphan_near_call(call: CallTrace) -> list[Finding]:
    """A lifecycle message with a blank externalCallId ("" or whitespace) that belongs to no call landed right after
    this one (calls.py: a blank id is not an id; OnCallEnded.externalCallId is a required string in src/types.ts):
    HubSpot cannot tie it to a call, and Callscope did not let it change this call's end."""
    orphans = [m for m in call.messages if m.tied_by == ORPHAN]
    if not orphans:
        return []
    m = orphans[0]
    own = [x for x in call.call_messages if x.tied_by != ORPHAN and x.ts_ms <= m.ts_ms]
    after = f", {duration(m.ts_ms - own[-1].ts_ms)} after {ref(call, own[-1])}" if own else ""
    detail = (f"{ref(call, m)} came with a blank externalCallId{after}, when this call was already over, so it was "
              f"not taken as part of it.")
    if m.engagement_id:
        detail += f" It carried engagementId {m.engagement_id}, left over from the finished call."
    return [Finding("warning", "orphan_message", f"A {m.type} with no call id came after the call", detail,
                    "Send call messages only while there is a call, always with its externalCallId: disable \"end "
                    "call\" (or any call action) when no call is on.", tuple(x.index for x in orphans))]


RULES = (call_failed, call_missed, call_never_ended, several_call_ids, foreign_engagement, orphan_near_call)
