"""Call replay in real headless Chromium, on demo data built by `python -m ingest demo`."""

from __future__ import annotations

import re
import time

from analytics.db import connect_reader
from tests.browser import browser_page, screenshot, streamlit_server

PLOT = ".js-plotly-plot .main-svg"


def calls(db, sql: str, *params) -> list[str]:
    with connect_reader(db) as con:
        return [r[0] for r in con.execute(sql, list(params)).fetchall()]


def settle(page) -> None:
    """Let the rerun a click started finish."""
    page.wait_for_timeout(400)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=30_000)


def step_of(url: str) -> int:
    return int(re.search(r"[?&]step=(\d+)", url).group(1))


def unique_prefix(db, call_id: str, length: int = 8) -> str:
    """The first `length` characters of `call_id`, as the beta report prints it; asserted to name only that call."""
    prefix = call_id[:length]
    assert calls(db, "SELECT external_call_id FROM calls WHERE starts_with(external_call_id, ?)", prefix) == [call_id]
    return prefix


def test_deep_link_to_a_dropped_call_steps_through_it_and_shows_the_drop(demo_db):
    dropped = calls(demo_db, "SELECT external_call_id FROM calls WHERE outcome = 'dropped' ORDER BY external_call_id")
    longest = calls(demo_db, "SELECT external_call_id FROM calls ORDER BY messages DESC, external_call_id LIMIT 1")
    assert dropped, "the demo data has dropped calls"
    with streamlit_server(demo_db) as url, browser_page(height=2200) as page:
        # The server's very first session is the deep link, by the 8 characters the beta report prints: no "Page
        # not found" (the pages are registered as the server starts), the URL names the whole id.
        started = time.monotonic()
        page.goto(f"{url}/replay?call={unique_prefix(demo_db, dropped[0])}")
        page.wait_for_selector(PLOT, timeout=30_000)
        finding = page.get_by_text("The call dropped: its iframe went away mid-call", exact=True)
        finding.wait_for(timeout=30_000)
        print(f"first deep link after the server start: replay drawn in {time.monotonic() - started:.2f} s")
        page.wait_for_url(re.compile(r"step=\d+"), timeout=30_000)
        assert f"call={dropped[0]}" in page.url
        opened_at = step_of(page.url)
        page.wait_for_timeout(1000)  # "Page not found" would pop up over the page by now
        assert page.get_by_text("Page not found").count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
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


def test_a_link_by_an_ambiguous_id_prefix_lists_the_candidates_and_one_opens_in_place(demo_db):
    ids = calls(demo_db, "SELECT external_call_id FROM calls ORDER BY started_at DESC, external_call_id")
    prefix = next(p for p in (i[:1] for i in ids) if sum(i.startswith(p) for i in ids) > 1)
    newest = next(i for i in ids if i.startswith(prefix))
    with streamlit_server(demo_db) as url, browser_page() as page:
        page.goto(f"{url}/replay?call={prefix}")
        page.get_by_text(re.compile(r"calls have an id starting with")).wait_for(timeout=60_000)
        grid = page.locator(".st-key-replay_candidates [data-testid='stDataFrame']")
        grid.wait_for(timeout=30_000)
        settle(page)
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the newest candidate
        page.wait_for_url(re.compile(rf"call={re.escape(newest)}(&|$)"), timeout=30_000)
        page.wait_for_selector(PLOT, timeout=30_000)
        assert len(page.context.pages) == 1
        page.goto(f"{url}/replay?call=no-such-call")
        page.get_by_text("No call with id").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
