"""An import re-derives only what it touches (ingest/incremental.py), and that equals a full derivation: the same
events split into random imports, loaded in random orders (so later imports bring late events for calls already
derived), give exactly the rows `python -m ingest derive` gives from all of them."""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import manifest as mf
from ingest.demo import generate_records
from ingest.derived import DERIVED, derive_all
from ingest.store import Writer, store_dir
from tests.conftest import Db
from tests.logs import T0, Log, Tab
from tests.test_determinism import differences, random_log, write_lines

HOUR = 3_600_000
DAY = 24 * HOUR


def assert_incremental_equals_full(parts: list[list[dict]], folder: Path) -> Db:
    """Load `parts` as one import each, then compare every derived table with a full derive of the same store."""
    db = Db(folder / "incremental")
    db.folder.mkdir(parents=True)
    for n, part in enumerate(parts):
        if part:
            db.load(write_lines(db.folder / f"part-{n}.ndjson", part))
    assert_equals_full_derive(db, folder)
    return db


def assert_equals_full_derive(db: Db, folder: Path) -> None:
    """Every derived table of `db` equals a full derive of a copy of its store (made under `folder`)."""
    full = folder / "full" / "callscope.duckdb"
    shutil.copytree(store_dir(db.path), store_dir(full))
    with Writer(full) as writer:
        derive_all(writer)
        writer.publish()
    assert differences(db.path, full, DERIVED) == dict.fromkeys(DERIVED, 0)


def random_parts(records: list[dict], rng: random.Random) -> list[list[dict]]:
    """Records dealt at random into 1–5 imports, each shuffled."""
    parts: list[list[dict]] = [[] for _ in range(rng.randint(1, 5))]
    for record in records:
        rng.choice(parts).append(record)
    for part in parts:
        rng.shuffle(part)
    return parts


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_random_imports_derive_what_a_full_derivation_does(seed):
    rng = random.Random(seed)
    records = random_log(seed) + random_log(seed + 1)  # two worlds that may share tabs, ids and engagements
    with tempfile.TemporaryDirectory() as folder:
        assert_incremental_equals_full(random_parts(records, rng), Path(folder))


def test_demo_data_in_random_imports_derives_what_a_full_derivation_does(tmp_path):
    records = list(generate_records(days=3, calls=250, seed=5, end_ms=T0))
    db = assert_incremental_equals_full(random_parts(records, random.Random(3)), tmp_path)
    assert len(db.calls()) > 200


def test_a_late_end_and_the_apps_clock_reach_calls_already_derived(tmp_path):
    """A call's end arrives in a later import; another call, silent, turns never_ended when its app's clock moves
    4 h on in an import that touches nothing of it."""
    early, late, later = Log(), Log(), Log()
    a = Tab(early, "tab-a").iframe("remote", at=T0)
    a.ring("c-late"); a.send("CALL_ANSWERED", externalCallId="c-late")
    b = Tab(early, "tab-b").iframe("remote", at=T0 + 1_000)
    b.ring("c-silent")
    a.log = late
    a.end("c-late", "COMPLETED")
    Tab(later, "tab-c").iframe("remote", at=T0 + 5 * HOUR)
    db = assert_incremental_equals_full([early.records, late.records, later.records], tmp_path)
    calls = db.calls()
    assert calls["c-late"]["outcome"] == "answered" and calls["c-silent"]["outcome"] == "never_ended"


def test_an_import_rewrites_only_the_files_of_what_it_touches(db):
    log = Log()
    for i in range(6):
        app = Tab(log, f"tab-{i}").iframe("remote", at=T0 + i * 60_000)
        app.ring(f"c{i}"); app.send("CALL_ANSWERED", externalCallId=f"c{i}"); app.end(f"c{i}", "COMPLETED")
    db.load(log)
    before = mf.read(db.path)
    more = Log()
    Tab(more, "tab-new").iframe("remote", at=T0 + HOUR).ring("c-new")
    db.load(more)
    after = mf.read(db.path)
    for table in ("calls", "call_messages", "instances"):
        assert {f.path for f in before.files(table)} <= {f.path for f in after.files(table)}, table  # none rewritten
    assert len(db.calls()) == 7


def _days_read(statements: list[str], table: str) -> set[str]:
    """The day partitions of `table` whose files `statements` name."""
    return {day for sql in statements for day in re.findall(rf"/{table}/day=([0-9-]+)/", sql)}


def test_an_import_reads_the_events_and_instances_of_its_own_days_only(tmp_path, monkeypatch):
    """Six days of calls, the last one silent (in_progress); an import three days later reads the events and
    instances of its day only (the app's clock of the other days comes from `app_clocks`), and still ends the
    silent call of day 5, as a full derivation does."""
    early, later = Log(), Log()
    for day in range(6):
        app = Tab(early, f"tab-{day}").iframe("remote", at=T0 + day * DAY)
        app.ring(f"c{day}")
        if day < 5:  # c5 stays silent: in_progress until its app's clock moves on
            app.send("CALL_ANSWERED", externalCallId=f"c{day}"); app.end(f"c{day}", "COMPLETED")
    Tab(later, "tab-new").iframe("remote", at=T0 + 8 * DAY).ring("c-new")
    statements: list[str] = []
    connect = Writer._connect

    def recording(self):
        con = connect(self)
        return type("Recording", (), {
            "execute": lambda _, sql, *a: statements.append(sql) or con.execute(sql, *a),
            "__getattr__": lambda _, name: getattr(con, name)})()

    db = Db(tmp_path / "incremental")
    db.folder.mkdir(parents=True)
    db.load(write_lines(db.folder / "early.ndjson", early.records))
    assert db.calls()["c5"]["outcome"] == "in_progress"
    monkeypatch.setattr(Writer, "_connect", recording)
    db.load(write_lines(db.folder / "later.ndjson", later.records))
    monkeypatch.undo()
    new_day = {(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + 8 * DAY)).strftime("%Y-%m-%d")}
    assert _days_read(statements, "events") == new_day and _days_read(statements, "instances") == new_day
    assert db.calls()["c5"]["outcome"] == "never_ended"
    assert_equals_full_derive(db, tmp_path)
