"""One call as a trace: its messages in order, the SDK instances they crossed, and what can be read off them.

A `CallTrace` is what `analytics.replay.load_trace` returns and what the diagnosis rules, the comparison and the
timeline read. Times are epoch milliseconds (UTC). `Message.index` is the message's position in the trace; the
page shows it 1-based (`#1`, `&step=1`).

Messages are the call's own (`call_messages`: `in_call`) plus context from the instances involved (their SYNC
handshake, availability, visibility, PAGEHIDE markers, ERROR replies) around the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics.format import plural
from ingest import sdk

# Requests and the messages that answer them. Only SYNC → SYNC_ACK pairs by messageId: the SDK builds SYNC_ACK as a
# copy of HubSpot's SYNC (`IFrameManager.onMessage` in src/IFrameManager.ts of @hubspot/calling-extensions-sdk
# 0.9.7). Every other HubSpot message gets a messageId of its own and goes to the app's handler as a new message
# (`onMessage` → `CallingExtensions.onMessageHandler`), answering no request by id, so the rest pair by order
# within one instance. Every type here is one of the SDK's (`ingest.sdk.MESSAGE_TYPES`; a test checks).
REPLIES: dict[str, tuple[str, ...]] = {
    "CREATE_ENGAGEMENT_SUCCEEDED": ("INCOMING_CALL", "OUTGOING_CALL_STARTED"),
    "CREATE_ENGAGEMENT_FAILED": ("INCOMING_CALL", "OUTGOING_CALL_STARTED"),
    "ENGAGEMENT_CREATED": ("INCOMING_CALL", "OUTGOING_CALL_STARTED"),
    "CALLER_ID_MATCH_SUCCEEDED": ("INCOMING_CALL",),
    "CALLER_ID_MATCH_FAILED": ("INCOMING_CALL",),
    "UPDATE_ENGAGEMENT_SUCCEEDED": ("CALL_COMPLETED",),
    "UPDATE_ENGAGEMENT_FAILED": ("CALL_COMPLETED",),
    "FINALIZE_ENGAGEMENT_SUCCEEDED": ("FINALIZE_ENGAGEMENT",),
    "FINALIZE_ENGAGEMENT_FAILED": ("FINALIZE_ENGAGEMENT",),
    "PUBLISH_TO_CHANNEL_SUCCEEDED": ("PUBLISH_TO_CHANNEL",),
    "PUBLISH_TO_CHANNEL_FAILED": ("PUBLISH_TO_CHANNEL",),
    "NAVIGATE_TO_RECORD_FAILED": ("NAVIGATE_TO_RECORD",),
    "OUTGOING_CALL_STARTED": ("DIAL_NUMBER",),  # click-to-call: HubSpot asks, the app dials
    "CALL_ENDED": ("END_CALL",),                # HubSpot asks the app to hang up (demo replies with callEnded)
}
# Reply kinds whose latency HubSpot's portal median is known for (calls.engagement_latency_ms, caller_id_latency_ms).
REPLY_KIND = {"CREATE_ENGAGEMENT_SUCCEEDED": "engagement", "CREATE_ENGAGEMENT_FAILED": "engagement",
              "ENGAGEMENT_CREATED": "engagement", "CALLER_ID_MATCH_SUCCEEDED": "caller_id",
              "CALLER_ID_MATCH_FAILED": "caller_id"}
# `call_messages.tied_by` of a blank-id message that belongs to no call and landed beside this one: shown with the
# call as context (in_call false), never as one of its messages (ingest/derive/messages.py).
ORPHAN = "orphan"
START_TYPES = tuple(sdk.CALL_START_TYPES)  # INCOMING_CALL, OUTGOING_CALL_STARTED
# The user's availability as the app reports it (CallingExtensions.userAvailable / userUnavailable); ingest.sdk has
# no set of these, so they are named here.
AVAILABILITY_TYPES = ("USER_AVAILABLE", "USER_UNAVAILABLE")
REQUEST_TYPES = frozenset(t for requests in REPLIES.values() for t in requests)


@dataclass(frozen=True)
class Message:
    index: int
    ts_ms: int
    direction: str  # to_hubspot | from_hubspot | capture
    instance: str | None
    tab: str | None
    type: str
    known_type: bool
    message_id: str | None
    external_call_id: str | None
    engagement_id: int | None
    call_end_status: str | None
    error_message: str | None
    error_type: str | None
    caller_id_matches: int | None
    url: str | None
    app: str | None
    sdk_version: str | None
    redacted: bool
    message: dict[str, Any]
    in_call: bool          # tied to this call by call_messages (else context from its instances)
    tied_by: str | None
    event_key: bytes

    @property
    def failed(self) -> bool:
        return self.type == "ERROR" or self.type.endswith("_FAILED")

    @property
    def data(self) -> dict[str, Any]:
        data = self.message.get("data")
        return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Instance:
    instance: str
    role: str  # call (sent or got the call's messages) | handover (its SYNC carries the engagementId) | replacement
    tab: str | None
    iframe_location: str | None
    uses_calling_window: bool | None
    portal_id: int | None
    sdk_version: str | None
    handshake_done: bool
    started_ms: int
    last_message_ms: int | None
    unloaded_ms: int | None
    replaced_ms: int | None
    went_away_ms: int | None
    sync_engagement_id: int | None


@dataclass(frozen=True)
class Pair:
    request: int  # message indexes
    reply: int
    latency_ms: int
    kind: str | None  # engagement | caller_id | None


@dataclass
class CallTrace:
    call_id: str
    call: dict[str, Any]                     # the `calls` row, times as epoch ms (`*_ms`)
    messages: list[Message]
    instances: list[Instance]
    portal_median_ms: dict[str, float] = field(default_factory=dict)  # reply kind -> the portal's median

    @property
    def call_messages(self) -> list[Message]:
        return [m for m in self.messages if m.in_call]

    @property
    def first_ring_ms(self) -> int:
        """When the call started (its first INCOMING_CALL / OUTGOING_CALL_STARTED, else its first message)."""
        starts = [m.ts_ms for m in self.messages if m.in_call and m.type in START_TYPES]
        own = [m.ts_ms for m in self.messages if m.in_call]
        return min(starts or own or [m.ts_ms for m in self.messages] or [0])

    @property
    def direction(self) -> str:
        return self.call.get("direction") or "unknown"

    def of_type(self, *types: str, in_call: bool | None = True) -> list[Message]:
        return [m for m in self.messages if m.type in types and (in_call is None or m.in_call == in_call)]

    def instance(self, instance_id: str | None) -> Instance | None:
        return next((i for i in self.instances if i.instance == instance_id), None)

    def rel_ms(self, ts_ms: int) -> int:
        return ts_ms - self.first_ring_ms


def pair_replies(messages: list[Message]) -> list[Pair]:
    """Each reply paired with the latest request before it, in the same instance, that no reply of its family
    answered yet (an INCOMING_CALL gets one engagement reply and one caller-ID reply); SYNC_ACK by messageId."""
    pairs: list[Pair] = []
    requests: dict[tuple[str | None, str], list[Message]] = {}
    answered: set[tuple[int, str]] = set()
    syncs: dict[str, Message] = {}
    for m in messages:
        if m.type == "SYNC" and m.message_id:
            syncs.setdefault(m.message_id, m)
        elif m.type == "SYNC_ACK" and m.message_id in syncs:
            sync = syncs.pop(m.message_id)
            pairs.append(Pair(sync.index, m.index, m.ts_ms - sync.ts_ms, None))
        family = REPLY_KIND.get(m.type, m.type.rsplit("_", 1)[0])
        candidates = [r for t in REPLIES.get(m.type, ()) for r in requests.get((m.instance, t), ())]
        for request in sorted(candidates, key=lambda r: r.index, reverse=True):
            if (request.index, family) not in answered:
                answered.add((request.index, family))
                pairs.append(Pair(request.index, m.index, m.ts_ms - request.ts_ms, REPLY_KIND.get(m.type)))
                break
        if m.type in REQUEST_TYPES:
            requests.setdefault((m.instance, m.type), []).append(m)
    return pairs


def phases(trace: CallTrace) -> list[tuple[str, int, int]]:
    """Shaded spans of the call: (ringing | talking | wrap-up, start ms, end ms)."""
    ring = trace.first_ring_ms
    own = trace.call_messages
    if not own:
        return []
    first = {t: min((m.ts_ms for m in own if m.type == t), default=None) for t in
             ("CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED", "CALL_TRANSFERRED")}
    gone = trace.call.get("went_away_ms")
    last = max(m.ts_ms for m in own)
    answered, ended, completed = first["CALL_ANSWERED"], first["CALL_ENDED"], first["CALL_COMPLETED"]
    stop = ended or first["CALL_TRANSFERRED"] or completed or gone or last
    spans = []
    if trace.direction != "unknown":
        spans.append(("ringing", ring, answered if answered is not None and answered >= ring else stop))
    if answered is not None:
        spans.append(("talking", answered, stop))
    if ended is not None and completed is not None and completed >= ended:
        spans.append(("wrap-up", ended, completed))
    return [(name, a, b) for name, a, b in spans if b is not None and b >= a]


@dataclass(frozen=True)
class CallState:
    """The call as the app and HubSpot know it right after one message."""
    phase: str              # before the call | ringing | answered | ended | completed | transferred | lost
    engagement: str         # not requested | pending | <engagementId> | failed (<HubSpot's message>)
    caller_id: str          # not asked | pending | N matches | no match | failed (<message>)
    holder: str | None      # the instance holding the call (the answering one, else the first that rang)
    ringing: tuple[str, ...]  # instances the call rang in so far
    available: str          # the user's availability in the ringing instance when it rang


def states(trace: CallTrace) -> list[CallState]:
    """The call's state after each message, in one pass over the trace."""
    phase, engagement, caller_id, available = "before the call", "not requested", "not asked", "unknown"
    holder: str | None = None
    ringing: list[str] = []
    availability: dict[str | None, str] = {}
    out: list[CallState] = []
    for m in trace.messages:
        if m.type in AVAILABILITY_TYPES:
            availability[m.instance] = "available" if m.type == "USER_AVAILABLE" else "unavailable"
        elif m.type == "INITIALIZED" and isinstance(m.data.get("isAvailable"), bool):
            availability[m.instance] = "available" if m.data["isAvailable"] else "unavailable"
        if m.in_call:
            phase, engagement, caller_id = _step(m, phase, engagement, caller_id)
            if m.type in START_TYPES:
                if m.instance not in ringing:
                    ringing.append(m.instance)
                if holder is None:
                    holder, available = m.instance, availability.get(m.instance, "unknown")
            elif m.type == "CALL_ANSWERED":
                holder = m.instance
        elif phase == "answered" and m.type == "SYNC":
            inst, held = trace.instance(m.instance), trace.instance(holder)
            if str(m.message.get("engagementId")) == engagement:
                holder = m.instance  # HubSpot handed the call in progress to a reloaded iframe
            elif inst and held and inst.role == "replacement" and inst.tab == held.tab:
                phase = "lost"       # a new iframe in the holder's place: the page navigated
        elif phase == "answered" and m.type == "PAGEHIDE" and m.instance == holder:
            phase = "lost"
        out.append(CallState(phase, engagement, caller_id, holder, tuple(ringing), available))
    return out


def _step(m: Message, phase: str, engagement: str, caller_id: str) -> tuple[str, str, str]:
    if m.type in START_TYPES:
        phase = "ringing" if phase == "before the call" else phase
        if m.data.get("createEngagement") in (True, "true") and engagement == "not requested":
            engagement = "pending"
        if m.type == "INCOMING_CALL" and caller_id == "not asked":
            caller_id = "pending"
    elif m.type == "CALL_ANSWERED" and phase in ("before the call", "ringing"):
        phase = "answered"
    elif m.type == "CALL_ENDED" and phase != "completed":
        phase = "ended"
    elif m.type == "CALL_COMPLETED":
        phase = "completed"
    elif m.type == "CALL_TRANSFERRED":
        phase = "transferred"
    elif m.type in ("CREATE_ENGAGEMENT_SUCCEEDED", "ENGAGEMENT_CREATED") and m.engagement_id:
        engagement = str(m.engagement_id)
    elif m.type == "CREATE_ENGAGEMENT_FAILED":
        engagement = "failed" + (f" ({m.error_message})" if m.error_message else "")
    elif m.type == "CALLER_ID_MATCH_SUCCEEDED":
        n = m.caller_id_matches or 0
        caller_id = plural(n, "match", "matches") if n else "no match"
    elif m.type == "CALLER_ID_MATCH_FAILED":
        caller_id = "failed" + (f" ({m.error_message})" if m.error_message else "")
    return phase, engagement, caller_id


def lane_label(inst: Instance | None) -> str | None:
    """`tab-4f9c2a · remote`: the tab and iframe location an instance lived in."""
    if inst is None:
        return None
    return f"{inst.tab or 'no tab'} · {inst.iframe_location or 'location unknown'}"
