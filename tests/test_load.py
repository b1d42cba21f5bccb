"""Whole imports: file formats, idempotency, reconciliation, redaction in storage, the snapshot readers use."""

from __future__ import annotations

import gzip
import json

import pytest

from ingest.errors import NotALog, UnreadableSource
from ingest.store import Writer, connect_reader, snapshot_generation
from tests.logs import T0, Log, Tab


def call_log() -> Log:
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c1", from_number="+14155550123"); a.matched("Ada Lovelace"); a.engagement(9001)
    a.send("CALL_ANSWERED", externalCallId="c1"); a.end("c1", "COMPLETED", 9001, at=a.now + 60_000)
    return log


def table_dump(db) -> dict:
    tables = {"events": "* EXCLUDE (load_id)", "rejects": "* EXCLUDE (load_id)", "calls": "*"}
    return {t: db.sql(f"SELECT {cols} FROM {t} ORDER BY ALL") for t, cols in tables.items()}


def test_gzip_json_array_and_ndjson_load_the_same_events(db, tmp_path):
    log = call_log()
    plain = log.write(tmp_path / "a.ndjson")
    gz = tmp_path / "b.ndjson.gz"
    gz.write_bytes(gzip.compress(log.ndjson().encode()))
    array = tmp_path / "c.json"
    array.write_text(json.dumps(log.sorted(), indent=2))
    first = db.load(plain)
    assert (first.counts.read, first.counts.loaded) == (len(log.records), len(log.records))
    for other in (gz, array):
        result = db.load(other)
        assert (result.counts.loaded, result.counts.duplicates) == (0, len(log.records))


def test_loading_twice_changes_nothing(db):
    log = call_log()
    first = db.load(log)
    assert 0 < first.derive_s < first.duration_s  # deriving the calls is a part of the import's time, reported apart
    before = table_dump(db)
    again = db.load(log)
    assert (again.counts.loaded, again.counts.duplicates, again.counts.rejected) == (0, len(log.records), 0)
    assert table_dump(db) == before
    assert db.sql("SELECT count(*), sum(loaded) FROM loads WHERE status = 'done'") == [(2, len(log.records))]


def test_overlapping_files_and_duplicates_inside_one_file(db, tmp_path):
    records = call_log().sorted()
    first = tmp_path / "first.ndjson"
    first.write_text("".join(json.dumps(r) + "\n" for r in records[:8] + records[:2]))
    second = tmp_path / "second.ndjson"
    second.write_text("".join(json.dumps(r) + "\n" for r in records[5:]))
    a = db.load(first)
    b = db.load(second)
    assert (a.counts.loaded, a.counts.duplicates) == (8, 2)
    assert (b.counts.loaded, b.counts.duplicates) == (len(records) - 8, 3)
    assert db.sql("SELECT count(*) FROM events") == [(len(records),)]


def test_rejected_lines_are_kept_with_reasons_and_counts_reconcile(db, tmp_path):
    good = call_log().ndjson().splitlines()
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(good[:3] + ["{broken", '{"ts": 5, "direction": "to_hubspot", "message": {"type": "X"}}']
                              + good[3:] + [""]))
    result = db.load(path)
    c = result.counts
    assert c.read == c.loaded + c.duplicates + c.rejected == len(good) + 2
    assert c.rejected == 2
    rows = db.sql("SELECT line_no, raw, reason FROM rejects ORDER BY line_no")
    assert [(r[0], r[1]) for r in rows] == [(4, "{broken"), (5, '{"ts": 5, "direction": "to_hubspot", "message": {"type": "X"}}')]
    assert "not JSON" in rows[0][2] and "epoch milliseconds" in rows[1][2]
    again = db.load(path)
    assert (again.counts.rejected, db.sql("SELECT count(*) FROM rejects")) == (2, [(2,)])


def test_broken_json_array_keeps_what_came_before(db, tmp_path):
    records = call_log().sorted()
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(records[:4])[:-1] + ', {"ts": oops}]')
    result = db.load(path)
    assert (result.counts.loaded, result.counts.rejected) == (4, 1)
    assert "malformed after element 4" in db.sql("SELECT reason FROM rejects")[0][0]


def test_truncated_gzip_loads_the_intact_part_and_rejects_the_rest(db, tmp_path):
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(gzip.compress(call_log().ndjson().encode() * 3)[:-30])
    result = db.load(path)
    assert result.counts.loaded > 0 and result.counts.rejected >= 1
    assert "damaged" in db.sql("SELECT reason FROM rejects ORDER BY line_no DESC LIMIT 1")[0][0]


def test_not_a_log_refuses_the_whole_import_before_storing_anything(db, tmp_path):
    db.load(call_log())
    before = table_dump(db)
    csv = tmp_path / "calls.csv"
    csv.write_text("id,from,to\n1,+14155550123,+14155550100\n")
    with pytest.raises(NotALog, match="does not look like a Callscope capture log"):
        db.load(call_log(), csv)
    assert table_dump(db) == before
    assert db.sql("SELECT status FROM loads ORDER BY load_id") == [("done",)]


def test_an_interrupted_import_keeps_its_batches_and_a_rerun_completes_it(db, tmp_path, monkeypatch):
    from ingest import store
    from tests.conftest import Db

    path = call_log().write(tmp_path / "calls.ndjson")
    monkeypatch.setattr(store, "BATCH_ROWS", 4)
    real_flush, flushes = store.Writer._flush_events, []

    def flaky_flush(self, *args):
        if len(flushes) == 2:
            raise KeyboardInterrupt
        flushes.append(1)
        real_flush(self, *args)

    monkeypatch.setattr(store.Writer, "_flush_events", flaky_flush)
    with pytest.raises(KeyboardInterrupt):
        db.load(path)
    assert db.sql("SELECT status, loaded FROM loads") == [("failed", 8)]
    assert db.sql("SELECT count(*) FROM events") == [(8,)]
    monkeypatch.setattr(store.Writer, "_flush_events", real_flush)
    rerun = db.load(path)
    assert (rerun.counts.loaded, rerun.counts.duplicates) == (len(call_log().records) - 8, 8)
    clean = Db(tmp_path / "clean")
    clean.folder.mkdir()
    clean.load(path)
    assert table_dump(db)["calls"] == table_dump(clean)["calls"]


def test_unreadable_path(db, tmp_path):
    with pytest.raises(UnreadableSource, match="does not exist"):
        db.load(tmp_path / "missing.ndjson")
    with pytest.raises(UnreadableSource, match="is a folder"):
        db.load(tmp_path)


def test_redacted_load_stores_no_personal_data(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLSCOPE_REDACT_KEY", "test-key")
    log = call_log()
    path = log.write(tmp_path / "pii.ndjson")
    with path.open("a") as fh:  # a rejected line full of personal data is scrubbed too
        fh.write('{"oops": "call ada@example.com at +1 (415) 555-0123"\n')
    db.load(path, redact=True)
    dump = json.dumps(table_dump(db), default=str)
    for secret in ("4155550123", "415) 555-0123", "Ada", "Lovelace", "ada@example.com"):
        assert secret not in dump
    call = db.calls()["c1"]
    assert call["from_number"].endswith("-0123")
    assert db.calls(call_id="c1")["c1"]["from_number"] == call["from_number"]


def test_readers_see_a_new_snapshot_after_each_load(db):
    assert snapshot_generation(db.path) is None
    db.load(call_log())
    first = snapshot_generation(db.path)
    log = Log()
    Tab(log, "tab-z").iframe("window", at=T0 + 10_000_000, uses_calling_window=True)
    db.load(log)
    assert snapshot_generation(db.path) not in (None, first)


def test_a_second_writer_waits_then_says_what_to_do(db):
    from ingest.errors import WriterBusy

    with Writer(db.path):
        with pytest.raises(WriterBusy, match="Wait for that import to finish"):
            with Writer(db.path, wait_s=0.3):
                pass


def test_every_event_field_lands_in_its_own_column(db, tmp_path):
    from datetime import datetime, timedelta

    from ingest.parse import Event, parse_lines
    from ingest.read import read_lines
    from ingest.schema import EVENT_COLUMNS

    def timestamp(ms: int | None) -> datetime | None:
        return None if ms is None else datetime(1970, 1, 1) + timedelta(milliseconds=ms)

    assert set(EVENT_COLUMNS) == set(Event._fields)
    path = call_log().write(tmp_path / "calls.ndjson")
    parsed = {e.event_key: e for e in parse_lines(read_lines(str(path.resolve())))}
    db.load(path)
    with connect_reader(db.path) as con:
        cur = con.execute("SELECT * EXCLUDE (load_id) FROM events")
        stored = [dict(zip([d[0] for d in cur.description], row, strict=True)) for row in cur.fetchall()]
    assert len(stored) == len(parsed) == len(call_log().records)
    for row in stored:
        event = parsed[row["event_key"]]
        expected = {EVENT_COLUMNS[field][1].split()[0]: value for field, value in event._asdict().items()}
        expected |= {"ts": timestamp(event.ts_ms), "call_start_time": timestamp(event.call_start_ms),
                     "message": json.loads(event.message)}
        assert {**row, "message": json.loads(row["message"])} == expected
