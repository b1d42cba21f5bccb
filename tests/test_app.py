"""The dashboard as a person uses it, through streamlit.testing, on small fixture databases."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analytics.db import snapshot_generation
from analytics.metrics import RATE_LABELS
from ui import strings

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def app_on(db_path: Path, **query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db_path)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_overview_kpis_and_reconciliation(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert metric(at, strings.CALLS_ALL) == "4"
    # 3 inbound calls, none in progress: 1 answered, 1 missed, 1 dropped. Each rate's label names its calls, and
    # the counts under the tiles add up each direction's calls the same way.
    assert metric(at, RATE_LABELS["answer_rate"]) == "33.3%" and metric(at, RATE_LABELS["miss_rate"]) == "33.3%"
    assert RATE_LABELS["answer_rate"] == "Answer rate (inbound)"
    counts = next(c.value for c in at.caption if c.value.startswith("Inbound"))
    assert "Inbound: 3 calls = 1 answered + 1 missed + 1 dropped." in counts
    assert "Outbound: 1 call = 1 in progress." in counts
    assert "shares of the 3 inbound calls with a known outcome" in counts
    assert at.query_params["from"] and at.query_params["tz"] == "UTC"


def test_filters_come_from_the_url(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path, dir="outbound", **{"from": "2025-11-20", "to": "2025-11-25"}).run()
    assert not at.exception
    assert metric(at, strings.CALLS_ALL) == "1"
    assert at.sidebar.multiselect[2].value == ["outbound"]


def test_empty_filter_result_says_so(db):
    db.load(DATA / "support-ticket.ndjson")
    at = app_on(db.path, **{"from": "2024-01-01", "to": "2024-01-31"}).run()
    assert not at.exception
    assert strings.EMPTY_FILTER in [i.value for i in at.info]


def test_first_run_builds_the_demo_database(tmp_path):
    at = app_on(tmp_path / "fresh.duckdb")
    at.session_state["demo_size"] = (3, 60)  # days, calls: small, so the test stays fast
    at.run()
    assert not at.exception
    assert snapshot_generation(tmp_path / "fresh.duckdb") is not None
    assert int(metric(at, strings.CALLS_ALL).replace(",", "")) > 30


def test_imports_page_shows_the_audit_rejects_and_unknown_types(db, tmp_path):
    log_path = tmp_path / "mixed.ndjson"
    log_path.write_text((DATA / "support-ticket.ndjson").read_text() + "{broken\n"
                        '{"ts": 1764072000000, "direction": "from_hubspot", "message": {"type": "UPDATE_ASSOCIATIONS_FAILED", "messageId": "1_2", "data": {}}, "instance": "x"}\n')
    db.load(log_path)
    at = app_on(db.path)
    at.switch_page("pages/support/imports.py").run()
    assert not at.exception
    assert at.dataframe[0].value[["lines_read", "loaded", "rejected"]].values.tolist() == [[37, 36, 1]]
    assert at.dataframe[1].value["lines"].tolist() == [1]
    assert at.dataframe[3].value["type"].tolist() == ["UPDATE_ASSOCIATIONS_FAILED"]
