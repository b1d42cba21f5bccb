"""Hypothesis: any mix of garbage and real lines loads without crashing, and the counts reconcile."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.load import load_sources
from tests.logs import T0, Log, Tab


def _real_lines() -> list[str]:
    log = Log()
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("c1"); a.engagement(1); a.send("CALL_ANSWERED", externalCallId="c1"); a.end("c1", "COMPLETED", 1)
    return log.ndjson().splitlines()


REAL = _real_lines()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
near_miss = st.fixed_dictionaries({
    "ts": st.one_of(st.integers(), st.text(max_size=30), st.floats(allow_nan=False)),
    "direction": st.sampled_from(["to_hubspot", "from_hubspot", "capture", "up", ""]),
    "message": st.one_of(json_values, st.fixed_dictionaries({"type": st.text(max_size=12)})),
}).map(json.dumps)
garbage = st.one_of(
    st.text(max_size=80).filter(lambda s: "\n" not in s and "\r" not in s),
    json_values.map(json.dumps),
    near_miss,
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").decode("latin-1")),
)
lines = st.lists(st.one_of(st.sampled_from(REAL), garbage), min_size=1, max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=lines)
def test_counts_reconcile_on_any_input(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("garbage")
    path = folder / "mixed.ndjson"
    path.write_text("\n".join(REAL[:2] + lines) + "\n", encoding="utf-8", errors="surrogateescape")
    result = load_sources([str(path)], folder / "db.duckdb")
    c = result.counts
    assert c.read == c.loaded + c.duplicates + c.rejected
    non_blank = [line for line in REAL[:2] + lines if line.encode("utf-8", "surrogateescape").strip()]
    assert c.read == len(non_blank)
    again = load_sources([str(path)], folder / "db.duckdb")
    assert again.counts.loaded == 0 and again.counts.read == c.read
