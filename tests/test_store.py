"""The store as files: readers see whole imports only (also while one is written, also after a kill -9), small
files are merged, superseded files go after the grace period, old days are pruned, an old DuckDB file migrates."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from ingest import manifest as mf
from ingest import partitions
from ingest.cli import main
from ingest.store import Writer, connect_reader, snapshot_path, store_dir
from tests.conftest import Db
from tests.logs import T0, Log, Tab

REPO = Path(__file__).resolve().parent.parent
DAY_MS = 86_400_000
CALL_EVENTS = 4  # INCOMING_CALL, CALL_ANSWERED, CALL_ENDED and the instance's handshake share: see calls_log


def calls_log(first: int, n: int, day: int = 0) -> Log:
    """`n` answered calls numbered from `first`, each in an instance of its own, on day T0 + `day`."""
    log = Log()
    for i in range(first, first + n):
        app = Tab(log, f"tab-{i}").iframe("remote", at=T0 + day * DAY_MS + i * 60_000)
        app.ring(f"call-{i:05d}")
        app.send("CALL_ANSWERED", externalCallId=f"call-{i:05d}")
        app.end(f"call-{i:05d}", "COMPLETED")
    return log


def counts(db_path: Path) -> tuple[int, int, int]:
    with connect_reader(db_path) as con:
        return con.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM calls), "
                           "(SELECT count(*) FROM loads WHERE status = 'done')").fetchone()


def test_a_store_is_a_folder_of_parquet_files_named_by_its_manifest(db):
    db.load(calls_log(0, 3))
    folder = store_dir(db.path)
    assert folder == db.folder / "callscope" and snapshot_path(db.path) == folder / "manifest.json"
    manifest = mf.read(db.path)
    live = manifest.live_paths()
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")}
    assert live == on_disk and any(p.startswith("events/day=2025-11-25/") for p in live)
    with duckdb.connect() as con:  # another engine reads the manifest's files as they are
        events = [folder / f.path for f in manifest.files("events")]
        assert con.execute(f"SELECT count(*) FROM read_parquet({[str(p) for p in events]})").fetchone()[0] == \
            counts(db.path)[0]


def test_a_killed_import_leaves_readers_on_the_previous_one_and_loading_again_completes_it(db, tmp_path):
    db.load(calls_log(0, 5))
    before = counts(db.path)
    log = calls_log(100, 40).write(tmp_path / "big.ndjson")
    killed_after_two_batches = (
        "import os, signal, sys; from ingest import store; store.BATCH_ROWS = 50; real = store.Writer._flush_events\n"
        "batches = []\n"
        "def dying(self, *a):\n    real(self, *a); batches.append(1)\n"
        "    if len(batches) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "store.Writer._flush_events = dying\n"
        "from ingest.load import load_sources; load_sources([sys.argv[1]], sys.argv[2])")
    run = subprocess.run([sys.executable, "-c", killed_after_two_batches, str(log), str(db.path)], cwd=REPO, timeout=60)
    assert run.returncode == -9
    assert len(list(store_dir(db.path).rglob("*.parquet"))) > len(mf.read(db.path).live_paths())  # written, unpublished
    assert counts(db.path) == before
    assert main(["load", str(log), "--db", str(db.path)]) == 0
    events, calls, done = counts(db.path)
    assert (calls, done) == (45, 2) and events == before[0] + len(calls_log(100, 40).records)
    assert db.sql("SELECT status FROM loads ORDER BY load_id") == [("done",), ("failed",), ("done",)]
    assert {p.relative_to(store_dir(db.path)).as_posix() for p in store_dir(db.path).rglob("*.parquet")} <= \
        mf.read(db.path).live_paths() | {r["path"] for r in mf.read(db.path).retired}  # the orphans are gone


def test_a_query_loop_never_fails_and_never_sees_part_of_an_import(db, tmp_path):
    """Each import is 6 whole calls of CALL_EVENTS… events each: a reader counts whole imports only."""
    db.load(calls_log(0, 6))
    per_call = counts(db.path)[0] // 6
    logs = [calls_log(100 * k, 6).write(tmp_path / f"l{k}.ndjson") for k in range(1, 6)]
    seen, errors, stop = set(), [], threading.Event()

    def query_loop() -> None:
        while not stop.is_set():
            try:
                events, calls, done = counts(db.path)
                seen.add((events, calls, done))
            except Exception as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(exc)

    reader = threading.Thread(target=query_loop)
    reader.start()
    try:
        for log in logs:  # in another process, in small batches: many files per import
            script = "import sys; from ingest import store; store.BATCH_ROWS = 7\n" \
                     "from ingest.load import load_sources; load_sources([sys.argv[1]], sys.argv[2])"
            subprocess.run([sys.executable, "-c", script, str(log), str(db.path)], cwd=REPO, check=True, timeout=60)
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert all(events == calls * per_call and calls == done * 6 for events, calls, done in seen), seen
    assert (36 * per_call, 36, 6) in seen


def test_a_day_of_many_small_imports_keeps_few_files_and_compact_leaves_one(db):
    for k in range(partitions.COMPACT_AT_FILES + 4):
        db.load(calls_log(k, 1))
        assert len(mf.read(db.path).files("events")) <= partitions.COMPACT_AT_FILES
    before = db.sql("SELECT count(*), count(DISTINCT event_key) FROM events")
    assert main(["compact", "--db", str(db.path)]) == 0
    manifest = mf.read(db.path)
    assert len(manifest.files("events")) == 1 and len(manifest.files("calls")) == 1
    assert db.sql("SELECT count(*), count(DISTINCT event_key) FROM events") == before
    assert len(db.calls()) == partitions.COMPACT_AT_FILES + 4
    rows = db.sql("SELECT instance, ts, event_key FROM events")
    assert rows == sorted(rows)  # one file, in the events' order


def test_superseded_files_stay_for_the_grace_period_then_go(db, monkeypatch):
    db.load(calls_log(0, 1))
    old = connect_reader(db.path)  # a reader on this version
    first = mf.read(db.path).live_paths()
    late = Log()
    Tab(late, "tab-0").iframe("remote", at=T0).complete("call-00000", 9001)  # the same instance, one message more
    db.load(late)  # rewrites the files holding that call's rows
    retired = {r["path"] for r in mf.read(db.path).retired}
    assert retired and retired <= first and all((store_dir(db.path) / p).exists() for p in retired)
    assert old.execute("SELECT count(*) FROM calls").fetchone()[0] == 1  # still whole
    monkeypatch.setattr(mf, "GRACE_S", 0.0)
    db.load(calls_log(2, 1))
    assert not any((store_dir(db.path) / p).exists() for p in retired)
    assert len(db.calls()) == 2


def test_prune_drops_whole_days_and_what_only_they_fed(db):
    db.load(calls_log(0, 2, day=0), calls_log(10, 3, day=1), calls_log(20, 1, day=2))
    assert main(["prune", "--before", "2025-11-26", "--db", str(db.path)]) == 0
    assert sorted(db.calls()) == ["call-00010", "call-00011", "call-00012", "call-00020"]
    assert db.sql("SELECT min(ts)::DATE::VARCHAR FROM events") == [("2025-11-26",)]
    assert db.sql("SELECT count(*) FROM instances WHERE started_at < '2025-11-26'") == [(0,)]
    [(tool, sources)] = db.sql("SELECT tool, sources FROM loads WHERE tool = 'prune'")
    assert sources[0].startswith("events before 2025-11-26: ")
    assert main(["prune", "--before", "not-a-day", "--db", str(db.path)]) == 2


def test_an_old_duckdb_file_is_converted_on_first_start(tmp_path):
    source = Db(tmp_path / "src")
    source.folder.mkdir()
    source.load(calls_log(0, 3), calls_log(10, 2, day=1))
    old = tmp_path / "old" / "callscope.duckdb"
    old.parent.mkdir()
    with duckdb.connect(str(old)) as v1, connect_reader(source.path) as con:  # a version-1 file: the same tables
        for table in ("events", "rejects", "loads", "calls"):
            v1.register("t", con.sql(f"FROM {table}").to_arrow_table())
            v1.execute(f"CREATE TABLE {table} AS FROM t")
            v1.unregister("t")
        v1.execute("UPDATE loads SET status = 'running' WHERE load_id = 1")
    old.with_name("callscope.notes.duckdb").write_bytes(b"")  # a notes file beside it moves in
    old.with_name("callscope.read.duckdb").write_bytes(b"")  # the old read snapshot: a copy, deleted
    calls = {c["external_call_id"]: c["outcome"] for c in Db(old.parent).calls().values()}  # the first read converts
    assert calls == {c["external_call_id"]: c["outcome"] for c in source.calls().values()}
    assert (old.parent / "callscope" / "notes.duckdb").exists() and (old.parent / "callscope.v1.duckdb").exists()
    assert not old.exists() and not old.with_name("callscope.read.duckdb").exists()
    assert Db(old.parent).sql("SELECT load_id, status FROM loads ORDER BY 1") == [(1, "failed")]
    Db(old.parent).load(calls_log(20, 1))
    assert Db(old.parent).sql("SELECT max(load_id) FROM loads") == [(2,)]
    assert main(["migrate", "--db", str(old)]) == 0  # nothing left to convert


def test_a_store_in_use_by_a_writer_is_readable(db):
    db.load(calls_log(0, 2))
    with Writer(db.path):
        assert counts(db.path)[1] == 2
    assert json.loads(snapshot_path(db.path).read_text())["generation"] == 1


@pytest.mark.parametrize("name", ["callscope.duckdb", "callscope"])
def test_old_and_new_names_of_a_store_are_the_same_store(tmp_path, name):
    Db(tmp_path).load(calls_log(0, 1))  # as callscope.duckdb
    with connect_reader(tmp_path / name) as con:
        assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 1
