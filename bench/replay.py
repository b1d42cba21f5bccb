"""`python -m bench.replay`: how long opening one call in the replay takes, against a naive full scan.

Builds (once, then reuses) a database of `--events` generated events (`bench.loader.write_log` → `load_sources`),
then opens a fixed sample of calls (all outcomes, dropped ones and the biggest included) through
`analytics.replay.load_trace` on a read-only snapshot connection, the way the replay page does. Reported: the
median and p95 of the query time (the SQL statements, rows fetched) and of the whole open (plus building
the trace), and the baseline: a naive full scan of `events` for the call id, in the same run. This is a benchmark
command, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from analytics.db import runner
from analytics.replay import load as replay
from ingest.store import connect_reader, snapshot_path

NAIVE_SQL = "SELECT * FROM events WHERE external_call_id = $call_id ORDER BY ts, load_id, line_no"
SAMPLE_SQL = """
SELECT external_call_id FROM (
    SELECT external_call_id FROM (SELECT external_call_id FROM calls ORDER BY hash(external_call_id) LIMIT $n)
    UNION SELECT external_call_id FROM (SELECT external_call_id FROM calls WHERE outcome = 'dropped'
                                        ORDER BY external_call_id LIMIT 10)
    UNION SELECT external_call_id FROM (SELECT external_call_id FROM calls ORDER BY messages DESC, external_call_id
                                        LIMIT 5)
) ORDER BY external_call_id
"""
WARM_UP = 5


def build(db: Path, events: int) -> None:
    from bench.loader import write_log
    from ingest.load import load_sources

    log = db.with_suffix(".ndjson")
    started = time.perf_counter()
    print(f"writing {events:,} events to {log} …", file=sys.stderr)
    write_log(log, events)
    print(f"loading them into {db} … (a 10M-event load takes several minutes)", file=sys.stderr)
    load_sources([str(log)], db, tool="bench")
    log.unlink()
    print(f"built in {time.perf_counter() - started:,.0f} s", file=sys.stderr)


def _name(sql: str) -> str:
    """The analytics.replay.load constant a statement is (for the per-statement breakdown)."""
    return next((k for k, v in vars(replay).items() if v is sql), "other")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(db: Path, calls: int) -> dict[str, list[float]]:
    with connect_reader(db) as con:
        fetch = runner(con)
        ids = [r[0] for r in con.execute(SAMPLE_SQL, {"n": calls}).fetchall()]
        query_ms: list[float] = []
        per_statement: dict[str, list[float]] = {}

        def run(sql: str, **params):
            started = time.perf_counter()
            found = fetch(sql, **params)
            ms = (time.perf_counter() - started) * 1000
            query_ms[-1] += ms
            per_statement.setdefault(_name(sql), []).append(ms)
            return found

        out: dict[str, list[float]] = {"query": [], "open": [], "naive": [], "messages": []}
        for n, call_id in enumerate(ids[:WARM_UP] + ids):
            query_ms.append(0.0)
            started = time.perf_counter()
            trace = replay.load_trace(run, call_id)
            opened = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            fetch(NAIVE_SQL, call_id=call_id)
            naive = (time.perf_counter() - started) * 1000
            if n >= WARM_UP:
                out["query"].append(query_ms[-1])
                out["open"].append(opened)
                out["naive"].append(naive)
                out["messages"].append(len(trace.messages))
        out.update({f"  {name}": values[WARM_UP:] for name, values in per_statement.items()})
        out["events"] = [con.execute("SELECT count(*) FROM events").fetchone()[0]]
        out["calls"] = [con.execute("SELECT count(*) FROM calls").fetchone()[0]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the database (default 10,000,000)")
    parser.add_argument("--calls", type=int, default=100,
                        help="calls to open, besides dropped and big ones (default 100)")
    parser.add_argument("--db", type=Path, help="use (or build) this database instead of one in --workdir")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "callscope-replay-bench",
                        help="where the generated database is kept and reused "
                             "(default: $TMPDIR/callscope-replay-bench)")
    args = parser.parse_args(argv)
    db = args.db or args.workdir / f"replay-{args.events}.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    if not snapshot_path(db).exists():
        build(db, args.events)
    r = measure(db, args.calls)
    med = {k: statistics.median(v) for k, v in r.items() if v}
    print(f"database: {r['events'][0]:,} events, {r['calls'][0]:,} calls ({db})")
    print(f"opened {len(r['query'])} calls (median {med['messages']:.0f}, max {max(r['messages'])} messages each)")
    print(f"{'':<34}{'median ms':>10}{'p95 ms':>10}")
    rows = (("replay: query time to open a call", r["query"]), ("replay: whole open (trace built)", r["open"]),
            ("baseline: naive scan of events", r["naive"]))
    for name, values in rows:
        print(f"{name:<34}{statistics.median(values):>10.1f}{_pct(values, .95):>10.1f}")
        if name.startswith("replay: query"):
            for statement, times in ((k, v) for k, v in r.items() if k.startswith("  ") and v):
                print(f"{statement:<34}{statistics.median(times):>10.1f}{_pct(times, .95):>10.1f}")
    print(f"ratio naive scan / replay query: x{med['naive'] / med['query']:.2f} (the naive scan finds only the "
          f"messages that name the call id: no replies, no context, no instances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
