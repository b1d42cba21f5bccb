"""Input that once stopped an import or the collector: each is now a reject with a reason, the rest of its file or
batch is stored, and the next batch still loads. read = loaded + duplicates + rejected holds throughout."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ingest import parse
from ingest.cli import main
from ingest.read import MAX_LINE_BYTES, read_lines
from ingest.serve import CollectorConfig, create_app
from ingest.spool import MAX_BATCH_LINES, spool_dir
from ingest.store import MAX_STORED_REJECTS, connect_reader
from tests.logs import T0, Log, Tab

REPO = Path(__file__).resolve().parent.parent
TOKEN = "tok-ringo-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}


def a_call(call_id: str, app: str = "ringo-voice") -> Log:
    log = Log()
    tab = Tab(log, f"tab-{call_id}", app=app).iframe("remote", at=T0)
    tab.ring(call_id); tab.send("CALL_ANSWERED", externalCallId=call_id); tab.end(call_id, "COMPLETED", 9001)
    return log


def record(message: dict, **envelope) -> str:
    return json.dumps({"ts": T0 + 5_000, "direction": "to_hubspot", "instance": "i-hostile", "app": "ringo-voice",
                       "message": message, **envelope})


def nested(depth: int) -> str:
    return json.dumps({"ts": T0, "direction": "to_hubspot", "message": {"type": "X", "data": "DATA"}}).replace(
        '"DATA"', "[" * depth + "]" * depth)


UNSTORABLE = {  # what each line holds → the reason it is rejected
    "engagementId 2^70": (record({"type": "CALL_ENDED", "data": {"externalCallId": "x", "engagementId": 2**70}}),
                          "engagementId 1180591620717411303424 does not fit a 64-bit integer"),
    "portalId of 20 digits": (record({"type": "SYNC", "portalId": "12345678901234567890"}, direction="from_hubspot"),
                              "portalId 12345678901234567890 does not fit a 64-bit integer"),
    "userId 1e19": (record({"type": "SYNC", "userId": 1e19}, direction="from_hubspot"),
                    "userId 10000000000000000000 does not fit a 64-bit integer"),
    "callStartTime beyond a timestamp": (
        record({"type": "CALL_ENDED", "data": {"externalCallId": "x", "callStartTime": 2**62}}),
        "callStartTime 4611686018427387904 is not epoch milliseconds between the years 1 and 9999"),
    "digits that are not ASCII": (record({"type": "SYNC", "portalId": "²"}, direction="from_hubspot"), None),
}


def sql(db: Path, query: str) -> list[tuple]:
    with connect_reader(db) as con:
        return con.execute(query).fetchall()


def reconciled(db: Path) -> bool:
    """read = loaded + duplicates + rejected for every finished import (a failed one read lines it never settled)."""
    return sql(db, "SELECT bool_and(lines_read = loaded + duplicates + rejected) FROM loads WHERE status = 'done'") \
        == [(True,)]


def load(capsys, *args: str) -> tuple[int, str]:
    code = main(["load", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", UNSTORABLE)
def test_a_value_that_cannot_be_stored_rejects_its_line_and_the_rest_loads(tmp_path, capsys, case):
    line, reason = UNSTORABLE[case]
    db = tmp_path / "callscope.duckdb"
    good = a_call("c1").ndjson()
    (tmp_path / "bad.ndjson").write_text(good + line + "\n")
    code, err = load(capsys, str(tmp_path / "bad.ndjson"), "--db", str(db))
    assert code == 0, err
    stored = len(good.splitlines())
    if reason is None:  # "²" is a digit to str.isdigit, not to int(): ignored, the line is stored
        assert sql(db, "SELECT count(*), count(portal_id) FROM events WHERE instance = 'i-hostile'") == [(1, 0)]
    else:
        assert sql(db, "SELECT count(*) FROM events") == [(stored,)]
        assert sql(db, "SELECT line_no, reason FROM rejects") == [(stored + 1, reason)]
    (tmp_path / "next.ndjson").write_text(a_call("c2").ndjson())
    assert load(capsys, str(tmp_path / "next.ndjson"), "--db", str(db))[0] == 0
    assert sql(db, "SELECT count(*) FROM calls") == [(2,)]
    assert reconciled(db)


@pytest.mark.parametrize("garbage", ["invalid UTF-8", "nested 10,000 deep", "nested 600 deep, --redact"])
def test_garbage_lines_are_rejects_and_the_other_2000_lines_are_stored(tmp_path, capsys, garbage):
    lines = [record({"type": "RESIZE_WIDGET", "data": {"n": n}}, ts=T0 + n) for n in range(2000)]
    bad = {"invalid UTF-8": b'{"ts": 1764072000000, "direction": "to_hubspot", "message": {"type": "X\xff\xfe"}}',
           "nested 10,000 deep": nested(10_000).encode(), "nested 600 deep, --redact": nested(600).encode()}[garbage]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join([line.encode() for line in lines[:1000]] + [bad] + [line.encode() for line in lines[1000:]]) + b"\n")
    db = tmp_path / "callscope.duckdb"
    code, err = load(capsys, str(path), "--db", str(db), *(["--redact"] if "redact" in garbage else []))
    assert code == 0 and "Traceback" not in err
    events, rejects = sql(db, "SELECT count(*) FROM events")[0][0], sql(db, "SELECT line_no, reason FROM rejects")
    assert events + len(rejects) == 2001 and events >= 2000
    if garbage == "invalid UTF-8":
        assert rejects == [(1001, "not UTF-8 text")]
    if garbage == "nested 10,000 deep":
        assert rejects == [(1001, "nested too deeply to read")]
    assert reconciled(db)


@pytest.fixture
def client(tmp_path):
    config = CollectorConfig(db_path=tmp_path / "callscope.duckdb", tokens={"ringo-voice": TOKEN, "other": "tok-other"},
                             origins=frozenset(), flush_interval_s=3600)
    with TestClient(create_app(config)) as c:
        yield c


def flush(client: TestClient) -> None:
    client.app.state.collector.flusher.flush_once()


def test_the_collector_accepts_the_valid_lines_of_a_batch_with_garbage(client, tmp_path):
    good = a_call("c1").ndjson().encode()
    body = good + b'{"ts": 1764072000000, "message": {"type": "\xff"}}\n' + nested(10_000).encode() + b"\n" \
        + UNSTORABLE["engagementId 2^70"][0].encode() + b"\n"
    r = client.post("/v1/events", content=body, headers=AUTH)
    stored = good.count(b"\n")
    assert r.status_code == 202 and r.json()["accepted"] == stored
    assert [x["line"] for x in r.json()["rejected"]] == [stored + 1, stored + 2, stored + 3]
    flush(client)
    assert client.post("/v1/events", content=a_call("c2").ndjson(), headers=AUTH).status_code == 202
    flush(client)
    db = tmp_path / "callscope.duckdb"
    assert sql(db, "SELECT count(*) FROM calls") == [(2,)]
    assert sql(db, "SELECT count(*) FROM rejects") == [(3,)]
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_batch_that_still_fails_to_load_is_quarantined_and_the_next_ones_load(client, tmp_path, monkeypatch):
    # As before the parser checked ranges: an engagementId of 2^70 reaches the writer and fails the import.
    monkeypatch.setattr(parse, "MAX_BIGINT", 1 << 100)
    bodies = [a_call("c1").ndjson(), a_call("c2").ndjson() + UNSTORABLE["engagementId 2^70"][0] + "\n",
              a_call("c3").ndjson()]
    for body in bodies:
        assert client.post("/v1/events", content=body, headers=AUTH).status_code == 202
    bad_segment = client.app.state.collector.spool.pending()[1]
    flush(client)
    db = tmp_path / "callscope.duckdb"
    assert sorted(sql(db, "SELECT external_call_id FROM calls")) == [("c1",), ("c3",)]
    assert client.app.state.collector.spool.pending() == []
    quarantine = spool_dir(db) / "quarantine"
    assert (quarantine / bad_segment.name).read_bytes() == bodies[1].encode()
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["quarantine"]["segments"] == 1
    assert health["quarantine"]["last_error"].startswith("OverflowError")
    assert client.post("/v1/events", content=a_call("c4").ndjson(), headers=AUTH).status_code == 202
    flush(client)
    assert sql(db, "SELECT count(*) FROM calls") == [(3,)]
    assert reconciled(db)
    with TestClient(create_app(client.app.state.collector.config)) as restarted:  # still listed after a restart
        assert restarted.get("/healthz").json()["quarantine"]["segments"] == 1


def test_the_imports_page_lists_quarantined_batches(db):
    from streamlit.testing.v1 import AppTest

    db.load(a_call("c1"))
    folder = spool_dir(db.path) / "quarantine"
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-1-000001.ndjson").write_text("{}\n")
    (folder / "00000000000000000001-1-000001.ndjson.error").write_text("OverflowError: Python int too large")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["db_path"] = str(db.path)
    at.run()
    at.switch_page("pages/support/imports.py").run()
    assert not at.exception
    assert "1 collector batch(es) failed to load" in at.warning[0].value
    assert at.dataframe[0].value["error"].tolist() == ["OverflowError: Python int too large"]


def test_a_line_over_the_limit_is_a_reject_read_in_bounded_memory(tmp_path, capsys):
    path = tmp_path / "long.ndjson.gz"
    good = a_call("c1").ndjson().encode()
    with gzip.open(path, "wb") as fh:  # 64 MiB without a newline, between two calls
        fh.write(good)
        for _ in range(64):
            fh.write(b"x" * (1 << 20))
        fh.write(b"\n" + a_call("c2").ndjson().encode())
    tracemalloc.start()
    lines = list(read_lines(str(path)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * MAX_LINE_BYTES
    long = [line for line in lines if line.error]
    assert [(line.line_no, line.error) for line in long] == [(good.count(b"\n") + 1, "line over 1,048,576 bytes")]
    db = tmp_path / "callscope.duckdb"
    assert load(capsys, str(path), "--db", str(db))[0] == 0
    assert sql(db, "SELECT count(*) FROM calls") == [(2,)] and reconciled(db)


def test_rejects_past_the_cap_are_counted_in_one_summary_row(tmp_path, capsys):
    path = tmp_path / "ones.ndjson"
    good = a_call("c1").ndjson()
    path.write_text(good + "1\n" * (MAX_STORED_REJECTS + 5_000))
    db = tmp_path / "callscope.duckdb"
    assert load(capsys, str(path), "--db", str(db))[0] == 0
    events, rejected = good.count("\n"), MAX_STORED_REJECTS + 5_000
    assert sql(db, "SELECT lines_read, loaded, rejected FROM loads") == [(events + rejected, events, rejected)]
    assert sql(db, "SELECT count(*), sum(lines) FROM rejects") == [(MAX_STORED_REJECTS + 1, rejected)]
    [(line_no, reason)] = sql(db, "SELECT line_no, reason FROM rejects WHERE lines > 1")
    assert line_no == events + MAX_STORED_REJECTS + 1 and reason.startswith("5,000 more rejected lines")
    assert load(capsys, str(path), "--db", str(db))[0] == 0  # again: nothing new, the counts still reconcile
    assert sql(db, "SELECT count(*) FROM rejects") == [(MAX_STORED_REJECTS + 1,)] and reconciled(db)


def test_a_batch_of_too_many_lines_is_refused_whole(client):
    ones = b"1\n" * (MAX_BATCH_LINES + 1)
    r = client.post("/v1/events", content=ones, headers=AUTH)
    assert r.status_code == 413 and "over 10,000 lines" in r.json()["error"]
    array = json.dumps([1] * (MAX_BATCH_LINES + 1))  # elements count as lines
    assert client.post("/v1/events", content=array, headers=AUTH).status_code == 413
    assert client.app.state.collector.spool.pending() == []
    assert client.post("/v1/events", content=b"1\n" * MAX_BATCH_LINES, headers=AUTH).status_code == 400
    assert client.post("/v1/events", content=a_call("c1").ndjson(), headers=AUTH).status_code == 202


def test_spooled_segments_are_never_un_gzipped_again(client, tmp_path):
    # A segment is the body un-gzipped once; gzip bytes found in one (from an older version, or put there) are
    # read as they are: rejected lines, never inflated (one more layer could multiply them a thousandfold).
    spool = client.app.state.collector.spool
    (spool.folder / "00000000000000000001-1-000001.ndjson").write_bytes(gzip.compress(a_call("c0").ndjson().encode()))
    flush(client)
    db = tmp_path / "callscope.duckdb"
    [(read, rejected)] = sql(db, "SELECT lines_read, rejected FROM loads")
    assert read == rejected and sql(db, "SELECT count(*) FROM events") == [(0,)]
    assert client.post("/v1/events", content=a_call("c1").ndjson(), headers=AUTH).status_code == 202
    flush(client)
    assert sql(db, "SELECT external_call_id FROM calls") == [("c1",)]


def test_records_without_app_get_the_tokens_app(client, tmp_path):
    named, unnamed = a_call("c1").ndjson().splitlines(), a_call("c2").ndjson().splitlines()
    unnamed = [json.dumps({k: v for k, v in json.loads(line).items() if k != "app"}) for line in unnamed]
    unnamed[0] = json.dumps({**json.loads(unnamed[0]), "app": None})
    body = "\n".join(named + unnamed) + "\n"
    assert client.post("/v1/events", content=body, headers=AUTH).status_code == 202
    [segment] = client.app.state.collector.spool.pending()
    assert segment.read_text().splitlines()[:len(named)] == named  # lines that name their app stay byte for byte
    array = [{k: v for k, v in r.items() if k != "app"} for r in a_call("c3").sorted()]
    assert client.post("/v1/events", content=json.dumps(array), headers=AUTH).status_code == 202
    flush(client)
    db = tmp_path / "callscope.duckdb"
    assert sql(db, "SELECT app, count(*) FROM events GROUP BY app") == [("ringo-voice", 3 * len(named))]
    assert sql(db, "SELECT count(*) FROM calls WHERE app = 'ringo-voice'") == [(3,)]
    other = a_call("c4", app="other").ndjson()
    assert client.post("/v1/events", content=other, headers=AUTH).status_code == 403
