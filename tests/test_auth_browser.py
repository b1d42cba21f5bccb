"""Sign-in in real headless Chromium: `streamlit run app.py` with [auth] pointing at a local OpenID provider
(oidc-provider-mock, on loopback in this process), on the demo data of `python -m ingest demo`.

The company's allow-list admits `ringo-voice.example`; only `lead@ringo-voice.example` may see personal data.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from analytics import annotations
from analytics.db import connect_reader, runner
from analytics.replay.load import load_trace
from tests.browser import browser_page, free_port, screenshot, streamlit_server
from ui import strings

AGENT, LEAD, OUTSIDER = "agent@ringo-voice.example", "lead@ringo-voice.example", "eve@elsewhere.example"
CONTACT = "it-help@ringo-voice.example"
# The provider mock runs on Authlib's server side, whose older interfaces it still uses.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SECRETS = """
[auth]
redirect_uri = "{app}/oauth2callback"
cookie_secret = "callscope-test-cookie-secret-not-for-production"
client_id = "callscope"
client_secret = "callscope-secret"
server_metadata_url = "{idp}/.well-known/openid-configuration"

[callscope]
allowed = ["ringo-voice.example"]
personal_data = ["{lead}"]
access_contact = "{contact}"
"""


@pytest.fixture(scope="module")
def idp() -> str:
    with warnings.catch_warnings():  # its import of authlib.jose warns, as Authlib deprecates that module
        pytest.importorskip("authlib.deprecate")  # which says "always" for its warnings: the ignore must come after
        warnings.simplefilter("ignore", DeprecationWarning)
        oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        for email, name in ((AGENT, "Avery Agent"), (LEAD, "Lee Lead"), (OUTSIDER, "Eve Outsider")):
            claims = {"email": email, "email_verified": True, "name": name}
            assert httpx.put(f"{url}/users/{quote(email)}", json=claims).status_code == 204
        yield url


@pytest.fixture(scope="module")
def app(demo_db: Path, idp: str, tmp_path_factory) -> str:
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    secrets = tmp_path_factory.mktemp("signin") / "secrets.toml"
    secrets.write_text(SECRETS.format(app=app_url, idp=idp, lead=LEAD, contact=CONTACT))
    with streamlit_server(demo_db, port=port, secrets=secrets) as url:
        yield url


@pytest.fixture(scope="module")
def call(demo_db: Path) -> dict:
    """An inbound call whose caller HubSpot matched to a contact: a number and a name in its messages; the step of
    its INCOMING_CALL (the message that carries the numbers)."""
    with connect_reader(demo_db) as con:
        call_id = con.execute("SELECT external_call_id FROM calls WHERE direction = 'inbound' AND caller_id_matches > 0 "
                              "AND from_number LIKE '+%' ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        trace = load_trace(runner(con), call_id)
    ring = next(m for m in trace.messages if m.in_call and m.type == "INCOMING_CALL")
    return {"id": call_id, "step": ring.index + 1, "number": ring.message["data"]["fromNumber"]}


def sign_in(page, email: str) -> None:
    """Press Sign in, then pick `email` on the provider's form."""
    page.route(re.compile(r"https://cdn\.jsdelivr\.net/.*"), lambda route: route.abort())  # its CSS: no network here
    page.get_by_role("button", name=strings.SIGNIN_BUTTON).click()
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()


def visible_text(page) -> str:
    return page.locator("body").inner_text()


def test_a_deep_link_signs_in_and_lands_on_its_call_masked_for_an_agent(app, call, demo_db):
    link = f"{app}/replay?call={call['id']}&step={call['step']}"
    last4 = re.sub(r"\D", "", call["number"])[-4:]
    with browser_page(height=1800) as page:  # tall: the message at the step shows without scrolling
        page.goto(link)
        page.get_by_text(strings.SIGNIN_TITLE).wait_for(timeout=60_000)
        text = visible_text(page)
        assert call["id"] not in text and call["number"] not in text and last4 not in text
        assert page.locator(".js-plotly-plot, [data-testid=stDataFrame], [data-testid=stMetric]").count() == 0
        screenshot(page, "auth_signin")

        sign_in(page, AGENT)
        page.wait_for_url(re.compile(re.escape(f"/replay?call={call['id']}")), timeout=60_000)
        assert f"step={call['step']}" in page.url
        page.get_by_role("heading", name=re.compile(re.escape(call["id"]))).wait_for(timeout=60_000)
        page.get_by_text(f"•••{last4}").first.wait_for(timeout=30_000)
        text = visible_text(page)
        assert call["number"] not in text and strings.SIGNED_IN_AS.format(email=AGENT) in text
        assert strings.LOCAL_ONLY not in text
        screenshot(page, "auth_masked_replay")

        page.get_by_role("tab", name=strings.REPLAY_SHARE).click()
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name=strings.REPLAY_DOWNLOAD_LOG).click()
        exported = Path(download.value.path()).read_text()
        records = [json.loads(line) for line in exported.splitlines()]
        ring = next(r for r in records if r["message"]["type"] == "INCOMING_CALL")
        assert ring["message"]["data"]["fromNumber"] == f"•••{last4}"
        assert call["number"] not in exported and "+44" not in exported

        page.get_by_role("tab", name=strings.REPLAY_NOTES).click()
        page.get_by_text(strings.REPLAY_NOTES_AS.format(author=AGENT)).wait_for(timeout=30_000)
        page.get_by_label(strings.REPLAY_NOTE).fill("Caller says the widget froze after answering")
        page.get_by_role("button", name=strings.REPLAY_SAVE_NOTE).click()
        page.get_by_text(f"— {AGENT}").wait_for(timeout=30_000)
        notes = annotations.notes_for(demo_db, call["id"])
        assert notes["author"].tolist()[-1] == AGENT

        page.goto(f"{app}/calls")  # the explorer, same session cookie: its numbers drawn masked (a canvas: looked at)
        page.locator(".st-key-calls_table [data-testid='stDataFrame']").wait_for(timeout=60_000)
        page.wait_for_timeout(1_500)
        screenshot(page, "auth_masked_calls")

        page.get_by_role("button", name=strings.SIGN_OUT).click()
        page.get_by_role("button", name="End session").click()  # the provider's own sign-out page
        page.get_by_text(strings.SIGNIN_TITLE).wait_for(timeout=60_000)
        page.goto(link)
        page.get_by_text(strings.SIGNIN_TITLE).wait_for(timeout=60_000)
        assert call["id"] not in visible_text(page)


def test_the_personal_data_list_sees_the_whole_number(app, call):
    with browser_page() as page:
        page.goto(f"{app}/replay?call={call['id']}&step={call['step']}")
        page.get_by_text(strings.SIGNIN_TITLE).wait_for(timeout=60_000)
        sign_in(page, LEAD)
        page.get_by_role("heading", name=re.compile(re.escape(call["id"]))).wait_for(timeout=60_000)
        page.get_by_text(call["number"]).first.wait_for(timeout=30_000)
        assert strings.MASKED_FOR_YOU not in visible_text(page)


def test_someone_outside_the_allow_list_is_refused_with_their_email(app, call):
    with browser_page() as page:
        page.goto(f"{app}/replay?call={call['id']}&step={call['step']}")
        page.get_by_text(strings.SIGNIN_TITLE).wait_for(timeout=60_000)
        sign_in(page, OUTSIDER)
        page.get_by_text(strings.REFUSED_TITLE).wait_for(timeout=60_000)
        page.get_by_text(strings.REFUSED.format(email=OUTSIDER)).wait_for(timeout=30_000)  # the page may still be drawing
        page.get_by_text(CONTACT).first.wait_for(timeout=30_000)
        text = visible_text(page)
        assert strings.REFUSED.format(email=OUTSIDER) in text and CONTACT in text
        assert call["id"] not in text and call["number"] not in text
        assert page.locator(".js-plotly-plot, [data-testid=stDataFrame], [data-testid=stMetric]").count() == 0
        screenshot(page, "auth_refused")
