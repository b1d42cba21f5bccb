"""`python -m bench.storage --events 1000000 --events 3000000`: the store of Parquet files against the old single
DuckDB file (`bench/v1_store.py`), side by side in one run. A benchmark command, not a test.

For each size N: a generated log of N events (`bench.loader.write_log`) is imported the old way into a DuckDB file
(the baseline), and that file is converted into a store (`ingest.migrate`, as a first start would). Then, for
both: a 1,000-event import into an empty store and into the N-event one (medians of --repeat different logs),
every dashboard page's queries cold and warm (`bench.dashboard`), opening one call (`bench.replay`), the size on
disk; and for the store, the collector's time from a 202 to the call being visible to `calls --json`.

`--store DIR` measures an existing store instead (no old file: building one of 10M events the old way takes
longer than an hour): the same imports into it and into an empty store, its pages, opening calls, the collector.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import msgspec

from analytics.db import runner
from analytics.filters import Filters
from analytics.replay import load as replay
from bench import v1_store
from bench.collector import batch_body, collector_process
from bench.dashboard import _page_queries, _time_page
from bench.loader import write_log
from ingest.calls import select_calls
from ingest.demo import generate_records
from ingest.load import load_sources
from ingest.migrate import migrate
from ingest.store import connect_reader, store_dir

BASE_END_MS = 1_764_072_000_000  # write_log's last day (2025-11-25)
DAY_MS = 86_400_000
TOKEN = "bench-storage-token-0123456789"


def small_log(path: Path, n: int, events: int) -> Path:
    """The n-th import of `events` fresh events (a day of its own after the base log, before 2080: the parser
    refuses times past 2100; a world of its own)."""
    encoder = msgspec.json.Encoder()
    with path.open("wb") as fh:
        for i, record in enumerate(generate_records(days=1, calls=events // 10, seed=1000 + n,
                                                    end_ms=BASE_END_MS + (n % 20_000 + 1) * DAY_MS)):
            if i >= events:
                break
            fh.write(encoder.encode(record) + b"\n")
    return path


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def time_imports(logs: list[Path], v1: Path | None, v2: Path | None, fresh: Path | None,
                 kinds: tuple[str, ...] = ("v1", "v2")) -> dict[str, float]:
    """Median seconds of importing each log into v1 / v2 (None: a fresh empty store per log, under `fresh`)."""
    out: dict[str, list[float]] = {kind: [] for kind in kinds}
    for n, log in enumerate(logs):
        for kind, target in ((k, t) for k, t in (("v1", v1), ("v2", v2)) if k in kinds):
            if target is None:
                folder = fresh / f"empty-{kind}-{n}"
                folder.mkdir(parents=True)
                target = folder / "callscope.duckdb"
            started = time.perf_counter()
            if kind == "v1":
                v1_store.load_v1([str(log)], target)
            else:
                load_sources([str(log)], target, tool="bench")
            out[kind].append(time.perf_counter() - started)
    return {k: statistics.median(v) for k, v in out.items()}


def time_pages(connect, repeat: int) -> dict[str, tuple[float, float]]:
    with connect() as con:
        last = con.execute("SELECT max(started_at) FROM calls").fetchone()[0]
    f = Filters(start=last.date() - timedelta(days=29), end=last.date())
    out = {}
    for page, queries in _page_queries().items():
        cold, warm = [], []
        for _ in range(repeat):
            with connect() as con:
                cold.append(_time_page(con, queries, f))
                warm.append(_time_page(con, queries, f))
        out[page] = (statistics.median(cold) * 1000, statistics.median(warm) * 1000)
    return out


def time_replay(connect, calls: int) -> tuple[float, float]:
    """Median and p95 ms of opening a call (the replay's statements), over a fixed sample of calls."""
    with connect() as con:
        ids = [r[0] for r in con.execute(
            "SELECT external_call_id FROM calls ORDER BY hash(external_call_id) LIMIT $n", {"n": calls}).fetchall()]
        fetch = runner(con)
        for call_id in ids[:3]:
            replay.load_trace(fetch, call_id)
        times = []
        for call_id in ids:
            started = time.perf_counter()
            replay.load_trace(fetch, call_id)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def collector_visibility(db: Path, batches: int, pause_s: float, sender: int = 50_000) -> tuple[float, float]:
    """p50 and p99 seconds from a batch's 202 to its call in `select_calls` (what `calls --json` runs)."""
    import http.client
    from urllib.parse import urlparse

    latencies: list[float] = []
    with collector_process(db, {"bench-app": TOKEN}) as url:
        port = urlparse(url).port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for k in range(batches):
            body, _ = batch_body(sender + k, k, 20)  # a new instance and call per batch
            conn.request("POST", "/v1/events", body=body, headers={"Authorization": f"Bearer {TOKEN}"})
            response = conn.getresponse()
            response.read()
            acked = time.perf_counter()
            assert response.status == 202, response.status
            call = f"bench-{sender + k}-{k}"
            while True:
                with connect_reader(db) as con:
                    if select_calls(con, call_id=call):
                        break
                time.sleep(0.02)
            latencies.append(time.perf_counter() - acked)
            time.sleep(pause_s)
        conn.close()
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def build(workdir: Path, events: int) -> tuple[Path, Path, float, float]:
    """The N-event baseline file (imported the old way) and the store converted from it; and the seconds each took."""
    log = workdir / f"base-{events}.ndjson"
    v1 = workdir / f"v1-{events}" / "callscope.duckdb"
    v2 = workdir / f"v2-{events}" / "callscope"
    if not log.exists():
        write_log(log, events)
    v1.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    v1_store.load_v1([str(log)], v1)
    v1_s = time.perf_counter() - started
    v2.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(v1, v2.with_suffix(".duckdb"))
    started = time.perf_counter()
    migrate(v2)
    return v1, v2, v1_s, time.perf_counter() - started


def report(events: int, args: argparse.Namespace, workdir: Path, empty: dict[str, float]) -> None:
    print(f"\n== {events:,} events ==", flush=True)
    v1, v2, v1_s, v2_s = build(workdir, events)
    print(f"built: old file {v1_s:,.0f} s (import + derive + copy); store converted from it in {v2_s:,.0f} s")
    print(f"disk: old file {size_mb(v1):,.0f} MB + its read copy {size_mb(v1_store.snapshot(v1)):,.0f} MB; "
          f"store {size_mb(store_dir(v2)):,.0f} MB", flush=True)
    logs = [small_log(workdir / f"small-{events}-{n}.ndjson", n, args.import_events) for n in range(args.repeat)]
    full = time_imports(logs, v1, v2, None)
    print(f"{args.import_events:,}-event import (median of {args.repeat}):   {'old file':>10}{'store':>10}")
    print(f"  {'into an empty store':<39}{empty['v1']:>9.2f}s{empty['v2']:>9.2f}s")
    print(f"  {f'into the {events:,}-event store':<39}{full['v1']:>9.2f}s{full['v2']:>9.2f}s")
    print(f"  {'ratio (N-event / empty)':<39}{full['v1'] / empty['v1']:>9.2f}x{full['v2'] / empty['v2']:>9.2f}x")
    old_pages = time_pages(lambda: v1_store.connect_v1(v1), args.page_repeat)
    new_pages = time_pages(lambda: connect_reader(v2), args.page_repeat)
    print(f"dashboard pages (ms, median of {args.page_repeat}):   old cold  old warm  new cold  new warm")
    for page in old_pages:
        (oc, ow), (nc, nw) = old_pages[page], new_pages[page]
        print(f"  {page:<30}{oc:>10.0f}{ow:>10.0f}{nc:>10.0f}{nw:>10.0f}")
    old_replay, new_replay = time_replay(lambda: v1_store.connect_v1(v1), 30), time_replay(lambda: connect_reader(v2), 30)
    print(f"opening one call (ms): old median {old_replay[0]:.0f} p95 {old_replay[1]:.0f}; "
          f"new median {new_replay[0]:.0f} p95 {new_replay[1]:.0f}")
    p50, p99 = collector_visibility(v2, args.batches, args.pause)
    print(f"collector 202 -> visible in calls --json ({args.batches} batches): p50 {p50:.2f} s, p99 {p99:.2f} s",
          flush=True)


def report_store(store: Path, args: argparse.Namespace, workdir: Path, empty: dict[str, float]) -> None:
    """The store's side of `report`, for an existing store (imports into it add small worlds of their own)."""
    with connect_reader(store) as con:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"\n== the store at {store}: {events:,} events ==", flush=True)
    print(f"disk: {size_mb(store_dir(store)):,.0f} MB", flush=True)
    run = time.time_ns() // 1_000_000_000 % 10_000  # each run's imports and batches are new to the store
    logs = [small_log(workdir / f"small-store-{run}-{n}.ndjson", 100 + run * args.repeat + n, args.import_events)
            for n in range(args.repeat)]
    full = time_imports(logs, None, store, None, kinds=("v2",))
    print(f"{args.import_events:,}-event import (median of {args.repeat}): into an empty store {empty['v2']:.2f} s, "
          f"into this one {full['v2']:.2f} s: x{full['v2'] / empty['v2']:.2f}", flush=True)
    pages = time_pages(lambda: connect_reader(store), args.page_repeat)
    print(f"dashboard pages (ms, median of {args.page_repeat}):   cold  warm")
    for page, (cold, warm) in pages.items():
        print(f"  {page:<30}{cold:>10.0f}{warm:>10.0f}", flush=True)
    median, p95 = time_replay(lambda: connect_reader(store), 100)
    print(f"opening one call (100 calls, ms): median {median:.0f} p95 {p95:.0f}", flush=True)
    p50, p99 = collector_visibility(store, args.batches, args.pause, sender=60_000 + run * args.batches)
    print(f"collector 202 -> visible in calls --json ({args.batches} batches): p50 {p50:.2f} s, p99 {p99:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, action="append", help="store sizes (repeatable; default 1,000,000)")
    parser.add_argument("--import-events", type=int, default=1000, help="events per measured import (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured imports per store (default 3)")
    parser.add_argument("--page-repeat", type=int, default=3, help="runs per dashboard page (default 3)")
    parser.add_argument("--batches", type=int, default=30, help="collector batches timed (default 30)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between collector batches (default 0.3)")
    parser.add_argument("--workdir", type=Path, help="keep the generated logs and stores here")
    parser.add_argument("--store", type=Path, help="measure this existing store instead of building sizes")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="callscope-storage-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"workdir {workdir}", file=sys.stderr)
    logs = [small_log(workdir / f"small-empty-{n}.ndjson", n, args.import_events) for n in range(args.repeat)]
    if args.store:
        empty = time_imports(logs, None, None, workdir / f"empty-{time.time_ns()}", kinds=("v2",))
        report_store(args.store, args, workdir, empty)
        return 0
    empty = time_imports(logs, None, None, workdir / "empty")
    for events in args.events or [1_000_000]:
        report(events, args, workdir, empty)
    empty_store = workdir / "empty" / "empty-v2-0" / "callscope.duckdb"
    p50, p99 = collector_visibility(empty_store, args.batches, args.pause)
    print(f"\ncollector 202 -> visible in calls --json on a store of {args.import_events:,} events: "
          f"p50 {p50:.2f} s, p99 {p99:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
