"""The beta feedback report: the dashboard's numbers, honest wording, no personal data, the CLI and the page."""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from analytics import iframes, metrics
from analytics.db import connect_reader, frame
from analytics.filters import Filters
from analytics.metrics import RATE_LABELS
from analytics.report import strings as s
from analytics.report.build import CURRENT, PREVIOUS, build_report, report_filters
from analytics.report.render import blocks, to_csv, to_html, to_markdown
from analytics.report.summary import HEADLINE, RATE_MIN_DENOMINATOR, material_change, summarize
from ingest.demo import write_demo_files
from ingest.errors import CallscopeError
from ingest.load import load_sources
from tests.logs import T0, Log, Tab
from ui import strings

REPO = Path(__file__).resolve().parent.parent
END_MS = 1_732_725_900_000  # Wed 2024-11-27 16:45 UTC
WEEK = Filters(date(2024, 11, 21), date(2024, 11, 27))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    paths = write_demo_files(folder / "demo", days=14, calls=400, seed=7, end_ms=END_MS)
    load_sources([str(p) for p in paths], folder / "callscope.duckdb")
    return folder / "callscope.duckdb"


def same(a, b) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return (missing(a) and missing(b)) or a == b


# 1. One definition: the report's numbers are the dashboard's for the same filters. -----------------------------

@pytest.mark.parametrize("f", [
    WEEK,
    Filters(date(2024, 11, 21), date(2024, 11, 27), portals=(4455123, 2210987)),
    Filters(date(2024, 11, 21), date(2024, 11, 27), directions=("inbound",), tz="America/New_York"),
    Filters(date(2024, 11, 25), date(2024, 11, 27), sdk_versions=("0.9.7",)),  # hourly trend
], ids=["week", "portals", "inbound-ny", "sdk-hourly"])
def test_report_numbers_equal_the_dashboards(demo_db, f):
    with connect_reader(demo_db) as con:
        report = build_report(con, f)
        for period, filters in ((CURRENT, f), (PREVIOUS, f.previous())):
            dashboard = frame(con, metrics.KPIS_SQL, **filters.params()).iloc[0]  # what the Overview page reads
            assert set(report.kpis[period]) == set(dashboard.index)
            for column, value in report.kpis[period].items():
                assert same(value, dashboard[column]), (period, column, value, dashboard[column])
        trend = frame(con, metrics.TREND_SQL, **f.params(), bucket=f.bucket)
        portals = frame(con, metrics.BREAKDOWN_SQL, **f.params(), dimension="portal")
    pd.testing.assert_frame_equal(report.trend, trend, check_exact=True)
    pd.testing.assert_frame_equal(report.portals, portals, check_exact=True)
    assert report.kpis[CURRENT]["calls"] > 0 and report.kpis[PREVIOUS]["calls"] > 0

    # ... and so are the numbers in the CSV file, to the last digit.
    rows = {(r["metric"], r["period"]): r for r in csv.DictReader(io.StringIO(to_csv(report)))}
    for period in (CURRENT, PREVIOUS):
        label = report.period_label(period)
        for rate, (num, den) in metrics.RATE_PARTS.items():
            row, kpis = rows[(rate, label)], report.kpis[period]
            assert (row["value"] == "" and kpis[rate] is None) or float(row["value"]) == kpis[rate]
            assert (int(row["numerator"]), int(row["denominator"])) == (kpis[num], kpis[den])


def test_incidents_and_adoption_count_what_they_say(demo_db):
    with connect_reader(demo_db) as con:
        report = build_report(con, WEEK)
        lo, hi = WEEK.bounds_utc()
        dropped = con.execute("SELECT count(*) FROM calls WHERE outcome = 'dropped' AND started_at >= $1 "
                              "AND started_at < $2", [lo, hi]).fetchone()[0]
        unknown = con.execute("SELECT count(*) FROM events WHERE NOT known_type AND ts >= $1 AND ts < $2",
                              [lo, hi]).fetchone()[0]
        window = con.execute("SELECT count(*) FILTER (WHERE uses_calling_window), count(uses_calling_window) "
                             "FROM instances WHERE started_at >= $1 AND started_at < $2", [lo, hi]).fetchone()
    incidents = report.incidents.set_index("incident")
    assert incidents.at["dropped", "count"] == dropped == report.kpis[CURRENT]["dropped"]
    assert incidents.at["unknown_types", "count"] == unknown == report.unknown_types["messages"].sum()
    assert all(1 <= len(x) <= 3 for x, n in zip(incidents["examples"], incidents["count"], strict=True) if n)
    assert report.adoption[CURRENT]["calling_window_share"] == window[0] / window[1]
    assert math.isclose(report.iframe_locations["share"].sum(), 1.0)
    # The same numbers as the Iframes & tabs page.
    with connect_reader(demo_db) as con:
        page = frame(con, iframes.SUMMARY_SQL, **WEEK.params()).iloc[0]
    assert report.adoption[CURRENT]["calling_window_share"] == page["calling_window_share"]
    assert incidents.at["simultaneous_ringing", "count"] == page["ringing_incidents"]
    assert incidents.at["arrived_while_unavailable", "count"] == page["arrived_unavailable"]


# 2. The summary says what the numbers say. ----------------------------------------------------------------------

def kpis(**changes) -> dict:
    row = {"calls": 1000, "inbound": 500, "outbound": 500, "offered": 500, "answered": 600, "known": 1000,
           "engagement_replied": 900, "engagement_failed": 18, "caller_id_replied": 450, "answer_rate": 0.70,
           "miss_rate": 0.25, "dropped_rate": 0.02, "failed_rate": 0.03, "engagement_failure_rate": 0.02,
           "caller_id_match_rate": 0.6, "tta_median_s": 10.0, "tta_p90_s": 20.0}
    return {**row, **changes}


def test_a_rate_that_went_up_is_worse_when_lower_is_better():
    text = summarize(kpis(miss_rate=0.30), kpis(), days=7)
    assert s.SUM_WORSE.format(items="miss rate (inbound) 25.0% → 30.0% (+5.0 pp)") in text
    assert not any(line.startswith("What improved") for line in text)
    assert text[-1] == s.SUM_BIGGEST_WORSE.format(item="miss rate (inbound) 25.0% → 30.0% (+5.0 pp)")


def test_a_rate_that_went_up_improved_when_higher_is_better():
    text = summarize(kpis(answer_rate=0.75), kpis(), days=7)
    assert s.SUM_IMPROVED.format(items="answer rate (inbound) 70.0% → 75.0% (+5.0 pp)") in text
    assert not any(line.startswith("What got worse") for line in text)


def test_no_material_change_no_statement():
    text = summarize(kpis(answer_rate=0.705, miss_rate=0.2451, tta_median_s=10.4), kpis(), days=7)
    assert text[1] == s.SUM_NOTHING_MOVED.format(days=7)
    assert not any("answer rate" in line or "miss rate" in line for line in text)
    assert text[-1] == s.SUM_BIGGEST_NONE
    # A big move on too few calls is not a trend either.
    few = dict(offered=RATE_MIN_DENOMINATOR - 1)
    assert summarize(kpis(answer_rate=0.9, **few), kpis(**few), days=7)[1] == s.SUM_NOTHING_MOVED.format(days=7)
    # No calls at all is said as such, not as "calls fell 100%".
    assert summarize(kpis(calls=0, inbound=0, outbound=0), kpis(), days=7)[1:] == [s.SUM_NO_CALLS]


def test_every_verdict_follows_higher_is_better():
    for metric in HEADLINE:
        good = metrics.HIGHER_IS_BETTER.get(metric)
        base = kpis()[metric]
        for factor in (0.5, 1.5):
            change = material_change(metric, base * factor, base, (500, 500))
            assert change is not None, metric
            went_up = factor > 1
            expected = ("up" if went_up else "down") if good is None else (
                "improved" if went_up == good else "worse")
            assert change.verdict == expected, (metric, factor)


def test_volume_is_neither_better_nor_worse_and_incidents_pick_the_biggest_problem():
    text = summarize(kpis(calls=1300, outbound=800), kpis(), days=7,
                     incidents={"dropped": (20, 20, 1000, 1000), "arrived_while_unavailable": (4, 4, 500, 500),
                                "simultaneous_ringing": (90, 90, 1000, 1000), "unknown_types": (300, 300)})
    assert "Also changed: calls 1,000 → 1,300 (+300, +30%); outbound calls 500 → 800 (+300, +60%)." in text
    assert not any(line.startswith(("What improved", "What got worse")) for line in text)
    # Nothing got worse: the call incident with the most calls (unknown types only when there is no call incident).
    assert text[-1].startswith("Biggest problem: " + s.INCIDENT_LABELS["simultaneous_ringing"] + ": 90 calls")
    # A busier period alone does not make an incident "worse": its share of calls is compared.
    assert not any("simultaneous ringing" in line for line in
                   summarize(kpis(calls=2000), kpis(), days=7,
                             incidents={"simultaneous_ringing": (180, 90, 2000, 1000)})[:-1])


def test_the_same_data_gives_the_same_words(demo_db):
    with connect_reader(demo_db) as con:
        first, second = build_report(con, WEEK), build_report(con, WEEK)
    assert first.summary == second.summary and len(first.summary) >= 3
    assert to_markdown(first) == to_markdown(second)
    assert to_html(first) == to_html(second)
    assert to_csv(first) == to_csv(second)
    # ... wherever it is rendered: Streamlit swaps plotly's default template, the CLI does not.
    default = pio.templates.default
    try:
        pio.templates.default = "plotly_dark"
        elsewhere = to_html(first)
    finally:
        pio.templates.default = default
    assert elsewhere == to_html(first)


# 3. Personal data stays out unless asked for. -------------------------------------------------------------------

PERSONAL = ["4155550", "415 555", "Lovelace", "Ada", "ada@", "example.com", "98765431", "Grace Hopper"]


def personal_log() -> Log:
    log = Log()
    tab = Tab(log, "tab-a", portal_id=4455123, user_id=98765431)
    a = tab.iframe("remote", at=T0)
    a.ring("c-answered", from_number="+14155550123")
    a.matched("Ada Lovelace")
    a.engagement(9001)
    a.send("CALL_ANSWERED", externalCallId="c-answered")
    a.end("c-answered", "COMPLETED", 9001)
    a.ring("c-failed", from_number="+14155550188")
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "contact ada@example.com (+1 415 555 0188) not accessible"})
    a.end("c-failed", "MISSED")
    a.recv("BRAND_NEW_TYPE", note="sent by a newer HubSpot")
    b = Tab(log, "tab-b", portal_id=4455123, user_id=98765431).iframe("remote", at=T0 + 60_000)
    b.ring("c-dropped", from_number="+14155550177")
    b.send("CALL_ANSWERED", externalCallId="c-dropped")
    b.pagehide()
    return log


def outputs(report) -> dict[str, str]:
    page = re.sub(r'<script type="text/javascript">.*?</script>', "", to_html(report), count=1, flags=re.S)
    return {"html": page, "md": to_markdown(report), "csv": to_csv(report)}


def test_no_personal_data_unless_asked(db):
    from analytics import annotations

    db.load(personal_log())
    annotations.add_tag(db.path, "c-answered", "beta-feedback", author="Grace Hopper")
    annotations.add_note(db.path, "c-answered", "Caller said it rang twice; call back on +1 415 555 0123 or "
                                                "ada@example.com", author="Grace Hopper")
    f = Filters(date(2025, 11, 25), date(2025, 11, 25))
    with connect_reader(db.path) as con:
        report = build_report(con, f, db_path=db.path)
        personal = build_report(con, f, db_path=db.path, include_personal=True)
    assert report.tagged["external_call_id"].tolist() == ["c-answered"]
    assert report.tagged.at[0, "notes"] == ["Caller said it rang twice; call back on [phone] or [email]"]
    assert set(report.incidents.set_index("incident").query("count > 0").index) >= {"dropped", "unknown_types"}
    for name, text in outputs(report).items():
        for needle in PERSONAL:
            assert needle not in text, (name, needle)
        assert "4455123" in text and (name == "csv" or "c-answered" in text)
    assert "contact [email] (+N N N N) not accessible" in outputs(report)["md"]  # grouped, ids and addresses gone
    shown = outputs(personal)
    assert "+14155550188" in shown["html"] and "ada@example.com" in shown["md"] and s.WITH_PERSONAL in shown["md"]


# 4. The CLI writes the three files and talks only on stderr. ---------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ingest", "report", *args], cwd=REPO, capture_output=True,
                          timeout=120, text=True)


def test_cli_writes_html_markdown_and_csv(demo_db, tmp_path):
    out = tmp_path / "weekly"
    result = cli("--from", "2024-11-21", "--to", "2024-11-27", "--db", str(demo_db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"callscope-beta-report-2024-11-21_2024-11-27.{x}" for x in ("csv", "html", "md")]
    with connect_reader(demo_db) as con:
        summary = build_report(con, WEEK, db_path=demo_db).summary
    wrote = [s.CLI_WROTE.format(path=out / n) for n in sorted(names, key=lambda n: ("html", "md", "csv").index(
        n.rsplit(".", 1)[1]))]
    assert result.stderr.splitlines() == wrote + summary
    assert (out / names[1]).read_text().count("Plotly.newPlot(") == 6
    assert (out / names[0]).read_text().startswith("section,metric,period,value,numerator,denominator\n")


def test_cli_markdown_to_stdout_and_errors(demo_db):
    md = cli("--from", "2024-11-25", "--to", "2024-11-27", "--portal", "4455123", "--format", "md", "--out", "-",
             "--db", str(demo_db))
    assert md.returncode == 0 and md.stdout.startswith(f"# {s.TITLE}\n") and "Portals: 4455123." in md.stdout
    bad = cli("--tz", "Mars/Olympus", "--db", str(demo_db))
    assert bad.returncode == 2 and bad.stderr.startswith("Error: ") and bad.stdout == ""


# 5. The page: preview and three downloads. -----------------------------------------------------------------------

def page_on(db_path: Path, f: Filters, script: str = "pages/analytics/beta_report.py") -> AppTest:
    at = AppTest.from_file(str(REPO / script), default_timeout=60)
    at.session_state["db_path"] = str(db_path)
    at.session_state["filters"] = f  # what the shared filter bar (ui.filters.current) leaves for pages
    return at.run()


def test_page_previews_the_report_and_offers_three_downloads(demo_db):
    at = page_on(demo_db, WEEK)
    assert not at.exception
    assert at.title[0].value == s.PAGE_TITLE
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == [s.DOWNLOAD.format(label=x) for x in ("HTML", "Markdown", "CSV")]
    with connect_reader(demo_db) as con:
        report = build_report(con, WEEK, db_path=demo_db)
    shown = "\n".join(m.value for m in at.markdown)
    assert all(line in shown for line in report.summary)
    assert len(at.get("plotly_chart")) == sum(b.kind == "chart" for b in blocks(report))
    # The same tiles as the Overview page, to the digit.
    overview = page_on(demo_db, WEEK, "pages/analytics/overview.py")
    for label in (RATE_LABELS["answer_rate"], RATE_LABELS["miss_rate"]):
        assert next(m.value for m in at.metric if m.label == label) == \
               next(m.value for m in overview.metric if m.label == label)
    assert 'st.Page("pages/analytics/beta_report.py"' in (REPO / "app.py").read_text()


def test_page_sets_the_address_the_downloaded_files_link_replays_to(demo_db):
    at = page_on(demo_db, WEEK)
    assert at.text_input(key="report_base_url").value == ""  # no browser here: the address a browser used, else none
    assert s.LINKS_TO.format(example="replay?call=…") in [c.value for c in at.caption]
    at.text_input(key="report_base_url").input("https://callscope.example.com/").run()
    assert not at.exception
    assert s.LINKS_TO.format(example="https://callscope.example.com/replay?call=…") in [c.value for c in at.caption]


def test_page_with_no_calls_says_so(demo_db):
    at = page_on(demo_db, Filters(date(2020, 1, 1), date(2020, 1, 7)))
    assert not at.exception
    assert strings.EMPTY_FILTER in [i.value for i in at.info]
    at = page_on(demo_db, WEEK)
    at.text_input(key="report_tag").set_value("not a tag!").run()
    assert not at.exception and "is not a tag" in at.error[0].value


def test_cli_period_defaults_to_the_week_up_to_yesterday():
    f = report_filters(None, None, "Europe/London", portals=[4455123], today=date(2025, 11, 26))
    assert (f.start, f.end, f.portals, f.tz, f.previous().start) == (
        date(2025, 11, 19), date(2025, 11, 25), (4455123,), "Europe/London", date(2025, 11, 12))
    with pytest.raises(CallscopeError, match="starts"):
        report_filters(date(2025, 11, 26), date(2025, 11, 25))
