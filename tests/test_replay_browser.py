"""Call replay in real headless Chromium, on demo data built by `python -m ingest demo`."""

from __future__ import annotations

import re

import duckdb

from tests.browser import browser_page, screenshot, streamlit_server

PLOT = ".js-plotly-plot .main-svg"


def calls(db, sql: str) -> list[str]:
    with duckdb.connect(str(db.with_name("callscope.read.duckdb")), read_only=True) as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def settle(page) -> None:
    """Let the rerun a click started finish."""
    page.wait_for_timeout(400)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=30_000)


def step_of(url: str) -> int:
    return int(re.search(r"[?&]step=(\d+)", url).group(1))


def test_deep_link_to_a_dropped_call_steps_through_it_and_shows_the_drop(demo_db):
    dropped = calls(demo_db, "SELECT external_call_id FROM calls WHERE outcome = 'dropped' ORDER BY external_call_id")
    longest = calls(demo_db, "SELECT external_call_id FROM calls ORDER BY messages DESC, external_call_id LIMIT 1")
    assert dropped, "the demo data has dropped calls"
    with streamlit_server(demo_db) as url, browser_page(height=2200) as page:
        # Streamlit 1.67 shows "Page not found" over a deep link opened as a fresh server's very first session
        # (a bare st.navigation app does it too); a server that has served one session opens deep links cleanly.
        page.goto(url)
        page.wait_for_selector("h1", timeout=60_000)
        settle(page)
        page.goto(f"{url}/replay?call={dropped[0]}")
        page.wait_for_selector(PLOT, timeout=60_000)
        finding = page.get_by_text("The call dropped: its iframe went away mid-call", exact=True)
        finding.wait_for(timeout=30_000)
        page.wait_for_url(re.compile(r"step=\d+"), timeout=30_000)
        opened_at = step_of(page.url)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Page not found").count() == 0
        screenshot(page, "replay-dropped")

        page.locator(".st-key-replay_prev button").first.click()         # one message back ...
        page.wait_for_url(re.compile(rf"[?&]step={opened_at - 1}(&|$)"), timeout=30_000)
        page.get_by_role("heading", name=re.compile(rf"^#{opened_at - 1} ")).wait_for(timeout=30_000)
        page.locator(".st-key-replay_next button").first.click()         # ... and forward onto the drop
        page.wait_for_url(re.compile(rf"[?&]step={opened_at}(&|$)"), timeout=30_000)
        page.get_by_role("heading", name=re.compile(rf"^#{opened_at} ")).wait_for(timeout=30_000)
        page.locator(".st-key-replay_finding_1 button").first.click()     # the finding controls work too
        settle(page)
        assert finding.is_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, "replay-dropped-stepped")

        page.goto(f"{url}/replay?call={longest[0]}&time=utc")
        page.wait_for_selector(PLOT, timeout=60_000)
        page.get_by_text("Diagnosis").first.wait_for(timeout=30_000)
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert screenshot(page, "replay-longest").stat().st_size > 20_000
