"""Every diagnosis rule of analytics/diagnosis.py, each on a crafted log; a healthy call gets no findings."""

from __future__ import annotations

from analytics.db import runner
from analytics.format import offset
from analytics.replay import diagnosis
from analytics.replay.diagnosis import RULES, diagnose
from analytics.replay.load import load_trace
from ingest.store import connect_reader
from tests.logs import T0, Instance, Log, Tab

MIN = 60_000


def trace_of(db, log: Log, call_id: str):
    db.load(log)
    with connect_reader(db.path) as con:
        return load_trace(runner(con), call_id)


def codes(call) -> list[str]:
    return [f.code for f in diagnose(call)]


def healthy_inbound(a: Instance, call_id: str, engagement_id: int, at: int | None = None) -> None:
    a.ring(call_id, at=at); a.matched("Ada Lovelace"); a.engagement(engagement_id)
    a.send("CALL_ANSWERED", at=a.now + 6_000, externalCallId=call_id)
    a.end(call_id, "COMPLETED", engagement_id, at=a.now + 2 * MIN); a.complete(call_id, engagement_id)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=engagement_id)


def test_healthy_inbound_and_outbound_calls_have_no_findings(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    healthy_inbound(a, "in-ok", 9001)
    a.recv("DIAL_NUMBER", at=a.now + MIN, phoneNumber="+14155550177", objectId=51, objectType="CONTACT")
    a.dial("out-ok"); a.engagement(9002)
    a.send("CALL_ANSWERED", at=a.now + 9_000, externalCallId="out-ok")
    a.end("out-ok", "COMPLETED", 9002, at=a.now + MIN); a.complete("out-ok", 9002)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9002)
    db.load(log)
    with connect_reader(db.path) as con:
        run = runner(con)
        assert diagnose(load_trace(run, "in-ok")) == []
        assert diagnose(load_trace(run, "out-ok")) == []


def test_every_rule_states_its_rule_and_sdk_fact():
    for rule in RULES:
        doc = " ".join((rule.__doc__ or "").split())
        assert doc.endswith(".") and ("SDK" in doc or "HubSpot" in doc), rule.__name__


def test_dropped_when_the_page_unloads_mid_call(db, log):
    a = Tab(log, "tab-a").iframe("widget", at=T0)
    a.ring("d1"); a.engagement(9200); a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="d1")
    hide = a.pagehide(at=a.now + 2 * MIN)
    call = trace_of(db, log, "d1")
    top = diagnose(call)[0]
    assert (top.code, top.severity) == ("call_dropped", "critical")
    first = call.messages[top.message_indexes[0]]
    assert first.type == "PAGEHIDE" and first.ts_ms == hide["ts"]
    assert "page unloaded" in top.detail and offset(call.rel_ms(hide["ts"])) in top.detail
    assert "usesCallingWindow" in top.advice


def test_dropped_when_a_navigation_remounts_the_iframe(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("d2"); a.engagement(9300); a.send("CALL_ANSWERED", externalCallId="d2")
    b = tab.iframe("remote", at=a.now + 5 * MIN)  # no PAGEHIDE captured: only the new iframe tells
    call = trace_of(db, log, "d2")
    top = diagnose(call)[0]
    assert top.code == "call_dropped" and "a new iframe loaded in its place" in top.detail
    assert call.messages[top.message_indexes[0]].instance == b.id
    assert [i.role for i in call.instances] == ["call", "replacement"]


def test_dropped_after_hubspot_handed_the_call_to_a_reloaded_iframe(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("widget", at=T0)
    a.ring("d3"); a.engagement(9400); a.send("CALL_ANSWERED", externalCallId="d3")
    a.pagehide(at=a.now + MIN)
    b = tab.iframe("widget", at=a.now + 2_000, engagement_id=9400)  # onReady engagementId: the call in progress
    b.pagehide(at=b.now + 30_000)
    call = trace_of(db, log, "d3")
    assert call.call["outcome"] == "dropped"
    top = diagnose(call)[0]
    assert top.code == "call_dropped" and "never resumed it" in top.detail


def test_engagement_creation_failed_and_the_messages_left_without_an_engagement(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("e1")
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Request failed with status code 429"})
    a.send("CALL_ANSWERED", externalCallId="e1")
    a.send("CALL_ENDED", at=a.now + MIN, externalCallId="e1", callEndStatus="COMPLETED")  # no engagementId
    a.complete("e1", 0)
    call = trace_of(db, log, "e1")
    found = next(f for f in diagnose(call) if f.code == "engagement_creation_failed")
    assert found.severity == "error" and "“Request failed with status code 429”" in found.detail
    assert [call.messages[i].type for i in found.message_indexes] == [
        "CREATE_ENGAGEMENT_FAILED", "CALL_ENDED", "CALL_COMPLETED"]
    assert "CALL_ENDED #" in found.detail and "CALL_COMPLETED #" in found.detail


def test_engagement_update_failed(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.dial("u1"); a.engagement(9500); a.send("CALL_ANSWERED", externalCallId="u1")
    a.end("u1", "COMPLETED", 9500, at=a.now + MIN); a.complete("u1", 9500)
    a.recv("UPDATE_ENGAGEMENT_FAILED", error={"message": "Missing required property hs_timestamp"})
    found = diagnose(trace_of(db, log, "u1"))
    assert [(f.code, f.severity) for f in found] == [("engagement_update_failed", "error")]
    assert "hs_timestamp" in found[0].detail


def test_never_completed_leaves_a_ghost_call_log(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("g1"); a.engagement(9600); a.end("g1", "NO_ANSWER", 9600, at=a.now + 30_000)
    assert codes(trace_of(db, log, "g1")) == ["never_completed", "call_missed"]


def test_caller_id_failed_and_no_match(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("cid-failed"); a.recv("CALLER_ID_MATCH_FAILED", error={"message": "Request failed with status code 503"})
    a.ring("cid-none", at=a.now + MIN); a.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=[])
    db.load(log)
    with connect_reader(db.path) as con:
        failed = diagnose(load_trace(runner(con), "cid-failed"))
        none = diagnose(load_trace(runner(con), "cid-none"))
    failed = [f for f in failed if f.code.startswith("caller_id")]  # cid-failed also never ended: cid-none came
    assert [(f.code, f.severity) for f in failed] == [("caller_id_failed", "warning")]
    assert "status code 503" in failed[0].detail
    assert [(f.code, f.severity) for f in none] == [("caller_id_no_match", "info")]


def test_navigate_to_record_without_a_match(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("n1"); a.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=[])
    a.send("NAVIGATE_TO_RECORD", objectCoordinates={"portalId": 4455123, "objectId": 51, "objectTypeId": "0-1"})
    a.ring("n2", at=a.now + MIN); a.matched("Ada Lovelace")
    a.send("NAVIGATE_TO_RECORD", objectCoordinates={"portalId": 4455123, "objectId": 5100, "objectTypeId": "0-1"})
    db.load(log)
    with connect_reader(db.path) as con:
        assert "navigated_without_match" in codes(load_trace(runner(con), "n1"))
        assert "navigated_without_match" not in codes(load_trace(runner(con), "n2"))


def test_simultaneous_ringing_in_several_tabs(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 500)
    a.ring("s1", at=T0 + MIN); b.ring("s1", at=T0 + MIN + 120)
    a.engagement(9700); b.engagement(9701)          # each tab got its own engagement: duplicate call logs
    a.send("CALL_ANSWERED", at=a.now + 5_000, externalCallId="s1")
    b.send("CALL_ANSWERED", at=a.now + 10, externalCallId="s1")
    call = trace_of(db, log, "s1")
    found = next(f for f in diagnose(call) if f.code == "simultaneous_ringing")
    assert found.severity == "warning" and "2 instances in 2 tabs" in found.detail
    assert "2 different engagements" in found.detail and "2 of them sent CALL_ANSWERED" in found.detail


def test_lifecycle_out_of_order(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.send("CALL_ANSWERED", externalCallId="o1"); a.ring("o1"); a.end("o1", "COMPLETED", at=a.now + MIN)
    a.send("CALL_ENDED", at=a.now + MIN, externalCallId="o2", callEndStatus="COMPLETED")
    a.ring("o3", at=a.now + MIN); a.complete("o3", 0); a.end("o3", "CANCELED")
    a.ring("o4", at=a.now + MIN); a.ring("o4"); a.end("o4", "CANCELED")
    db.load(log)
    with connect_reader(db.path) as con:
        run = runner(con)
        assert "answered_before_ring" in codes(load_trace(run, "o1"))
        assert "ended_without_start" in codes(load_trace(run, "o2"))
        assert "completed_before_ended" in codes(load_trace(run, "o3"))
        assert "repeated_start" in codes(load_trace(run, "o4"))


def test_messages_sent_before_the_sdk_was_ready_are_dropped(db, log):
    tab = Tab(log, "tab-a")
    a = Instance(tab, "widget", T0, False)
    a.send("INITIALIZED", isLoggedIn=True)           # before SYNC/SYNC_ACK: IFrameManager drops it
    a.ring("h1")
    a.handshake()
    a.end("h1", "CANCELED", at=a.now + 10_000)
    call = trace_of(db, log, "h1")
    found = next(f for f in diagnose(call) if f.code == "sent_before_handshake")
    assert found.severity == "error"  # the call's own INCOMING_CALL never reached HubSpot
    assert [call.messages[i].type for i in found.message_indexes] == ["INITIALIZED", "INCOMING_CALL"]


def test_unavailable_user_when_the_call_arrived(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0, available=False)   # INITIALIZED isAvailable: false
    a.ring("v1", at=a.now + MIN); a.end("v1", "MISSED", at=a.now + 20_000)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 10 * MIN)
    b.send("USER_UNAVAILABLE", data=None, at=b.now + MIN)
    b.ring("v2", at=b.now + MIN); b.end("v2", "MISSED", at=b.now + 20_000)
    b.send("USER_AVAILABLE", data=None, at=b.now + MIN)
    b.ring("v3", at=b.now + MIN); b.end("v3", "MISSED", at=b.now + 20_000)
    db.load(log)
    with connect_reader(db.path) as con:
        run = runner(con)
        first = next(f for f in diagnose(load_trace(run, "v1")) if f.code == "unavailable_when_rang")
        assert "INITIALIZED" in first.detail
        second = next(f for f in diagnose(load_trace(run, "v2")) if f.code == "unavailable_when_rang")
        assert "USER_UNAVAILABLE" in second.detail
        assert "unavailable_when_rang" not in codes(load_trace(run, "v3"))


def test_sdk_errors_unknown_type_noise_and_app_errors(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.dial("x1"); a.engagement(9800); a.send("CALL_ANSWERED", externalCallId="x1")
    a.end("x1", "COMPLETED", 9800, at=a.now + MIN); a.complete("x1", 9800)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9800)
    original = a.recv("UPDATE_ASSOCIATIONS_FAILED", error={"message": "not found"})
    a.send("ERROR", data={"type": "UNKNOWN_MESSAGE_TYPE", "data": {"originalMessage": original["message"]}})
    a.dial("x2", at=a.now + MIN); a.engagement(9801)
    a.end("x2", "FAILED", 9801, at=a.now + 2_000)
    a.send("ERROR", message="Microphone permission denied")
    a.complete("x2", 9801, status="FAILED"); a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9801)
    db.load(log)
    with connect_reader(db.path) as con:
        run = runner(con)
        first = {f.code: f for f in diagnose(load_trace(run, "x1"))}
        second = {f.code: f for f in diagnose(load_trace(run, "x2"))}
    assert first["sdk_unknown_message_type"].severity == "info"
    assert "removed from the SDK in 0.9.5" in first["sdk_unknown_message_type"].detail
    assert first["hubspot_failed_reply"].title == "HubSpot answered UPDATE_ASSOCIATIONS_FAILED"
    assert second["error_reported"].severity == "warning"
    assert "Microphone permission denied" in second["error_reported"].detail


def test_other_failed_replies_and_unknown_app_types(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("f1"); a.matched("Ada Lovelace"); a.engagement(9900)
    a.send("NAVIGATE_TO_RECORD", objectCoordinates={"portalId": 4455123, "objectId": 5100, "objectTypeId": "0-1"})
    a.recv("NAVIGATE_TO_RECORD_FAILED", error={"message": "Record not found"})
    a.send("APP_CUSTOM_EVENT", note="not an SDK message type")  # crafted: no SDK version defines it
    a.end("f1", "CANCELED", 9900, at=a.now + 5_000); a.complete("f1", 9900, status="CANCELED")
    found = {f.code: f for f in diagnose(trace_of(db, log, "f1"))}
    assert "Record not found" in found["hubspot_failed_reply"].detail
    assert found["unknown_message_type"].severity == "info"


def test_slow_reply_against_the_portal_median(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    for i in range(5):
        healthy_inbound(a, f"ok{i}", 9000 + i, at=T0 + (i + 1) * 10 * MIN)
    a.ring("slow", at=T0 + 70 * MIN)
    a.matched("Ada Lovelace")
    a.recv("CREATE_ENGAGEMENT_SUCCEEDED", at=a.now + 8_000, engagementId=9100)  # ~8 s, the median is 80 ms
    a.send("CALL_ANSWERED", at=a.now + 1_000, externalCallId="slow")
    a.end("slow", "COMPLETED", 9100, at=a.now + MIN); a.complete("slow", 9100)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9100)
    call = trace_of(db, log, "slow")
    found = diagnose(call)
    assert [f.code for f in found] == ["slow_reply"]
    assert "CREATE_ENGAGEMENT_SUCCEEDED" in found[0].title and "this portal's median (80 ms)" in found[0].detail


def test_findings_come_most_severe_first(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("widget", at=T0)
    a.ring("m1"); a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Network Error"})
    a.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=[])
    a.send("CALL_ANSWERED", externalCallId="m1"); a.pagehide(at=a.now + MIN)
    severities = [f.severity for f in diagnose(trace_of(db, log, "m1"))]
    assert severities == sorted(severities, key=diagnosis.SEVERITIES.index)
    assert severities[0] == "critical" and "info" in severities


def test_a_failed_call_with_clean_traffic_points_at_the_telephony_side(db, log):
    a = Tab(log, "tab-a").iframe("widget", at=T0)
    a.recv("DIAL_NUMBER", phoneNumber="+14155550177", objectId=51, objectType="CONTACT")
    a.dial("f1"); a.engagement(9950)
    a.end("f1", "FAILED", 9950, at=a.now + 2_000); a.complete("f1", 9950, status="FAILED")
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9950)
    found = diagnose(trace_of(db, log, "f1"))
    assert [(f.code, f.severity) for f in found] == [("call_failed", "error")]
    assert "2.0 s after OUTGOING_CALL_STARTED #" in found[0].detail and "telephony side" in found[0].detail


def test_an_inbound_call_ended_completed_without_an_answer_says_the_answer_was_never_reported(db, log):
    # Answered in a tab whose calling window relays only some types: CALL_ANSWERED never reached HubSpot.
    a = Tab(log, "tab-w").iframe("window", at=T0, uses_calling_window=True)
    a.ring("m1"); a.engagement(9960)
    a.end("m1", "COMPLETED", 9960, at=a.now + 40_000); a.complete("m1", 9960)
    call = trace_of(db, log, "m1")
    assert call.call["outcome"] == "missed"
    found = next(f for f in diagnose(call) if f.code == "completed_without_answer")
    assert "ended COMPLETED" in found.detail and "HubSpot logged the call as not answered" in found.detail


def test_a_call_that_never_ended_says_so(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("n1"); a.engagement(9970); a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="n1")
    a.ring("n2", at=a.now + 10 * MIN); a.end("n2", "MISSED", at=a.now + 20_000)
    found = next(f for f in diagnose(trace_of(db, log, "n1")) if f.code == "call_never_ended")
    assert found.severity == "error" and "CALL_ANSWERED #" in found.detail


def test_every_bad_outcome_has_a_finding_that_explains_it(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.dial("failed"); a.end("failed", "FAILED", at=a.now + 2_000)
    a.ring("missed", at=a.now + MIN); a.end("missed", "NO_ANSWER", at=a.now + 30_000)
    a.ring("transferred", at=a.now + MIN); a.send("CALL_TRANSFERRED", at=a.now + 5_000, externalCallId="transferred")
    a.ring("never", at=a.now + MIN); a.send("CALL_ANSWERED", externalCallId="never")
    a.ring("dropped", at=a.now + MIN); a.send("CALL_ANSWERED", externalCallId="dropped"); a.pagehide(at=a.now + MIN)
    db.load(log)
    with connect_reader(db.path) as con:
        run = runner(con)
        explained = {}
        for call_id, call in db.calls().items():
            findings = diagnose(load_trace(run, call_id))
            assert findings, call_id
            explained[call_id] = (call["outcome"], findings[0].code)
    assert explained == {"failed": ("failed", "call_failed"), "missed": ("missed", "call_missed"),
                         "transferred": ("missed", "call_missed"), "never": ("never_ended", "call_never_ended"),
                         "dropped": ("dropped", "call_dropped")}


def test_a_drop_after_a_handover_says_an_echoed_engagement_id_proves_nothing(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("d4"); a.engagement(9410); a.send("CALL_ANSWERED", externalCallId="d4"); a.pagehide(at=a.now + 1_500)
    b = Instance(tab, "remote", a.now + 700, False)
    b.handshake(engagement_id=9410)
    b.send("INITIALIZED", engagementId=9410, isLoggedIn=True, isAvailable=True)  # onReady's payload, passed on
    call = trace_of(db, log, "d4")
    top = diagnose(call)[0]
    assert (call.call["outcome"], top.code) == ("dropped", "call_dropped")
    assert "never resumed it there" in top.detail and "INITIALIZED #" in top.detail and "proves nothing" in top.detail
