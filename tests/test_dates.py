"""Days out of range or not days at all: the pages fall back to the default period and say why; the report CLI
exits 2 with `Error: <what>. <what to do>`. The valid days are analytics.filters.FIRST_DAY..LAST_DAY."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.filters import FIRST_DAY, LAST_DAY, check_period, parse_day
from ingest.errors import CallscopeError
from tests.test_app import DATA, app_on, metric
from tests.test_cli import cli
from ui import strings

PAGES = ("pages/analytics/overview.py", "pages/analytics/beta_report.py")
DEFAULT = {"from": "2025-11-12", "to": "2025-11-25"}  # the 14 days up to the fixture's last call


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    from tests.conftest import Db

    db = Db(tmp_path_factory.mktemp("dates"))
    db.load(DATA / "support-ticket.ndjson")
    return db


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("query, error", [
    ({"from": "0001-01-01"}, "from 0001-01-01 is outside the days Callscope covers (2000-01-01 to 2100-12-31)"),
    ({"from": "0001-01-01", "to": "2025-11-25"}, "from 0001-01-01 is outside the days Callscope covers"),
    ({"from": "2025-11-20", "to": "9999-12-31"}, "to 9999-12-31 is outside the days Callscope covers"),
    ({"from": "garbage", "to": "2025-11-25"}, "from 'garbage' is not a day"),
    ({"from": "2025-11-25", "to": "2025-11-01"}, "the period starts (2025-11-25) after it ends (2025-11-01)"),
])
def test_a_link_with_a_bad_period_shows_the_default_period_and_says_why(fixture_db, page, query, error):
    at = app_on(fixture_db.path, **query)
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    warning = at.warning[0].value
    assert warning.startswith("This link's period cannot be shown: ") and error in warning
    assert warning.endswith(strings.BAD_PERIOD.split("{error}")[1].format(days=14))
    assert {k: at.query_params[k] for k in DEFAULT} == DEFAULT  # the link now says what is shown
    assert metric(at, "Answer rate (inbound)") == "33.3%"                 # the default period's numbers, on either page


def test_a_good_link_has_no_warning_and_the_picker_stays_in_range(fixture_db):
    at = app_on(fixture_db.path, **{"from": "2025-11-25", "to": "2025-11-25"}).run()
    assert not at.exception and not at.warning
    assert metric(at, "Calls") == "4"
    picker = at.sidebar.date_input[0]
    assert (picker.min, picker.max) == (FIRST_DAY, LAST_DAY)


def test_days_are_checked_in_one_place():
    assert parse_day(" 2025-11-25 ", "from") == date(2025, 11, 25)
    assert parse_day(str(FIRST_DAY), "from") == FIRST_DAY and parse_day(str(LAST_DAY), "to") == LAST_DAY
    with pytest.raises(CallscopeError) as bad:
        parse_day("1999-12-31", "--from")
    assert str(bad.value) == ("--from 1999-12-31 is outside the days Callscope covers (2000-01-01 to 2100-12-31). "
                              "Pick a day in that range")
    with pytest.raises(CallscopeError, match="'25/11/2025' is not a day. Write it as YYYY-MM-DD"):
        parse_day("25/11/2025", "from")
    with pytest.raises(CallscopeError, match="Swap --from and --to"):
        check_period(date(2025, 11, 26), date(2025, 11, 25), ("--from", "--to"))


@pytest.mark.parametrize("args, error", [
    (("--from", "0001-01-01"),
     "Error: --from 0001-01-01 is outside the days Callscope covers (2000-01-01 to 2100-12-31). Pick a day in that range"),
    (("--from", "2025-11-01", "--to", "9999-12-31"),
     "Error: --to 9999-12-31 is outside the days Callscope covers (2000-01-01 to 2100-12-31). Pick a day in that range"),
    (("--from", "garbage"), "Error: --from 'garbage' is not a day. Write it as YYYY-MM-DD, e.g. 2025-11-25"),
    (("--base-url", "javascript:alert(1)//"),
     "Error: --base-url 'javascript:alert(1)//' is not an http(s) address. Give the dashboard's address, "
     "e.g. https://callscope.example.com/"),
])
def test_report_cli_says_what_is_wrong_with_its_arguments(fixture_db, tmp_path, args, error):
    out = cli("report", *args, "--db", str(fixture_db.path), "--out", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.decode().strip() == error and out.stdout == b""
    assert list(tmp_path.iterdir()) == []


def test_report_cli_help_gives_the_range():
    out = cli("report", "--help").stdout.decode()
    assert str(FIRST_DAY) in out and str(LAST_DAY) in out
