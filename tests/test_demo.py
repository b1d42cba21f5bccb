"""ingest.demo: the seeded demo log generator speaks only real SDK messages and covers the scenarios."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from ingest import sdk
from ingest.demo import generate_records, write_demo_files

END = 1_732_725_900_000  # Wed 2024-11-27 16:45 UTC: US East and Europe are at work
# The bytes of write_demo_files(days=4, calls=300, seed=3, end_ms=END), decompressed and in day order. One random
# draw moved anywhere in world/plan/emit changes every later record; change this only when you mean to.
GOLDEN_SHA256 = "a6946b280f2185bd7d2dd0b88025dfc408cccd700e4b6c33bc2fc43dda6eb57d"
V1_FIELDS = {"ts", "direction", "instance", "tab", "app", "sdk_version", "event_id", "message"}
ENDS = {"CALL_ENDED", "CALL_COMPLETED", "CALL_TRANSFERRED"}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(generate_records(days=10, calls=1500, seed=7, end_ms=END))


@pytest.fixture(scope="module")
def calls(records) -> dict[str, dict]:
    """externalCallId -> {types, starts: [(instance, tab)], by_type: {type: [record]}}."""
    out: dict[str, dict] = defaultdict(lambda: {"types": set(), "starts": [], "by_type": defaultdict(list)})
    for rec in records:
        data = rec["message"].get("data")
        if isinstance(data, dict) and "externalCallId" in data:
            call = out[data["externalCallId"]]
            call["types"].add(rec["message"]["type"])
            call["by_type"][rec["message"]["type"]].append(rec)
            if rec["message"]["type"] in sdk.CALL_START_TYPES:
                call["starts"].append((rec["instance"], rec["tab"]))
    return out


def test_only_sdk_message_types_and_v1_fields(records):
    assert len(records) > 20_000
    for rec in records:
        assert V1_FIELDS <= rec.keys() <= V1_FIELDS | {"url"}
        assert isinstance(rec["ts"], int) and rec["ts"] <= END
        msg = rec["message"]
        if rec["direction"] == "capture":
            assert msg == {"type": "PAGEHIDE"}
            continue
        assert rec["direction"] in ("to_hubspot", "from_hubspot")
        assert msg["type"] in sdk.MESSAGE_TYPES or msg["type"] in sdk.RETIRED_TYPES, msg
        assert isinstance(msg["messageId"], str)
        if msg["type"] in ("LOGGED_IN", "USER_AVAILABLE", "USER_UNAVAILABLE"):
            assert "data" not in msg
        if "url" in rec:
            assert rec["url"].startswith("https://app.hubspot.com/")
    assert len({rec["event_id"] for rec in records}) == len(records)
    assert [rec["ts"] for rec in records] == sorted(rec["ts"] for rec in records)
    assert {rec["app"] for rec in records} == {"dialpad-demo", "ringo-voice", "callbridge"}
    assert {rec["sdk_version"] for rec in records} == {"0.9.7", "0.9.6", "0.9.4", "0.8.1"}


# The payload fields each type may carry, as the SDK 0.9.7 defines them: src/types.ts (OnInitialized,
# OnIncomingCall, OnOutgoingCall, OnCallEnded, OnCallCompleted, OnNavigateToRecord, OnPublishToChannel, OnResize,
# OnError), src/IFrameManager.ts (SYNC, SYNC_ACK), src/CallingExtensions.ts (ERROR UNKNOWN_MESSAGE_TYPE), and
# HubSpot's Calling SDK docs for what types.ts leaves open (INITIALIZED isAvailable and sizeInfo, onDialNumber,
# onVisibilityChanged, the *_FAILED error, the *_SUCCEEDED replies).
SYNC_FIELDS = {"hostUrl", "portalId", "userId", "ownerId", "engagementId", "iframeLocation", "usesCallingWindow"}
ENVELOPE_FIELDS = {
    "SYNC": SYNC_FIELDS, "SYNC_ACK": SYNC_FIELDS | {"debugMode", "version", "iFrameUrl"},
}
DATA_FIELDS = {
    "INITIALIZED": {"isLoggedIn", "engagementId", "isAvailable", "sizeInfo"},
    "INCOMING_CALL": {"externalCallId", "fromNumber", "toNumber", "callStartTime", "createEngagement"},
    "OUTGOING_CALL_STARTED": {"externalCallId", "fromNumber", "toNumber", "callStartTime", "createEngagement"},
    "CALL_ANSWERED": {"externalCallId"}, "CALL_TRANSFERRED": {"externalCallId"},
    "CALL_ENDED": {"externalCallId", "engagementId", "callEndStatus"},
    "CALL_COMPLETED": {"externalCallId", "engagementId", "hideWidget", "engagementProperties"},
    "NAVIGATE_TO_RECORD": {"engagementId", "objectCoordinates", "openIn"},
    "PUBLISH_TO_CHANNEL": {"externalCallId", "engagementId"}, "RESIZE_WIDGET": {"width", "height"},
    "ERROR": {"message", "type", "data"},
    "DIAL_NUMBER": {"phoneNumber", "ownerId", "subjectId", "objectId", "objectType", "portalId", "countryCode",
                    "calleeInfo", "startTimestamp", "toPhoneNumberSrc"},
    "VISIBILITY_CHANGED": {"isMinimized", "isHidden"},
    "CALLER_ID_MATCH_SUCCEEDED": {"callerIdMatches"}, "CREATE_ENGAGEMENT_SUCCEEDED": {"engagementId"},
    "UPDATE_ENGAGEMENT_SUCCEEDED": {"engagementId"}, "PUBLISH_TO_CHANNEL_SUCCEEDED": {"engagementId", "externalCallId"},
    "CALLER_ID_MATCH_FAILED": {"error"}, "CREATE_ENGAGEMENT_FAILED": {"error"}, "UPDATE_ENGAGEMENT_FAILED": {"error"},
    "UPDATE_ASSOCIATIONS_FAILED": {"error"},
}
ENGAGEMENT_PROPERTIES = {"hs_timestamp", "hs_call_status", "hs_call_duration", "hs_call_direction", "hs_call_title"}
MATCH_FIELDS = {"CONTACT": {"callerIdType", "objectCoordinates", "firstName", "lastName", "email"},
                "COMPANY": {"callerIdType", "objectCoordinates", "name"}}


def test_payload_fields_are_the_sdks(records):
    for rec in records:
        msg = rec["message"]
        if rec["direction"] == "capture" or msg["type"] in ("LOGGED_IN", "USER_AVAILABLE", "USER_UNAVAILABLE"):
            continue
        assert msg.keys() - {"type", "messageId", "data"} <= ENVELOPE_FIELDS.get(msg["type"], set()), msg
        if msg["type"] in ENVELOPE_FIELDS:
            continue
        assert msg["data"].keys() <= DATA_FIELDS[msg["type"]], msg
        if msg["type"] == "CALL_COMPLETED":
            assert msg["data"]["engagementProperties"].keys() <= ENGAGEMENT_PROPERTIES
        if msg["type"] == "CALLER_ID_MATCH_SUCCEEDED":
            assert all(m.keys() == MATCH_FIELDS[m["callerIdType"]] for m in msg["data"]["callerIdMatches"])
        if "objectCoordinates" in msg["data"]:
            assert msg["data"]["objectCoordinates"].keys() == {"portalId", "objectId", "objectTypeId"}
    assert {r["message"]["data"]["callEndStatus"] for r in records if r["message"]["type"] == "CALL_ENDED"} \
        <= set(sdk.END_STATUSES)


def test_handshake_first_and_message_ids(records):
    seen_from: set[str] = set()
    syncs: dict[str, dict[str, dict]] = defaultdict(dict)
    acked: set[str] = set()
    for rec in records:
        msg, inst = rec["message"], rec["instance"]
        if rec["direction"] == "from_hubspot":
            if inst not in seen_from:
                assert msg["type"] == "SYNC", rec  # HubSpot says nothing before SYNC
                seen_from.add(inst)
            if msg["type"] == "SYNC":
                syncs[inst][msg["messageId"]] = msg
                assert not msg["messageId"].startswith(inst + "_")  # HubSpot's own instance prefix
        elif rec["direction"] == "to_hubspot":
            if msg["type"] == "SYNC_ACK":
                sync = syncs[inst][msg["messageId"]]  # a copy of a SYNC this instance received, messageId included
                assert {k: msg[k] for k in sync if k != "type"} == {k: v for k, v in sync.items() if k != "type"}
                assert msg["version"] == rec["sdk_version"] and msg["iFrameUrl"].startswith("https://")
                assert inst not in acked
                acked.add(inst)
            else:
                assert inst in acked, rec  # IFrameManager drops app messages before SYNC_ACK
                assert msg["messageId"].split("_")[0] == inst
                assert int(msg["messageId"].split("_")[1]) == rec["ts"]


def test_same_seed_same_output_other_seed_differs():
    def run(seed):
        return list(generate_records(days=2, calls=150, seed=seed, end_ms=END))
    a, b, c = run(11), run(11), run(12)
    assert a == b
    assert json.dumps(a) != json.dumps(c)


def test_inbound_outbound_answered_missed(calls):
    inbound = [c for c in calls.values() if "INCOMING_CALL" in c["types"]]
    outbound = [c for c in calls.values() if "OUTGOING_CALL_STARTED" in c["types"]]
    assert len(inbound) > 200 and len(outbound) > 200
    assert 1200 < len(calls) < 1800
    missed = {r["message"]["data"]["callEndStatus"] for c in inbound if "CALL_ANSWERED" not in c["types"]
              for r in c["by_type"]["CALL_ENDED"]}
    assert {"MISSED", "NO_ANSWER", "CANCELED", "REJECTED", "FAILED"} <= missed
    answered = [c for c in inbound + outbound if "CALL_ANSWERED" in c["types"] and "CALL_ENDED" in c["types"]]
    assert len(answered) > 300
    assert any("CALL_TRANSFERRED" in c["types"] for c in inbound)
    durations = [int(r["message"]["data"]["engagementProperties"]["hs_call_duration"]) for c in answered
                 for r in c["by_type"]["CALL_COMPLETED"]]
    assert max(durations) > 30 * 60_000 and 90_000 < sorted(durations)[len(durations) // 2] < 300_000


def test_dropped_restored_multitab_and_in_progress(records, calls):
    later_in_tab: dict[str, int] = {}  # instance -> ts of a PAGEHIDE or of a newer instance in its tab
    first_seen: dict[str, tuple[int, str]] = {}
    for rec in records:
        first_seen.setdefault(rec["instance"], (rec["ts"], rec["tab"]))
        if rec["direction"] == "capture":
            later_in_tab.setdefault(rec["instance"], rec["ts"])
    by_tab = defaultdict(list)
    for inst, (ts, tab) in first_seen.items():
        by_tab[tab].append((ts, inst))
    for insts in by_tab.values():
        insts.sort()
        for (_, old), (ts, _) in zip(insts, insts[1:], strict=False):
            later_in_tab.setdefault(old, ts)
    dropped = [c for c in calls.values() if "CALL_ANSWERED" in c["types"] and not c["types"] & ENDS
               and all(inst in later_in_tab for inst, _ in c["starts"])]
    assert len(dropped) >= 3
    restored = [c for c in calls.values() if {r["instance"] for r in c["by_type"]["CALL_ENDED"]}
                - {inst for inst, _ in c["starts"]}]
    assert restored
    restore_syncs = [r for r in records if r["message"]["type"] == "SYNC" and "engagementId" in r["message"]]
    assert len(restore_syncs) >= len(restored)
    multi = [c for c in calls.values() if len({inst for inst, _ in c["starts"] if inst}) >= 2]
    assert len(multi) > 20 and all(len({tab for _, tab in c["starts"]}) >= 2 for c in multi)
    in_progress = [c for c in calls.values() if "CALL_ANSWERED" in c["types"] and not c["types"] & ENDS
                   and any(inst not in later_in_tab for inst, _ in c["starts"])]
    assert in_progress


def test_failures_matches_availability_locations(records):
    types = defaultdict(list)
    for rec in records:
        types[rec["message"]["type"]].append(rec)
    for t in ("CREATE_ENGAGEMENT_FAILED", "CALLER_ID_MATCH_FAILED", "UPDATE_ENGAGEMENT_FAILED"):
        messages = {r["message"]["data"]["error"]["message"] for r in types[t]}
        assert len(messages) >= 2, t
    matches = [r["message"]["data"]["callerIdMatches"] for r in types["CALLER_ID_MATCH_SUCCEEDED"]]
    assert any(m == [] for m in matches)
    kinds = {m["callerIdType"] for ms in matches for m in ms}
    assert kinds == {"CONTACT", "COMPANY"}
    assert types["USER_UNAVAILABLE"] and types["VISIBILITY_CHANGED"] and types["DIAL_NUMBER"]
    assert {r["message"]["iframeLocation"] for r in types["SYNC"]} == {"widget", "remote", "window"}
    window = {r["message"]["usesCallingWindow"] for r in types["SYNC"] if r["message"]["iframeLocation"] == "window"}
    assert window == {True}
    assert all(r["sdk_version"] in ("0.9.6", "0.9.7") for r in types["CALL_TRANSFERRED"])
    assert all("openIn" not in r["message"]["data"] or r["sdk_version"] == "0.9.7"
               for r in types["NAVIGATE_TO_RECORD"])


def test_unknown_type_error_quotes_a_logged_message(records):
    received = {(r["instance"], r["message"]["messageId"]) for r in records if r["direction"] == "from_hubspot"}
    errors = [r for r in records if r["message"]["type"] == "ERROR"
              and r["message"]["data"].get("type") == sdk.UNKNOWN_MESSAGE_TYPE_ERROR]
    assert errors
    for err in errors:
        original = err["message"]["data"]["data"]["originalMessage"]
        assert (err["instance"], original["messageId"]) in received
        # UPDATE_ASSOCIATIONS_FAILED was an SDK type until 0.9.5 removed it; HubSpot may still send it.
        assert err["sdk_version"] in ("0.9.6", "0.9.7") and original["type"] == "UPDATE_ASSOCIATIONS_FAILED"
    assert any("message" in r["message"]["data"] for r in records if r["message"]["type"] == "ERROR")


def test_write_demo_files(tmp_path):
    paths = write_demo_files(tmp_path / "out", days=4, calls=300, seed=3, end_ms=END)
    assert [p.name.endswith(".gz") for p in paths] == [i % 3 == 2 for i in range(len(paths))]
    days = [p.name.removeprefix("demo-")[:10] for p in paths]
    assert days[-1] == "2024-11-27" and len(days) in (4, 5)  # the first (Saturday) may be empty
    lines = []
    for p in paths:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        day = [json.loads(line) for line in raw.decode().splitlines()]
        stamp = p.name.removeprefix("demo-")[:10]
        assert day and all(datetime.fromtimestamp(r["ts"] / 1000, UTC).strftime("%Y-%m-%d") == stamp
                           for r in day)
        lines += day
    assert lines == list(generate_records(days=4, calls=300, seed=3, end_ms=END))


def test_the_demo_bytes_are_pinned(tmp_path):
    digest = hashlib.sha256()
    for p in write_demo_files(tmp_path, days=4, calls=300, seed=3, end_ms=END):
        digest.update(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes())
    assert digest.hexdigest() == GOLDEN_SHA256


def test_default_end_is_now():
    now = time.time() * 1000
    assert all(rec["ts"] <= now for rec in generate_records(days=1, calls=50))
