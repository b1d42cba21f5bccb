"""The columnar parse (DuckDB, Python only for the lines it cannot vouch for) against the Python parser, the oracle:
the same events with the same values in the same order, the same rejects with the same reasons, on the garbage
corpus, on real-shaped logs and on hypothesis-generated lines; and the same counts through a whole import."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import threading
from operator import itemgetter
from pathlib import Path

import duckdb
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import columnar
from ingest.batches import COLUMNAR_MIN_LINES, parse_blocks
from ingest.demo import generate_records
from ingest.load import load_sources
from ingest.parse import Event, parse_lines
from ingest.read import read_blocks, read_lines
from ingest.store import connect_reader
from tests.test_garbage import REAL, garbage, json_values

DATA = Path(__file__).parent / "data"
DEMO = [msgspec.json.encode(r).decode() for r in generate_records(days=1, calls=40, seed=5, end_ms=1_764_072_000_000)]


def oracle(path: Path) -> tuple[list[dict], list[tuple]]:
    events, rejects = [], []
    for item in parse_lines(read_lines(str(path))):
        if isinstance(item, Event):
            events.append(item._asdict())
        else:
            rejects.append((item.line_no, item.text, item.reason))
    return events, rejects


def columnar_parse(path: Path, chunk_lines: int) -> tuple[list[dict], list[tuple]]:
    con = duckdb.connect()
    columnar.prepare(con)
    events, rejects = [], []
    for batch in parse_blocks(con, read_blocks(str(path)), None, chunk_lines):
        events += batch.events.to_pylist()
        rejects += [(r.line_no, r.text, r.reason) for r in batch.rejects]
    return events, rejects


def assert_same(path: Path, chunk_lines: int = 50_000) -> tuple[int, int]:
    """Both parses of `path` agree exactly; returns (events, rejects)."""
    expected_events, expected_rejects = oracle(path)
    events, rejects = columnar_parse(path, chunk_lines)
    assert sorted(rejects) == sorted(expected_rejects)
    assert len(events) == len(expected_events)
    for got, want in zip(events, expected_events, strict=True):
        assert got == want, (got, want)
    return len(events), len(rejects)


def plain_share(lines: list[str]) -> float:
    """How many of `lines` DuckDB extracts itself (the rest go to Python)."""
    import pyarrow as pa

    con = duckdb.connect()
    columnar.prepare(con)
    texts = pa.array([line.encode().strip() for line in lines], type=pa.binary()).cast(pa.string())
    extracted = columnar.extract(con, pa.array(range(1, len(lines) + 1), type=pa.int64()), texts)
    return len(extracted.events) / len(lines)


def test_real_shaped_logs_are_parsed_by_duckdb_and_agree(tmp_path):
    path = tmp_path / "demo.ndjson"
    path.write_text("\n".join(DEMO) + "\n")
    assert plain_share(DEMO) > 0.95  # the fast path is the common path (failures and errors go to Python)
    assert assert_same(path) == (len(DEMO), 0)
    assert assert_same(path, chunk_lines=7) == (len(DEMO), 0)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.ndjson")))
def test_the_corpus_files_agree_as_written_and_compact(tmp_path, name):
    assert_same(DATA / name)
    compact = tmp_path / name
    compact.write_text("".join(msgspec.json.encode(json.loads(line)).decode() + "\n"
                               for line in (DATA / name).read_text().splitlines() if line.strip()))
    assert_same(compact)
    assert_same(compact, chunk_lines=3)


def _perturb(record: dict, how: str, value) -> str:
    """A demo record changed one way a real log might differ (or be broken)."""
    line = msgspec.json.encode(record).decode()
    message = record["message"]
    data = message.get("data") if isinstance(message.get("data"), dict) else None
    if how == "field":  # any JSON value in a field the parser reads
        key = random.choice(["ts", "direction", "instance", "tab", "app", "sdk_version", "url", "event_id", "message"])
        return msgspec.json.encode(record | {key: value}).decode()
    if how == "message_field":
        key = random.choice(["type", "messageId", "version", "engagementId", "iframeLocation", "usesCallingWindow",
                             "portalId", "userId", "ownerId", "data"])
        return msgspec.json.encode(record | {"message": message | {key: value}}).decode()
    if how == "data_field" and data is not None:
        key = random.choice(["toNumber", "phoneNumber", "phone_number", "fromNumber", "externalCallId",
                             "engagementId", "callEndStatus", "createEngagement", "callStartTime", "callerIdMatches",
                             "error"])
        return msgspec.json.encode(record | {"message": message | {"data": data | {key: value}}}).decode()
    if how == "duplicate_key":
        return line[:-1] + ',"tab":' + json.dumps(value) + "}"
    if how == "nested_duplicate":
        return line.replace('"type":', '"type":' + json.dumps(value) + ',"type":', 1)
    if how == "spaced":
        return json.dumps(record)
    if how == "escaped":
        return line.replace("app", "\\u0061pp", 1).replace("/", "\\/", 1)
    if how == "no_event_id":
        return msgspec.json.encode({k: v for k, v in record.items() if k != "event_id"}).decode()
    if how == "no_instance":
        return msgspec.json.encode({k: v for k, v in record.items() if k != "instance"}).decode()
    if how == "token":
        return line.replace('"ts":', '"ts":' + random.choice(["NaN", "-Infinity", "1.5", "1e13", "-0", "nan"]) + ',"x":', 1)
    return line


HOWS = ["field", "message_field", "data_field", "duplicate_key", "nested_duplicate", "spaced", "escaped",
        "no_event_id", "no_instance", "token", "same"]
extra_values = st.one_of(json_values, st.integers(min_value=-(1 << 70), max_value=1 << 70),
                         st.sampled_from(["", " 12 ", "-5", "007", "INTERNAL_COMPLETED", " busy", "True", "FALSE",
                                          "x_y", "_y", "ß", "1764072000000", "١٢", "--3", "2025-11-25T12:00:00Z"]))
perturbed = st.lists(st.tuples(st.integers(0, len(DEMO) - 1), st.sampled_from(HOWS), extra_values, st.integers()),
                     min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=perturbed, noise=st.lists(st.one_of(st.sampled_from(REAL), garbage), max_size=8),
       chunk_lines=st.sampled_from([2, 5, 1000]))
def test_generated_lines_agree(tmp_path_factory, changes, noise, chunk_lines):
    lines = []
    for index, how, value, seed in changes:
        random.seed(seed)
        lines.append(_perturb(json.loads(DEMO[index]), how, value))
    lines += noise
    random.Random(len(lines)).shuffle(lines)
    path = tmp_path_factory.mktemp("gen") / "gen.ndjson"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    assert_same(path, chunk_lines)


def test_an_import_counts_the_same_either_way(tmp_path):
    lines = DEMO[:300] + DEMO[:20] + ["not json", '{"ts":1}', json.dumps(json.loads(DEMO[5]))]
    path = tmp_path / "mixed.ndjson.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    results = {}
    for mode in (True, False):
        db = tmp_path / f"db-{mode}" / "callscope"
        counts = load_sources([str(path)], db, columnar=mode).counts
        with connect_reader(db) as con:
            stored = con.execute("SELECT * EXCLUDE (load_id) FROM events ORDER BY event_key").fetchall()
            rejects = con.execute("SELECT line_no, raw, reason FROM rejects ORDER BY line_no").fetchall()
        results[mode] = (counts, stored, rejects)
    assert results[True] == results[False]
    counts = results[True][0]
    assert (counts.read, counts.loaded, counts.duplicates, counts.rejected) == (323, 300, 21, 2)


def test_lines_duckdb_would_read_differently_agree(tmp_path):
    """Values DuckDB writes back or reads otherwise than msgspec: float notation, escapes, keys given twice, NaN,
    integers past 64 bits, whitespace, deep nesting, unicode — each line in its own way, all against the oracle."""
    record = json.loads(DEMO[3])
    base = msgspec.json.encode(record).decode()
    variants = [
        base.replace('"message":{', '"message":{"size":1e16,', 1),
        base.replace('"message":{', '"message":{"size":1.2345678901234568e20,"w":0.1,"t":5e-324,', 1),
        base.replace('"message":{', '"message":{"size":10000000000000000.0,', 1),
        base.replace('"message":{', '"message":{"big":18446744073709551616,"n":-9223372036854775809,', 1),
        base.replace('"message":{', '"message":{"x":NaN,', 1),
        base.replace('"message":{', '"message":{"x":1,"x":2,', 1),
        base.replace('"message":{', '"message":{"note":"caf\\u00e9 \\"quoted\\" \\/ \\n",', 1),
        base.replace('"message":{', '"message":{"note":"café ☎ 𝄞",', 1),
        base.replace('"message":{', '"message":{"deep":' + "[" * 1200 + "]" * 1200 + ",", 1),
        base.replace('"message":{', '"message":{"deep":' + "[" * 400 + "]" * 400 + ",", 1),
        base.replace('","', '", "', 1),
        base[:-1] + ',"event_id":"other"}',
        base.replace('"ts":', '"ts":-0,"x":', 1),
        base + " ",
        "\ufeff" + base,
    ]
    path = tmp_path / "odd.ndjson"
    path.write_text("\n".join(variants) + "\n")
    events, rejects = assert_same(path)
    assert events + rejects == len(variants) and rejects >= 2  # NaN and 1,200 levels of nesting are rejected


def test_a_json_type_the_statement_does_not_know_sends_its_line_to_python():
    """`cs_kind` maps DuckDB's `json_type` names to the kinds the rules test; a name it does not list (a real number,
    or any type a later DuckDB adds) is OTHER, which no rule accepts."""
    con = duckdb.connect()
    columnar.prepare(con)
    names = ["VARCHAR", "UBIGINT", "BIGINT", "DOUBLE", "OBJECT", "ARRAY", "BOOLEAN", "NULL", "HUGEINT", None]
    kinds = con.execute("SELECT [cs_kind(t) FOR t IN $names]", {"names": names}).fetchone()[0]
    assert kinds == ["VARCHAR", "INT", "INT", "OTHER", "OBJECT", "ARRAY", "BOOLEAN", "NULL", "OTHER", "MISSING"]
    kinds = con.execute("SELECT json_type($line, ['$.a', '$.b', '$.c', '$.d', '$.e'])",
                        {"line": '{"a":1,"b":-1,"c":1.5,"d":12345678901234567890123,"e":"x"}'}).fetchone()[0]
    assert kinds == ["UBIGINT", "BIGINT", "DOUBLE", "DOUBLE", "VARCHAR"]  # past 64 bits: a DOUBLE, so OTHER


def test_a_dialled_number_is_the_first_of_its_three_fields_that_is_a_non_empty_string(tmp_path):
    """`toNumber or phoneNumber or phone_number`: every mix of absent, null, empty and set, read by DuckDB itself
    (these are plain lines), agrees with the parser; a null is skipped like an absent field, never read as text."""
    record = next(r for r in map(json.loads, DEMO) if r["message"]["type"] == "OUTGOING_CALL_STARTED")
    data = {k: v for k, v in record["message"]["data"].items() if k not in ("toNumber", "phoneNumber", "phone_number")}
    lines = []
    # five of each: a chunk this small is parsed by DuckDB only from COLUMNAR_MIN_LINES lines on
    for n, values in enumerate(list(itertools.product([..., None, "", "+1 555 0100"], repeat=3)) * 5):
        fields = {key: value for key, value in zip(("toNumber", "phoneNumber", "phone_number"), values, strict=True)
                  if value is not ...}
        message = record["message"] | {"data": data | fields}
        lines.append(msgspec.json.encode(record | {"event_id": f"dial-{n}", "message": message}).decode())
    assert len(lines) >= COLUMNAR_MIN_LINES and plain_share(lines) == 1
    path = tmp_path / "dialled.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert assert_same(path, chunk_lines=1000) == (len(lines), 0)


def test_prefetched_keeps_order_raises_where_the_error_was_and_stops_with_its_consumer():
    from ingest.batches import prefetched

    def numbers(fail_at=None, seen=None):
        for n in range(10):
            if n == fail_at:
                raise ValueError(f"bad chunk {n}")
            if seen is not None:
                seen.append(n)
            yield n

    assert list(prefetched(numbers())) == list(range(10))
    got = []
    with pytest.raises(ValueError, match="bad chunk 4"):
        for n in prefetched(numbers(fail_at=4)):
            got.append(n)
    assert got == [0, 1, 2, 3]  # everything before the error arrives first
    seen: list[int] = []
    stream = prefetched(numbers(seen=seen))
    assert next(stream) == 0
    stream.close()  # the consumer gives up (a file that is not a log): the producer stops, one chunk ahead at most
    assert len(seen) <= 3
    assert not any(t.name == "callscope-parse" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("chunk_lines", [300, 50_000])
def test_spool_segments_parsed_together_agree_with_each_parsed_alone(tmp_path, chunk_lines):
    """The collector's flush parses many segments (one request each) as one stream, each row keeping its segment
    as its source; instances are still placed per segment. Some records lack their instance (placed from the
    tab's last one, or held until the next messageId names it), some lines are garbage."""
    rng = random.Random(11)
    records = [json.loads(line) for line in DEMO]
    for record in records:
        if rng.random() < 0.3:
            record.pop("instance", None)
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    noise = ["not json", "{\"ts\":1}", "[1,2", "{}", "null", '{"event_id": "spaced", "ts": 1764000000000}',
             lines[5].replace('"ts":', '"ts":1,"ts":'), lines[6].replace("{", "{ ", 1), lines[7][:-9]]
    for _ in range(40):
        lines.insert(rng.randrange(len(lines)), rng.choice(noise))
    segments, start = [], 0
    while start < len(lines):
        size = rng.randint(1, 40)
        path = tmp_path / f"{len(segments):05d}.ndjson"
        path.write_text("\n".join(lines[start:start + size]) + "\n")
        segments.append(str(path))
        start += size
    expected_events, expected_rejects = [], []
    for name in segments:
        for item in parse_lines(read_lines(name, plain=True)):
            if isinstance(item, Event):
                expected_events.append(item._asdict())
            else:
                expected_rejects.append((item.source, item.line_no, item.text, item.reason))
    con = duckdb.connect()
    columnar.prepare(con)
    events, rejects = [], []
    blocks = (block for name in segments for block in read_blocks(name, plain=True))
    for batch in parse_blocks(con, blocks, None, chunk_lines):
        events += batch.events.to_pylist()
        rejects += [(r.source, r.line_no, r.text, r.reason) for r in batch.rejects]
    assert sorted(rejects) == sorted(expected_rejects) and rejects
    key = itemgetter("source", "line_no")
    assert sorted(events, key=key) == sorted(expected_events, key=key)
    assert len({e["source"] for e in events}) > 100
    assert any(e["instance_source"] == "inferred" for e in events)
