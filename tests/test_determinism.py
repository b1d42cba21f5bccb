"""The derivation is a function of the events alone: the same events loaded as one file, as two files in either
order, with their lines shuffled, or derived again, give identical derived tables (ingest/derive/: every choice
is ordered by time, then event key; never by load_id or line_no)."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.demo import write_demo_files
from ingest.derived import derive_all
from ingest.store import Writer, connect_reader, store_dir
from tests.conftest import Db
from tests.logs import T0, Log, Tab

DERIVED = ("instances", "engagement_owners", "call_ids", "blank_id_messages", "call_messages", "calls")
APP_TYPES = ("INCOMING_CALL", "OUTGOING_CALL_STARTED", "CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED",
             "CALL_TRANSFERRED", "FINALIZE_ENGAGEMENT", "USER_AVAILABLE", "USER_UNAVAILABLE")
HUBSPOT_TYPES = ("CREATE_ENGAGEMENT_SUCCEEDED", "CREATE_ENGAGEMENT_FAILED", "CALLER_ID_MATCH_SUCCEEDED",
                 "CALLER_ID_MATCH_FAILED", "UPDATE_ENGAGEMENT_SUCCEEDED", "UPDATE_ENGAGEMENT_FAILED")
CALL_IDS = ("c1", "c2", "c3", "", " ", None)
ENGAGEMENT_IDS = (None, 0, 9001, 9002, 9003)


def differences(a: Path, b: Path, tables: tuple[str, ...] = DERIVED) -> dict[str, int]:
    """Rows of each derived table found in one store's published version and not the other's (EXCEPT ALL, both
    ways)."""
    con = duckdb.connect()
    for name, path in (("a", a), ("b", b)):
        with connect_reader(path) as reader:
            for table in tables:
                con.register(f"{name}_{table}", reader.sql(f"FROM {table}").to_arrow_table())
    out = {}
    for table in tables:
        one = con.execute(f"SELECT count(*) FROM (FROM a_{table} EXCEPT ALL FROM b_{table})").fetchone()[0]
        other = con.execute(f"SELECT count(*) FROM (FROM b_{table} EXCEPT ALL FROM a_{table})").fetchone()[0]
        out[table] = one + other
    con.close()
    return out


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def rederive(path: Path) -> None:
    with Writer(path) as writer:
        derive_all(writer)
        writer.publish()


def assert_load_order_never_matters(records: list[dict], folder: Path, seed: int = 0) -> None:
    """One file; two files A, B loaded A then B and B then A; one file shuffled; then derived again."""
    rng = random.Random(seed)
    ordered = sorted(records, key=lambda r: r["ts"])
    cut = rng.randrange(1, len(ordered)) if len(ordered) > 1 else 1
    shuffled = rng.sample(ordered, len(ordered))
    variants: dict[str, list[list[dict]]] = {
        "one": [ordered], "a_then_b": [ordered[:cut], ordered[cut:]], "b_then_a": [ordered[cut:], ordered[:cut]],
        "shuffled": [shuffled],
    }
    dbs = {}
    for name, files in variants.items():
        db = Db(folder / name)
        db.folder.mkdir()
        for n, part in enumerate(files):
            db.load(write_lines(db.folder / f"part-{n}.ndjson", part))
        dbs[name] = db.path
    for name in ("a_then_b", "b_then_a", "shuffled"):
        assert differences(dbs["one"], dbs[name]) == dict.fromkeys(DERIVED, 0), name
    before = folder / "before"
    before.mkdir()
    shutil.copytree(store_dir(dbs["one"]), store_dir(before / "callscope.duckdb"))
    rederive(dbs["one"])
    assert differences(before / "callscope.duckdb", dbs["one"]) == dict.fromkeys(DERIVED, 0), "re-derived"


def test_ties_within_a_millisecond_are_broken_by_the_event_key(tmp_path):
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    at = T0 + 60_000
    a.send("USER_AVAILABLE", at=at, data=None); a.send("USER_UNAVAILABLE", at=at, data=None)  # the same ms
    a.ring("u1", at=at + 1)
    a.recv("CALLER_ID_MATCH_SUCCEEDED", at=at + 50, callerIdMatches=[])
    a.recv("CALLER_ID_MATCH_FAILED", at=at + 50, error={"message": "timeout"})
    a.recv("CREATE_ENGAGEMENT_SUCCEEDED", at=at + 60, engagementId=9001)
    a.recv("CREATE_ENGAGEMENT_SUCCEEDED", at=at + 60, engagementId=9002)
    a.ring("u2", at=at + 70); a.ring("u3", at=at + 70)                     # two calls started in one ms
    a.end("u1", "MISSED", at=at + 9_000); a.end("u1", "CANCELED", at=at + 9_000)
    moved = dict(log.records[-1], tab="tab-b", ts=log.records[-1]["ts"], message=dict(log.records[-1]["message"]))
    log.records.append(moved)                                              # the same instance id seen in tab-b
    assert_load_order_never_matters(log.records, tmp_path)


def random_log(seed: int) -> list[dict]:
    """Messages of every kind on a coarse time grid, so that many share a millisecond: random types, ids drawn
    from a small pool (blank ones, aliases, stale engagements), instances re-mounted in tabs."""
    rng = random.Random(seed)
    log = Log()
    for t in range(rng.randint(1, 3)):
        tab, at = Tab(log, f"tab-{t}"), T0 + rng.randrange(0, 4) * 500  # instances may share an id across tabs
        for _ in range(rng.randint(1, 3)):
            location = rng.choice(("remote", "widget", "window"))
            inst = tab.iframe(location, at=at, uses_calling_window=location == "window",
                              engagement_id=rng.choice((None, None, 9001)))
            for _ in range(rng.randint(3, 14)):
                when = at + rng.randrange(1, 40) * 500
                if rng.random() < .6:
                    inst.send(rng.choice(APP_TYPES), at=when, externalCallId=rng.choice(CALL_IDS),
                              engagementId=rng.choice(ENGAGEMENT_IDS), callEndStatus=rng.choice(("COMPLETED", "FAILED")))
                else:
                    inst.recv(rng.choice(HUBSPOT_TYPES), at=when, engagementId=rng.choice(ENGAGEMENT_IDS),
                              callerIdMatches=[], error={"message": "boom"})
            if rng.random() < .5:
                inst.pagehide(at=at + rng.randrange(1, 42) * 500)
            at += rng.randrange(1, 44) * 500
    return log.records


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_random_logs_derive_the_same_whatever_the_load_order(seed):
    with tempfile.TemporaryDirectory() as folder:
        assert_load_order_never_matters(random_log(seed), Path(folder), seed)


def test_demo_data_derives_the_same_whatever_the_file_order(tmp_path):
    paths = write_demo_files(tmp_path / "demo", days=3, calls=300, seed=11, end_ms=T0)
    forward, backward = Db(tmp_path / "forward"), Db(tmp_path / "backward")
    for db, order in ((forward, paths), (backward, paths[::-1])):
        db.folder.mkdir()
        for path in order:
            db.load(path)
    assert differences(forward.path, backward.path) == dict.fromkeys(DERIVED, 0)
    assert forward.sql("SELECT count(*) FROM calls")[0][0] > 250
