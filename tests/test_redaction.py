"""`--redact` end to end: no phone number, email or name the log reveals is stored (tables, files, spool), logged or
shown (`calls --json`, the report, the replay's share summary), whatever form it takes in the log: numbers with and
without "+", in error messages, `hs_call_title`/`hs_call_body`, the envelope `url` and rejected lines; names from
caller-ID replies wherever they come back later. Redacted numbers keep their last 4 digits."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from analytics import annotations
from analytics.db import connect_reader as analytics_reader
from analytics.db import runner
from analytics.filters import Filters
from analytics.format import scrub
from analytics.replay import load as replay
from analytics.replay.diagnosis import diagnose
from analytics.report.build import build_report
from ingest.redact import TOKEN_RE, Redactor, personal_spans
from ingest.serve import CollectorConfig, create_app
from ingest.store import connect_reader
from tests.logs import T0, Log, Tab

REPO = Path(__file__).resolve().parent.parent
KEY = "redaction-test-key"
TOKEN = "tok-ringo-0123456789abcdef"
# Every number of the log below, as written there; none may appear, in any form, except its last 4 digits.
NUMBERS = ("+1 415 555 0123", "415.555.0188", "415-555-0199", "(415) 555-0123", "555 0166", "+14155550144",
           "415-555-0177", "415-555-0111", "415.555.0112", "(415) 555-0113", "+14155550100")
NAMES = ("Ada", "Lovelace", "Analytical", "Engines", "Grace", "Hopper", "Charles", "Babbage")
EMAILS = ("ada@example.com", "grace@example.com", "charles@example.com")
URL = ("https://phone.ringo-voice.example/dial/415-555-0177?to=%2B14155550144&email=ada%40example.com"
       "&callerNumber=4155550188")
# The app's page once the caller is known.
URL_NAMED = "https://phone.ringo-voice.example/call?contact=Ada%20Lovelace&company=Analytical+Engines#/notes"
REJECTED = (
    # ts is not a time (the reason quotes it); the message names a caller and a number
    '{"ts": "at 415-555-0111", "direction": "to_hubspot", "message": {"type": "NOTE", "note": "Ada Lovelace, '
    '415.555.0112"}}\n'
    # not JSON at all: a caller-ID reply cut short, with a name seen nowhere else
    '{"ts": 1764072099000, "direction": "from_hubspot", "message": {"type": "CALLER_ID_MATCH_SUCCEEDED", "note": '
    '"call Ada Lovelace at (415) 555-0113", "data": {"callerIdMatches": [{"firstName": "Charles", "lastName": '
    '"Babbage", "email": "charles@example.com"\n'
)


def pii_log() -> Log:
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.send("INCOMING_CALL", externalCallId="c-pii", fromNumber="+1 415 555 0123", toNumber="+14155550100",
           callStartTime=a.now + 40, createEngagement=True)["url"] = URL
    a.matched("Ada Lovelace")
    a.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=[{"callerIdType": "COMPANY", "name": "Analytical Engines",
           "objectCoordinates": {"portalId": 4455123, "objectId": 6100, "objectTypeId": "0-2"}}])
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "contact Ada Lovelace (ada@example.com) at 415.555.0188 "
                                                        "is not accessible"})
    a.recv("ERROR", type="GENERIC_ERROR", message="dialing 415-555-0199 for LOVELACE failed")
    a.send("CALL_ANSWERED", externalCallId="c-pii")["url"] = URL_NAMED
    a.end("c-pii", "COMPLETED", 9101, at=a.now + 60_000)
    a.send("CALL_COMPLETED", externalCallId="c-pii", engagementId=9101, hideWidget=False, engagementProperties={
        "hs_call_status": "COMPLETED", "hs_timestamp": a.now,
        "hs_call_title": "Call with Ada Lovelace, (415) 555-0123",
        "hs_call_body": "Analytical Engines asked for a call back on 555 0166 or grace@example.com"})
    a.ring("c-two", at=a.now + 120_000, from_number="+14155550123")
    a.matched("Grace Hopper")
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "Grace Hopper's contact record is locked"})
    a.end("c-two", "MISSED")
    return log


def leaks(text: str) -> list[str]:
    """The raw values found in `text`: numbers (as written, or their last 10 digits written any way), names (any
    case, whole words) and emails (also URL-encoded). Tokens (`~3fa9c21b0d-0123`) are no raw value."""
    squeezed = re.sub(r"[\s().+-]", "", TOKEN_RE.sub(" ", text))
    found = [n for n in NUMBERS if n in text or re.sub(r"\D", "", n)[-10:] in squeezed]
    found += [n for n in NAMES if re.search(rf"(?i)\b{n}\b", text)]
    return found + [e for e in EMAILS if e in text or e.replace("@", "%40") in text]


def file_leaks(folder: Path) -> list[tuple[str, str]]:
    """Raw values in the bytes of every file under `folder` (the databases, the spool, the key's folder).
    Binary files are searched for the longer values only: a 3-letter name can turn up by chance in them."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            values = [n for n in NUMBERS if len(n) > 8] + [n for n in NAMES if len(n) > 5] + list(EMAILS)
            values += [re.sub(r"\D", "", n) for n in NUMBERS if len(re.sub(r"\D", "", n)) >= 10]
            found += [(path.name, v) for v in values if v.encode() in data or v.lower().encode() in data]
    return found


def table_dump(db_path: Path) -> str:
    with connect_reader(db_path) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert {"events", "rejects", "instances", "calls", "call_messages"} <= set(tables)
        return json.dumps({t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}, default=str)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=REPO, capture_output=True, text=True,
                          input=stdin, timeout=300, env={**os.environ, "CALLSCOPE_REDACT_KEY": KEY})


def check_everything_shown(db_path: Path, tmp_path: Path) -> None:
    """Tables, files, `calls --json`, the report in every format, the replay's summary and export."""
    assert leaks(table_dump(db_path)) == []
    assert file_leaks(db_path.parent) == []
    out = cli("calls", "--db", str(db_path), "--json")
    assert out.returncode == 0, out.stderr
    assert leaks(out.stdout + out.stderr) == []
    calls = {c["external_call_id"]: c for c in json.loads(out.stdout)}
    assert calls["c-pii"]["engagement_error"].endswith("-0188 is not accessible")  # last 4 digits kept
    for personal in ((), ("--include-personal",)):
        folder = tmp_path / f"report{len(personal)}"
        folder.mkdir()
        report = cli("report", "--db", str(db_path), "--format", "all", "--out", str(folder),
                     "--from", "2025-11-25", "--to", "2025-11-25", *personal)
        assert report.returncode == 0, report.stderr
        assert leaks(report.stdout + report.stderr) == []
        written = sorted(folder.iterdir())
        assert {p.suffix for p in written} >= {".html", ".md", ".csv"}
        for path in written:  # (the HTML's first script is plotly.js itself, which knows a month "Ada")
            text = re.sub(r'<script type="text/javascript">.*?</script>', "", path.read_text(), count=1, flags=re.S)
            assert leaks(text) == [], path.name
    with connect_reader(db_path) as con:
        run = runner(con)
        for call_id in ("c-pii", "c-two"):
            trace = replay.load_trace(run, call_id)
            text = replay.summary_text(trace, diagnose(trace), f"http://callscope/replay?call={call_id}")
            assert "outcome" in text and leaks(text) == []
            assert leaks(replay.to_ndjson(trace)) == []


def test_the_crafted_log_holds_every_raw_value():
    """The checks below would see each value: the unredacted log shows them all."""
    assert sorted(leaks(pii_log().ndjson() + REJECTED)) == sorted(NUMBERS + NAMES + EMAILS)


def test_cli_load_with_redact_stores_and_shows_no_personal_data(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    log_path = tmp_path / "pii.ndjson"
    log_path.write_text(pii_log().ndjson() + REJECTED)
    db_path = folder / "callscope.duckdb"
    loaded = cli("load", str(log_path), "--db", str(db_path), "--redact")
    assert loaded.returncode == 0, loaded.stderr
    assert "2 rejected" in loaded.stderr and leaks(loaded.stdout + loaded.stderr) == []
    check_everything_shown(db_path, tmp_path)
    with connect_reader(db_path) as con:
        title, body = con.execute(
            "SELECT message->>'$.data.engagementProperties.hs_call_title', "
            "message->>'$.data.engagementProperties.hs_call_body' FROM events WHERE type = 'CALL_COMPLETED'").fetchone()
        url, from_number = con.execute("SELECT url, from_number FROM events WHERE type = 'INCOMING_CALL' "
                                       "AND external_call_id = 'c-pii'").fetchone()
        reasons = [r for (r,) in con.execute("SELECT reason FROM rejects ORDER BY line_no").fetchall()]
    assert title.endswith("-0123") and re.search(r"~[0-9a-f]{10}-0166 or ~[0-9a-f]{10}$", body)
    assert from_number.endswith("-0123") and "-0177?to=~" in url
    assert re.search(r"callerNumber=~[0-9a-f]{10}-0188$", url)
    assert reasons[0].startswith("ts '") and "-0111" in reasons[0]


def test_collector_with_redact_spools_and_stores_no_personal_data(tmp_path, caplog):
    db_path = tmp_path / "callscope.duckdb"
    config = CollectorConfig(db_path=db_path, tokens={"ringo-voice": TOKEN}, origins=frozenset(),
                             flush_interval_s=3600, redact=True)
    body = (pii_log().ndjson() + REJECTED).encode()
    caplog.set_level(logging.DEBUG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CALLSCOPE_REDACT_KEY", KEY)
        with TestClient(create_app(config)) as client:
            answer = client.post("/v1/events", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 202, answer.text
            assert answer.json()["rejected_count"] == 2 and leaks(answer.text) == []
            [segment] = client.app.state.collector.spool.pending()
            spooled = segment.read_bytes()  # before the flush: the spool never held a raw value
            assert leaks(spooled.decode()) == [] and file_leaks(tmp_path) == []
            assert len(spooled.splitlines()) == len(body.splitlines())  # line k is still the request's line k
            client.app.state.collector.flusher.flush_once()
            assert client.app.state.collector.spool.pending() == []
    assert leaks(caplog.text) == []
    check_everything_shown(db_path, tmp_path)


def test_a_name_revealed_later_in_a_collector_batch_is_redacted_before_it(tmp_path):
    """The collector reads the whole request for names first: order inside a batch does not matter."""
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "no contact Hopper"})
    a.matched("Grace Hopper")
    spooled = Redactor(b"k").body(log.ndjson().encode()).decode()
    assert "Hopper" not in spooled and "Grace" not in spooled
    assert Redactor(b"k").token("Hopper") in spooled


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_name_revealed_later_in_a_file_is_redacted_before_it(tmp_path, via):
    """`ingest load --redact` reads a source for names before it loads it (stdin through a temporary copy)."""
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c-early")
    a.recv("CREATE_ENGAGEMENT_FAILED", error={"message": "no contact Hopper for this number"})
    a.matched("Grace Hopper")
    db_path = tmp_path / "db" / "callscope.duckdb"
    if via == "file":
        (tmp_path / "early.ndjson").write_text(log.ndjson())
        loaded = cli("load", str(tmp_path / "early.ndjson"), "--db", str(db_path), "--redact")
    else:
        loaded = cli("load", "-", "--db", str(db_path), "--redact", stdin=log.ndjson())
    assert loaded.returncode == 0, loaded.stderr
    with connect_reader(db_path) as con:
        stored = " ".join(str(r) for r in con.execute("SELECT message, error_message FROM events").fetchall())
        sources = con.execute("SELECT sources FROM loads").fetchone()[0]
    assert "Hopper" not in stored and "Grace" not in stored and "no contact ~" in stored
    assert sources == (["-"] if via == "stdin" else [str((tmp_path / "early.ndjson").resolve())])
    assert [p.name for p in db_path.parent.iterdir() if p.name.startswith(".stdin-")] == []


def test_numbers_are_found_in_free_text_in_every_way_they_are_written():
    for number in ("+1 415 555 0123", "415.555.0188", "415-555-0199", "(415) 555-0123", "555 0166", "+44 20 7946 0958",
                   "1-800-555-0100", "415 5550123"):
        text = f"call {number} now"
        assert scrub(text) == "call [phone] now", number
    # timestamps, ids, dates, times, versions and addresses stay: they are what the log is read for
    for text in ("ts 1764072000000", "portal 4455123, engagement 2147483647", "2025-11-25 12:00:07.003 UTC",
                 "SDK 0.9.7", "took 4.512 s", "connect 192.168.1.100", "~3fa9c21b0d-0123 and ~0123456789-0166"):
        assert personal_spans(text) == [], text


def test_scrub_masks_numbers_typed_into_notes_in_any_format():
    note = ("rang twice; call back on 415.555.0188, 415-555-0199, (415) 555-0123, 555 0166 or +1 415 555 0123, "
            "or ada@example.com. Portal 4455123, token ~3fa9c21b0d-0123")
    assert scrub(note) == ("rang twice; call back on [phone], [phone], [phone], [phone] or [phone], or [email]. "
                           "Portal 4455123, token ~3fa9c21b0d-0123")


def test_report_masks_numbers_typed_into_notes(db):
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c-noted")
    a.send("CALL_ANSWERED", externalCallId="c-noted")
    a.end("c-noted", "COMPLETED")
    db.load(log)
    annotations.add_tag(db.path, "c-noted", "beta-feedback")
    annotations.add_note(db.path, "c-noted", "call back on 415.555.0188 or (415) 555-0123, not 555 0166")
    with analytics_reader(db.path) as con:
        report = build_report(con, Filters(date(2025, 11, 25), date(2025, 11, 25)), db_path=db.path)
    assert report.tagged.at[0, "notes"] == ["call back on [phone] or [phone], not [phone]"]


def test_redaction_is_stable_and_idempotent():
    """A line redacted twice (the collector before the spool, the flush again) is the line redacted once."""
    r = Redactor(KEY.encode())
    [line] = [ln.encode() for ln in pii_log().ndjson().splitlines() if "INCOMING_CALL" in ln and "url" in ln]
    once = r.line(line)
    assert Redactor(KEY.encode()).line(once) == once and r.line(line) == once
    text = "Ada Lovelace at 415.555.0188, ada@example.com"
    r.names.learn("Ada")
    assert r.text(r.text(text)) == r.text(text) != text


def test_urls_keep_their_shape_and_lose_their_personal_data():
    r = Redactor(b"k")
    r.names.learn("Lovelace")
    url = r.url("https://x.example/c/ada%40example.com?phone=4155550188&from=2025-11-25&q=Lovelace&id=4455123#/d?to=555%200166")
    assert url.startswith("https://x.example/c/~") and "&from=2025-11-25&" in url and "&id=4455123#/d?to=~" in url
    assert "phone=~" in url and url.count("-0188") == 1 and url.endswith("-0166") and "Lovelace" not in url
