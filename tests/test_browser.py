"""The dashboard in real headless Chromium, on demo data built by `python -m ingest demo`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser import REPO, browser_page, require_chromium, screenshot, streamlit_server


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("browser") / "callscope.duckdb"
    subprocess.run([sys.executable, "-m", "ingest", "demo", "--days", "10", "--calls", "600", "--db", str(db)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    return db


def test_overview_renders_chart_without_exceptions(demo_db):
    with streamlit_server(demo_db) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Outcomes per day").count() >= 1
        shot = screenshot(page, "overview")
        assert shot.stat().st_size > 10_000
