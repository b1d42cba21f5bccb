"""A full disk and an interrupted import: the collector answers 503 and says so on /healthz, the loader exits 2 with a
sentence, an import cut short leaves no `running` row behind, and nothing acknowledged is lost."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from starlette.testclient import TestClient

from ingest import store
from ingest.cli import main
from ingest.demo import write_demo_files
from ingest.serve import CollectorConfig, create_app
from ingest.spool import Spool
from ingest.store import connect_reader, snapshot_path, store_dir
from tests.logs import T0, Log, Tab

REPO = Path(__file__).resolve().parent.parent
TOKEN = "tok-ringo-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
DISK_FULL = duckdb.IOException('IO Error: Could not write file "callscope.duckdb.wal": No space left on device')


def a_call(call_id: str) -> str:
    log = Log()
    tab = Tab(log, f"tab-{call_id}").iframe("remote", at=T0)
    tab.ring(call_id); tab.send("CALL_ANSWERED", externalCallId=call_id); tab.end(call_id, "COMPLETED", 9001)
    return log.ndjson()


def sql(db: Path, query: str) -> list[tuple]:
    with connect_reader(db) as con:
        return con.execute(query).fetchall()


def collector(db: Path) -> TestClient:
    return TestClient(create_app(CollectorConfig(db_path=db, tokens={"ringo-voice": TOKEN}, origins=frozenset(),
                                                 flush_interval_s=3600)))


def test_a_full_disk_answers_503_and_healthz_says_so_until_there_is_room(tmp_path, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with collector(tmp_path / "callscope.duckdb") as client:
        assert client.get("/healthz").json()["status"] == "ok"
        with monkeypatch.context() as m:
            m.setattr(Spool, "_write", no_space)
            r = client.post("/v1/events", content=a_call("c1"), headers=AUTH)
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json() == {"error": "the collector's disk is full; retry later"}
            health = client.get("/healthz").json()
            assert health["status"] == "degraded" and health["disk_full_at"] is not None
        assert client.post("/v1/events", content=a_call("c1"), headers=AUTH).status_code == 202  # the retry
        assert client.get("/healthz").json()["status"] == "ok"
        client.app.state.collector.flusher.flush_once()
    assert sql(tmp_path / "callscope.duckdb", "SELECT external_call_id FROM calls") == [("c1",)]


def test_a_flush_the_disk_refuses_keeps_the_batches_and_healthz_says_so(tmp_path, monkeypatch):
    db = tmp_path / "callscope.duckdb"
    with collector(db) as client:
        assert client.post("/v1/events", content=a_call("c1"), headers=AUTH).status_code == 202
        with monkeypatch.context() as m:
            m.setattr(store.Writer, "_flush_events", lambda *a: (_ for _ in ()).throw(DISK_FULL))
            client.app.state.collector.flusher.flush_once()
            health = client.get("/healthz").json()
        assert health["status"] == "degraded"
        assert health["last_error"].startswith("could not write callscope in") and "No space left" in health["last_error"]
        assert health["spool"]["segments"] == 1 and health["quarantine"]["segments"] == 0  # the disk's fault: kept
        client.app.state.collector.flusher.flush_once()
        assert client.get("/healthz").json()["status"] == "ok"
    assert sql(db, "SELECT external_call_id FROM calls") == [("c1",)]
    assert sql(db, "SELECT status FROM loads ORDER BY load_id") == [("failed",), ("done",)]


def test_the_loader_exits_2_with_a_sentence_when_the_publish_finds_no_space(tmp_path, monkeypatch, capsys):
    path, db = tmp_path / "c1.ndjson", tmp_path / "callscope.duckdb"
    path.write_text(a_call("c1"))
    with monkeypatch.context() as m:  # the new manifest cannot be made durable
        m.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
        assert main(["load", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: could not write callscope in {tmp_path} (No space left on device). Free some space")
    assert list(store_dir(db).glob(".*.tmp")) == []  # no half manifest left behind
    assert not snapshot_path(db).exists()  # nothing published: readers see no half import
    assert main(["load", str(path), "--db", str(db)]) == 0
    assert sql(db, "SELECT count(*) FROM calls") == [(1,)]


def test_the_loader_exits_2_when_duckdb_cannot_write_and_the_next_load_completes(tmp_path):
    # Two weekdays of demo traffic (ending on a Tuesday): a weekend's is small enough to fit under the limit below
    paths = [str(p) for p in write_demo_files(tmp_path / "logs", days=2, calls=300, end_ms=1_764_072_000_000)]
    db = tmp_path / "callscope.duckdb"
    # Files may not grow past 64 KB in this process: DuckDB's own write fails as on a full disk.
    limited = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16)); "
               "from ingest.cli import main; sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", limited, "load", *paths, "--db", str(db)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("Error: could not write callscope in") and "Traceback" not in run.stderr
    assert main(["load", *paths, "--db", str(db)]) == 0
    statuses = sql(db, "SELECT status FROM loads ORDER BY load_id")
    assert statuses[-1] == ("done",) and ("running",) not in statuses
    assert sql(db, "SELECT count(*) = count(DISTINCT event_key) FROM events") == [(True,)]


def test_a_killed_import_is_marked_failed_by_the_next_writer(tmp_path):
    db, path = tmp_path / "callscope.duckdb", tmp_path / "c1.ndjson"
    path.write_text(a_call("c1"))
    killed_after_first_batch = (
        "import os, signal, sys; from ingest import store; real = store.Writer._flush_events\n"
        "def dying(self, *a):\n    real(self, *a); os.kill(os.getpid(), signal.SIGKILL)\n"
        "store.Writer._flush_events = dying\n"
        "from ingest.load import load_sources; load_sources([sys.argv[1]], sys.argv[2])")
    run = subprocess.run([sys.executable, "-c", killed_after_first_batch, str(path), str(db)], cwd=REPO, timeout=60)
    assert run.returncode == -9
    assert not snapshot_path(db).exists()  # nothing was published
    assert json.loads((store_dir(db) / "import.json").read_text())["load_id"] == 1  # the import under way
    assert main(["load", str(path), "--db", str(db)]) == 0
    # The killed import's unpublished batch was deleted by the next writer, which stored every event again.
    assert sql(db, "SELECT status, loaded, duplicates FROM loads ORDER BY load_id") == [("failed", None, None),
                                                                                       ("done", 7, 0)]
    assert not (store_dir(db) / "import.json").exists()
    assert sql(db, "SELECT external_call_id FROM calls") == [("c1",)]
