"""Which messages make one call (ingest/derive/ids.py, messages.py), on crafted logs that mirror what the SDK's own
demo apps sent in headless Chromium: blank ids, a stale engagementId, several ids for one call."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from analytics import explorer
from analytics.db import runner
from analytics.filters import Filters
from analytics.replay import load as replay
from analytics.replay.diagnosis import diagnose
from analytics.replay.load import load_trace
from ingest.store import connect_reader
from tests.logs import T0, Tab

MIN = 60_000


def answered_call(a, call_id: str, engagement_id: int, at: int | None = None) -> None:
    a.ring(call_id, at=at); a.matched("Ada Lovelace"); a.engagement(engagement_id)
    a.send("CALL_ANSWERED", at=a.now + 5_000, externalCallId=call_id)
    a.end(call_id, "COMPLETED", engagement_id, at=a.now + MIN); a.complete(call_id, engagement_id)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=engagement_id)


def findings(db, call_id: str) -> dict:
    with connect_reader(db.path) as con:
        return {f.code: f for f in diagnose(load_trace(runner(con), call_id))}


# Blank ids

def test_end_call_clicked_with_no_call_is_an_orphan_that_changes_nothing(db, log):
    # The minimal demo sends CALL_ENDED {externalCallId: ""} (keeping the last engagementId) when "end call" is
    # clicked after the call is over.
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    answered_call(a, "c1", 9001)
    stray = a.send("CALL_ENDED", at=a.now + 4_000, externalCallId="", engagementId=9001, callEndStatus="FAILED")
    b = Tab(log, "tab-b", portal_id=1, app="other-app").iframe("remote", at=T0 + 30 * MIN)  # no call at all
    b.send("CALL_ENDED", externalCallId="   ", callEndStatus="CANCELED")
    db.load(log)
    calls = db.calls()
    assert list(calls) == ["c1"]  # no call keyed "" or "   ", nothing merged across apps and portals
    assert (calls["c1"]["outcome"], calls["c1"]["end_status"], calls["c1"]["messages"]) == ("answered", "COMPLETED", 7)
    orphans = db.sql("SELECT instance, type, call_id, near_call_id FROM blank_id_messages ORDER BY ts")
    assert orphans == [(a.id, "CALL_ENDED", None, "c1"), (b.id, "CALL_ENDED", None, None)]
    assert db.sql("SELECT tied_by FROM call_messages WHERE event_key IN (SELECT event_key FROM blank_id_messages)"
                  ) == [("orphan",)]
    found = findings(db, "c1")["orphan_message"]
    assert "blank externalCallId, 4.0 s after" in found.detail and "engagementId 9001" in found.detail
    with connect_reader(db.path) as con:
        trace = load_trace(runner(con), "c1")
    assert trace.messages[found.message_indexes[0]].ts_ms == stray["ts"]


def test_the_imports_page_counts_orphans(db, log):
    from streamlit.testing.v1 import AppTest

    a = Tab(log, "tab-a").iframe("remote", at=T0)
    answered_call(a, "c1", 9001)
    a.send("CALL_ENDED", at=a.now + 4_000, externalCallId="", engagementId=9001, callEndStatus="FAILED")
    a.send("CALL_ENDED", at=a.now + 600_000, externalCallId=" ", callEndStatus="CANCELED")  # long after: not near
    db.load(log)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db.path)
    at.run()
    at.switch_page("pages/support/imports.py").run()
    assert not at.exception
    orphans = next(d.value for d in at.dataframe if "near_a_call" in d.value.columns)
    assert orphans[["type", "messages", "near_a_call"]].values.tolist() == [["CALL_ENDED", 2, 1]]


def test_blank_id_messages_belong_to_their_instances_open_call(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c2"); a.engagement(9002)
    a.send("CALL_ANSWERED", at=a.now + 3_000, externalCallId="")          # answered, id left blank
    a.send("CALL_ENDED", at=a.now + MIN, externalCallId=" ", callEndStatus="COMPLETED")
    a.send("CALL_COMPLETED", externalCallId="", engagementId=9002, engagementProperties={"hs_call_status": "COMPLETED"})
    a.send("CALL_ENDED", at=a.now + 2_000, externalCallId="", callEndStatus="CANCELED")  # the call has ended
    db.load(log)
    call = db.calls()["c2"]
    assert (call["outcome"], call["end_status"], call["duration_ms"]) == ("answered", "COMPLETED", MIN)
    assert db.sql("SELECT type, tied_by FROM blank_id_messages ORDER BY ts") == [
        ("CALL_ANSWERED", "order"), ("CALL_ENDED", "order"), ("CALL_COMPLETED", "order"), ("CALL_ENDED", None)]


def test_a_reloaded_iframe_speaks_for_the_call_by_its_engagement_id(db, log):
    tab = Tab(log, "tab-a")
    a = tab.iframe("widget", at=T0)
    a.ring("r1"); a.engagement(9300); a.send("CALL_ANSWERED", externalCallId="r1"); a.pagehide(at=a.now + MIN)
    b = tab.iframe("widget", at=a.now + 900, engagement_id=9300)
    b.send("CALL_ENDED", at=b.now + 2 * MIN, externalCallId="", engagementId=9300, callEndStatus="COMPLETED")
    db.load(log)
    call = db.calls()["r1"]
    assert (call["outcome"], call["instances_involved"]) == ("answered", 2)
    assert db.sql("SELECT tied_by FROM blank_id_messages") == [("engagement_id",)]


# A stale engagementId

def test_a_stale_engagement_id_stays_with_the_call_hubspot_created_it_for(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    answered_call(a, "first", 9001)
    a.ring("second", at=a.now + MIN)
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Request failed with status code 500"})
    a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="second")
    a.end("second", "COMPLETED", 9001, at=a.now + MIN); a.complete("second", 9001)   # the previous call's id
    late = a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9001)
    db.load(log)
    calls = db.calls()
    first, second = calls["first"], calls["second"]
    assert (first["engagement"], first["engagement_id"], first["foreign_engagements"]) == ("created", 9001, [])
    assert (second["engagement"], second["engagement_id"]) == ("failed", None)
    assert second["foreign_engagements"] == [{"engagement_id": 9001, "created_for": "first"}]
    assert db.sql("SELECT call_id FROM call_messages WHERE ts = epoch_ms(?::BIGINT) AND type = ?",
                  [late["ts"], "UPDATE_ENGAGEMENT_SUCCEEDED"]) == [("first",)]  # the owner gets HubSpot's reply
    assert (first["outcome"], first["duration_ms"], second["outcome"]) == ("answered", MIN, "answered")
    found = findings(db, "second")["foreign_engagement"]
    assert found.severity == "error" and "CREATE_ENGAGEMENT_FAILED #" in found.detail
    assert "engagement 9001 in CALL_ENDED #" in found.detail
    assert "foreign_engagement" not in findings(db, "first")


# One call, several ids

def test_remote_iframes_answering_a_calling_window_call_under_fresh_ids_are_one_call(db, log):
    # The minimal demo: the calling window rings; each remote iframe makes up an externalCallId before answering
    # and ending, but carries the engagementId HubSpot created for the ringing call.
    window = Tab(log, "tab-w").iframe("window", at=T0, uses_calling_window=True)
    remotes = [Tab(log, f"tab-{n}").iframe("remote", at=T0 + n, uses_calling_window=True) for n in (1, 2)]
    window.ring("w1", at=T0 + MIN); window.matched("Ada Lovelace"); window.engagement(9100)
    for n, r in enumerate(remotes):
        r.send("CALL_ANSWERED", at=T0 + MIN + 6_000 + n, externalCallId=f"fresh-{n}")
    for n, r in enumerate(remotes):
        r.end(f"fresh-{n}", "COMPLETED", 9100, at=T0 + 4 * MIN + n); r.complete(f"fresh-{n}", 9100)
    db.load(log)
    calls = db.calls()
    assert list(calls) == ["w1"]
    call = calls["w1"]
    assert (call["outcome"], call["direction"], call["aliases"], call["duration_ms"]) == (
        "answered", "inbound", ["fresh-0", "fresh-1"], 3 * MIN - 6_000)
    assert db.calls(call_id="fresh-1") == calls  # an alias finds its call, in the CLI, the explorer and the replay
    with connect_reader(db.path) as con:
        run = runner(con)
        explored = run(explorer.CALLS_SQL, **explorer.explorer_params(text="fresh-1"), **Filters(
            start=date(2025, 11, 1), end=date(2025, 11, 30)).params(), limit=10)
        found_by_replay = run(replay.FIND_CALLS_SQL, **replay.find_params("fresh-0"))
    assert [c["external_call_id"] for c in explored] == ["w1"]
    assert [c["external_call_id"] for c in found_by_replay] == ["w1"]
    found = findings(db, "w1")["several_call_ids"]
    assert "3 externalCallIds for this one call (w1, fresh-0, fresh-1)" in found.detail


def test_remote_iframes_relaying_the_windows_call_under_their_own_ring_are_one_call(db, log):
    # The React demo's popped-out calling window: each remote iframe relays the call with an INCOMING_CALL of its
    # own (a fresh id, the caller's number, milliseconds later), and HubSpot creates an engagement for each.
    window = Tab(log, "tab-w").iframe("window", at=T0, uses_calling_window=True)
    remotes = [Tab(log, f"tab-{n}").iframe("remote", at=T0 + n, uses_calling_window=True) for n in (1, 2)]
    window.ring("w2", at=T0 + MIN); window.engagement(9200)
    for n, r in enumerate(remotes):
        r.ring(f"relay-{n}", at=T0 + MIN + 3 + n); r.engagement(9201 + n)
    window.send("CALL_ANSWERED", at=T0 + MIN + 8_000, externalCallId="w2")
    window.end("w2", "COMPLETED", 9200, at=T0 + 5 * MIN); window.complete("w2", 9200)
    for n, r in enumerate(remotes):
        r.end(f"relay-{n}", "MISSED", 9200, at=T0 + 5 * MIN + 50 + n); r.complete(f"relay-{n}", 9200, "MISSED")
    db.load(log)
    calls = db.calls()
    assert list(calls) == ["w2"]
    call = calls["w2"]
    assert (call["outcome"], call["end_status"], call["engagement_id"], call["aliases"]) == (
        "answered", "COMPLETED", 9200, ["relay-0", "relay-1"])
    assert db.sql("SELECT DISTINCT i.call_id FROM engagement_owners o JOIN call_ids i "
                  "ON i.external_call_id = o.created_for") == [("w2",)]


def test_a_later_call_reusing_an_engagement_is_not_joined_to_the_finished_one(db, log):
    # A made-up id that first speaks after the engagement's call ended is not that call: it stays its own.
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    answered_call(a, "done", 9001)
    a.send("CALL_ANSWERED", at=a.now + 5 * MIN, externalCallId="made-up")
    a.end("made-up", "COMPLETED", 9001, at=a.now + MIN)
    db.load(log)
    calls = db.calls()
    assert sorted(calls) == ["done", "made-up"] and calls["done"]["aliases"] == []
    assert calls["made-up"]["foreign_engagements"] == [{"engagement_id": 9001, "created_for": "done"}]
