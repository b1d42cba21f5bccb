"""The dashboard in real headless Chromium, on demo data built by `python -m ingest demo`."""

from __future__ import annotations

from tests.browser import browser_page, screenshot, streamlit_server


def test_overview_renders_chart_without_exceptions(demo_db):
    with streamlit_server(demo_db) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Outcomes per day").count() >= 1
        shot = screenshot(page, "overview")
        assert shot.stat().st_size > 10_000



def test_analytics_pages_render_and_a_funnel_bar_drills_to_its_calls(demo_db):
    pages = {"engagements": "Engagement creation per day", "iframes": "Iframe locations per day",
             "funnel": "Handshakes: time to ready", "calls": "matching calls"}
    idle = "() => !document.querySelector('[data-testid=stStatusWidget]') && !document.querySelector('[data-stale=true]')"
    with streamlit_server(demo_db) as url, browser_page(height=2600) as page:  # tall: Streamlit scrolls inside
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        for name, text in pages.items():  # through the sidebar, as a person moves between pages
            page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').click()
            page.get_by_text(text).first.wait_for(timeout=30_000)
            page.wait_for_function(idle, timeout=30_000)
            page.wait_for_selector(".js-plotly-plot .main-svg" if name != "calls" else
                                   'input[placeholder^="External call id"]', state="visible")
            assert page.locator('[data-testid="stException"]').count() == 0, name
            assert screenshot(page, f"analytics_{name}").stat().st_size > 10_000
        # Funnel: the "lost at this step" bar of step 6 (answered) opens the inbound calls never answered.
        page.locator('[data-testid="stSidebarNav"] a[href$="/funnel"]').click()
        page.get_by_text("Handshakes: time to ready").first.wait_for(timeout=30_000)
        page.wait_for_function(idle, timeout=30_000)
        lost = page.locator(".js-plotly-plot").first.locator(".barlayer .trace").nth(1).locator(".point path")
        lost.nth(5).click(force=True)
        page.get_by_text("Calls behind inbound calls lost at “answered”").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, "analytics_funnel_drill")
