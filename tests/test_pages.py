"""The Engagements, Iframes, Funnel and Calls pages through streamlit.testing, on the support-ticket fixture:
4 calls on 2025-11-25 (3 inbound: answered after ringing in 2 tabs, missed with a failed engagement, dropped;
1 outbound still in progress)."""

from __future__ import annotations

import pytest

from analytics.format import MISSING
from analytics.metrics import RATE_LABELS
from tests.test_app import DATA, app_on, metric
from ui import strings

PAGES = {
    "pages/analytics/engagements.py": strings.ENGAGEMENTS_TITLE,
    "pages/analytics/iframes.py": strings.IFRAMES_TITLE,
    "pages/analytics/funnel.py": strings.FUNNEL_TITLE,
    "pages/analytics/calls.py": strings.CALLS_TITLE,
}
DAY = {"from": "2025-11-25", "to": "2025-11-25"}


@pytest.fixture
def fixture_db(db):
    db.load(DATA / "support-ticket.ndjson")
    return db


def page(db, path: str, **query: str):
    at = app_on(db.path, **query)
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == PAGES[path]
    return at


def test_each_page_draws_and_follows_the_filters_in_the_url(fixture_db):
    for path in PAGES:
        at = page(fixture_db, path, **DAY)
        assert at.get("plotly_chart") or at.dataframe, path
    # Caller ID: 2 of the 3 inbound calls with a reply matched; outbound calls get none.
    assert metric(page(fixture_db, "pages/analytics/engagements.py", **DAY), RATE_LABELS["caller_id_match_rate"]) == "66.7%"
    assert metric(page(fixture_db, "pages/analytics/engagements.py", dir="outbound", **DAY),
                  RATE_LABELS["caller_id_match_rate"]) == MISSING
    # 1 of 4 calls rang in two instances; instances ignore the direction filter, calls follow it.
    at = page(fixture_db, "pages/analytics/iframes.py", **DAY)
    assert metric(at, "Rang in several instances (all calls)") == "25.0%"
    instances = metric(at, "SDK instances")
    at = page(fixture_db, "pages/analytics/iframes.py", dir="outbound", **DAY)
    assert metric(at, "Rang in several instances (all calls)") == "0.0%" and metric(at, "SDK instances") == instances
    # The funnel starts with every call of the direction.
    steps = page(fixture_db, "pages/analytics/funnel.py", **DAY).dataframe[0].value
    assert steps["passed"].iloc[0] == 3
    steps = page(fixture_db, "pages/analytics/funnel.py", dir="outbound", **DAY).dataframe[0].value
    assert steps["passed"].iloc[0] == 1
    assert len(page(fixture_db, "pages/analytics/calls.py", **DAY).dataframe[0].value) == 4
    assert len(page(fixture_db, "pages/analytics/calls.py", dir="inbound", **DAY).dataframe[0].value) == 3


def test_each_page_says_when_nothing_matches(fixture_db):
    for path in PAGES:
        at = page(fixture_db, path, **{"from": "2024-01-01", "to": "2024-01-31"})
        assert strings.EMPTY_FILTER in [i.value for i in at.info], path


def test_calls_explorer_finds_a_call_by_last_digits_and_engagement_id(fixture_db):
    at = page(fixture_db, "pages/analytics/calls.py", **DAY)
    for search, expected in (("0142", ["c4e9-dropped"]), ("31337001", ["5d0b6c1e-answered"]),
                             ("MISSED", ["81f2-missed"])):
        at.text_input(key="calls_q").input(search).run()
        assert not at.exception
        assert at.dataframe[0].value["external_call_id"].tolist() == expected, search
    at.text_input(key="calls_q").input("9999").run()
    assert strings.CALLS_NO_MATCH in [i.value for i in at.info]
    at.text_input(key="calls_q").input("").run()
    at.multiselect(key="calls_outcomes").select("dropped").run()
    assert at.dataframe[0].value["external_call_id"].tolist() == ["c4e9-dropped"]


def test_calls_explorer_filters_by_tag(fixture_db):
    from analytics.annotations import add_tag

    add_tag(fixture_db.path, "c4e9-dropped", "sdk-bug")
    at = page(fixture_db, "pages/analytics/calls.py", **DAY)
    at.selectbox(key="calls_tag").select("sdk-bug").run()
    table = at.dataframe[0].value
    assert table["external_call_id"].tolist() == ["c4e9-dropped"] and list(table["tags"].iloc[0]) == ["sdk-bug"]
