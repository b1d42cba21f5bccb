"""The dashboard as a person uses it, through streamlit.testing (pages smoke-run on a small fixture DB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import strings

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def app_on(db_path: Path) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db_path)
    return at


def test_overview_shows_the_calls_of_the_database(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Calls"] == "4" and metrics["Portals"] == "1"
    loads = at.dataframe[0].value
    assert loads["loaded"].tolist() == [35]


def test_first_run_builds_the_demo_database(tmp_path):
    at = app_on(tmp_path / "fresh.duckdb")
    at.session_state["demo_size"] = (3, 60)  # days, calls: small, so the test stays fast
    at.run()
    assert not at.exception
    assert (tmp_path / "fresh.read.duckdb").exists()
    assert int(next(m.value for m in at.metric if m.label == "Calls").replace(",", "")) > 30
