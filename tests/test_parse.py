"""ingest/parse.py: every SDK message type, the typed columns, timestamps and rejects."""

from __future__ import annotations

import json

import pytest

from ingest import sdk
from ingest.parse import Event, Reject, parse_line, parse_lines
from ingest.read import RawLine
from ingest.redact import Redactor

TS = 1_764_072_000_000


def line(message: dict, direction: str = "to_hubspot", n: int = 1, **envelope) -> RawLine:
    record = {"ts": TS, "direction": direction, "message": message, **envelope}
    return RawLine("test.ndjson", n, json.dumps(record).encode())


def parsed(message: dict, direction: str = "to_hubspot", **envelope) -> Event:
    item = parse_line(line(message, direction, **envelope))
    assert isinstance(item, Event), item
    return item


@pytest.mark.parametrize("message_type", sorted(sdk.MESSAGE_TYPES))
def test_every_sdk_message_type_is_stored_as_known(message_type):
    direction = "from_hubspot" if message_type in sdk.HUBSPOT_TO_APP or message_type == "SYNC" else "to_hubspot"
    event = parsed({"type": message_type, "messageId": "1764071990000_1764072000000"}, direction, instance="i1")
    assert (event.type, event.known_type, event.direction) == (message_type, True, direction)


def test_sdk_catalogue_matches_constants_ts():
    # Spot checks against src/Constants.ts of 0.9.7 (thirdPartyToHostEvents, hostToThirdPartyEvents, messageType).
    assert len(sdk.APP_TO_HUBSPOT) == 16 and len(sdk.HUBSPOT_TO_APP) == 17
    assert {"CALL_TRANSFERRED", "FINALIZE_ENGAGEMENT"} <= sdk.APP_TO_HUBSPOT
    assert "UPDATE_ASSOCIATIONS_FAILED" not in sdk.MESSAGE_TYPES  # removed in 0.9.5


def test_unknown_type_is_stored_and_flagged_not_rejected():
    event = parsed({"type": "UPDATE_ASSOCIATIONS_FAILED", "messageId": "1_2", "data": {}}, "from_hubspot")
    assert (event.type, event.known_type) == ("UPDATE_ASSOCIATIONS_FAILED", False)


def test_sync_fields_are_top_level():
    event = parsed({"type": "SYNC", "messageId": "1764071990000_1764072000000", "hostUrl": "https://app.hubspot.com",
                    "portalId": 4455123, "userId": 7713, "ownerId": 8813, "engagementId": 9300,
                    "iframeLocation": "window", "usesCallingWindow": True}, "from_hubspot")
    assert (event.portal_id, event.user_id, event.owner_id, event.engagement_id) == (4455123, 7713, "8813", 9300)
    assert (event.iframe_location, event.uses_calling_window) == ("window", True)


def test_sync_ack_gives_the_sdk_version_and_no_instance_from_its_copied_message_id():
    event = parsed({"type": "SYNC_ACK", "messageId": "1764071990000_1764072000000", "version": "0.9.7",
                    "debugMode": False, "iframeLocation": "remote", "portalId": 1})
    assert event.sdk_version == "0.9.7"
    assert event.instance is None  # the prefix is HubSpot's host instance, not the app's


def test_call_fields():
    inc = parsed({"type": "INCOMING_CALL", "messageId": "1764071995000_1764072000000", "data": {
        "externalCallId": "c1", "fromNumber": "+14155550123", "toNumber": "+14155550100",
        "callStartTime": TS, "createEngagement": "true"}})
    assert (inc.external_call_id, inc.from_number, inc.to_number) == ("c1", "+14155550123", "+14155550100")
    assert (inc.create_engagement, inc.call_start_ms) == (True, TS)
    assert (inc.instance, inc.instance_source) == ("1764071995000", "message_id")
    ended = parsed({"type": "CALL_ENDED", "messageId": "1_2", "data": {
        "externalCallId": "c1", "engagementId": 0, "callEndStatus": "INTERNAL_NO_ANSWER"}})
    assert (ended.call_end_status, ended.engagement_id) == ("NO_ANSWER", 0)
    legacy = parsed({"type": "OUTGOING_CALL_STARTED", "messageId": "1_2", "data": {"phoneNumber": "+441632960001"}})
    assert legacy.to_number == "+441632960001"


def test_failures_and_caller_id():
    failed = parsed({"type": "CREATE_ENGAGEMENT_FAILED", "messageId": "9_2",
                     "data": {"error": {"message": "Request failed with status code 429"}}}, "from_hubspot")
    assert failed.error_message == "Request failed with status code 429"
    match = parsed({"type": "CALLER_ID_MATCH_SUCCEEDED", "messageId": "9_3", "data": {"callerIdMatches": [
        {"callerIdType": "CONTACT", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com",
         "objectCoordinates": {"portalId": 1, "objectId": 2, "objectTypeId": "0-1"}},
        {"callerIdType": "COMPANY", "name": "Analytical Engines",
         "objectCoordinates": {"portalId": 1, "objectId": 3, "objectTypeId": "0-2"}}]}}, "from_hubspot")
    assert (match.caller_id_matches, match.caller_id_types) == (2, ["COMPANY", "CONTACT"])
    empty = parsed({"type": "CALLER_ID_MATCH_SUCCEEDED", "messageId": "9_4", "data": {"callerIdMatches": []}},
                   "from_hubspot")
    assert (empty.caller_id_matches, empty.caller_id_types) == (0, [])


def test_error_messages_app_sent_and_sdk_unknown_type_reply():
    app_error = parsed({"type": "ERROR", "messageId": "1_2", "data": {"message": "Microphone permission denied"}})
    assert (app_error.error_message, app_error.error_type) == ("Microphone permission denied", None)
    sdk_error = parsed({"type": "ERROR", "messageId": "1_3", "data": {"type": "UNKNOWN_MESSAGE_TYPE", "data": {
        "originalMessage": {"type": "UPDATE_ASSOCIATIONS_FAILED", "messageId": "9_9", "data": {}}}}})
    assert (sdk_error.error_type, sdk_error.error_message) == (
        "UNKNOWN_MESSAGE_TYPE", "unknown message type UPDATE_ASSOCIATIONS_FAILED")


def test_capture_marker_is_an_event_of_its_instance():
    event = parsed({"type": "PAGEHIDE"}, "capture", instance="1764071995000", tab="t1")
    assert (event.type, event.known_type, event.instance, event.message_id) == ("PAGEHIDE", True, "1764071995000", None)


@pytest.mark.parametrize("ts, expected", [
    (TS, TS), (float(TS), TS), ("2025-11-25T12:00:00Z", TS), ("2025-11-25T13:00:00.000+01:00", TS),
])
def test_timestamps(ts, expected):
    raw = RawLine("t", 1, json.dumps({"ts": ts, "direction": "capture", "message": {"type": "PAGEHIDE"}}).encode())
    assert parse_line(raw).ts_ms == expected


@pytest.mark.parametrize("text, reason", [
    (b"not json at all", "not JSON"),
    (b'{"direction": "to_hubspot", "message": {"type": "SYNC"}}', "missing required field `ts`"),
    (b'{"ts": 1764072000000, "direction": "sideways", "message": {"type": "SYNC"}}', "Invalid enum value 'sideways'"),
    (b'{"ts": 1764072000000, "direction": "to_hubspot", "message": {"data": {}}}', "message has no string `type`"),
    (b'{"ts": 1764072000, "direction": "to_hubspot", "message": {"type": "SYNC"}}', "not epoch milliseconds"),
    (b'{"ts": "2025-11-25T12:00:00", "direction": "to_hubspot", "message": {"type": "SYNC"}}', "without an offset"),
    (b'{"ts": "yesterday", "direction": "to_hubspot", "message": {"type": "SYNC"}}', "neither epoch"),
    (b'[1, 2, 3]', "not a capture record"),
])
def test_bad_lines_become_rejects_with_reasons(text, reason):
    item = parse_line(RawLine("bad.ndjson", 7, text))
    assert isinstance(item, Reject)
    assert (item.line_no, item.text) == (7, text.decode())
    assert reason in item.reason


def test_event_id_is_the_key_when_present_else_the_canonical_record():
    a = parse_line(line({"type": "LOGGED_IN", "messageId": "1_2"}, event_id="e-1"))
    b = parse_line(line({"messageId": "1_2", "type": "LOGGED_IN"}, event_id="e-1", n=2))
    c = parse_line(line({"messageId": "1_2", "type": "LOGGED_IN"}, n=3))
    d = parse_line(RawLine("x", 4, b'{ "message": {"type": "LOGGED_IN", "messageId": "1_2"}, "direction": "to_hubspot", "ts": 1764072000000 }'))
    assert a.event_key == b.event_key
    assert c.event_key == d.event_key != a.event_key  # key order and whitespace do not matter


def test_instances_inferred_when_the_log_lacks_them():
    # SYNC/SYNC_ACK belong to the instance the app names next; HubSpot's replies to the last named one.
    host, app1, app2 = "1764071990000", "1764071995000", "1764072100000"
    lines = [
        line({"type": "SYNC", "messageId": f"{host}_1", "iframeLocation": "remote"}, "from_hubspot", 1, tab="t"),
        line({"type": "SYNC_ACK", "messageId": f"{host}_1", "version": "0.9.7"}, "to_hubspot", 2, tab="t"),
        line({"type": "INITIALIZED", "messageId": f"{app1}_3", "data": {"isLoggedIn": True}}, "to_hubspot", 3, tab="t"),
        line({"type": "CREATE_ENGAGEMENT_SUCCEEDED", "messageId": f"{host}_4", "data": {"engagementId": 1}}, "from_hubspot", 4, tab="t"),
        line({"type": "SYNC", "messageId": f"{host}_5"}, "from_hubspot", 5, tab="t"),
        line({"type": "SYNC_ACK", "messageId": f"{host}_5"}, "to_hubspot", 6, tab="t"),
        line({"type": "INITIALIZED", "messageId": f"{app2}_7", "data": {}}, "to_hubspot", 7, tab="t"),
    ]
    events = sorted(parse_lines(lines), key=lambda e: e.line_no)
    assert [e.instance for e in events] == [app1, app1, app1, app1, app2, app2, app2]
    assert [e.instance_source for e in events] == ["inferred", "inferred", "message_id", "inferred", "inferred",
                                                   "inferred", "message_id"]


def test_unplaceable_events_get_an_unknown_instance():
    events = list(parse_lines([line({"type": "VISIBILITY_CHANGED", "messageId": "9_1", "data": {}}, "from_hubspot", 3)]))
    assert (events[0].instance, events[0].instance_source) == ("unknown:test.ndjson:3", "unknown")


def test_redaction_hashes_personal_data_and_keeps_last_digits():
    redactor = Redactor(b"k")
    raw = line({"type": "INCOMING_CALL", "messageId": "1_2", "data": {
        "externalCallId": "c1", "fromNumber": "+14155550123", "toNumber": "+14155550100"}})
    event = parse_line(raw, redactor)
    plain = parse_line(raw)
    assert event.from_number.endswith("-0123") and "4155550123" not in event.message
    assert event.from_number == redactor.phone("+1 415 555 0123")  # stable: same number, same token
    assert event.event_key == plain.event_key  # a redacted and a plain load of one line are the same event
    assert event.redacted and not plain.redacted
