"""Plans into capture-format-v1 records: the SDK messages a session's plan puts on the wire, in time order.

Message types and payload fields are those of @hubspot/calling-extensions-sdk 0.9.7: the types in
`src/Constants.ts` (listed in `ingest.sdk`), the payloads in `src/types.ts` and in HubSpot's Calling SDK docs
(developers.hubspot.com/docs/api-reference/latest/crm/extensions/calling-extensions/calling-sdk, "Events"), the
handshake and message ids in `src/IFrameManager.ts`. Lags and ids are drawn from the session's random source.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from ingest import sdk
from ingest.demo.plan import list_sessions, plan_session, session_rng, working_hours
from ingest.demo.world import (
    APP_ERRORS,
    CALLER_ID_ERRORS,
    DAY_MS,
    HOST_URL,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    AppProfile,
    CallPlan,
    Company,
    Contact,
    Period,
    Portal,
    SessionPlan,
    build_world,
)

TO_HUBSPOT, FROM_HUBSPOT, CAPTURE = "to_hubspot", "from_hubspot", "capture"  # record.direction


@dataclass(slots=True, eq=False)
class SdkInstance:
    """One SDK instance: one load of the app's iframe. IFrameManager's constructor sets instanceId = Date.now()."""

    created_ms: int  # instanceId
    instance_id: str  # the same, as the capture script records it
    host_created_ms: int  # instanceId of HubSpot's own IFrameManager on the page around the iframe
    tab_id: str
    url: str | None  # the HubSpot page
    app_name: str
    sdk_version: str
    unloaded_ms: int
    ready_ms: int = 1 << 62  # when it sent SYNC_ACK (IFrameManager.isReady); far in the future until then


@dataclass(slots=True)
class TabHistory:
    loaded_ms: list[int]  # when each page load began
    instances: list[SdkInstance]

    def instance_at(self, at_ms: int) -> SdkInstance | None:
        index = bisect_right(self.loaded_ms, at_ms) - 1
        return self.instances[index] if index >= 0 else None


class Outbox:
    """Messages not yet written, in a heap ordered by ts, then by the order they were sent; written as records."""

    def __init__(self, end_ms: int, event_id_prefix: str):
        self.end_ms = end_ms
        self._heap: list[tuple[int, int, SdkInstance, str, dict]] = []
        self._sent = self._written = 0
        self._event_id_prefix = event_id_prefix  # event_id: this and 12 hex digits, the record's number

    def put(self, instance: SdkInstance, ts: int, direction: str, message: dict, *,
            handshake: bool = False) -> dict | None:
        """Queue a message unless it falls after the demo's end or its instance's unload; return it if queued."""
        if ts > self.end_ms or ts > instance.unloaded_ms:
            return None
        # IFrameManager.sendMessage drops an app's messages until SYNC is acknowledged; HubSpot sends none before.
        if not handshake and (ts <= instance.ready_ms or ts == instance.unloaded_ms):
            return None
        self._sent += 1
        heapq.heappush(self._heap, (ts, self._sent, instance, direction, message))
        return message

    def from_app(self, instance: SdkInstance | None, ts: int, message_type: str,
                 data: dict | None = None) -> dict | None:
        if instance is None:
            return None
        # IFrameManager.createMessageId: `${instanceId}_${Date.now()}`. userAvailable, userUnavailable and
        # userLoggedIn (src/CallingExtensions.ts) send no data key at all.
        message_id = f"{instance.instance_id}_{ts}"
        message = ({"type": message_type, "messageId": message_id} if data is None else
                   {"type": message_type, "data": data, "messageId": message_id})
        return self.put(instance, ts, TO_HUBSPOT, message)

    def from_hubspot(self, instance: SdkInstance | None, ts: int, message_type: str, data: dict) -> dict | None:
        if instance is None:
            return None
        return self.put(instance, ts, FROM_HUBSPOT, {"type": message_type, "data": data,
                                                     "messageId": _hubspot_message_id(instance, ts)})

    def records_before(self, ts: int) -> Iterator[dict]:
        """The queued messages sent before ts, as capture-format-v1 records."""
        heap = self._heap
        while heap and heap[0][0] < ts:
            message_ts, _, instance, direction, message = heapq.heappop(heap)
            self._written += 1
            record = {"ts": message_ts, "direction": direction, "instance": instance.instance_id,
                      "tab": instance.tab_id, "app": instance.app_name, "sdk_version": instance.sdk_version}
            if instance.url is not None:
                record["url"] = instance.url
            record["event_id"] = f"{self._event_id_prefix}{self._written:012x}"
            record["message"] = message
            yield record


def _hubspot_message_id(instance: SdkInstance, ts: int) -> str:
    # HubSpot's messages are new ones, prefixed with HubSpot's own instanceId: IFrameManager.onMessage takes a
    # messageId that starts with the app's instanceId for a reply to the app.
    return f"{instance.host_created_ms}_{ts - (ts & 1)}"


def generate_records(days: int = 30, calls: int = 4000, seed: int = 7, end_ms: int | None = None) -> Iterator[dict]:
    """Yield capture-format-v1 records (dicts), sorted by ts ascending; the demo ends at end_ms (default: now)."""
    if end_ms is None:
        end_ms = int(time.time()) // 60 * MINUTE_MS
    digest = hashlib.blake2b(f"{seed}|{days}|{calls}|{end_ms}".encode(), digest_size=10).hexdigest()
    outbox = Outbox(end_ms, event_id_prefix=f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-")
    return _records(build_world(seed, days, calls), Period(end_ms - days * DAY_MS, end_ms), outbox, seed=seed,
                    calls=calls)


def _records(portals: list[Portal], period: Period, outbox: Outbox, *, seed: int, calls: int) -> Iterator[dict]:
    """Sessions in start order: one sends nothing before its start, so all messages before that are final."""
    slots = list_sessions(portals, period, seed)
    total_weight = sum(slot.call_weight_in_period for slot in slots) or 1.0
    call_numbers = itertools.count(1)
    for slot in slots:
        yield from outbox.records_before(slot.start_ms)
        portal = portals[slot.portal_index]
        rng = session_rng(seed, portal, slot.user_index, slot.day)
        start_ms, end_ms = working_hours(rng, portal.profile, slot.day)
        session = plan_session(rng, portal, portal.users[slot.user_index], start_ms=start_ms, end_ms=end_ms,
                               expected_calls=calls * slot.call_weight / total_weight, period=period,
                               call_numbers=call_numbers)
        emit_session(rng, outbox, session)
    yield from outbox.records_before(period.end_ms + 1)


def emit_session(rng: random.Random, outbox: Outbox, session: SessionPlan) -> None:
    tabs = _load_pages(rng, outbox, session)
    for call in session.calls:
        _emit_call(rng, outbox, session, call, tabs)
    main_tab = tabs[session.main_tab]
    for away in session.away:
        outbox.from_app(main_tab.instance_at(away.start_ms), away.start_ms, "USER_UNAVAILABLE")
        outbox.from_app(main_tab.instance_at(away.end_ms), away.end_ms, "USER_AVAILABLE")


def _load_pages(rng: random.Random, outbox: Outbox, session: SessionPlan) -> list[TabHistory]:
    """Each page load: an SDK instance, its handshake and setup, and capture's PAGEHIDE marker when it unloads."""
    profile, window_tab = session.portal.profile, session.calling_window_tab
    tabs = []
    for tab, page_loads in enumerate(session.page_loads):
        tab_id = f"tab-{rng.getrandbits(24):06x}"
        location = "window" if tab == window_tab else "remote" if session.uses_calling_window else \
            profile.iframe_location
        instances = []
        for index, load in enumerate(page_loads):
            unloaded_ms = (page_loads[index + 1].at_ms + rng.randint(15, 250) if index + 1 < len(page_loads)
                           else session.closed_ms + rng.randint(0, 5000))
            host_created_ms = load.at_ms + rng.randint(700, 2600)  # the HubSpot page loads, then the app's iframe
            created_ms = host_created_ms + rng.randint(300, 1800)
            instance = SdkInstance(created_ms=created_ms, instance_id=str(created_ms), host_created_ms=host_created_ms,
                                   tab_id=tab_id, url=load.url, app_name=profile.app_name,
                                   sdk_version=profile.sdk_version, unloaded_ms=unloaded_ms)
            instances.append(instance)
            _handshake(rng, outbox, session, instance, location=location,
                       restored_engagement_id=load.restored_engagement_id)
            _initialize(rng, outbox, session, instance, restored_engagement_id=load.restored_engagement_id,
                        first_load=index == 0 and tab == session.main_tab)
            _widget_events(rng, outbox, session.portal.app, instance, location=location)
            if rng.random() < .88 and unloaded_ms > instance.ready_ms:  # the pagehide event is sometimes lost
                outbox.put(instance, unloaded_ms, CAPTURE, {"type": "PAGEHIDE"}, handshake=True)
        tabs.append(TabHistory([load.at_ms for load in page_loads], instances))
    return tabs


def _handshake(rng: random.Random, outbox: Outbox, session: SessionPlan, instance: SdkInstance, *, location: str,
               restored_engagement_id: int | None) -> None:
    """SYNC, resent every 100 ms until acknowledged (IFrameManager.sendSync), then the app's SYNC_ACK."""
    portal, user = session.portal, session.user
    resent = 0 if rng.random() < .78 else 1 if rng.random() < .7 else 2  # resent: the app's SDK started late
    last_sync_ms = instance.created_ms + (rng.randint(4, 90) if resent else rng.randint(30, 400))
    sync = {"type": "SYNC", "hostUrl": HOST_URL, "portalId": portal.profile.portal_id, "userId": user.user_id,
            "ownerId": user.owner_id, "iframeLocation": location, "usesCallingWindow": session.uses_calling_window}
    if restored_engagement_id:
        sync["engagementId"] = restored_engagement_id  # onReady's engagementId: the page reloaded during this call
    last_sync = None
    for resends_left in range(resent, -1, -1):
        ts = last_sync_ms - 100 * resends_left - (rng.randint(0, 3) if resends_left else 0)
        last_sync = outbox.put(instance, ts, FROM_HUBSPOT, dict(sync, messageId=_hubspot_message_id(instance, ts)),
                               handshake=True)
    acknowledged_ms = last_sync_ms + rng.randint(1, 6)
    if last_sync:  # IFrameManager.onMessage: Object.assign({}, SYNC, {type, debugMode, version, iFrameUrl})
        outbox.put(instance, acknowledged_ms, TO_HUBSPOT, dict(
            last_sync, type="SYNC_ACK", debugMode=user.debug_mode, version=portal.profile.sdk_version,
            iFrameUrl=portal.app.iframe_origin), handshake=True)
    instance.ready_ms = acknowledged_ms


def _initialize(rng: random.Random, outbox: Outbox, session: SessionPlan, instance: SdkInstance, *,
                restored_engagement_id: int | None, first_load: bool) -> None:
    """INITIALIZED, LOGGED_IN when the app sends it, and USER_AVAILABLE unless the user is on a break."""
    app = session.portal.app
    at_ms = instance.ready_ms + rng.randint(3, 180)
    available = session.is_available(at_ms)
    signed_in = not (first_load and app.first_load_signed_out_rate
                     and rng.random() < app.first_load_signed_out_rate)
    data = {"isLoggedIn": signed_in, "isAvailable": available,
            "sizeInfo": {"height": app.widget_height_px, "width": app.widget_width_px}}
    if restored_engagement_id:
        data["engagementId"] = restored_engagement_id  # OnInitialized.engagementId (src/types.ts): the call goes on
    outbox.from_app(instance, at_ms, "INITIALIZED", data)
    if not signed_in or app.logs_in_on_load:
        at_ms += rng.randint(4 * SECOND_MS, 50 * SECOND_MS) if not signed_in else rng.randint(1, 40)
        outbox.from_app(instance, at_ms, "LOGGED_IN")
    if available:
        outbox.from_app(instance, at_ms + rng.randint(2, 120), "USER_AVAILABLE")


def _widget_events(rng: random.Random, outbox: Outbox, app: AppProfile, instance: SdkInstance, *,
                   location: str) -> None:
    """HubSpot minimizes or hides the widget now and then; rarely, the app resizes or reports an error."""
    ready_ms = instance.ready_ms
    life_ms = instance.unloaded_ms - ready_ms
    for _ in range(min(8, life_ms // HOUR_MS + 1)):
        if rng.random() < (.25 if location != "remote" else .12) and life_ms > 20 * SECOND_MS:
            at_ms = ready_ms + rng.randint(2 * SECOND_MS, life_ms - 2 * SECOND_MS)
            outbox.from_hubspot(instance, at_ms, "VISIBILITY_CHANGED",
                                {"isMinimized": location != "remote", "isHidden": location == "remote"})
            outbox.from_hubspot(instance, at_ms + rng.randint(5 * SECOND_MS, 10 * MINUTE_MS), "VISIBILITY_CHANGED",
                                {"isMinimized": False, "isHidden": False})
    if rng.random() < .004:
        outbox.from_app(instance, ready_ms + rng.randint(SECOND_MS, 20 * SECOND_MS), "RESIZE_WIDGET",
                        {"width": app.widget_width_px, "height": app.widget_height_px + 120})
    if rng.random() < .001 and life_ms > MINUTE_MS:
        outbox.from_app(instance, ready_ms + rng.randint(SECOND_MS, life_ms - SECOND_MS), "ERROR",
                        {"message": rng.choice(APP_ERRORS)})


def _emit_call(rng: random.Random, outbox: Outbox, session: SessionPlan, call: CallPlan,
               tabs: list[TabHistory]) -> None:
    """One call's messages, from whichever instances are loaded when each is sent; a navigation may cut it short."""
    started = _start_call(rng, outbox, session, call, tabs)
    if started is None:
        return
    main_tab, started_in = started
    external_call_id, app = call.external_call_id, session.portal.app

    def carrier(at_ms: int) -> SdkInstance | None:  # after a survived reload the new instance carries on the call
        return tabs[main_tab].instance_at(at_ms) if call.survives_navigation else started_in[main_tab]

    if call.transferred_ms is not None:
        outbox.from_app(started_in[main_tab], call.transferred_ms, "CALL_TRANSFERRED",
                        {"externalCallId": external_call_id})
        return
    if call.answered_ms is not None:
        outbox.from_app(started_in[main_tab], call.answered_ms, "CALL_ANSWERED", {"externalCallId": external_call_id})
    if call.screen_pop is not None:  # OnNavigateToRecord {engagementId?, objectCoordinates, openIn?}
        data = {"engagementId": call.engagement_id} if call.engagement_id else {}
        data["objectCoordinates"] = _object_coordinates(session.portal.profile.portal_id, call.caller_id_matches[0])
        if call.screen_pop.open_in:
            data["openIn"] = call.screen_pop.open_in
        outbox.from_app(started_in[main_tab], call.screen_pop.at_ms, "NAVIGATE_TO_RECORD", data)
    ended = {"externalCallId": external_call_id, **_engagement_id_field(app, call.engagement_id),
             "callEndStatus": call.end_status}
    if (not outbox.from_app(carrier(call.ended_ms), call.ended_ms, "CALL_ENDED", ended)
            and call.navigated_ms is not None and not call.survives_navigation):
        return  # lost in the navigation: no CALL_ENDED, no CALL_COMPLETED
    if call.end_status == "FAILED" and rng.random() < .4:  # the app reports its own failure (OnError)
        outbox.from_app(carrier(call.ended_ms), call.ended_ms + rng.randint(30, 600), "ERROR",
                        {"message": rng.choice(APP_ERRORS)})
    for tab, instance in started_in.items():  # the other tabs it rang in learn that it ended, or say nothing
        if tab != main_tab and rng.random() < app.other_tabs_end_rate:
            outbox.from_app(instance, call.ended_ms + rng.randint(40, 1500), "CALL_ENDED", dict(ended))
    if call.completed_ms is not None:
        _complete_call(rng, outbox, session, call, carrier(call.completed_ms))


def _start_call(rng: random.Random, outbox: Outbox, session: SessionPlan, call: CallPlan,
                tabs: list[TabHistory]) -> tuple[int, dict[int, SdkInstance]] | None:
    """INCOMING_CALL in every tab it rings in, or DIAL_NUMBER? and OUTGOING_CALL_STARTED, each with HubSpot's
    replies. Return the tab that carries the call and the instance that started it in each tab, or None."""
    start = {"externalCallId": call.external_call_id, "fromNumber": call.from_number, "toNumber": call.to_number,
             "callStartTime": call.started_ms, "createEngagement": True}
    main_tab, started_in = call.tab, {}
    if call.inbound:
        for tab in call.ringing_tabs:  # the same externalCallId from every tab, each with its own replies
            ts = call.started_ms + (0 if tab == main_tab else rng.randint(3, 250))
            if outbox.from_app(tabs[tab].instance_at(ts), ts, "INCOMING_CALL", dict(start)):
                started_in[tab] = tabs[tab].instance_at(ts)
                _reply_to_call_start(rng, outbox, session, started_in[tab], ts, call)
        if not started_in:
            return None
        return (main_tab if main_tab in started_in else next(iter(started_in))), started_in
    instance = tabs[main_tab].instance_at(call.clicked_ms if call.clicked_ms is not None else call.started_ms)
    if call.clicked_ms is not None:  # onDialNumber's documented fields, plus calleeInfo: the callee (SDK issue #216)
        outbox.from_hubspot(instance, call.clicked_ms, "DIAL_NUMBER", {
            "phoneNumber": call.to_number, "ownerId": session.user.owner_id,
            "portalId": session.portal.profile.portal_id, "objectId": call.callee.object_id, "objectType": "CONTACT",
            "calleeInfo": {"calleeId": call.callee.object_id, "calleeObjectTypeId": "0-1"},
            "startTimestamp": call.clicked_ms - rng.randint(5, 60), "toPhoneNumberSrc": "phone"})
    if not outbox.from_app(instance, call.started_ms, "OUTGOING_CALL_STARTED", start):
        return None
    _reply_to_call_start(rng, outbox, session, instance, call.started_ms, call)
    return main_tab, {main_tab: instance}


def _reply_to_call_start(rng: random.Random, outbox: Outbox, session: SessionPlan, instance: SdkInstance,
                         started_ms: int, call: CallPlan) -> None:
    """HubSpot answers {createEngagement: true}, and looks up an inbound caller; the replies come in either order."""
    profile = session.portal.profile
    if call.inbound and rng.random() < profile.caller_id_failure_rate:
        error = rng.choice(CALLER_ID_ERRORS).format(timeout_ms=rng.choice((3000, 5000)))
        outbox.from_hubspot(instance, started_ms + _reply_lag_ms(rng), "CALLER_ID_MATCH_FAILED",
                            {"error": {"message": error}})
    elif call.inbound:
        matches = [_caller_id_match(profile.portal_id, match) for match in call.caller_id_matches]
        outbox.from_hubspot(instance, started_ms + _reply_lag_ms(rng), "CALLER_ID_MATCH_SUCCEEDED",
                            {"callerIdMatches": matches})
    if call.engagement_id:
        outbox.from_hubspot(instance, started_ms + _reply_lag_ms(rng), "CREATE_ENGAGEMENT_SUCCEEDED",
                            {"engagementId": call.engagement_id})
    else:
        outbox.from_hubspot(instance, started_ms + _reply_lag_ms(rng), "CREATE_ENGAGEMENT_FAILED",
                            {"error": {"message": call.engagement_error}})


def _complete_call(rng: random.Random, outbox: Outbox, session: SessionPlan, call: CallPlan,
                   instance: SdkInstance | None) -> None:
    """CALL_COMPLETED with engagementProperties, HubSpot's engagement update, and the rarer follow-ups."""
    engagement_id, external_call_id = call.engagement_id, call.external_call_id
    match = call.caller_id_matches[0] if call.caller_id_matches else None
    who = match.display_name if match else call.from_number if call.inbound else call.to_number
    properties = {"hs_call_status": call.engagement_status, "hs_call_duration": str(call.talk_ms),
                  "hs_call_direction": "INBOUND" if call.inbound else "OUTBOUND", "hs_timestamp": call.started_ms,
                  "hs_call_title": f"Inbound call from {who}" if call.inbound else f"Call with {who}"}
    completed = {"externalCallId": external_call_id, **_engagement_id_field(session.portal.app, engagement_id),
                 "hideWidget": False, "engagementProperties": properties}
    if not outbox.from_app(instance, call.completed_ms, "CALL_COMPLETED", completed):
        return
    at_ms = call.completed_ms + _reply_lag_ms(rng)
    if call.update_error:
        outbox.from_hubspot(instance, at_ms, "UPDATE_ENGAGEMENT_FAILED", {"error": {"message": call.update_error}})
    else:
        outbox.from_hubspot(instance, at_ms, "UPDATE_ENGAGEMENT_SUCCEEDED", {"engagementId": engagement_id})
    if call.publishes_to_channel:  # SDK 0.8.1; deprecated for FINALIZE_ENGAGEMENT since 0.9.4
        at_ms += rng.randint(200, 2000)
        outbox.from_app(instance, at_ms, "PUBLISH_TO_CHANNEL",
                        {"externalCallId": external_call_id, "engagementId": engagement_id})
        at_ms += _reply_lag_ms(rng)
        outbox.from_hubspot(instance, at_ms, "PUBLISH_TO_CHANNEL_SUCCEEDED",
                            {"engagementId": engagement_id, "externalCallId": external_call_id})
    if call.gets_retired_associations_failure:  # a type SDK 0.9.5 removed: the app answers ERROR UNKNOWN_MESSAGE_TYPE
        at_ms += _reply_lag_ms(rng)
        received = outbox.from_hubspot(instance, at_ms, "UPDATE_ASSOCIATIONS_FAILED", {"error": {
            "message": f"Unable to associate engagement {engagement_id} with contact: not found"}})
        if received:  # CallingExtensions.onMessageHandler quotes the whole message as originalMessage
            outbox.from_app(instance, at_ms + rng.randint(1, 4), "ERROR", {
                "type": sdk.UNKNOWN_MESSAGE_TYPE_ERROR, "data": {"originalMessage": dict(received)}})


def _engagement_id_field(app: AppProfile, engagement_id: int) -> dict:
    """engagementId for CALL_ENDED / CALL_COMPLETED; when creation failed, some apps send 0, others leave it out."""
    return {"engagementId": engagement_id} if engagement_id or app.zero_engagement_id_on_failure else {}


def _object_coordinates(portal_id: int, match: Contact | Company) -> dict:  # ObjectCoordinates (src/types.ts)
    return {"portalId": portal_id, "objectId": match.object_id, "objectTypeId": match.object_type_id}


def _caller_id_match(portal_id: int, match: Contact | Company) -> dict:
    """ContactIdMatch or CompanyIdMatch (src/types.ts)."""
    found = {"callerIdType": match.caller_id_type, "objectCoordinates": _object_coordinates(portal_id, match)}
    if isinstance(match, Contact):
        return {**found, "firstName": match.first_name, "lastName": match.last_name, "email": match.email}
    return {**found, "name": match.name}


def _reply_lag_ms(rng: random.Random) -> int:
    return int(min(2500, max(150, rng.lognormvariate(6.2, .55))))  # HubSpot's reply delay, median ~490 ms
