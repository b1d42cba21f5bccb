"""What went wrong with one call, in plain words: small named rules over a `CallTrace`, most severe first.

Each rule is a function `(call: CallTrace) -> list[Finding]` whose docstring states the rule and the SDK fact it
rests on: the source of @hubspot/calling-extensions-sdk 0.9.7 (src/CallingExtensions.ts, src/IFrameManager.ts,
src/Constants.ts) or HubSpot's calling SDK docs (CALLING_SDK_DOCS). A finding names the messages it rests on by
trace index; the first is where the page jumps. A healthy call gets no findings.
"""

from __future__ import annotations

from analytics.format import duration, offset, plural
from analytics.replay import outcome_rules
from analytics.replay.finding import Finding
from analytics.replay.finding import quote as _quote
from analytics.replay.finding import ref as _ref
from analytics.replay.trace import AVAILABILITY_TYPES, START_TYPES, CallTrace, Message, lane_label, pair_replies
from ingest import sdk

CALLING_SDK_DOCS = "https://developers.hubspot.com/docs/api-reference/crm-calling-extensions-v3/calling-sdk"

SEVERITIES = ("critical", "error", "warning", "info")
# A HubSpot reply is slow when it took this many times the portal's median, and at least this much longer.
SLOW_FACTOR = 4.0
SLOW_MIN_EXTRA_MS = 1_500
# Messages that name the call's engagement: without an engagementId they cannot update HubSpot's call record.
NEEDS_ENGAGEMENT = ("CALL_ENDED", "CALL_COMPLETED", "FINALIZE_ENGAGEMENT", "PUBLISH_TO_CHANNEL")
# *_FAILED replies that have their own rule.
FAILURES_WITH_A_RULE = ("CREATE_ENGAGEMENT_FAILED", "UPDATE_ENGAGEMENT_FAILED", "CALLER_ID_MATCH_FAILED")


def call_dropped(call: CallTrace) -> list[Finding]:
    """The call never ended (no CALL_ENDED, CALL_COMPLETED or CALL_TRANSFERRED) and the instance carrying it went
    away (calls.py `dropped`): a HubSpot page navigation unloads the calling iframe, and the call with it, unless
    the call lives in the calling window (SDK issue #21; inbound-calling guide "Prevent dropped calls"). A SYNC
    handing the re-mounted iframe the call's engagementId, echoed back in INITIALIZED, does not resume it: the
    guide's own code passes the whole onReady payload to initialized()."""
    if call.call.get("outcome") != "dropped":
        return []
    own = [m for m in call.call_messages if m.direction == "to_hubspot"]
    last = own[-1] if own else call.call_messages[-1]
    carrier = call.instance(last.instance)
    gone_at = call.call.get("went_away_ms") or (carrier.went_away_ms if carrier else None)
    marks = [m for m in call.messages if not m.in_call and m.ts_ms >= last.ts_ms and (
        (m.type == "PAGEHIDE" and m.instance == last.instance)
        or (m.type == "SYNC" and (inst := call.instance(m.instance)) and inst.role in ("replacement", "handover")))]
    how = ("its page unloaded (PAGEHIDE)" if carrier and carrier.unloaded_ms and carrier.unloaded_ms == gone_at
           else "a new iframe loaded in its place in the same tab")
    where = lane_label(carrier) or "its instance"
    state = "answered" if call.call.get("answered") else "ringing"
    handed = [m for m in marks if m.type == "SYNC" and call.instance(m.instance).role == "handover"]
    detail = (f"The call was {state} in {where} and that iframe went away at "
              f"{offset(call.rel_ms(gone_at)) if gone_at else 'an unknown time'}: {how}. No CALL_ENDED, "
              f"CALL_COMPLETED or CALL_TRANSFERRED followed, so the call was lost, most likely by a HubSpot page "
              f"navigation while it was not held in the calling window.")
    if handed:
        detail += (f" HubSpot handed the call to the reloaded iframe ({_ref(call, handed[0])} carries its "
                   f"engagementId), but the app never resumed it there.")
        echo = [m for m in call.messages if m.type == "INITIALIZED" and m.instance == handed[0].instance
                and m.data.get("engagementId") == handed[0].engagement_id]
        if echo:
            detail += (f" Its {_ref(call, echo[0])} echoed the engagementId, which proves nothing: the app sent no "
                       f"call message after it.")
    advice = ("Hold calls in HubSpot's calling window (usesCallingWindow: true) so navigating does not unload them. "
              "When a reloaded iframe gets a SYNC carrying an engagementId (onReady engagementId), restore that call "
              "and keep sending its messages, ending it with CALL_ENDED.")
    indexes = tuple([m.index for m in marks] + [last.index])
    return [Finding("critical", "call_dropped", "The call dropped: its iframe went away mid-call", detail, advice,
                    indexes)]


def engagement_creation_failed(call: CallTrace) -> list[Finding]:
    """HubSpot answered the call's start with CREATE_ENGAGEMENT_FAILED {error: {message}}: the app gets no
    engagementId, so CALL_ENDED / CALL_COMPLETED that follow carry none (or 0) and the call is not logged
    (src/Constants.ts `messageHandlerNames`: CREATE_ENGAGEMENT_FAILED runs onCreateEngagementFailed, and
    `CallingExtensions.onMessageHandler` runs onFailed for every *_FAILED; CALLING_SDK_DOCS#events)."""
    failures = call.of_type("CREATE_ENGAGEMENT_FAILED")
    if not failures:
        return []
    created = call.of_type("CREATE_ENGAGEMENT_SUCCEEDED", "ENGAGEMENT_CREATED")
    first = failures[0]
    lacking = [m for m in call.call_messages if m.index > first.index and m.type in NEEDS_ENGAGEMENT
               and m.direction == "to_hubspot" and not m.engagement_id]
    detail = f"HubSpot answered {_ref(call, first)}: {_quote(first.error_message)}."
    if lacking:
        detail += (" Later messages went without an engagementId: "
                   + ", ".join(_ref(call, m) for m in lacking) + ".")
    if created:
        detail += f" Another instance did get an engagement ({_ref(call, created[0])})."
    advice = ("Handle onCreateEngagementFailed: tell the user this call will not be logged in HubSpot and fix the "
              "cause HubSpot names (permissions, limits, a 429/5xx means retry later). Do not send CALL_ENDED or "
              "CALL_COMPLETED with a missing or 0 engagementId; they cannot update a call record.")
    return [Finding("warning" if created else "error", "engagement_creation_failed",
                    "HubSpot could not create the call's engagement", detail, advice,
                    tuple(m.index for m in failures + lacking))]


def engagement_update_failed(call: CallTrace) -> list[Finding]:
    """HubSpot answered CALL_COMPLETED with UPDATE_ENGAGEMENT_FAILED {error: {message}}: the call's
    engagementProperties (status, duration, notes) were not saved (SDK 0.2.0 HubSpot-owned engagements)."""
    failures = call.of_type("UPDATE_ENGAGEMENT_FAILED")
    if not failures:
        return []
    completed = call.of_type("CALL_COMPLETED")
    detail = f"HubSpot answered {_ref(call, failures[0])}: {_quote(failures[0].error_message)}."
    if completed and not completed[-1].engagement_id:
        detail += f" {_ref(call, completed[-1])} carried no engagementId."
    advice = ("Send CALL_COMPLETED with the engagementId HubSpot created and valid engagementProperties "
              "(hs_timestamp is required); on onUpdateEngagementFailed, retry or tell the user the log is incomplete.")
    return [Finding("error", "engagement_update_failed", "HubSpot did not save the call's outcome", detail, advice,
                    tuple(m.index for m in failures + completed[-1:]))]


def never_completed(call: CallTrace) -> list[Finding]:
    """An engagement was created and the call ended, but the app never sent CALL_COMPLETED: the engagement is
    left without its outcome, a "ghost call log" (SDK issue #46)."""
    created = call.of_type("CREATE_ENGAGEMENT_SUCCEEDED", "ENGAGEMENT_CREATED")
    ended = call.of_type("CALL_ENDED")
    if not created or not ended or call.of_type("CALL_COMPLETED"):
        return []
    detail = (f"The call ended ({_ref(call, ended[0])}) and HubSpot had created engagement "
              f"{created[0].engagement_id}, but no CALL_COMPLETED followed, so its status, duration and notes "
              f"never reached HubSpot.")
    advice = "Send CALL_COMPLETED with the engagementId and engagementProperties after every call, missed ones too."
    return [Finding("warning", "never_completed", "The call was never completed in HubSpot", detail, advice,
                    (ended[0].index, created[0].index))]


def caller_id_not_matched(call: CallTrace) -> list[Finding]:
    """HubSpot answers INCOMING_CALL with CALLER_ID_MATCH_SUCCEEDED {callerIdMatches} (possibly empty) or
    CALLER_ID_MATCH_FAILED {error: {message}} (SDK 0.3.0 inbound calling)."""
    replies = call.of_type("CALLER_ID_MATCH_SUCCEEDED", "CALLER_ID_MATCH_FAILED")
    if not replies or any(m.type == "CALLER_ID_MATCH_SUCCEEDED" and m.caller_id_matches for m in replies):
        return []
    failed = [m for m in replies if m.type == "CALLER_ID_MATCH_FAILED"]
    if failed:
        return [Finding("warning", "caller_id_failed", "HubSpot's caller-ID lookup failed",
                        f"HubSpot answered {_ref(call, failed[0])}: {_quote(failed[0].error_message)}. The user saw "
                        f"no contact or company for the caller.",
                        "Show the number anyway and let the user pick the record; do not wait on the match to show "
                        "the call.", tuple(m.index for m in failed))]
    return [Finding("info", "caller_id_no_match", "The caller matched no contact or company",
                    f"HubSpot's lookup succeeded with no matches ({_ref(call, replies[0])}).",
                    "Offer to create a contact, or let the user search for the record.",
                    tuple(m.index for m in replies))]


def navigated_without_match(call: CallTrace) -> list[Finding]:
    """NAVIGATE_TO_RECORD opens a record by objectCoordinates, which for an inbound call come from a caller-ID
    match (the SDK demos navigate to the first match); sent without one, it points at no matched record."""
    if call.direction != "inbound":
        return []
    findings = []
    for nav in call.of_type("NAVIGATE_TO_RECORD"):
        matched = [m for m in call.of_type("CALLER_ID_MATCH_SUCCEEDED")
                   if m.index < nav.index and m.caller_id_matches]
        if not matched:
            findings.append(Finding(
                "warning", "navigated_without_match", "NAVIGATE_TO_RECORD sent without a caller-ID match",
                f"The app asked HubSpot to open a record ({_ref(call, nav)}) before any CALLER_ID_MATCH_SUCCEEDED "
                f"with a match, so the record it opens was not found for this caller.",
                "Send NAVIGATE_TO_RECORD only with objectCoordinates from a callerIdMatches entry, after the match.",
                (nav.index,)))
    return findings[:1]


def simultaneous_ringing(call: CallTrace) -> list[Finding]:
    """The call started in more than one SDK instance: with usesCallingWindow false, INCOMING_CALL fires in every
    open tab (SDK PR #256), each getting its own replies; only one should answer."""
    starts = call.of_type(*START_TYPES)
    instances = list(dict.fromkeys(m.instance for m in starts))
    if len(instances) < 2:
        return []
    tabs = {m.tab for m in starts}
    answering = {m.instance for m in call.of_type("CALL_ANSWERED")}
    engagements = {m.engagement_id for m in call.of_type("CREATE_ENGAGEMENT_SUCCEEDED", "ENGAGEMENT_CREATED")}
    where = ", ".join(lane_label(call.instance(i)) or str(i) for i in instances)
    detail = f"The call rang in {len(instances)} instances in {plural(len(tabs), 'tab')}: {where}."
    severity = "info"
    if len(answering) > 1:
        detail += f" {len(answering)} of them sent CALL_ANSWERED."
        severity = "warning"
    if len(engagements) > 1:
        detail += f" HubSpot created {len(engagements)} different engagements for it: duplicate call logs."
        severity = "warning"
    advice = ("Expected when several HubSpot tabs are open and the app does not use the calling window. Answer in "
              "one tab only and end the call in the others (CALL_ENDED), or hold calls in the calling window.")
    return [Finding(severity, "simultaneous_ringing", "The call rang in several tabs at once", detail, advice,
                    tuple(m.index for m in starts))]


def answered_before_ring(call: CallTrace) -> list[Finding]:
    """An app answers (CALL_ANSWERED) only a call it started with INCOMING_CALL / OUTGOING_CALL_STARTED: the SDK's
    call lifecycle is start → answer → end → complete (`incomingCall` / `outgoingCall`, `callAnswered`,
    `callEnded`, `callCompleted` in src/CallingExtensions.ts; CALLING_SDK_DOCS#events)."""
    starts = call.of_type(*START_TYPES)
    early = [m for m in call.of_type("CALL_ANSWERED") if not starts or m.index < starts[0].index]
    if not early:
        return []
    what = (f"before {_ref(call, starts[0])}" if starts
            else "but the call never started (no INCOMING_CALL or OUTGOING_CALL_STARTED)")
    return [Finding("warning", "answered_before_ring", "CALL_ANSWERED came before the call started",
                    f"The app sent {_ref(call, early[0])} {what}.",
                    "Send INCOMING_CALL / OUTGOING_CALL_STARTED first, with the same externalCallId.",
                    tuple(m.index for m in early + starts[:1]))]


def ended_without_start(call: CallTrace) -> list[Finding]:
    """CALL_ENDED ends a call HubSpot heard start: without INCOMING_CALL / OUTGOING_CALL_STARTED for this
    externalCallId HubSpot has no call (and no engagement) to end."""
    ended = call.of_type("CALL_ENDED")
    if not ended or call.of_type(*START_TYPES):
        return []
    return [Finding("warning", "ended_without_start", "CALL_ENDED for a call that never started",
                    f"The app sent {_ref(call, ended[0])} but no INCOMING_CALL or OUTGOING_CALL_STARTED with this "
                    f"externalCallId was captured (or the capture began mid-call).",
                    "Start every call with INCOMING_CALL / OUTGOING_CALL_STARTED and reuse its externalCallId.",
                    (ended[0].index,))]


def completed_before_ended(call: CallTrace) -> list[Finding]:
    """CALL_COMPLETED (log the call) follows CALL_ENDED (hang up) in the SDK's call lifecycle (`callEnded`, then
    `callCompleted` in src/CallingExtensions.ts; CALLING_SDK_DOCS#events)."""
    completed = call.of_type("CALL_COMPLETED")
    if not completed:
        return []
    ended = call.of_type("CALL_ENDED", "CALL_TRANSFERRED")
    if ended and ended[0].index < completed[0].index:
        return []
    what = f"before {_ref(call, ended[0])}" if ended else "with no CALL_ENDED at all"
    return [Finding("warning", "completed_before_ended", "CALL_COMPLETED came before CALL_ENDED",
                    f"The app sent {_ref(call, completed[0])} {what}.",
                    "Send CALL_ENDED when the call hangs up, then CALL_COMPLETED to log it.",
                    tuple(m.index for m in completed[:1] + ended[:1]))]


def repeated_start(call: CallTrace) -> list[Finding]:
    """One call starts once per instance: a second INCOMING_CALL / OUTGOING_CALL_STARTED with the same
    externalCallId in the same instance makes HubSpot start (and create an engagement for) it again."""
    seen: dict[tuple[str | None, str], Message] = {}
    repeats = []
    for m in call.of_type(*START_TYPES):
        if (m.instance, m.type) in seen:
            repeats.append((seen[(m.instance, m.type)], m))
        seen.setdefault((m.instance, m.type), m)
    if not repeats:
        return []
    first, again = repeats[0]
    return [Finding("warning", "repeated_start", f"A second {again.type} for the same call",
                    f"{_ref(call, again)} repeats {_ref(call, first)} in the same instance.",
                    "Send the start of a call once; use a new externalCallId for a new call.",
                    (again.index, first.index))]


def sent_before_handshake(call: CallTrace) -> list[Finding]:
    """Until the SDK has answered HubSpot's SYNC with SYNC_ACK, IFrameManager.sendMessage drops every app message
    with the warning "iFrame not initialized to send a message within HubSpot" (SDK issue #153)."""
    early = []
    for inst in call.instances:
        own = [m for m in call.messages if m.instance == inst.instance]
        ack = next((m.index for m in own if m.type == "SYNC_ACK"), None)
        early += [m for m in own if m.direction == "to_hubspot" and m.type != "SYNC_ACK"
                  and (ack is None or m.index < ack)]
    if not early:
        return []
    lost = [m for m in early if m.in_call]
    detail = ("The app sent " + ", ".join(_ref(call, m) for m in early[:5])
              + (f" and {len(early) - 5} more" if len(early) > 5 else "")
              + " before its SDK instance had acknowledged HubSpot's SYNC; the SDK dropped them, so HubSpot never "
                "got them.")
    return [Finding("error" if lost else "warning", "sent_before_handshake", "Messages sent before the SDK was ready",
                    detail, "Wait for onReady (the SYNC handshake) before sending anything, including INITIALIZED.",
                    tuple(m.index for m in early))]


def unavailable_when_rang(call: CallTrace) -> list[Finding]:
    """An inbound call arrived in an instance whose user had said USER_UNAVAILABLE (or INITIALIZED
    isAvailable: false) and not USER_AVAILABLE since: availability is what HubSpot routes inbound calls by."""
    findings = []
    for ring in call.of_type("INCOMING_CALL"):
        said = [m for m in call.messages if m.instance == ring.instance and m.index < ring.index and (
            m.type in AVAILABILITY_TYPES or (m.type == "INITIALIZED" and isinstance(m.data.get("isAvailable"), bool)))]
        if said and (said[-1].type == "USER_UNAVAILABLE"
                     or (said[-1].type == "INITIALIZED" and said[-1].data["isAvailable"] is False)):
            findings.append(Finding(
                "warning", "unavailable_when_rang", "The user was unavailable when the call arrived",
                f"{_ref(call, ring)} arrived after the user had gone unavailable ({_ref(call, said[-1])}).",
                "Do not ring a user who is unavailable, or send USER_AVAILABLE as soon as they take calls again.",
                (ring.index, said[-1].index)))
    return findings[:1]


def sdk_errors(call: CallTrace) -> list[Finding]:
    """ERROR messages: the SDK's own reply {type: UNKNOWN_MESSAGE_TYPE, data: {originalMessage}} to a HubSpot type
    it does not know (no handler runs), or an error the app reports with sendError {message}, which HubSpot shows
    the user in an alert."""
    findings = []
    errors = call.of_type("ERROR", in_call=None)
    unknown = [m for m in errors if m.error_type == sdk.UNKNOWN_MESSAGE_TYPE_ERROR]
    if unknown:
        original = unknown[0].error_message or "a message type"
        kind = original.removeprefix("unknown message type ")
        retired = sdk.RETIRED_TYPES.get(kind)
        why = (f"{kind} was removed from the SDK in {retired}; HubSpot still sends it, so this is noise."
               if retired else f"{kind} is newer than the app's SDK, so its handler never ran.")
        findings.append(Finding(
            "info" if retired else "warning", "sdk_unknown_message_type",
            "The SDK answered ERROR UNKNOWN_MESSAGE_TYPE",
            f"The app's SDK did not know HubSpot's {kind} and answered {_ref(call, unknown[0])}. {why}",
            "Nothing to do." if retired else "Upgrade @hubspot/calling-extensions-sdk, or handle it in "
                                             "defaultEventHandler.", tuple(m.index for m in unknown)))
    reported = [m for m in errors if m.error_type != sdk.UNKNOWN_MESSAGE_TYPE_ERROR]
    if reported:
        m = reported[0]
        who = "The app reported" if m.direction == "to_hubspot" else "HubSpot sent"
        findings.append(Finding(
            "warning", "error_reported", f"{who} an ERROR",
            f"{who} {_ref(call, m)}: {_quote(m.error_message)}."
            + (" HubSpot shows this message to the user in an alert." if m.direction == "to_hubspot" else ""),
            "Fix the cause in the calling app; the message above is what the user saw.",
            tuple(x.index for x in reported)))
    return findings


def other_failed_replies(call: CallTrace) -> list[Finding]:
    """HubSpot's other *_FAILED replies {error: {message}} (NAVIGATE_TO_RECORD_FAILED, FINALIZE_ENGAGEMENT_FAILED,
    PUBLISH_TO_CHANNEL_FAILED, …): each fires onFailed and its own handler in the SDK (CallingExtensions.ts)."""
    failed = [m for m in call.messages if m.direction == "from_hubspot" and m.type.endswith("_FAILED")
              and m.type not in FAILURES_WITH_A_RULE]
    return [Finding("warning", "hubspot_failed_reply", f"HubSpot answered {m.type}",
                    f"{_ref(call, m)}: {_quote(m.error_message)}.",
                    "Handle it in onFailed (or its own handler) and tell the user what did not happen.", (m.index,))
            for m in failed[:3]]


def unknown_message_types(call: CallTrace) -> list[Finding]:
    """The app sent a type that SDK 0.9.7's messageType does not define: HubSpot has no handler for it."""
    unknown = [m for m in call.messages if not m.known_type and m.direction == "to_hubspot"]
    if not unknown:
        return []
    return [Finding("info", "unknown_message_type", f"The app sent {unknown[0].type}, which the SDK does not define",
                    f"{_ref(call, unknown[0])} is not one of the SDK's message types.",
                    "Use the SDK's methods (callAnswered, callEnded, …) rather than sendMessage with custom types.",
                    tuple(m.index for m in unknown))]


def slow_replies(call: CallTrace) -> list[Finding]:
    """HubSpot's reply to the call's start (engagement, caller ID) took far longer than the portal's median for the
    same reply: more than SLOW_FACTOR times it, and SLOW_MIN_EXTRA_MS more (replies pair by order within the
    instance: trace.pair_replies, REPLIES)."""
    findings = []
    by_index = {m.index: m for m in call.messages}
    for pair in pair_replies(call.messages):
        median = call.portal_median_ms.get(pair.kind or "")
        reply, request = by_index[pair.reply], by_index[pair.request]
        if not median or not reply.in_call:
            continue
        if pair.latency_ms > SLOW_FACTOR * median and pair.latency_ms > median + SLOW_MIN_EXTRA_MS:
            findings.append(Finding(
                "warning", "slow_reply", f"HubSpot was slow to answer with {reply.type}",
                f"{_ref(call, reply)} came {duration(pair.latency_ms)} after {request.type} #{request.index + 1}, "
                f"{pair.latency_ms / median:.0f}× this portal's median ({duration(median)}).",
                "Do not block the call on HubSpot's reply: show the call first and fill in the contact or the "
                "engagement when it arrives.", (reply.index, request.index)))
    return findings


RULES = (
    call_dropped, *outcome_rules.RULES, engagement_creation_failed, engagement_update_failed, never_completed,
    caller_id_not_matched, navigated_without_match, simultaneous_ringing, answered_before_ring, ended_without_start,
    completed_before_ended, repeated_start, sent_before_handshake, unavailable_when_rang, sdk_errors,
    other_failed_replies, unknown_message_types, slow_replies,
)


def diagnose(call: CallTrace) -> list[Finding]:
    """Every rule's findings, most severe first, then in message order. A blank-id message shown with the call but
    not part of it (an orphan) is context to every rule."""
    findings = [f for rule in RULES for f in rule(call)]
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), min(f.message_indexes, default=0)))
