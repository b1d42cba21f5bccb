"""What the dashboard shows, number by number: one format per kind of number, headers in plain words, no "None",
changes only against a previous period that was captured, and the sidebar's filters kept across pages without them."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

from analytics import funnel, metrics
from analytics.db import connect_reader
from analytics.figures.charts import engagement_trend
from analytics.figures.charts import funnel as funnel_chart
from analytics.filters import Filters
from analytics.format import MISSING, delta, percent
from analytics.report import strings as rs
from analytics.report.build import build_report
from analytics.report.render import blocks
from analytics.report.summary import summarize
from tests.test_app import DATA, app_on, metric
from ui import strings
from ui.tables import display, header


def test_a_change_is_the_difference_of_the_values_as_shown():
    assert (percent(0.73355), percent(0.74446)) == ("73.4%", "74.4%")
    assert delta(0.74446, 0.73355, "rate") == "+1.0 pp"      # not +1.1 pp, from the unrounded values
    assert delta(12.64, 12.36, "seconds") == "+0.2 s" and delta(436.4, 400.6, "ms") == "+35 ms"
    assert delta(1936, 1880, "count") == "+56" and delta(None, 0.5, "rate") == MISSING


def test_tables_head_columns_in_plain_words_and_write_each_kind_of_number_one_way():
    assert [header(c) for c in ("external_call_id", "sdk_version", "time_to_answer_ms", "started_at", "lines_read",
                                "tta_median_s")] == [
        "call id", "SDK version", "time to answer (ms)", "started (UTC)", "lines read", "answer median (s)"]
    frame = pd.DataFrame({"answer_rate": [1 / 6, None], "calls": [1234, 5], "latency_ms": [436.6, None],
                          "portal_id": [4455123, None], "started": pd.to_datetime(["2025-11-25 10:00", None]),
                          "sdk_versions": [["0.9.7", "0.9.6"], []], "app": ["ringo", None]})
    shown, config = display(frame, tz="Europe/London")
    assert math.isclose(shown["answer_rate"].iloc[0], 100 / 6)
    assert config["answer_rate"]["type_config"]["format"] == "%.1f%%"
    assert config["calls"]["type_config"]["format"] == "localized"       # 1,234
    assert shown["latency_ms"].iloc[0] == 437 and config["portal_id"]["type_config"]["format"] == "%d"
    assert config["started"]["label"] == "started (Europe/London)"
    assert config["sdk_versions"]["type_config"]["type"] == "list" and config["app"]["label"] == "app"


def test_every_table_writes_missing_values_as_missing_not_none(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path, **{"from": "2025-11-25", "to": "2025-11-25"})
    at.switch_page("pages/analytics/calls.py").run()
    assert not at.exception
    assert {t.proto.placeholder for t in at.dataframe} == {MISSING}   # Streamlit writes a null as "None" otherwise


def test_no_change_is_shown_against_a_period_before_capture_started(db):
    db.load(DATA / "support-ticket.ndjson")  # every call on 2025-11-25: the day before was not captured
    at = app_on(db.path, **{"from": "2025-11-25", "to": "2025-11-25"}).run()
    assert not at.exception
    assert all(not m.delta for m in at.metric)
    assert strings.NO_COMPARISON.format(days=1, first="2025-11-25") in [c.value for c in at.caption]
    captured = Filters(date(2025, 11, 26), date(2025, 11, 26))
    assert metrics.previous_captured(captured, datetime(2025, 11, 25, 9, 0))
    assert not metrics.previous_captured(captured, datetime(2025, 11, 26, 9, 0))
    assert not metrics.enough_to_compare(pd.Series({"offered": 9, "calls": 50}), "answer_rate")
    assert metrics.enough_to_compare(pd.Series({"offered": 10, "calls": 50}), "answer_rate")


def test_the_report_compares_nothing_against_a_period_capture_did_not_cover(db):
    db.load(DATA / "support-ticket.ndjson")
    with connect_reader(db.path) as con:
        report = build_report(con, Filters(date(2025, 11, 25), date(2025, 11, 25)))
    assert not report.previous_captured
    shown = blocks(report)
    assert all(t.delta == MISSING for b in shown if b.kind == "tiles" for t in b.items)
    changes = [row[b.table.columns.index(rs.CHANGE)].text for b in shown if b.kind == "table"
               and rs.CHANGE in b.table.columns for row in b.table.rows]
    assert changes and set(changes) == {MISSING}


def test_the_summary_compares_nothing_against_a_period_capture_did_not_cover():
    now = {"calls": 1300, "inbound": 500, "outbound": 800, "answer_rate": 0.75, "offered": 500}
    before = {"calls": 80, "inbound": 40, "outbound": 40, "answer_rate": 0.5, "offered": 40}
    text = summarize(now, before, days=7, captured=False)
    assert rs.SUM_NOT_CAPTURED.format(days=7) in text and not any("improved" in t for t in text)
    assert any("answer rate (inbound)" in t for t in summarize(now, before, days=7))


def test_the_sidebar_filters_survive_a_page_without_them(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path, dir="outbound", **{"from": "2025-11-20", "to": "2025-11-25"}).run()
    assert metric(at, strings.CALLS_ALL) == "1"
    at.switch_page("pages/support/replay.py").run()      # the replay has no filter bar
    assert not at.exception and not at.sidebar.multiselect
    at.switch_page("pages/analytics/overview.py").run()
    assert metric(at, strings.CALLS_ALL) == "1" and at.sidebar.multiselect[2].value == ["outbound"]


def test_the_funnel_draws_an_optional_step_apart_and_follows_the_sidebars_direction(db):
    db.load(DATA / "support-ticket.ndjson")
    counts = pd.DataFrame({"direction": ["inbound"] * 3, "reached": [5, 8, 9], "calls": [2, 5, 1]})
    steps = funnel.funnel_steps(counts, "inbound")
    assert steps.loc[steps["optional"], "key"].tolist() == list(funnel.OPTIONAL_STEPS) == ["finalized"]
    names = [t.name for t in funnel_chart(steps, "inbound").data]
    assert names == ["passed", "lost at this step", "passed (optional step)", "skipped the optional step"]
    at = app_on(db.path, dir="inbound", **{"from": "2025-11-25", "to": "2025-11-25"})
    at.switch_page("pages/analytics/funnel.py").run()
    assert not at.exception and all(s.key != "funnel_direction" for s in at.segmented_control)
    assert len([d for d in at.dataframe if "passed" in d.value]) == 1  # the sidebar says inbound: one funnel


def test_the_engagement_failure_rate_is_drawn_only_for_days_with_enough_calls():
    trend = pd.DataFrame({"bucket": pd.to_datetime(["2025-11-24", "2025-11-25"]), "engagement_replied": [4, 40],
                          "engagement_failed": [2, 4], "engagement_failure_rate": [0.5, 0.1]})
    line = next(t for t in engagement_trend(trend, "day", "UTC").data if t.name == "failure rate")
    assert math.isnan(line.y[0]) and line.y[1] == 10.0
