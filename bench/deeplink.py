"""`python -m bench.deeplink [--db FILE] [--runs N]`: how long a deep link takes to draw a replay in a real browser.

Starts `streamlit run app.py` on the database (default: the demo database), opens `/replay?call=<8 characters of a
dropped call's id>` in headless Chromium (Debian's /usr/bin/chromium, through Playwright) as the server's first
session, then again in `--runs` later sessions, and reports how long the replay took to draw (its timeline and its
diagnosis on screen). The baseline, measured in the same run on the same machine: a bare Streamlit page with one small
plotly chart, the least any replay can cost (the browser loads Streamlit and plotly.js either way). This is a
benchmark command, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from analytics.db import DEFAULT_DB_PATH, connect_reader, first

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
BASELINE_APP = """import plotly.graph_objects as go
import streamlit as st
st.title("Baseline")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
st.subheader("Diagnosis")
"""
DROPPED_SQL = "SELECT external_call_id FROM calls WHERE outcome = 'dropped' ORDER BY external_call_id LIMIT 1"


@contextmanager
def server(script: str, cwd: Path, db: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=cwd,
                            env=dict(os.environ, CALLSCOPE_DB=str(db)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def draw_times(browser, url: str, runs: int) -> list[float]:
    """Seconds from navigating to `url` to a plotly chart and "Diagnosis" on screen, once per fresh session."""
    times = []
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    for _ in range(runs):
        page = context.new_page()
        started = time.monotonic()
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
        page.get_by_text("Diagnosis").first.wait_for(timeout=120_000)
        times.append(time.monotonic() - started)
        page.close()
    context.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deeplink", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help="database (default: the demo database)")
    parser.add_argument("--runs", type=int, default=5, help="later sessions to time after the first (default 5)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with connect_reader(args.db) as con:
        call_id = first(con, DROPPED_SQL)["external_call_id"]
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        Path(folder, "baseline.py").write_text(BASELINE_APP)
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with server("app.py", REPO, args.db) as url:
            replay = draw_times(browser, f"{url}/replay?call={call_id[:8]}", args.runs + 1)
        with server("baseline.py", Path(folder), args.db) as url:
            baseline = draw_times(browser, url, args.runs + 1)
        browser.close()
    later, floor = statistics.median(replay[1:]), statistics.median(baseline[1:])
    print(f"deep link /replay?call={call_id[:8]}: first session after the server start {replay[0]:.2f} s, "
          f"later sessions median {later:.2f} s")
    print(f"baseline (bare page, one plotly chart): first {baseline[0]:.2f} s, later median {floor:.2f} s")
    print(f"ratio, later sessions: {later / floor:.2f}x the baseline; first session: {replay[0] / baseline[0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
