"""An import re-derives only what it touches (ingest/incremental.py), and that equals a full derivation: the same
events split into random imports, loaded in random orders (so later imports bring late events for calls already
derived), give exactly the rows `python -m ingest derive` gives from all of them."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import manifest as mf
from ingest import partitions
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
    a.tab.log = late
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


def _intercept(monkeypatch, execute) -> None:
    """Every statement the writer's connections run goes through `execute(con, sql, *params)` instead."""
    connect = Writer._connect

    def intercepted(self):
        con = connect(self)
        return type("Intercepted", (), {"execute": lambda _, sql, *a: execute(con, sql, *a),
                                        "__getattr__": lambda _, name: getattr(con, name)})()
    monkeypatch.setattr(Writer, "_connect", intercepted)


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
    db = Db(tmp_path / "incremental")
    db.folder.mkdir(parents=True)
    db.load(write_lines(db.folder / "early.ndjson", early.records))
    assert db.calls()["c5"]["outcome"] == "in_progress"
    _intercept(monkeypatch, lambda con, sql, *a: statements.append(sql) or con.execute(sql, *a))
    db.load(write_lines(db.folder / "later.ndjson", later.records))
    monkeypatch.undo()
    new_day = {(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + 8 * DAY)).strftime("%Y-%m-%d")}
    assert _days_read(statements, "events") == new_day and _days_read(statements, "instances") == new_day
    assert db.calls()["c5"]["outcome"] == "never_ended"
    assert_equals_full_derive(db, tmp_path)


def test_an_import_reads_only_the_row_groups_that_can_hold_its_scope(tmp_path, monkeypatch):
    """A collector flush touches dozens of instances of a busy day: reading their stored events must let the
    Parquet statistics skip the rest of the day's row groups (not scan the day), and still derive what a full
    derivation does. Row groups of 2,048 events (DuckDB's smallest) stand in for a day of millions."""
    monkeypatch.setitem(partitions.TABLES, "events", dataclasses.replace(partitions.TABLES["events"], row_group=2048))
    early, later = Log(), Log()
    apps = []
    for i in range(300):  # a tab each, opened a minute apart: instance ids grow with time, as Date.now() does
        app = Tab(early, f"tab-{i}").iframe("remote", at=T0 + i * 60_000)
        for n in range(25):
            app.ring(f"c{i}-{n}"); app.send("CALL_ANSWERED", externalCallId=f"c{i}-{n}")
            app.end(f"c{i}-{n}", "COMPLETED")
        apps.append(app)
    for i, app in enumerate(apps[-60:], start=240):  # the newest 60 tabs ring again in the next import: more
        app.tab.log = later                            # instances than DuckDB's default 50
        app.ring(f"c{i}-late")
    db = Db(tmp_path / "incremental")
    db.folder.mkdir(parents=True)
    db.load(write_lines(db.folder / "early.ndjson", early.records))
    scans: list[tuple[int, int]] = []

    def profiled(con, sql, *a):
        if not sql.startswith("CREATE TABLE events AS"):
            return con.execute(sql, *a)
        profile = tmp_path / "profile.json"
        con.execute(f"SET enable_profiling = 'json'; SET profiling_output = '{profile}'")
        result = con.execute(sql, *a)
        con.execute("SET enable_profiling = 'no_output'")
        scans.extend(_parquet_scans(json.loads(profile.read_text())))
        return result

    _intercept(monkeypatch, profiled)
    db.load(write_lines(db.folder / "later.ndjson", later.records))
    monkeypatch.undo()
    scanned, total = map(sum, zip(*scans, strict=True))
    assert total >= 12 and scanned <= total // 3, (scanned, total)
    assert sum(c["outcome"] == "in_progress" for c in db.calls().values()) == 60
    assert_equals_full_derive(db, tmp_path)


def _parquet_scans(node: dict) -> list[tuple[int, int]]:
    """(row groups scanned, row groups there were) of each Parquet scan in a DuckDB JSON profile."""
    found = [(node["row_groups_scanned"], node["total_row_groups_to_scan"])] \
        if node.get("extra_info", {}).get("Function") == "READ_PARQUET" else []
    for child in node.get("operator", []) + node.get("children", []):
        found += _parquet_scans(child)
    return found
