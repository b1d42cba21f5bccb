"""Small bodies that un-gzip into work, sent to the collector in its own process (the token is public: every
attacker here has it). Each is answered at once, the collector's memory stays under MEMORY_CEILING_MB throughout,
what it stores stays bounded, and a normal batch sent afterwards is loaded."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.collector import wait_until_flushed
from ingest.serve import MAX_INFLATED_BYTES
from ingest.spool import MAX_BATCH_LINES
from ingest.store import connect_reader
from tests.test_collector_attacks import MEMORY_CEILING_MB, TOKEN, _peak_rss_mb, a_call, collector

PARALLEL = 8
BOMBS = {  # name → (body on the wire, its answer (besides 503 when the bodies in flight used the budget), the
    # rejected lines it leaves when spooled: a 400 is "every line was rejected", and they are kept in `rejects`)
    "gzip inside gzip": (gzip.compress(gzip.compress(b"1\n" * (64 << 20))), 415, 0),
    "16 MiB without a newline": (gzip.compress(b"x" * MAX_INFLATED_BYTES), 400, 1),
    "16 MiB of 1\\n lines": (gzip.compress(b"1\n" * (MAX_INFLATED_BYTES // 2)), 413, 0),
    "over 16 MiB un-gzipped": (gzip.compress(b"1\n" * MAX_INFLATED_BYTES), 413, 0),
    "10,000 lines of 1": (gzip.compress(b"1\n" * MAX_BATCH_LINES), 400, MAX_BATCH_LINES),
}


def post(port: int, body: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events?token={TOKEN}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain;charset=UTF-8", "Content-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def sql(db: Path, query: str) -> list[tuple]:
    with connect_reader(db) as con:
        return con.execute(query).fetchall()


def test_decompression_bombs_one_at_a_time_and_eight_at_once(tmp_path):
    figures, spooled_rejects = {}, 0
    with collector(tmp_path) as (port, proc):
        base = f"http://127.0.0.1:{port}"
        figures["idle"] = _peak_rss_mb(proc.pid)
        for name, (body, status, rejects) in BOMBS.items():
            assert post(port, body) == status, name
            figures[name] = _peak_rss_mb(proc.pid)
            with ThreadPoolExecutor(PARALLEL) as pool:
                answers = list(pool.map(lambda _, body=body: post(port, body), range(PARALLEL)))
            assert set(answers) <= {status, 503} and status in answers, (name, answers)
            figures[f"{PARALLEL} × {name}"] = _peak_rss_mb(proc.pid)
            spooled_rejects += (1 + answers.count(status)) * rejects
            print(f"{name} ({len(body):,} bytes): {status}, then {PARALLEL} at once: {sorted(answers)}")
            assert proc.poll() is None
        wait_until_flushed(base)
        normal = a_call("after-the-bombs")
        assert post(port, gzip.compress(normal)) == 202
        wait_until_flushed(base)
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        figures["after"] = _peak_rss_mb(proc.pid)
    print("\npeak RSS (VmHWM, MB) after each input: " + json.dumps({k: round(v) for k, v in figures.items()}, ensure_ascii=False))
    assert max(figures.values()) < MEMORY_CEILING_MB, figures

    db = tmp_path / "callscope.duckdb"
    assert sql(db, "SELECT external_call_id FROM calls") == [("after-the-bombs",)]
    [(read, loaded, rejected, reconciled)] = sql(
        db, "SELECT sum(lines_read), sum(loaded), sum(rejected), bool_and(lines_read = loaded + duplicates + rejected) "
            "FROM loads")
    assert (loaded, rejected, reconciled) == (normal.count(b"\n"), spooled_rejects, True)
    rows, lines = sql(db, "SELECT count(*), sum(lines) FROM rejects")[0]
    assert lines == rejected and rows <= rejected
    print(f"stored: {loaded} events, {rows:,} reject rows standing for {rejected:,} rejected lines, {read:,} read")
