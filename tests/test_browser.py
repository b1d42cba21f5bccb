"""The dashboard in real headless Chromium, on demo data built by `python -m ingest demo`."""

from __future__ import annotations

import re
import time

from analytics.db import connect_reader, snapshot_generation
from tests.browser import browser_page, require_chromium, screenshot, streamlit_server
from ui import strings

IDLE = ("() => !document.querySelector('[data-testid=stStatusWidget]') && !document.querySelector('[data-stale=true]')"
        " && [...document.querySelectorAll('.stPlotlyChart')].every(e => e.querySelector('.main-svg'))")
EMPTY_DRILL = "No calls match these filters"
# Every chart whose caption promises calls, by page: (chart key, the key of the table of calls a click opens).
DRILLING_CHARTS = {
    "overview": [("trend", "trend_drill")],
    "engagements": [("engagement_trend", "engagement_trend_drill"), ("caller_id_mix", "caller_id_drill")],
    "iframes": [("locations_trend", "locations_trend_drill"), ("locations_portal", "locations_portal_drill"),
                ("ringing", "ringing_drill"), ("drops_location", "drops_location_drill"),
                ("drops_window", "drops_window_drill"), ("recreated", "recreated_drill"),
                ("availability", "availability_drill")],
    "funnel": [("funnel_inbound", "funnel_drill_inbound"), ("funnel_outbound", "funnel_drill_outbound")],
}
EVERY_BAR = {"locations_portal"}  # the chart whose non-zero bar once listed no call: every bar of it is clicked


def settle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE, timeout=60_000)


def bars(page, chart: str) -> list:
    """The bars of a chart that have an area (a zero bar cannot be clicked), largest first."""
    paths = page.locator(f".st-key-{chart} .js-plotly-plot .barlayer .point path")
    paths.first.wait_for(state="attached", timeout=30_000)
    sized = []
    for i in range(paths.count()):
        box = paths.nth(i).bounding_box()
        if box and box["width"] > 2 and box["height"] > 2:
            sized.append((box["width"] * box["height"], i))
    return [paths.nth(i) for _, i in sorted(sized, reverse=True)]


def click_until(page, bar, shown: str, tries: int = 3) -> None:
    """Click a bar until `shown` appears: a click that lands while plotly redraws the chart after the last rerun is
    lost, as it would be for a person, who clicks again."""
    for attempt in range(tries):
        page.wait_for_timeout(700)  # plotly redraws the chart (the selection dims the other bars) after a rerun
        bar.click(force=True)
        settle(page)
        try:
            page.wait_for_selector(shown, timeout=15_000)
            return
        except Exception:
            if attempt == tries - 1:
                raise


def open_page(page, url: str, name: str) -> None:
    page.goto(f"{url}/{name}")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    settle(page)


def test_overview_renders_chart_without_exceptions(demo_db):
    with streamlit_server(demo_db) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Outcomes per day").count() >= 1
        assert page.get_by_text("Answer rate (inbound)", exact=True).count() >= 1  # each rate names its calls
        shot = screenshot(page, "overview")
        assert shot.stat().st_size > 10_000


def test_every_chart_that_promises_calls_lists_the_calls_behind_a_click(demo_db):
    clicked = []
    with streamlit_server(demo_db) as url, browser_page(height=2600) as page:  # tall: Streamlit scrolls inside
        for name, charts in DRILLING_CHARTS.items():
            open_page(page, url, name)
            for chart, drill in charts:
                targets = bars(page, chart)
                assert targets, f"{name}: {chart} has no bar to click"
                for bar in targets if chart in EVERY_BAR else targets[:1]:
                    click_until(page, bar, f".st-key-{drill} [data-testid='stDataFrame']")
                    assert page.get_by_text(EMPTY_DRILL).count() == 0, (name, chart)
                    clicked.append(chart)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            screenshot(page, f"drills_{name}")
    assert clicked.count("locations_portal") > 1 and {c for c, _ in sum(DRILLING_CHARTS.values(), [])} <= set(clicked)


def test_analytics_pages_render_and_a_funnel_bar_drills_to_its_calls(demo_db):
    pages = {"engagements": "Engagement creation per day", "iframes": "Calls per day by iframe location",
             "funnel": "Handshakes: time to ready", "calls": "matching calls"}
    with streamlit_server(demo_db) as url, browser_page(height=2600) as page:
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        for name, text in pages.items():  # through the sidebar, as a person moves between pages
            page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').click()
            page.get_by_text(text).first.wait_for(timeout=30_000)
            settle(page)
            page.wait_for_selector(".js-plotly-plot .main-svg" if name != "calls" else
                                   'input[placeholder^="External call id"]', state="visible")
            assert page.locator('[data-testid="stException"]').count() == 0, name
            assert screenshot(page, f"analytics_{name}").stat().st_size > 10_000
        # Funnel: the "lost at this step" bar of step 6 (answered) opens the inbound calls never answered.
        page.locator('[data-testid="stSidebarNav"] a[href$="/funnel"]').click()
        page.get_by_text("Handshakes: time to ready").first.wait_for(timeout=30_000)
        settle(page)
        lost = page.locator(".st-key-funnel_inbound .barlayer .trace").nth(1).locator(".point path")
        lost.nth(5).click(force=True)
        page.get_by_text("Calls behind inbound calls lost at “answered”").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, "analytics_funnel_drill")


def test_selecting_a_call_opens_its_replay_in_place(demo_db):
    with connect_reader(demo_db) as con:
        newest = con.execute("SELECT external_call_id FROM calls ORDER BY started_at DESC, external_call_id "
                             "LIMIT 1").fetchone()[0]
    with streamlit_server(demo_db) as url, browser_page() as page:
        page.goto(f"{url}/calls")
        grid = page.locator(".st-key-calls_table [data-testid='stDataFrame']")
        grid.wait_for(timeout=60_000)
        settle(page)
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selector, under the header
        page.wait_for_url(re.compile(r"/replay\?call="), timeout=30_000)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        assert page.url.split("call=")[1].split("&")[0] == newest
        assert page.get_by_role("heading", name=re.compile(re.escape(newest))).count() == 1
        assert len(page.context.pages) == 1  # in place: no new tab, no new session
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, "calls_opened_replay")


def test_the_server_builds_the_demo_database_as_it_starts_before_any_visit(tmp_path):
    require_chromium()
    path = tmp_path / "callscope.duckdb"
    with streamlit_server(path) as url:
        deadline = time.monotonic() + 240
        while snapshot_generation(path) is None:  # no browser has connected yet
            assert time.monotonic() < deadline, "the server did not build the demo database"
            time.sleep(1)
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
            assert page.get_by_text(strings.BUILDING_DEMO).count() == 0
            assert page.locator('[data-testid="stException"]').count() == 0
