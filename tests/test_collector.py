"""The collector at its edges: tokens, CORS, size and type limits, gzip, NDJSON and arrays, rejects with reasons,
durability (spooled and fsynced before the 2xx; leftovers loaded exactly once after a restart or a kill -9),
and the Live page that shows what arrives."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bench.collector import free_port, start_collector, stop_collector, wait_until_flushed
from ingest.serve import MAX_BODY_BYTES, MAX_INFLATED_BYTES, CollectorConfig, create_app, load_tokens
from ingest.spool import Spool, spool_dir
from ingest.store import connect_reader
from tests.logs import T0, Log, Tab

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TOKEN = "tok-ringo-0123456789abcdef"
TOKENS = {"ringo-voice": TOKEN, "other-app": "tok-other-0123456789abcdef"}
APP_ORIGIN = "https://phone.ringo-voice.example"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}


def config(db_path: Path) -> CollectorConfig:
    # A flush interval far beyond the test: each test flushes when it means to (`flush`).
    return CollectorConfig(db_path=db_path, tokens=TOKENS, origins=frozenset({APP_ORIGIN}), flush_interval_s=3600)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(config(tmp_path / "callscope.duckdb"))) as c:
        yield c


def flush(client: TestClient) -> None:
    client.app.state.collector.flusher.flush_once()


def segments(client: TestClient) -> list[Path]:
    return client.app.state.collector.spool.pending()


def sql(db_path: Path, query: str) -> list[tuple]:
    with connect_reader(db_path) as con:
        return con.execute(query).fetchall()


def a_call(external_call_id: str = "c1") -> Log:
    log = Log()
    app = Tab(log, "tab-a").iframe("remote", at=T0)
    app.send("INCOMING_CALL", externalCallId=external_call_id, fromNumber="+14155550123", toNumber="+14155550100")
    app.send("CALL_ANSWERED", externalCallId=external_call_id)
    app.send("CALL_ENDED", externalCallId=external_call_id, callEndStatus="COMPLETED")
    return log


def test_ndjson_batch_is_on_disk_before_the_answer_then_loaded(client, tmp_path):
    body = (DATA / "support-ticket.ndjson").read_bytes()
    r = client.post("/v1/events", content=body, headers=AUTH)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 35, "rejected_count": 0, "rejected": []}
    [segment] = segments(client)
    assert segment.read_bytes() == body  # the batch verbatim: its line numbers are the request's
    flush(client)
    assert segments(client) == []
    db = tmp_path / "callscope.duckdb"
    assert sql(db, "SELECT count(*) FROM events") == [(35,)]
    assert sql(db, "SELECT tool, lines_read, loaded, rejected FROM loads") == [("collector", 35, 35, 0)]
    assert {c[0]: c[1] for c in sql(db, "SELECT external_call_id, outcome FROM calls")}["c4e9-dropped"] == "dropped"


def test_spool_file_and_folder_are_fsynced_before_the_answer(client, monkeypatch):
    calls: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        calls.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        return real_fsync(fd)

    def rename(src, dst):
        calls.append("rename")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    r = client.post("/v1/events", content=a_call().ndjson(), headers=AUTH)
    calls.append(f"answer {r.status_code}")
    assert calls == ["fsync file", "rename", "fsync dir", "answer 202"]


def test_a_spool_opened_while_a_flusher_deletes_segments_counts_what_is_left(tmp_path, monkeypatch):
    """A collector restarted after a kill -9 opens its spool while the old flusher may still be deleting what it
    loaded: a segment listed and then gone counts for nothing (it once crashed the new flusher, and the spool never
    drained)."""
    spool = Spool(tmp_path)
    kept = spool.accept(a_call().ndjson().encode(), "ringo-voice").path
    listed = Spool.pending
    monkeypatch.setattr(Spool, "pending", lambda self: [tmp_path / ("0" * 20 + "-1-000000.ndjson"), *listed(self)])
    assert Spool(tmp_path).bytes_pending == kept.stat().st_size


def test_json_array_and_gzip_bodies(client, tmp_path):
    records = a_call("c-array").sorted()
    r = client.post("/v1/events", content=json.dumps(records), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 202 and r.json()["accepted"] == len(records)
    ndjson = a_call("c-gzip").ndjson().encode()
    r = client.post("/v1/events", content=gzip.compress(ndjson), headers={**AUTH, "Content-Encoding": "gzip"})
    assert r.status_code == 202 and r.json()["accepted"] == len(records)
    # sendBeacon cannot set Content-Encoding: gzip is also known by its magic bytes
    r = client.post("/v1/events", content=gzip.compress(a_call("c-magic").ndjson().encode()),
                    headers={**AUTH, "Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 202
    flush(client)
    outcomes = dict(sql(tmp_path / "callscope.duckdb", "SELECT external_call_id, outcome FROM calls"))
    assert outcomes == {"c-array": "answered", "c-gzip": "answered", "c-magic": "answered"}


def test_token_in_header_or_query_and_401_otherwise(client):
    body = a_call().ndjson()
    assert client.post("/v1/events", content=body).status_code == 401
    r = client.post("/v1/events", content=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["error"]
    assert client.post(f"/v1/events?token={TOKEN}", content=body).status_code == 202
    assert len(segments(client)) == 1


def test_records_of_another_app_are_refused_whole(client):
    log = a_call()
    log.records[2]["app"] = "other-app"
    r = client.post("/v1/events", content=log.ndjson(), headers=AUTH)
    assert r.status_code == 403
    assert r.json()["rejected"] == [{"line": 3, "reason": "app 'other-app' is not the app this token is for ('ringo-voice')"}]
    assert segments(client) == []


def test_cors_only_for_allowed_origins(client):
    preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    ok = client.options("/v1/events", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == APP_ORIGIN and "POST" in ok.headers["access-control-allow-methods"]
    bad = client.options("/v1/events", headers={**preflight, "Origin": "https://evil.example"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers

    body = a_call().ndjson()
    r = client.post("/v1/events", content=body, headers={**AUTH, "Origin": APP_ORIGIN})
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == APP_ORIGIN
    assert r.headers["vary"] == "Origin"
    r = client.post("/v1/events", content=body, headers={**AUTH, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert "--allow-origin https://evil.example" in r.json()["error"]
    assert len(segments(client)) == 1  # the refused one was never spooled


def test_size_and_type_limits(client):
    too_big = b"x" * (MAX_BODY_BYTES + 1)
    assert client.post("/v1/events", content=too_big, headers=AUTH).status_code == 413
    bomb = gzip.compress(b" " * (MAX_INFLATED_BYTES + 1))
    r = client.post("/v1/events", content=bomb, headers={**AUTH, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "un-gzipped" in r.json()["error"]
    body = a_call().ndjson()
    form = client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and "NDJSON" in form.json()["error"]
    brotli = client.post("/v1/events", content=body, headers={**AUTH, "Content-Encoding": "br"})
    assert brotli.status_code == 415
    broken = client.post("/v1/events", content=b"\x1f\x8b" + b"\0" * 20, headers=AUTH)
    assert broken.status_code == 400 and "gzip" in broken.json()["error"]
    assert client.post("/v1/events", content=b"\n\n", headers=AUTH).status_code == 400
    assert segments(client) == []


def test_rejected_lines_are_listed_with_reasons_and_kept_in_rejects(client, tmp_path):
    good = a_call().sorted()
    lines = [json.dumps(good[0]), "not json at all", json.dumps({**good[1], "ts": 1764072000}), "",
             json.dumps(good[2])]
    r = client.post("/v1/events", content="\n".join(lines) + "\n", headers=AUTH)
    assert r.status_code == 202
    answer = r.json()
    assert answer["accepted"] == 2 and answer["rejected_count"] == 2
    assert [x["line"] for x in answer["rejected"]] == [2, 3]
    assert answer["rejected"][0]["reason"].startswith("not JSON")
    assert "between 2018 and 2100" in answer["rejected"][1]["reason"]

    garbage = client.post("/v1/events", content=b"nope\n{\"ts\": 1}\n", headers=AUTH)
    assert garbage.status_code == 400
    assert [x["line"] for x in garbage.json()["rejected"]] == [1, 2]
    assert "every line was rejected" in garbage.json()["error"]

    flush(client)
    db = tmp_path / "callscope.duckdb"
    rejects = sql(db, "SELECT line_no, reason FROM rejects ORDER BY source, line_no")
    assert [line for line, _ in rejects] == [2, 3, 1, 2]
    assert rejects[0][1] == answer["rejected"][0]["reason"]
    assert sql(db, "SELECT lines_read, loaded + duplicates + rejected, rejected FROM loads") == [(6, 6, 4)]


def _until_spool_empty(db: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while list(spool_dir(db).glob("*.ndjson")) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_restart_listens_at_once_and_loads_leftover_batches_exactly_once(tmp_path):
    db = tmp_path / "callscope.duckdb"
    crashed = TestClient(create_app(config(db)))  # no `with`: no lifespan, nothing flushes, as after a kill
    assert crashed.post("/v1/events", content=a_call("c1").ndjson(), headers=AUTH).status_code == 202
    [segment] = list(spool_dir(db).glob("*.ndjson"))
    kept = segment.read_bytes()
    with TestClient(create_app(config(db))) as client:  # answers while the leftovers load in the background
        assert client.post("/v1/events", content=a_call("c1").ndjson(), headers=AUTH).status_code == 202
        _until_spool_empty(db)
        assert list(spool_dir(db).glob("*.ndjson")) == []
    assert sql(db, "SELECT count(*), count(DISTINCT event_key) FROM events") == [(7, 7)]  # the retry: duplicates
    # Killed after the load committed but before the segment was deleted: it is loaded again, as duplicates.
    segment.write_bytes(kept)
    with TestClient(create_app(config(db))):
        _until_spool_empty(db)
    assert sql(db, "SELECT count(*) FROM events") == [(7,)]
    assert sql(db, "SELECT sum(loaded), sum(duplicates) FROM loads") == [(7, 14)]


def test_acknowledged_batch_survives_kill_9(tmp_path):
    db = tmp_path / "callscope.duckdb"
    port = free_port()
    proc = start_collector(db, port, TOKENS, log_path=tmp_path / "collector.log")
    body = a_call("c-kill").ndjson().encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body, headers=AUTH, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 202
    os.kill(proc.pid, signal.SIGKILL)  # the very next instant
    proc.wait()
    proc = start_collector(db, port, TOKENS, log_path=tmp_path / "collector.log")
    try:
        wait_until_flushed(f"http://127.0.0.1:{port}")
    finally:
        stop_collector(proc)
    assert sql(db, "SELECT count(*), count(DISTINCT event_key) FROM events") == [(7, 7)]
    assert sql(db, "SELECT outcome FROM calls") == [("answered",)]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_flusher_of_a_killed_collector_stops_and_leaves_the_spool_to_the_next(tmp_path):
    """kill -9 reaches the collector only: its flusher process sees it gone within a second, whatever its interval,
    and exits without loading more (two flushers would compete for the store); the next collector loads the rest."""
    db = tmp_path / "callscope.duckdb"
    port = free_port()
    proc = start_collector(db, port, TOKENS, log_path=tmp_path / "collector.log", extra_args=("--flush-interval", "3600"))
    try:
        wait_until_flushed(f"http://127.0.0.1:{port}")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=a_call("c-orphan").ndjson().encode(),
                                         headers=AUTH, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 202
        flushers = _children(proc.pid)
        assert flushers, "the collector runs its flusher in a process of its own"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, flushers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, flushers))
    assert len(list(spool_dir(db).glob("*.ndjson"))) == 1  # the batch waits for the next collector
    proc = start_collector(db, port, TOKENS, log_path=tmp_path / "collector.log")
    try:
        wait_until_flushed(f"http://127.0.0.1:{port}")
    finally:
        stop_collector(proc)
    assert sql(db, "SELECT outcome, count(*) FROM calls GROUP BY ALL") == [("answered", 1)]


def test_tokens_come_from_a_file_or_the_environment(tmp_path):
    toml = tmp_path / "tokens.toml"
    toml.write_text('[tokens]\nringo-voice = "s1"\nother = "s2"\n')
    assert load_tokens(toml) == {"ringo-voice": "s1", "other": "s2"}
    as_json = tmp_path / "tokens.json"
    as_json.write_text('{"ringo-voice": "s1"}')
    assert load_tokens(as_json) == {"ringo-voice": "s1"}
    assert load_tokens(None, {"CALLSCOPE_COLLECTOR_TOKENS": '{"a": "t"}'}) == {"a": "t"}
    shared = tmp_path / "shared.json"
    shared.write_text('{"a": "same", "b": "same"}')
    with pytest.raises(Exception, match="share a token"):
        load_tokens(shared)


def test_serve_without_tokens_says_how_to_configure_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CALLSCOPE_COLLECTOR_TOKENS"}
    result = subprocess.run([sys.executable, "-m", "ingest", "serve", "--db", str(tmp_path / "c.duckdb")], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: no collector tokens are configured") and "--tokens-file" in result.stderr


def test_live_page_lists_calls_newest_first(db):
    from streamlit.testing.v1 import AppTest

    from ui import strings

    db.load(DATA / "support-ticket.ndjson")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db.path)
    at.run()
    at.switch_page("pages/support/live.py").run()
    assert not at.exception
    assert at.title[0].value == "Live"
    assert any(strings.LIVE_CAPTION.split(".")[0] in c.value for c in at.caption)
    calls = at.dataframe[0].value
    assert len(calls) == 4
    assert list(calls["started_at"]) == sorted(calls["started_at"], reverse=True)
