"""Call replay: finding and loading a call, its timeline, comparison, annotations, export, and the page (AppTest)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import annotations
from analytics.db import runner
from analytics.figures.timeline import build_figure
from analytics.format import offset, scrub
from analytics.replay import compare
from analytics.replay import load as replay
from analytics.replay import trace as vocabulary
from analytics.replay.diagnosis import diagnose
from analytics.replay.trace import pair_replies, phases, states
from ingest import sdk
from ingest.store import connect_reader
from tests.conftest import Db
from tests.logs import T0, Instance, Log, Tab
from ui import strings

REPO = Path(__file__).resolve().parent.parent
MIN = 60_000
PORTAL = 4455123


def answered(a, call_id: str, engagement_id: int, at: int | None = None) -> None:
    a.ring(call_id, at=at, from_number="+14155550123"); a.matched("Ada Lovelace"); a.engagement(engagement_id)
    a.send("CALL_ANSWERED", at=a.now + 6_000, externalCallId=call_id)
    a.end(call_id, "COMPLETED", engagement_id, at=a.now + 2 * MIN); a.complete(call_id, engagement_id)
    a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=engagement_id)


def support_log() -> Log:
    """A healthy call, a dropped one (page navigation in a widget tab), one ringing in two tabs, a failed engagement."""
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    answered(a, "c-ok", 9001, at=T0 + MIN)
    widget = Tab(log, "tab-w")
    w = widget.iframe("widget", at=T0 + 10 * MIN)
    w.ring("c-drop", at=T0 + 11 * MIN, from_number="+14155557788"); w.matched("Grace Hopper"); w.engagement(9002)
    w.send("CALL_ANSWERED", at=w.now + 5_000, externalCallId="c-drop")
    w.pagehide(at=w.now + 3 * MIN)
    widget.iframe("widget", at=w.now + 2_000)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 500)
    a.ring("c-multi", at=T0 + 20 * MIN); b.ring("c-multi", at=T0 + 20 * MIN + 90)
    a.matched("Ada Lovelace"); a.engagement(9003); b.engagement(9003)
    a.send("CALL_ANSWERED", at=a.now + 4_000, externalCallId="c-multi")
    a.end("c-multi", "COMPLETED", 9003, at=a.now + MIN); b.end("c-multi", "COMPLETED", 9003, at=a.now + 300)
    a.complete("c-multi", 9003, at=a.now + 10_000); a.recv("UPDATE_ENGAGEMENT_SUCCEEDED", engagementId=9003)
    a.ring("c-fail", at=T0 + 30 * MIN)
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Request failed with status code 429"})
    a.send("CALL_ANSWERED", externalCallId="c-fail"); a.end("c-fail", "COMPLETED", at=a.now + MIN)
    a.complete("c-fail", 0)
    answered(a, "c-ok2", 9005, at=T0 + 40 * MIN)
    return log


@pytest.fixture(scope="module")
def support_db(tmp_path_factory) -> Db:
    db = Db(tmp_path_factory.mktemp("replay"))
    db.load(support_log())
    return db


@pytest.fixture
def run(support_db):
    with connect_reader(support_db.path) as con:
        yield runner(con)


# Finding and loading a call -----------------------------------------------------------------------------------

def test_find_by_call_id_engagement_id_digits_and_portal_window(run):
    def ids(text=None, **filters):
        return {row["external_call_id"] for row in replay.find_calls(run, text, **filters)}

    assert ids("c-dr") == {"c-drop"}
    assert ids("9002") == {"c-drop"}
    assert ids("555-7788") == {"c-drop"} and ids("7788") == {"c-drop"}
    assert ids("0123") == {"c-ok", "c-multi", "c-fail", "c-ok2"}
    def utc(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)

    window = dict(portal_id=PORTAL, since=utc(T0 + 19 * MIN), until=utc(T0 + 31 * MIN))
    assert ids(**window) == {"c-multi", "c-fail"}
    assert ids(portal_id=1) == set()
    assert ids(outcome="dropped") == {"c-drop"}


def test_redacted_numbers_are_found_by_their_last_four_digits(db):
    log = Log()
    answered(Tab(log, "tab-a").iframe("remote", at=T0), "r1", 9100)
    db.load(log, redact=True)
    with connect_reader(db.path) as con:
        run = runner(con)
        assert [row["external_call_id"] for row in replay.find_calls(run, "+1 415 555 0123")] == ["r1"]
        trace = replay.load_trace(run, "r1")
    ring = trace.of_type("INCOMING_CALL")[0]
    assert ring.redacted and ring.data["fromNumber"].startswith("~") and ring.data["fromNumber"].endswith("-0123")


def test_a_dropped_call_with_its_instances_and_context(run):
    trace = replay.load_trace(run, "c-drop")
    assert trace.call["outcome"] == "dropped"
    assert [(i.tab, i.role) for i in trace.instances] == [("tab-w", "call"), ("tab-w", "replacement")]
    types = [m.type for m in trace.messages]
    # The instance's handshake before the ring, the PAGEHIDE, and the new iframe's handshake are context.
    assert types[:4] == ["SYNC", "SYNC_ACK", "INITIALIZED", "USER_AVAILABLE"]
    assert "PAGEHIDE" in types and types.count("SYNC") == 2
    assert [m.type for m in trace.call_messages] == [
        "INCOMING_CALL", "CALLER_ID_MATCH_SUCCEEDED", "CREATE_ENGAGEMENT_SUCCEEDED", "CALL_ANSWERED"]
    assert not any(m.external_call_id not in (None, "c-drop") for m in trace.messages)  # no other call's messages
    assert replay.load_trace(run, "no-such-call") is None


@pytest.mark.parametrize("name", ["iframe-w1", "1764072900000"])  # not an instanceId; an id that is not its start
def test_instances_whose_ids_are_not_their_start_time(db, name):
    tab = Tab(Log(), "tab-w")
    a = Instance(tab, "widget", T0, False)
    a.id = name
    a.handshake(); a.send("INITIALIZED", isLoggedIn=True)
    a.ring("n1", at=T0 + 10 * MIN); a.send("CALL_ANSWERED", externalCallId="n1"); a.pagehide(at=a.now + MIN)
    tab.iframe("widget", at=a.now + 1_000)
    db.load(tab.log)
    with connect_reader(db.path) as con:
        trace = replay.load_trace(runner(con), "n1")
    assert [m.type for m in trace.messages][:3] == ["SYNC", "SYNC_ACK", "INITIALIZED"]  # read back to its start
    assert [(i.instance, i.role) for i in trace.instances][0] == (name, "call")
    assert trace.instances[0].started_ms == T0 and trace.instances[0].unloaded_ms is not None
    assert [i.role for i in trace.instances] == ["call", "replacement"]


def test_pairs_phases_and_state_at_each_step(run):
    trace = replay.load_trace(run, "c-ok")
    by_type = {m.type: m for m in trace.messages}
    pairs = {(trace.messages[p.request].type, trace.messages[p.reply].type): p for p in pair_replies(trace.messages)}
    assert pairs[("SYNC", "SYNC_ACK")].kind is None
    assert pairs[("INCOMING_CALL", "CALLER_ID_MATCH_SUCCEEDED")].latency_ms == 40
    assert pairs[("INCOMING_CALL", "CREATE_ENGAGEMENT_SUCCEEDED")].kind == "engagement"
    assert pairs[("CALL_COMPLETED", "UPDATE_ENGAGEMENT_SUCCEEDED")].latency_ms == 40
    assert [name for name, *_ in phases(trace)] == ["ringing", "talking", "wrap-up"]
    at = states(trace)
    assert at[by_type["INCOMING_CALL"].index].phase == "ringing"
    assert at[by_type["CREATE_ENGAGEMENT_SUCCEEDED"].index].engagement == "9001"
    assert at[by_type["CALLER_ID_MATCH_SUCCEEDED"].index].caller_id == "1 match"
    assert at[by_type["CALL_ANSWERED"].index].holder == by_type["CALL_ANSWERED"].instance
    assert [at[by_type[t].index].phase for t in ("CALL_ENDED", "CALL_COMPLETED")] == ["ended", "completed"]
    dropped = replay.load_trace(run, "c-drop")
    assert states(dropped)[-1].phase == "lost"


def test_the_replay_vocabulary_is_the_sdks():
    replies = set(vocabulary.REPLIES) | vocabulary.REQUEST_TYPES | set(vocabulary.REPLY_KIND)
    assert replies <= sdk.MESSAGE_TYPES
    assert set(vocabulary.START_TYPES) == set(sdk.CALL_START_TYPES)
    assert set(vocabulary.AVAILABILITY_TYPES) <= sdk.APP_TO_HUBSPOT
    assert set(replay.UNNAMED_REPLY_TYPES) <= sdk.CALL_REPLY_TYPES


def test_opening_a_call_runs_a_few_bound_queries(run, support_db):
    seen = []

    def spy(sql, **params):
        seen.append((sql, params))
        return run(sql, **params)

    replay.load_trace(spy, "c-drop")
    assert len(seen) <= 6
    assert all(sql in vars(replay).values() for sql, _ in seen)  # named statements only, values bound


def _files_read(plan: dict) -> list[int]:
    """'Total Files Read' of every Parquet scan in an EXPLAIN (ANALYZE, FORMAT JSON) plan."""
    found, todo = [], list(plan["operator"])
    while todo:
        node = todo.pop()
        todo += node.get("children", [])
        if node["extra_info"].get("Function") == "READ_PARQUET":
            found.append(int(node["extra_info"]["Total Files Read"]))
    return found


def test_opening_a_call_reads_only_the_days_it_spans(db):
    log = Log()
    for day in range(6):  # a call a day: six days of events, calls and call_messages
        answered(Tab(log, f"tab-{day}").iframe("remote", at=T0 + day * 86_400_000), f"d{day}", 9300 + day)
    db.load(log)
    scans: dict[str, list[int]] = {}
    with connect_reader(db.path) as con:
        assert con.execute("SELECT count(DISTINCT day) FROM events_by_day").fetchone()[0] == 6
        fetch = runner(con)

        def profiled(sql, **params):
            plan = con.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[1]
            scans[next(k for k, v in vars(replay).items() if v is sql)] = _files_read(json.loads(plan))
            return fetch(sql, **params)

        trace = replay.load_trace(profiled, "d3")
    assert [m.type for m in trace.call_messages][:1] == ["INCOMING_CALL"] and trace.call["outcome"] == "answered"
    # The call, its messages, its neighbours: one day's files each. Finding it by id reads every day's `calls`,
    # the portal's medians the 30 days up to it (days 0-3 here).
    for statement in ("CALL_INSTANCES_SQL", "NEIGHBOURS_SQL", "TRACE_EVENTS_SQL"):
        assert scans[statement] and all(n == 1 for n in scans[statement]), (statement, scans[statement])
    assert scans["CALL_SQL"] == [6] and scans["PORTAL_MEDIANS_SQL"] == [4]


# Export and summary --------------------------------------------------------------------------------------------

def test_capture_export_reloads_to_the_same_call(run, tmp_path):
    trace = replay.load_trace(run, "c-drop")
    exported = tmp_path / "c-drop.ndjson"
    exported.write_text(replay.to_ndjson(trace))
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(records) == len(trace.messages)
    assert set(records[0]) >= {"ts", "direction", "instance", "tab", "message", "event_id"}
    fresh = Db(tmp_path)
    fresh.load(exported)
    with connect_reader(fresh.path) as con:
        again = replay.load_trace(runner(con), "c-drop")
    assert again.call["outcome"] == "dropped"
    assert [f.code for f in diagnose(again)] == [f.code for f in diagnose(trace)]


def test_summary_has_the_findings_and_no_personal_data(run):
    trace = replay.load_trace(run, "c-drop")
    text = replay.summary_text(trace, diagnose(trace), "http://callscope/replay?call=c-drop&step=9")
    assert "outcome dropped" in text and "[critical] The call dropped" in text
    assert "http://callscope/replay?call=c-drop&step=9" in text
    for personal in ("+14155557788", "5557788", "Grace", "Hopper", "grace@example.com"):
        assert personal not in text
    assert scrub("call +1 (415) 555-0123 or ada@example.com, token ~3fa9c21b0d-0123") == \
        "call [phone] or [email], token ~3fa9c21b0d-0123"


# Compare -------------------------------------------------------------------------------------------------------

def test_compare_a_dropped_call_with_a_healthy_one(run):
    dropped = replay.load_trace(run, "c-drop")
    healthy = compare.pick_healthy(run, dropped)
    assert healthy is not None and healthy.call_id in ("c-ok", "c-ok2")
    steps = compare.align(dropped, healthy)
    status = {s.type: s.status for s in steps}
    assert status["INCOMING_CALL"] == status["CALL_ANSWERED"] == "same"
    assert status["CALL_ENDED"] == status["CALL_COMPLETED"] == "missing"
    assert status["PAGEHIDE"] == "extra"
    answer = next(s for s in steps if s.type == "CALL_ANSWERED")
    assert answer.delta_ms == dropped.rel_ms(dropped.of_type("CALL_ANSWERED")[0].ts_ms) - 6_080
    assert "missing" in compare.summary(steps) and "CALL_ENDED" in compare.summary(steps)


def test_compare_ignores_the_order_of_hubspot_replies_but_not_of_the_app(run, db):
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("x1"); a.engagement(1); a.matched("Ada Lovelace")  # replies the other way round
    a.send("CALL_ANSWERED", at=a.now + 5_000, externalCallId="x1")
    a.complete("x1", 1, at=a.now + MIN); a.end("x1", "COMPLETED", 1)
    db.load(log)
    with connect_reader(db.path) as con:
        swapped = replay.load_trace(runner(con), "x1")
    steps = compare.align(swapped, replay.load_trace(run, "c-ok"))
    assert {s.status for s in steps if s.type.startswith(("CREATE", "CALLER"))} == {"same"}
    assert "out of order" in {s.status for s in steps if s.type in ("CALL_ENDED", "CALL_COMPLETED")}


# Annotations ---------------------------------------------------------------------------------------------------

def test_tags_and_notes_survive_reimports(db):
    log = Log()
    answered(Tab(log, "tab-a").iframe("remote", at=T0), "t1", 9200)
    db.load(log)
    assert annotations.tags_for(db.path, ["t1"]) == {}          # no notes file yet: nothing, no error
    assert annotations.add_tag(db.path, "t1", "SDK Bug") == "sdk-bug"
    annotations.add_tag(db.path, "t1", "sdk-bug")                # twice is once
    annotations.add_tag(db.path, "t1", "beta-feedback", author="ana")
    annotations.add_note(db.path, "t1", "Dropped at 10:42 per the ticket", author="ana")
    db.load(log)                                                 # re-import: same calls, annotations kept
    db.load(support_log())
    assert annotations.tags_for(db.path, ["t1", "c-ok"]) == {"t1": ["beta-feedback", "sdk-bug"]}
    assert annotations.calls_with_tag(db.path, "beta-feedback") == ["t1"]
    notes = annotations.notes_for(db.path, "t1")
    assert notes["note"].tolist() == ["Dropped at 10:42 per the ticket"] and notes["author"].tolist() == ["ana"]
    annotations.remove_tag(db.path, "t1", "sdk-bug")
    assert annotations.annotated_calls(db.path).to_dict("records")[0]["tags"].tolist() == ["beta-feedback"]
    assert annotations.notes_path(db.path) == db.folder / "callscope" / "notes.duckdb"  # inside the store
    with pytest.raises(annotations.BadAnnotation):
        annotations.add_tag(db.path, "t1", "no spaces; or punctuation!")
    with pytest.raises(annotations.BadAnnotation):
        annotations.add_note(db.path, "t1", "   ")


def test_annotations_are_written_by_one_process_while_another_reads(db):
    annotations.add_tag(db.path, "seed", "app-bug")
    code = ("import sys; from pathlib import Path; from analytics import annotations as a\n"
            f"for i in range(6): a.add_tag(Path({str(db.path)!r}), f'w{{i}}', 'beta-feedback')")
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.monotonic() + 30
    while writer.poll() is None and time.monotonic() < deadline:
        assert "seed" in annotations.calls_with_tag(db.path, "app-bug")
    assert writer.wait(timeout=30) == 0
    assert len(annotations.calls_with_tag(db.path, "beta-feedback")) == 6


# Timeline ------------------------------------------------------------------------------------------------------

def long_session_trace(db, messages: int = 2_000):
    """An answered call during which the app toggles availability for a long time: ~2,000 messages."""
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("long"); a.matched("Ada Lovelace"); a.engagement(9300)
    a.send("CALL_ANSWERED", at=a.now + 5_000, externalCallId="long")
    for i in range(messages - 10):
        a.send("USER_UNAVAILABLE" if i % 2 == 0 else "USER_AVAILABLE", data=None, at=a.now + 1_500)
    a.end("long", "COMPLETED", 9300, at=a.now + 1_000); a.complete("long", 9300)
    db.load(log)
    with connect_reader(db.path) as con:
        return replay.load_trace(runner(con), "long")


def test_timeline_for_a_short_call(run):
    trace = replay.load_trace(run, "c-drop")
    fig = build_figure(trace, pair_replies(trace.messages), phases(trace), selected=5)
    markers = [i for t in fig.data if t.customdata is not None for i in (c[0] for c in t.customdata)]
    assert sorted(markers) == list(range(len(trace.messages)))        # every message is a clickable marker
    assert list(fig.layout.yaxis.ticktext)[0].startswith("<b>tab-w</b> · widget")
    assert "✕ page unloaded" in fig.layout.yaxis.ticktext[0]
    assert any(t.name == "✕ instance went away" for t in fig.data)
    assert fig.layout.xaxis.rangeslider.visible and fig.layout.xaxis.title.text == "seconds from the first ring"
    hover = next(h for t in fig.data if t.hovertext is not None for h in t.hovertext if "CALL_ANSWERED" in h)
    assert "UTC" in hover and "from the first ring" in hover and "externalCallId: c-drop" in hover
    utc = build_figure(trace, [], phases(trace), relative=False)
    assert utc.layout.xaxis.title.text == "time (UTC)"


def test_timeline_for_a_2000_message_call_stays_light(db):
    trace = long_session_trace(db)
    assert len(trace.messages) >= 2_000
    started = time.perf_counter()
    fig = build_figure(trace, pair_replies(trace.messages), phases(trace), selected=1_000)
    assert time.perf_counter() - started < 2
    labels = [a.text for a in fig.layout.annotations]
    assert 3 <= len(labels) < 40               # labels thinned out; the hover still names every message
    assert fig.layout.xaxis.title.text == "minutes from the first ring"
    assert states(trace)[-1].phase == "completed"


# The page (streamlit.testing) ----------------------------------------------------------------------------------

def replay_page(db_path: Path, **params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db_path)
    at.query_params.update(params)
    at.switch_page("pages/support/replay.py")
    return at.run()


def texts(at: AppTest) -> str:
    return "\n".join(e.value for e in [*at.markdown, *at.caption, *at.subheader, *at.success, *at.info, *at.warning])


def test_page_deep_link_opens_a_dropped_call_at_its_worst_finding(support_db, run):
    trace = replay.load_trace(run, "c-drop")
    hide = next(m for m in trace.messages if m.type == "PAGEHIDE")
    at = replay_page(support_db.path, call="c-drop")
    assert not at.exception
    assert at.title[0].value == strings.REPLAY_TITLE
    assert "The call dropped: its iframe went away mid-call" in texts(at)
    assert at.query_params["step"] == str(hide.index + 1)       # the URL keeps the step
    assert at.subheader[-1].value == f"#{hide.index + 1} PAGEHIDE"
    at.button(key="replay_next").click().run()
    assert at.query_params["step"] == str(hide.index + 2)
    assert at.subheader[-1].value == f"#{hide.index + 2} SYNC"
    at.button(key="replay_first").click().run()
    assert at.query_params["step"] == "1" and at.subheader[-1].value == "#1 SYNC"
    at.button(key="replay_finding_1").click().run()                # next finding: back to the drop
    assert at.query_params["step"] == str(hide.index + 1)


def test_page_step_from_the_url_and_the_call_state(support_db, run):
    trace = replay.load_trace(run, "c-ok")
    answer = trace.of_type("CALL_ANSWERED")[0]
    at = replay_page(support_db.path, call="c-ok", step=str(answer.index + 1))
    assert not at.exception
    assert strings.REPLAY_NO_PROBLEMS in [s.value for s in at.success]
    assert at.subheader[-1].value == f"#{answer.index + 1} CALL_ANSWERED"
    page = texts(at)
    assert "phase: **answered**" in page and "engagement: 9001" in page and "caller ID: 1 match" in page
    assert offset(trace.rel_ms(answer.ts_ms)) in page
    assert "c-ok" not in [s.value for s in at.warning]


def test_page_finder_unknown_call_and_empty_state(support_db):
    at = replay_page(support_db.path)
    assert not at.exception
    assert strings.REPLAY_PICK in [i.value for i in at.info]
    assert len(at.dataframe[0].value) == 5
    at.text_input(key="replay_find_text").input("9002").run()
    assert at.dataframe[0].value["external_call_id"].tolist() == ["c-drop"]
    missing = replay_page(support_db.path, call="nope")
    assert strings.REPLAY_NOT_FOUND.format(call_id="nope") in [w.value for w in missing.warning]


def test_page_opens_a_call_by_the_start_of_its_id_and_lists_candidates_when_several_match(support_db):
    at = replay_page(support_db.path, call="c-dr")       # unique: the call opens, the URL names it whole
    assert not at.exception
    assert at.query_params["call"] == "c-drop" and "The call dropped: its iframe went away mid-call" in texts(at)
    at = replay_page(support_db.path, call="c-")         # several: listed, newest first, none opened
    assert not at.exception
    listed = at.dataframe[0].value["external_call_id"].tolist()
    assert len(listed) > 1 and all(c.startswith("c-") for c in listed) and "c-drop" in listed
    assert strings.REPLAY_AMBIGUOUS.format(call_id="c-", n=len(listed), more="") in [w.value for w in at.warning]
    assert at.query_params["call"] == "c-" and not at.get("plotly_chart")


def test_page_tags_notes_compare_and_share(support_db):
    at = replay_page(support_db.path, call="c-fail")
    assert not at.exception
    assert "HubSpot could not create the call's engagement" in texts(at)
    assert "Compared with" not in texts(at)  # the lower tabs run only when opened: notes first
    at.session_state["replay_tab"] = strings.REPLAY_COMPARE
    at.run()
    assert "Compared with [c-ok" in texts(at)
    at.session_state["replay_tab"] = strings.REPLAY_NOTES
    at.run()
    at.multiselect(key="replay_tags_c-fail").select("app-bug").run()
    assert annotations.tags_for(support_db.path, ["c-fail"]) == {"c-fail": ["app-bug"]}
    at.text_area(key="replay_note_text").input("Engagement creation hit the rate limit")
    at.button[-1].click().run()  # the note form's submit
    notes = annotations.notes_for(support_db.path, "c-fail")
    assert notes["note"].tolist() == ["Engagement creation hit the rate limit"]
    assert not at.exception
    at.session_state["replay_tab"] = strings.REPLAY_SHARE
    at.run()
    summary = next(c.value for c in at.code if c.value.startswith("Call c-fail"))
    assert "Diagnosis (most severe first)" in summary and "status code 429" in summary
    assert {b.label for b in at.get("download_button")} >= {strings.REPLAY_DOWNLOAD_LOG}
