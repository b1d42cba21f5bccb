"""`python -m bench.dashboard --db FILE`: every dashboard page's queries, cold and warm, per page.

Cold: a new read-only connection to the snapshot (DuckDB's buffer pool empty; the OS file cache is whatever it
is — run `sync; echo 3 > /proc/sys/vm/drop_caches` first for a truly cold disk). Warm: the same queries again on
that connection. Medians of --repeat runs. The filter is the last 30 days of data, all portals, as a person
first sees each page. A benchmark command, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from analytics import engagements, explorer, funnel, iframes, metrics
from analytics.filters import FILTER_OPTIONS_SQL, Filters
from ingest.store import DEFAULT_DB_PATH, connect_reader

Query = tuple[str, str, Callable[[Filters], dict]]


def _page_queries() -> dict[str, list[Query]]:
    """Every statement each page runs on first view (the drill-down tables run only on a click)."""
    base: list[Query] = [("filter options", FILTER_OPTIONS_SQL, lambda f: {})]
    with_bucket = lambda f: {**f.params(), "bucket": f.bucket}  # noqa: E731
    return {
        "Overview": base + [
            ("kpis", metrics.KPIS_SQL, lambda f: f.params()),
            ("kpis previous", metrics.KPIS_SQL, lambda f: f.previous().params()),
            ("rejected lines", metrics.REJECTED_LINES_SQL, lambda f: {}),
            ("trend", metrics.TREND_SQL, with_bucket),
            ("breakdown", metrics.BREAKDOWN_SQL, lambda f: {**f.params(), "dimension": "portal"}),
            ("counts by direction", metrics.BREAKDOWN_SQL, lambda f: {**f.params(), "dimension": "direction"}),
        ],
        "Engagements & caller ID": base + [
            ("engagement trend", metrics.TREND_SQL, with_bucket),
            ("failure messages", engagements.FAILURE_GROUPS_SQL, lambda f: f.params()),
            ("caller id", engagements.CALLER_ID_SQL, lambda f: f.params()),
        ],
        "Iframes & tabs": base + [
            ("summary", iframes.SUMMARY_SQL, lambda f: f.params()),
            ("locations trend", iframes.LOCATIONS_TREND_SQL, with_bucket),
            ("locations by portal", iframes.LOCATIONS_BY_PORTAL_SQL, lambda f: f.params()),
            ("ringing", iframes.RINGING_SQL, lambda f: f.params()),
            ("dropped by location", metrics.BREAKDOWN_SQL, lambda f: {**f.params(), "dimension": "iframe_location"}),
            ("recreated", iframes.RECREATED_SQL, lambda f: f.params()),
            ("availability", iframes.AVAILABILITY_SQL, with_bucket),
        ],
        "Lifecycle funnel": base + [
            ("funnel", funnel.FUNNEL_SQL, lambda f: f.params()),
            ("time to ready", funnel.READY_SQL, lambda f: {**f.params(), "dimension": "iframe_location"}),
            ("never ready", funnel.NEVER_READY_SQL, lambda f: f.params()),
        ],
        "Calls": base + [
            ("calls", explorer.CALLS_SQL,
             lambda f: {**f.params(), **explorer.explorer_params(), "limit": explorer.EXPLORER_LIMIT}),
            ("count", explorer.COUNT_SQL, lambda f: {**f.params(), **explorer.explorer_params()}),
            ("users", explorer.USERS_SQL, lambda f: f.params()),
        ],
    }


def _time_page(con, queries: list[Query], f: Filters) -> float:
    start = time.perf_counter()
    for _, sql, params in queries:
        con.execute(sql, params(f)).fetchall()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help="database (its read snapshot is used)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per page (default 5)")
    args = parser.parse_args(argv)

    with connect_reader(args.db) as con:
        events, calls, last = con.execute(
            "SELECT (SELECT count(*) FROM events), count(*), max(started_at) FROM calls").fetchone()
    end = last.date()
    f = Filters(start=end - timedelta(days=29), end=end)
    print(f"{events:,} events, {calls:,} calls; filter {f.start} .. {f.end}, medians of {args.repeat} runs")
    print(f"{'page':<26}{'queries':>8}{'cold ms':>10}{'warm ms':>10}")
    for page, queries in _page_queries().items():
        cold, warm = [], []
        for _ in range(args.repeat):
            with connect_reader(args.db) as con:
                cold.append(_time_page(con, queries, f))
                warm.append(_time_page(con, queries, f))
        print(f"{page:<26}{len(queries):>8}{statistics.median(cold) * 1000:>10.0f}{statistics.median(warm) * 1000:>10.0f}")

    from analytics.report.build import build_report  # the Beta report page builds the whole report for the period

    cold, warm = [], []
    for _ in range(args.repeat):
        with connect_reader(args.db) as con:
            for runs in (cold, warm):
                start = time.perf_counter()
                build_report(con, f, db_path=args.db)
                runs.append(time.perf_counter() - start)
    print(f"{'Beta report (whole report)':<26}{'-':>8}{statistics.median(cold) * 1000:>10.0f}"
          f"{statistics.median(warm) * 1000:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
