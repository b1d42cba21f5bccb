"""Access control: the allow-lists, what may start, the masks, and the pages through streamlit.testing as a
signed-out person, a refused one, an agent without personal data and a lead with it sees them.

On the support-ticket fixture: 4 calls on 2025-11-25 from +1 415 555 01xx numbers, caller-ID matches Ada and Grace.
The real browser, the identity provider and the deep link through sign-in: tests/test_auth_browser.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import annotations
from analytics.db import snapshot_generation
from analytics.filters import Filters
from analytics.privacy import initials, mask_email, mask_frame, mask_phone, mask_text, mask_trace
from analytics.replay.load import capture_records, load_trace
from tests.browser import REPO, free_port
from tests.test_app import DATA, app_on
from ui import strings
from ui.access import Access, is_loopback, start_problem
from ui.return_link import local_link, remember, take

AUTH = {"redirect_uri": "https://callscope.example.com/oauth2callback", "cookie_secret": "s" * 32,
        "client_id": "callscope", "client_secret": "secret",
        "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"}
SETTINGS = {"allowed": ["ringo-voice.example", "ada@partner.example"], "personal_data": ["lead@ringo-voice.example"],
            "access_contact": "it-help@ringo-voice.example"}
CONTACT = SETTINGS["access_contact"]
DAY = {"from": "2025-11-25", "to": "2025-11-25"}
NUMBERS = ("+14155550100", "+14155550123", "+14155550142", "+14155550188", "+14155550177")


@pytest.fixture
def fixture_db(db):
    db.load(DATA / "support-ticket.ndjson")
    return db


def signed_in(db_path: Path, email: str | None, page: str | None = None, **query: str):
    """The app with sign-in configured, as `email` (None: signed out), on `page`."""
    at = app_on(db_path, **query)
    at.secrets["auth"] = AUTH
    at.secrets["callscope"] = SETTINGS
    at.user = {"is_logged_in": True, "email": email, "email_verified": True} if email else {"is_logged_in": False}
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def report_page(db_path: Path, email: str):
    """The Beta report page as `email` sees it (run on its own, as tests/test_report.py runs it)."""
    at = AppTest.from_file(str(REPO / "pages/analytics/beta_report.py"), default_timeout=60)
    at.session_state["db_path"] = str(db_path)
    at.session_state["filters"] = Filters(date(2025, 11, 25), date(2025, 11, 25))
    at.secrets["auth"] = AUTH
    at.secrets["callscope"] = SETTINGS
    at.user = {"is_logged_in": True, "email": email, "email_verified": True}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at) -> str:
    return "\n".join(e.value for e in [*at.title, *at.markdown, *at.caption, *at.error, *at.info, *at.warning])


# Who may enter ------------------------------------------------------------------------------------------------

def test_the_allow_list_takes_emails_and_whole_domains():
    rules = Access.from_secrets({"auth": AUTH, "callscope": SETTINGS})
    assert rules.admits("Agent@Ringo-Voice.example") and rules.admits("ada@partner.example")
    assert not rules.admits("grace@partner.example")            # an email entry admits that address only
    assert not rules.admits("eve@sub.ringo-voice.example")      # a domain entry admits that domain only
    assert not rules.admits("eve@ringo-voice.example.evil")
    assert not rules.admits("agent@ringo-voice.example", email_verified=False)
    assert not rules.admits("agent@ringo-voice.example", email_verified="false")  # as some providers send it
    assert rules.admits("agent@ringo-voice.example", email_verified=True)
    assert not rules.admits(None) and not rules.admits("ringo-voice.example")
    assert rules.shows_personal("LEAD@ringo-voice.example") and not rules.shows_personal("agent@ringo-voice.example")
    assert Access.from_secrets({"auth": AUTH, "callscope": {"allowed": "@ringo-voice.example"}}).admits("a@ringo-voice.example")
    local = Access.from_secrets({})
    assert not local.signin and local.shows_personal(None)


def test_what_may_start():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("callscope.example.com")
    assert start_problem("127.0.0.1", {}) is None
    assert "on every network interface without sign-in" in start_problem("", {})
    assert "CALLSCOPE_SERVE_WITHOUT_SIGNIN=1" in start_problem("0.0.0.0", {})
    assert start_problem("0.0.0.0", {}, override=True) is None
    configured = {"auth": AUTH, "callscope": SETTINGS}
    assert start_problem("0.0.0.0", configured) is None
    partial = {"auth": {k: v for k, v in AUTH.items() if k != "client_secret"}, "callscope": SETTINGS}
    assert "lacks client_secret" in start_problem("127.0.0.1", partial)
    assert "nobody may enter" in start_problem("0.0.0.0", {"auth": AUTH})


def test_the_default_configuration_serves_loopback_only(tmp_path):
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--secrets.files", str(tmp_path / "none.toml")],  # the README's command, no sign-in
                            cwd=REPO, env={**_env(), "CALLSCOPE_STORE": str(tmp_path / "store")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listening = _wait_listening(port, proc)
        assert listening == {"127.0.0.1"}, listening
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serving_every_interface_without_signin_is_refused_with_a_sentence(tmp_path):
    done = subprocess.run([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(free_port()),
                           "--server.address", "0.0.0.0", "--secrets.files", str(tmp_path / "none.toml")],
                          cwd=REPO, env={**_env(), "CALLSCOPE_STORE": str(tmp_path / "store")}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "Error: refusing to serve call data on 0.0.0.0 without sign-in. Configure sign-in" in done.stderr
    assert not (tmp_path / "store").exists()  # refused before anything was built or read


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("CALLSCOPE_SERVE_WITHOUT_SIGNIN", "CALLSCOPE_DB")}


def _wait_listening(port: int, proc: subprocess.Popen) -> set[str]:
    """The IPv4/IPv6 addresses a TCP socket on `port` listens on, from /proc/net/tcp*: no traffic sent anywhere."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        found = set()
        for table, size in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(_address(address, size))
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("the server did not listen")


def _address(hex_address: str, size: int) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    if size == 8:
        return str(ipaddress.IPv4Address(raw[::-1]))
    return str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))


def test_the_return_link_is_kept_once_and_only_for_this_server():
    assert local_link("/replay?call=c-1&step=3") == "/replay?call=c-1&step=3"
    for foreign in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                    "/\t/evil.example/x", "/replay\r\nSet-Cookie: a=b"):
        assert local_link(foreign) is None
    assert remember("browser-1", "/replay?call=c-1&step=3") and not remember("browser-2", "https://evil.example/")
    assert not remember(None, "/replay")
    assert take("browser-2") is None
    assert take("browser-1") == "/replay?call=c-1&step=3" and take("browser-1") is None


# Masks --------------------------------------------------------------------------------------------------------

def test_masks_keep_the_last_digits_initials_and_the_domain():
    assert mask_phone("+1 (415) 555-0123") == "•••0123"
    assert initials("Ada Lovelace") == "A. L." and initials("ironbark foods") == "I. F."
    assert mask_email("ada.lovelace@example.com") == "a•••@example.com"
    assert mask_text("Call back +1 415 555 0123 or ada@example.com") == "Call back •••0123 or a•••@example.com"
    frame = pd.DataFrame({"external_call_id": ["c-1", "c-2"], "from_number": ["+14155550123", "~3fa9c21b0d-0188"],
                          "raw": ['{"fromNumber": "+14155550142"}', None]})
    masked = mask_frame(frame)
    assert masked["from_number"].tolist() == ["•••0123", "~3fa9c21b0d-0188"]  # an ingest token is no personal data
    assert "+14155550142" not in masked["raw"].iloc[0] and masked["external_call_id"].tolist() == ["c-1", "c-2"]
    assert frame["from_number"].iloc[0] == "+14155550123"  # the frame given is left as it was


def test_a_masked_trace_has_no_number_name_or_email_anywhere(fixture_db):
    from analytics.db import connect_reader, runner

    with connect_reader(fixture_db.path) as con:
        trace = load_trace(runner(con), "5d0b6c1e-answered")
    plain, masked = as_text(trace), as_text(mask_trace(trace))  # what the replay's log download holds
    assert "+14155550123" in plain and "Ada" in plain and "ada@example.com" in plain
    for value in (*NUMBERS, "ada@example.com", '"Ada"', "Lovelace"):
        assert value not in masked, value
    assert "•••0123" in masked and "a•••@example.com" in masked
    assert [m.type for m in mask_trace(trace).messages] == [m.type for m in trace.messages]


def as_text(trace) -> str:
    return "\n".join(json.dumps(record, ensure_ascii=False) for record in capture_records(trace))


# The pages ----------------------------------------------------------------------------------------------------

def test_without_signin_every_page_says_local_use_only_and_notes_are_by_local(fixture_db):
    at = app_on(fixture_db.path, **DAY).run()
    assert strings.LOCAL_ONLY in [c.value for c in at.caption]
    at = app_on(fixture_db.path, call="5d0b6c1e-answered")
    at.switch_page("pages/support/replay.py").run()
    assert strings.LOCAL_ONLY in [c.value for c in at.caption]
    assert "+14155550123" in to_text(at)  # local use: in full
    at.tabs[0].open = True  # Notes and tags, as a click would leave it
    at.run()
    at.text_area(key="replay_note_text").input("Ada called back about this one")
    at.button[-1].click().run()
    assert annotations.notes_for(fixture_db.path, "5d0b6c1e-answered")["author"].tolist() == ["local"]


def to_text(at) -> str:
    shown = [json.dumps(json.loads(j.value), ensure_ascii=False) for j in at.json]  # as the page shows it
    return "\n".join(shown) + texts(at)


def test_signed_out_sees_the_sign_in_and_nothing_from_the_store(tmp_path, fixture_db):
    fresh = tmp_path / "fresh" / "callscope"
    at = signed_in(fresh, None, "pages/support/replay.py", call="5d0b6c1e-answered", step="3")
    assert at.title[0].value == strings.SIGNIN_TITLE
    assert [b.label for b in at.button] == [strings.SIGNIN_BUTTON]
    assert not at.dataframe and not at.metric and not at.json and not at.sidebar.multiselect
    assert snapshot_generation(fresh) is None  # not even the demo was built for a signed-out visitor
    at = signed_in(fixture_db.path, None, **DAY)
    assert at.title[0].value == strings.SIGNIN_TITLE and not at.metric
    assert strings.LOCAL_ONLY not in texts(at)


def test_outside_the_allow_list_sees_a_refusal_with_their_email(fixture_db):
    at = signed_in(fixture_db.path, "eve@elsewhere.example", **DAY)
    assert at.title[0].value == strings.REFUSED_TITLE and not at.metric and not at.dataframe
    assert "eve@elsewhere" in at.error[0].value and CONTACT in texts(at)
    assert [b.label for b in at.button] == [strings.SIGN_OUT_OTHER]
    unverified = app_on(fixture_db.path, **DAY)
    unverified.secrets["auth"], unverified.secrets["callscope"] = AUTH, SETTINGS
    for user, sentence in (({"email": "agent@ringo-voice.example", "email_verified": False}, "has not verified"),
                           ({"sub": "123"}, strings.REFUSED_NO_EMAIL)):  # no email claim: refused, not signed out
        unverified.user = {"is_logged_in": True, **user}
        unverified.run()
        assert unverified.title[0].value == strings.REFUSED_TITLE and sentence in unverified.error[0].value
        assert not unverified.metric


def test_an_agent_sees_masked_numbers_in_the_explorer_and_the_replay(fixture_db):
    at = signed_in(fixture_db.path, "agent@ringo-voice.example", "pages/analytics/calls.py", **DAY)
    shown = at.dataframe[0].value
    assert len(shown) == 4
    assert all(re.fullmatch(r"•••\d{4}", n) for n in [*shown["from_number"], *shown["to_number"]] if n)
    assert strings.MASKED_FOR_YOU in [c.value for c in at.sidebar.caption]
    at = signed_in(fixture_db.path, "agent@ringo-voice.example", "pages/support/replay.py", call="5d0b6c1e-answered")
    seen = to_text(at)  # the step a link opens by default: the one the local test shows the number at
    assert not any(n in seen for n in NUMBERS) and "•••" in seen
    report = report_page(fixture_db.path, "agent@ringo-voice.example")
    assert not [t for t in report.toggle if t.key == "report_personal"]
    assert strings.REPORT_NO_PERSONAL in [c.value for c in report.caption]


def test_without_personal_data_a_number_search_matches_on_the_last_4_digits_shown(fixture_db):
    def found(email: str, number: str) -> int:
        at = signed_in(fixture_db.path, email, "pages/analytics/calls.py", **DAY)
        at.text_input(key="calls_q").input(number).run()
        return len(at.dataframe[0].value) if at.dataframe else 0

    other = "+1 999 555 0123"  # not a caller's number, but it ends as one does
    assert found("lead@ringo-voice.example", other) == 0
    assert found("agent@ringo-voice.example", other) == found("lead@ringo-voice.example", "0123") > 0


def test_a_lead_sees_numbers_in_full_and_may_include_them_in_the_report(fixture_db):
    at = signed_in(fixture_db.path, "lead@ringo-voice.example", "pages/analytics/calls.py", **DAY)
    assert "+14155550123" in at.dataframe[0].value["from_number"].tolist()
    report = report_page(fixture_db.path, "lead@ringo-voice.example")
    assert [t for t in report.toggle if t.key == "report_personal"]
