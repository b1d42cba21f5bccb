"""Every outcome rule (ingest/derive/outcomes.py, ingest/calls.py), each on a crafted log."""

from __future__ import annotations

from datetime import date

from analytics.filters import FILTERED_CALLS_SQL, Filters
from ingest.calls import MAX_CALL_MS
from ingest.store import connect_reader
from tests.logs import T0, Instance, Log, Tab

MIN = 60_000
HOUR = 60 * MIN
DAY = date(2025, 11, 25)  # T0's day


def test_answered_inbound_call_with_end_and_completion(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c1"); a.matched("Ada Lovelace"); a.engagement(9001)
    a.send("CALL_ANSWERED", at=a.now + 7_000, externalCallId="c1")
    a.end("c1", "COMPLETED", 9001, at=a.now + 3 * MIN); a.complete("c1", 9001)
    db.load(log)
    call = db.calls()["c1"]
    assert (call["outcome"], call["direction"], call["answered"]) == ("answered", "inbound", True)
    assert call["time_to_answer_ms"] == 7_000 + 80  # two replies, 40 ms apart, then the answer
    assert call["duration_ms"] == 3 * MIN
    assert (call["engagement"], call["engagement_id"]) == ("created", 9001)
    assert (call["caller_id"], call["caller_id_matches"], call["caller_id_types"]) == ("matched", 1, ["CONTACT"])


def test_completed_status_without_answer_is_not_answered(db, log):
    # The react demo ends an outbound call hung up while dialing with callEndStatus COMPLETED.
    a = Tab(log, "tab-a").iframe("widget", at=T0)
    a.recv("DIAL_NUMBER", phoneNumber="+14155550177", objectId=51, objectType="CONTACT")
    a.dial("o1"); a.engagement(9100)
    a.end("o1", "COMPLETED", 9100, at=a.now + 9_000)
    db.load(log)
    call = db.calls()["o1"]
    assert (call["outcome"], call["direction"], call["answered"], call["end_status"]) == (
        "unanswered", "outbound", False, "COMPLETED")
    assert call["time_to_answer_ms"] is None and call["duration_ms"] is None


def test_missed_inbound_for_every_non_failed_status(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    statuses = ["MISSED", "NO_ANSWER", "CANCELED", "REJECTED", "BUSY"]
    for i, status in enumerate(statuses):
        a.ring(f"m{i}", at=T0 + (i + 1) * MIN)
        a.end(f"m{i}", status, at=a.now + 15_000)
    a.ring("m-nostatus", at=T0 + 10 * MIN)
    a.send("CALL_ENDED", externalCallId="m-nostatus")  # pre-0.7 apps send no callEndStatus
    db.load(log)
    calls = db.calls()
    assert {calls[f"m{i}"]["outcome"] for i in range(len(statuses))} == {"missed"}
    assert [calls[f"m{i}"]["end_status"] for i in range(len(statuses))] == statuses
    assert calls["m-nostatus"]["outcome"] == "missed" and calls["m-nostatus"]["end_status"] is None


def test_failed_when_never_answered_and_ended_failed(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.dial("f-out"); a.end("f-out", "FAILED", at=a.now + 2_000)
    a.ring("f-in", at=a.now + MIN); a.end("f-in", "FAILED")
    a.ring("f-completed-only", at=a.now + MIN); a.complete("f-completed-only", 0, status="FAILED")
    db.load(log)
    calls = db.calls()
    assert {c: calls[c]["outcome"] for c in calls} == {
        "f-out": "failed", "f-in": "failed", "f-completed-only": "failed"}


def test_answered_call_that_failed_later_is_answered(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c1"); a.send("CALL_ANSWERED", externalCallId="c1"); a.end("c1", "FAILED", at=a.now + MIN)
    db.load(log)
    assert db.calls()["c1"]["outcome"] == "answered"


def test_unanswered_outbound(db, log):
    a = Tab(log, "tab-a").iframe("widget", at=T0)
    a.dial("o1"); a.end("o1", "NO_ANSWER", at=a.now + 30_000)
    a.dial("o2", at=a.now + MIN); a.end("o2", "BUSY", at=a.now + 3_000)
    db.load(log)
    assert {c["outcome"] for c in db.calls().values()} == {"unanswered"}


def test_dropped_when_page_unloads_mid_call(db, log):
    a = Tab(log, "tab-a").iframe("widget", at=T0)
    a.ring("d1"); a.engagement(9200); a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="d1")
    a.pagehide(at=a.now + 2 * MIN)
    db.load(log)
    call = db.calls()["d1"]
    assert call["outcome"] == "dropped"
    assert call["duration_ms"] == 2 * MIN
    assert call["went_away_at"] is not None


def test_dropped_when_navigation_remounts_the_iframe_in_the_same_tab(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("d2"); a.send("CALL_ANSWERED", externalCallId="d2")
    tab.iframe("remote", at=a.now + 5 * MIN)  # no PAGEHIDE captured: only the new instance tells
    db.load(log)
    assert db.calls()["d2"]["outcome"] == "dropped"


def test_silence_is_not_a_drop(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("s1"); a.send("CALL_ANSWERED", externalCallId="s1")
    a.recv("VISIBILITY_CHANGED", at=a.now + 45 * MIN, isMinimized=True, isHidden=False)
    db.load(log)
    call = db.calls()["s1"]
    assert call["outcome"] == "in_progress" and call["went_away_at"] is None


def test_new_instance_in_another_tab_or_location_is_not_a_drop(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("s2"); a.send("CALL_ANSWERED", externalCallId="s2")
    tab.iframe("widget", at=a.now + MIN)               # the widget opened beside the remote in the same tab
    Tab(log, "tab-b").iframe("remote", at=a.now + 2 * MIN)  # another tab loaded
    db.load(log)
    assert db.calls()["s2"]["outcome"] == "in_progress"


def test_pagehide_before_later_messages_is_not_a_drop(db, log):
    # A page restored from the back-forward cache keeps sending: the PAGEHIDE was not the end of it.
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("s3"); a.send("CALL_ANSWERED", externalCallId="s3"); a.pagehide()
    a.recv("VISIBILITY_CHANGED", at=a.now + MIN, isMinimized=False, isHidden=False)
    db.load(log)
    assert db.calls()["s3"]["outcome"] == "in_progress"


def test_call_survives_navigation_when_new_instance_takes_it_over(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("widget", at=T0)
    a.ring("r1"); a.engagement(9300); a.send("CALL_ANSWERED", externalCallId="r1"); a.pagehide(at=a.now + MIN)
    b = tab.iframe("widget", at=a.now + 900, engagement_id=9300)  # SYNC hands the reloaded iframe the call
    db.load(log)
    assert db.calls()["r1"]["outcome"] == "dropped"  # a handover alone proves nothing: the app must speak for it
    b.end("r1", "COMPLETED", 9300, at=b.now + 4 * MIN); b.complete("r1", 9300)
    db.load(log)
    call = db.calls()["r1"]
    assert call["outcome"] == "answered"
    assert call["instances_involved"] == 2 and call["instances"] == 1


def test_call_ringing_in_three_tabs_is_one_call(db, log):
    instances = [Tab(log, f"tab-{n}").iframe("remote", at=T0 + n * 10) for n in range(3)]
    for inst in instances:
        inst.ring("multi", at=T0 + MIN + int(inst.tab.name[-1]))
        inst.matched("Grace Hopper")
    winner = instances[1]
    winner.engagement(9400)
    winner.send("CALL_ANSWERED", at=winner.now + 6_000, externalCallId="multi")
    winner.end("multi", "COMPLETED", 9400, at=winner.now + 2 * MIN)
    for loser in (instances[0], instances[2]):
        loser.pagehide(at=loser.now + 30_000)  # the other tabs are closed meanwhile
    db.load(log)
    calls = db.calls()
    assert list(calls) == ["multi"]
    call = calls["multi"]
    assert (call["outcome"], call["instances"], call["tabs"]) == ("answered", 3, 3)


def test_dropped_needs_every_carrier_gone(db, log):
    # Unanswered, ringing in two tabs: one tab navigates away, the other still rings.
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 5)
    a.ring("two", at=T0 + MIN); b.ring("two", at=T0 + MIN + 3)
    a.pagehide(at=T0 + MIN + 8_000)
    db.load(log)
    assert db.calls()["two"]["outcome"] == "in_progress"
    b.pagehide(at=T0 + MIN + 9_000)
    db.load(log)
    assert db.calls()["two"]["outcome"] == "dropped"


def test_answered_call_carried_by_the_answering_tab_only(db, log):
    # Answered in tab b, tab a stays open: the call drops when tab b goes away.
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 5)
    a.ring("ab", at=T0 + MIN); b.ring("ab", at=T0 + MIN + 3)
    b.send("CALL_ANSWERED", at=T0 + MIN + 5_000, externalCallId="ab")
    b.pagehide(at=T0 + 4 * MIN)
    db.load(log)
    assert db.calls()["ab"]["outcome"] == "dropped"


def test_transferred_unanswered_inbound_is_missed(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("t1"); a.send("CALL_TRANSFERRED", at=a.now + 5_000, externalCallId="t1")
    db.load(log)
    call = db.calls()["t1"]
    assert (call["outcome"], call["transferred"]) == ("missed", True)


def test_answer_without_payload_belongs_to_the_instances_latest_call(db, log):
    # Before SDK 0.6.3 CALL_ANSWERED had no data; CALL_ENDED had none before ~0.7.
    a = Tab(log, "tab-a", sdk_version="0.5.1").iframe("widget", at=T0)
    a.dial("old1"); a.send("CALL_ANSWERED", data=None); a.send("CALL_ENDED", at=a.now + MIN, data=None)
    db.load(log)
    call = db.calls()["old1"]
    assert (call["outcome"], call["duration_ms"]) == ("answered", MIN)


def test_engagement_failure_and_caller_id_failure(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("e1")
    a.recv("CALLER_ID_MATCH_FAILED", error={"message": "Caller ID lookup timed out after 3000ms"})
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Request failed with status code 429"})
    a.end("e1", "MISSED", at=a.now + 20_000)
    db.load(log)
    call = db.calls()["e1"]
    assert (call["engagement"], call["engagement_id"], call["engagement_error"]) == (
        "failed", None, "Request failed with status code 429")
    assert (call["caller_id"], call["caller_id_error"]) == ("failed", "Caller ID lookup timed out after 3000ms")


def test_replies_attach_to_the_right_call_in_order(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("first"); a.engagement(1); a.end("first", "MISSED", 1, at=a.now + 10_000)
    a.ring("second", at=a.now + MIN); a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "boom"})
    a.end("second", "MISSED", at=a.now + 10_000)
    db.load(log)
    calls = db.calls()
    assert (calls["first"]["engagement"], calls["second"]["engagement"]) == ("created", "failed")


def test_call_arriving_while_user_unavailable(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.send("USER_UNAVAILABLE", at=T0 + MIN, data=None)
    a.ring("u1", at=T0 + 2 * MIN); a.end("u1", "MISSED", at=a.now + 20_000)
    a.send("USER_AVAILABLE", at=T0 + 3 * MIN, data=None)
    a.ring("u2", at=T0 + 4 * MIN); a.end("u2", "MISSED", at=a.now + 20_000)
    db.load(log)
    calls = db.calls()
    assert calls["u1"]["arrived_while_unavailable"] is True
    assert calls["u2"]["arrived_while_unavailable"] is False


def test_load_order_does_not_change_calls(db, tmp_path):
    from tests.conftest import Db

    log = Log()
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("x1"); a.send("CALL_ANSWERED", externalCallId="x1")
    tab.iframe("remote", at=a.now + MIN)
    records = log.sorted()
    first, second = Log(), Log()
    first.records, second.records = records[: len(records) // 2], records[len(records) // 2:]
    db.load(second)
    db.load(first)
    other = Db(tmp_path / "other")
    other.folder.mkdir()
    other.load(first, second)
    assert db.calls() == other.calls()
    assert db.calls()["x1"]["outcome"] == "dropped"


def test_update_engagement_failure_without_an_engagement_id_belongs_to_the_completed_call(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("u1"); a.engagement(9500); a.send("CALL_ANSWERED", externalCallId="u1")
    a.end("u1", "COMPLETED", 9500, at=a.now + MIN); a.complete("u1", 9500)
    a.recv("UPDATE_ENGAGEMENT_FAILED", error={"message": "Property hs_call_duration is invalid"})
    a.ring("u2", at=a.now + MIN); a.engagement(9501); a.end("u2", "MISSED", 9501); a.complete("u2", 9501)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9501)
    db.load(log)
    calls = db.calls()
    assert db.sql("SELECT update_engagement_failed FROM calls ORDER BY external_call_id") == [(True,), (False,)]
    assert calls["u1"]["outcome"] == "answered"


# Drops on navigation (inbound-calling guide, "Prevent dropped calls")

def test_navigation_drops_the_call_even_when_hubspot_hands_the_new_iframe_its_engagement(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("remote", at=T0)
    a.ring("nav"); a.engagement(9300); a.send("CALL_ANSWERED", at=a.now + 3_000, externalCallId="nav")
    hide = a.pagehide(at=a.now + 1_500)
    b = Instance(tab, "remote", hide["ts"] + 700, False)
    b.handshake(engagement_id=9300)  # SYNC hands the re-mounted iframe the call in progress ...
    b.send("INITIALIZED", engagementId=9300, isLoggedIn=True, isAvailable=True)  # ... and the app echoes onReady
    b.send("USER_AVAILABLE", data=None)
    b.recv("VISIBILITY_CHANGED", at=b.now + 10_000, isMinimized=False, isHidden=False)  # the tab stays open
    db.load(log)
    call = db.calls()["nav"]
    assert (call["outcome"], call["duration_ms"]) == ("dropped", 1_500)
    b.pagehide(at=T0 + 15_200 + 3_000)  # later the tab closes
    db.load(log)
    call = db.calls()["nav"]
    assert (call["outcome"], call["duration_ms"]) == ("dropped", 1_500)
    assert call["went_away_at"] == db.sql("SELECT strftime(epoch_ms(?::BIGINT), '%Y-%m-%dT%H:%M:%S.%gZ')",
                                          [hide["ts"]])[0][0]


def test_a_call_held_by_the_calling_window_survives_a_tab_navigation(db, log):
    window = Tab(log, "tab-w").iframe("window", at=T0, uses_calling_window=True)
    tab = Tab(log, "tab-a")
    remote = tab.iframe("remote", at=T0 + 5, uses_calling_window=True)
    window.ring("held", at=T0 + MIN); window.engagement(9400)
    remote.send("CALL_ANSWERED", at=T0 + MIN + 5_000, externalCallId="held")  # answered in the tab's iframe
    remote.pagehide(at=T0 + 2 * MIN)
    tab.iframe("remote", at=T0 + 2 * MIN + 800, uses_calling_window=True)  # the navigation re-mounts it
    db.load(log)
    assert db.calls()["held"]["outcome"] == "in_progress"
    window.end("held", "COMPLETED", 9400, at=T0 + 6 * MIN)
    db.load(log)
    call = db.calls()["held"]
    assert (call["outcome"], call["duration_ms"]) == ("answered", 5 * MIN - 5_000)


def test_a_calling_window_closing_mid_call_drops_it(db, log):
    window = Tab(log, "tab-w").iframe("window", at=T0, uses_calling_window=True)
    window.ring("lost", at=T0 + MIN); window.send("CALL_ANSWERED", at=T0 + MIN + 4_000, externalCallId="lost")
    window.pagehide(at=T0 + 3 * MIN)
    db.load(log)
    assert db.calls()["lost"]["outcome"] == "dropped"


# Calls that never ended

def test_a_call_its_instance_moved_on_from_never_ended(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("n1"); a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="n1")  # the app never ends it
    a.ring("n2", at=a.now + 5 * MIN); a.end("n2", "MISSED", at=a.now + 20_000)
    a.pagehide(at=a.now + MIN)
    db.load(log)
    calls = db.calls()
    assert (calls["n1"]["outcome"], calls["n1"]["duration_ms"], calls["n2"]["outcome"]) == (
        "never_ended", None, "missed")
    assert db.sql("SELECT never_ended_because FROM calls WHERE external_call_id = 'n1'") == [("next_call",)]
    assert db.calls(outcome="never_ended") == {"n1": calls["n1"]}


def test_a_call_silent_longer_than_the_longest_call_never_ended(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("quiet"); a.send("CALL_ANSWERED", externalCallId="quiet")
    b = Tab(log, "tab-b").iframe("remote", at=a.now + 3 * HOUR)  # the same app, still sending
    db.load(log)
    assert db.calls()["quiet"]["outcome"] == "in_progress"
    b.recv("VISIBILITY_CHANGED", at=a.now + MAX_CALL_MS + MIN, isMinimized=True, isHidden=False)
    db.load(log)
    assert db.calls()["quiet"]["outcome"] == "never_ended"
    assert db.sql("SELECT never_ended_because FROM calls") == [("silence",)]


def test_an_iframe_gone_long_after_the_calls_last_word_is_no_drop(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("old"); a.send("CALL_ANSWERED", externalCallId="old")
    a.pagehide(at=a.now + 5 * HOUR)
    db.load(log)
    call = db.calls()["old"]
    assert (call["outcome"], call["duration_ms"]) == ("never_ended", None)


# SDK version

def test_sdk_version_is_the_release_and_the_raw_string_is_kept(db, log):
    a = Tab(log, "tab-a", sdk_version="0.9.7-beta.0").iframe("remote", at=T0)
    for record in log.records:
        if record["message"]["type"] == "SYNC":
            del record["sdk_version"]  # captured before the app's SYNC_ACK told the version
    a.ring("v1"); a.end("v1", "MISSED", at=a.now + 9_000)
    db.load(log)
    call = db.calls()["v1"]
    assert (call["sdk_version"], call["sdk_version_raw"]) == ("0.9.7", "0.9.7-beta.0")
    assert db.sql("SELECT e.sdk_version, n.sdk_version, n.sdk_version_raw FROM events e JOIN instances n "
                  "USING (instance) WHERE e.type = 'SYNC'") == [(None, "0.9.7", "0.9.7-beta.0")]
    with connect_reader(db.path) as con:
        found = con.execute(FILTERED_CALLS_SQL, Filters(DAY, DAY, sdk_versions=("0.9.7",)).params()).fetchall()
    assert len(found) == 1
