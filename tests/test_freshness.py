"""A running dashboard shows each new import on its next page load.

DuckDB keeps one database instance per path per process, and hands it to every later `duckdb.connect(path)` while a
connection to it is open; the writer publishes a new snapshot by renaming a copy over the old path. A reader opened
after an import must therefore read the new file even while the previous generation's connection is still open.
"""

from __future__ import annotations

import re
import subprocess
import sys

from analytics import db as analytics_db
from tests.browser import REPO, browser_page, require_chromium, streamlit_server
from tests.logs import T0, Log, Tab
from tests.test_app import app_on, metric
from ui import data

CALLS_SQL = "SELECT count(*) AS calls FROM calls"
MIN = 60_000
DAY = {"from": "2025-11-25", "to": "2025-11-25"}


def calls_log(first: int, n: int) -> Log:
    """`n` answered-and-ended inbound calls on 2025-11-25, numbered from `first` (one import's worth)."""
    log = Log()
    app = Tab(log, f"tab-{first}").iframe("remote", at=T0 + first * MIN)
    for i in range(first, first + n):
        app.ring(f"call-{i:04d}", at=T0 + i * MIN + 1_000)
        app.send("CALL_ANSWERED", externalCallId=f"call-{i:04d}")
        app.end(f"call-{i:04d}", "COMPLETED")
    return log


def count(con) -> int:
    return con.execute(CALLS_SQL).fetchone()[0]


def test_a_reader_opened_after_an_import_reads_it_while_the_old_one_is_open(db):
    db.load(calls_log(0, 2))
    old = analytics_db.connect_reader(db.path)
    busy = analytics_db.cursor(old)  # a query of another session, still running on the old snapshot
    assert count(old) == 2
    db.load(calls_log(10, 3))
    new = analytics_db.connect_reader(db.path)
    assert count(new) == 5
    assert count(old) == 2 and count(busy) == 2  # the old snapshot stays whole for whoever still reads it
    db.load(calls_log(20, 4))
    assert count(analytics_db.connect_reader(db.path)) == 9
    assert count(analytics_db.cursor(new)) == 5


def test_ui_data_shows_each_import_on_the_next_run(db, monkeypatch):
    monkeypatch.setattr(data, "db_path", lambda: db.path)
    db.load(calls_log(0, 2))
    seen = [int(data.run(CALLS_SQL)["calls"].iloc[0])]
    for first, n in ((10, 3), (20, 4)):
        db.load(calls_log(first, n))
        seen.append(int(data.run(CALLS_SQL)["calls"].iloc[0]))
        assert data.rows(CALLS_SQL) == [{"calls": seen[-1]}]
    assert seen == [2, 5, 9]


def test_overview_shows_each_import_on_the_next_run(db):
    db.load(calls_log(0, 2))
    at = app_on(db.path, **DAY).run()
    assert metric(at, "Calls") == "2"
    db.load(calls_log(10, 3))
    assert metric(at.run(), "Calls") == "5"
    db.load(calls_log(20, 4))
    assert metric(at.run(), "Calls") == "9"


def _calls_shown(page, url: str) -> int:
    page.goto(f"{url}/overview?from=2025-11-25&to=2025-11-25")
    tile = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("Calls", exact=True)).first
    value = tile.locator('[data-testid="stMetricValue"]')
    value.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    return int(re.sub(r"\D", "", value.inner_text()))


def test_a_running_dashboard_shows_new_imports_on_reload(db, tmp_path):
    require_chromium()
    db.load(calls_log(0, 2))
    with streamlit_server(db.path) as url, browser_page() as page:
        assert _calls_shown(page, url) == 2
        for first, n, expected in ((10, 3, 5), (20, 4, 9)):
            log = calls_log(first, n).write(tmp_path / f"more-{first}.ndjson")
            loaded = subprocess.run([sys.executable, "-m", "ingest", "load", str(log), "--db", str(db.path)],
                                    cwd=REPO, capture_output=True, text=True, timeout=120)
            assert loaded.returncode == 0, loaded.stderr
            assert _calls_shown(page, url) == expected
