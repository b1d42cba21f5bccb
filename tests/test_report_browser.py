"""The beta report's HTML file in real headless Chromium: opened from disk with the network blocked, every chart
drawn by the plotly.js embedded in the file."""

from __future__ import annotations

import re
from datetime import date

import pytest

from analytics.db import connect_reader
from analytics.filters import Filters
from analytics.report.build import build_report
from analytics.report.render import blocks, write
from ingest.demo import write_demo_files
from ingest.load import load_sources
from tests.browser import browser_page, require_chromium, screenshot

END_MS = 1_732_725_900_000  # Wed 2024-11-27 16:45 UTC


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    require_chromium()
    folder = tmp_path_factory.mktemp("report-browser")
    paths = write_demo_files(folder / "demo", days=14, calls=400, seed=11, end_ms=END_MS)
    load_sources([str(p) for p in paths], folder / "callscope.duckdb")
    with connect_reader(folder / "callscope.duckdb") as con:
        return build_report(con, Filters(date(2024, 11, 21), date(2024, 11, 27)))  # against Nov 14-20


def test_html_opens_offline_with_every_chart_rendered(report, tmp_path):
    html_path, = write(report, ["html"], tmp_path / "report.html")
    charts = sum(block.kind == "chart" for block in blocks(report))
    text = html_path.read_text()
    assert text.count("<script") == 1 + charts  # plotly.js once, then one Plotly.newPlot per chart
    ours = re.sub(r'<script type="text/javascript">.*?</script>', "", text, count=1, flags=re.S)
    assert not re.search(r"https?://|//cdn|@import|url\(", ours)  # no fonts, CDNs or links out
    outside, errors = [], []
    with browser_page(width=1280, height=900) as page:
        def only_files(route):
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_files)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(html_path.as_uri())
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                               timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == charts == 6
        assert page.locator(".js-plotly-plot > .plot-container .main-svg:first-child").count() == charts
        # Every chart drew its data, not just empty axes.
        for i in range(charts):
            plot = page.locator(".js-plotly-plot").nth(i)
            assert plot.locator(".trace").count() > 0, plot.get_attribute("id")
        assert page.locator("table").count() >= 8 and page.locator('a[href^="replay?call="]').count() >= 3
        page.wait_for_timeout(500)  # plotly's automargin redraw settles after the first paint
        shot = screenshot(page, "beta_report")
    assert outside == [] and errors == []
    assert shot.stat().st_size > 50_000
