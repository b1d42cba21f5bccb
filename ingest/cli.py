"""`python -m ingest`: load logs, list derived calls, build the demo data, derive, run the collector.

Commands from the layers above (`report` in `analytics.report.cli`, `bench` in `bench.loader`) plug in as
`Command`s that `ingest/__main__.py` passes to `main`, so this module never imports upward.
stdout is for machines (`calls --json`); progress bars and summaries go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from ingest import strings
from ingest.calls import OUTCOMES
from ingest.connections import DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_S, Limits
from ingest.errors import CallscopeError
from ingest.read import STDIN, source_size
from ingest.store import DEFAULT_DB_PATH

err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Command:
    """One `python -m ingest NAME` subcommand: `add` declares its arguments on the subparsers, `run` executes it
    (imports its heavy modules itself, so `--help` and the other commands stay fast)."""

    add: Callable[[argparse._SubParsersAction], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]


def db_arg(parser: argparse.ArgumentParser) -> None:
    default = DEFAULT_DB_PATH.relative_to(Path.cwd()) if DEFAULT_DB_PATH.is_relative_to(Path.cwd()) else DEFAULT_DB_PATH
    parser.add_argument("--store", "--db", dest="db", type=Path, default=DEFAULT_DB_PATH,
                        help=f"the store's folder (default: {default}; --db is its old name, and a name ending in "
                             f".duckdb means the folder without the suffix)")


def _add_load(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    load = sub.add_parser("load", help="Load capture logs (NDJSON, JSON array, gzip, or - for stdin).",
                          description="Load capture-format v1 logs. Re-loading a file adds nothing.")
    load.add_argument("paths", nargs="+", metavar="PATH", help="log files; - reads stdin")
    load.add_argument("--redact", action="store_true",
                      help="replace phone numbers, names and emails with keyed hashes before storing")
    db_arg(load)
    return load


def _add_calls(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    calls = sub.add_parser("calls", help="Print the derived calls.",
                           description="Print the derived calls, one object per call.")
    calls.add_argument("--json", action="store_true", help="print a JSON array (the only format for now)")
    calls.add_argument("--outcome", choices=OUTCOMES, help="only calls with this outcome")
    calls.add_argument("--direction", choices=("inbound", "outbound", "unknown"), help="only this direction")
    calls.add_argument("--portal", type=int, help="only this portalId")
    calls.add_argument("--call", help="only this externalCallId")
    calls.add_argument("--since", help="only calls started at or after this UTC time (ISO-8601)")
    calls.add_argument("--until", help="only calls started before this UTC time (ISO-8601)")
    calls.add_argument("--limit", type=int, help="at most this many calls")
    db_arg(calls)
    return calls


def _add_demo(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = sub.add_parser("demo", help="Build realistic demo data and load it.",
                          description="Write demo capture logs to data/demo/ and load them like real logs.")
    demo.add_argument("--days", type=int, default=30, help="days of traffic (default 30)")
    demo.add_argument("--calls", type=int, default=4000, help="about this many calls (default 4000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--out", type=Path, help="folder for the log files (default: data/demo beside --db)")
    db_arg(demo)
    return demo


def _add_derive(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    derive = sub.add_parser("derive", help="Rebuild instances and calls from the stored events.",
                            description="Rebuild the instances, call_messages and calls tables from all the stored "
                                        "events (after upgrading Callscope), and publish them. --engine spark runs "
                                        "the same SQL on Apache Spark (pip install -r requirements-spark.txt).")
    derive.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="duckdb (default: this machine) or spark (a cluster, or local[*])")
    derive.add_argument("--master", default="local[*]", metavar="URL",
                        help="with --engine spark: the Spark master, e.g. spark://host:7077 or yarn (default local[*])")
    db_arg(derive)
    return derive


def _add_compact(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    compact = sub.add_parser("compact", help="Merge each day's files into one.",
                             description="Merge the files of every day partition of every table into one sorted "
                                         "file (imports do this on their own for days with many small files).")
    db_arg(compact)
    return compact


def _add_prune(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    prune = sub.add_parser("prune", help="Drop whole days of events before a day.",
                           description="Drop every event of the UTC days before DAY and the derived rows only they "
                                       "feed; recorded in the loads table (tool prune).")
    prune.add_argument("--before", required=True, metavar="DAY", help="first UTC day to keep (YYYY-MM-DD)")
    db_arg(prune)
    return prune


def _add_migrate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    migrate = sub.add_parser("migrate", help="Convert an old single-file DuckDB store into a store folder.",
                             description="Convert data/callscope.duckdb (the store of Callscope before version 2) "
                                         "into the store folder data/callscope/; any command does it on first start.")
    db_arg(migrate)
    return migrate


def _add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = sub.add_parser("serve", help="Run the HTTP collector the browser capture script sends to.",
                           description="Accept capture batches on POST /v1/events (NDJSON or a JSON array, optionally "
                                       "gzip), spool each to disk before answering 2xx, and load the spool into the "
                                       "database every few seconds. Health: GET /healthz.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8765)")
    serve.add_argument("--tokens-file", type=Path, metavar="FILE",
                       help="JSON or TOML file mapping each app id to its token (default: the "
                            "CALLSCOPE_COLLECTOR_TOKENS environment variable, a JSON object)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="a browser origin allowed to send, e.g. your calling app's https://phone.example.com "
                            "(repeatable; https://app.hubspot.com and https://app-eu1.hubspot.com always are)")
    serve.add_argument("--flush-interval", type=float, metavar="SECONDS",
                       help="seconds between loads of the spool into the database (default 1, at least 1)")
    serve.add_argument("--redact", action="store_true",
                       help="replace phone numbers, names and emails with keyed hashes before storing")
    serve.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, metavar="N",
                       help=f"open connections at most; past it the one waiting longest for a complete request is "
                            f"closed (default {DEFAULT_MAX_CONNECTIONS:,}, and below the descriptor limit)")
    serve.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S, metavar="SECONDS",
                       help=f"seconds a client has to send a request's head, and again its body "
                            f"(default {DEFAULT_REQUEST_TIMEOUT_S:g})")
    db_arg(serve)
    return serve


def build_parser(extra: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Callscope ingest: SDK message logs into a store of Parquet files.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (*COMMANDS, *extra):
        command.add(sub).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None, extra: Sequence[Command] = ()) -> int:
    args = build_parser(extra).parse_args(argv)
    try:
        return args.run(args)
    except CallscopeError as exc:
        err.print(strings.ERROR.format(error=exc), markup=False)
        return 2
    except KeyboardInterrupt:
        err.print(strings.INTERRUPTED, markup=False)
        return 130


def _progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)


def run_load(paths: list[str], db: Path, redact: bool, tool: str) -> int:
    from ingest.load import load_sources

    with _progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int) -> None:
            if name not in tasks:
                original = next((p for p in paths if p == name or (p != STDIN and str(Path(p).resolve()) == name)), name)
                tasks[name] = bar.add_task(Path(name).name if name != STDIN else "stdin", total=source_size(original))
            bar.update(tasks[name], completed=done)

        result = load_sources(paths, db, redact=redact, tool=tool, progress=progress)
    c = result.counts
    err.print(strings.LOAD_SUMMARY.format(read=c.read, loaded=c.loaded, duplicates=c.duplicates,
                                          rejected=c.rejected, seconds=result.duration_s), markup=False)
    for reason, count in result.top_reasons:
        err.print(strings.LOAD_REJECT_REASON.format(count=count, reason=reason), markup=False)
    if c.rejected:
        err.print(strings.LOAD_REJECT_HINT, markup=False)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    return run_load(args.paths, args.db, args.redact, "cli")


def _utc_time(text: str | None, option: str) -> str | None:
    """`--since`/`--until` as the naive UTC time `select_calls` compares with (an offset, if given, is applied)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
        return (moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment).isoformat(sep=" ")
    except (ValueError, OverflowError):
        raise CallscopeError(f"{option} {text!r} is not a UTC time",
                             "Write it in ISO-8601, e.g. 2025-11-25 or 2025-11-25T12:10:00") from None


def cmd_calls(args: argparse.Namespace) -> int:
    from ingest.calls import select_calls
    from ingest.store import connect_reader

    since, until = _utc_time(args.since, "--since"), _utc_time(args.until, "--until")
    with connect_reader(args.db) as con:
        rows = select_calls(con, outcome=args.outcome, direction=args.direction, portal_id=args.portal,
                            call_id=args.call, since=since, until=until, limit=args.limit)
    json.dump(rows, sys.stdout, default=str, indent=None if args.json else 2)
    sys.stdout.write("\n")
    if not rows:
        err.print(strings.NO_CALLS)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ingest.demo import write_demo_files

    out = args.out or Path(args.db).parent / "demo"
    err.print(strings.DEMO_WRITING.format(days=args.days, calls=args.calls, folder=out), markup=False)
    paths = write_demo_files(out, days=args.days, calls=args.calls, seed=args.seed)
    return run_load([str(p) for p in paths], args.db, False, "demo")


def cmd_serve(args: argparse.Namespace) -> int:
    from ingest.serve import (
        DEFAULT_FLUSH_INTERVAL_S,
        DEFAULT_ORIGINS,
        DEFAULT_PORT,
        MIN_FLUSH_INTERVAL_S,
        CollectorConfig,
        load_tokens,
        serve,
    )

    interval_s = DEFAULT_FLUSH_INTERVAL_S if args.flush_interval is None else args.flush_interval
    config = CollectorConfig(
        db_path=args.db, tokens=load_tokens(args.tokens_file), origins=frozenset((*DEFAULT_ORIGINS, *args.allow_origin)),
        flush_interval_s=max(MIN_FLUSH_INTERVAL_S, interval_s), redact=args.redact,
        limits=Limits(max_connections=args.max_connections, request_timeout_s=args.request_timeout),
    )
    return serve(config, args.host, args.port or DEFAULT_PORT)


def cmd_derive(args: argparse.Namespace) -> int:
    import time

    from ingest.derived import derive_all
    from ingest.store import Writer

    started = time.perf_counter()
    with Writer(args.db) as writer:
        if args.engine == "spark":
            from ingest.spark.engine import derive_with_spark

            derive_with_spark(writer, args.master)
        else:
            derive_all(writer)
        writer.publish()
        calls = sum(f.rows for f in writer.manifest.files("calls"))
    err.print(strings.DERIVED.format(calls=calls, seconds=time.perf_counter() - started), markup=False)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from ingest.maintenance import compact_all
    from ingest.store import Writer

    with Writer(args.db) as writer:
        merged = compact_all(writer)
    err.print(strings.COMPACTED.format(files=merged), markup=False)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from datetime import date

    from ingest.maintenance import prune
    from ingest.store import Writer

    try:
        before = date.fromisoformat(args.before.strip())
    except ValueError:
        raise CallscopeError(f"--before {args.before!r} is not a day", "Write it as YYYY-MM-DD, e.g. 2025-11-01") from None
    with Writer(args.db) as writer:
        pruned = prune(writer, before)
    err.print(strings.PRUNED.format(events=pruned.events, days=len(pruned.days), before=before), markup=False)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ingest.manifest import legacy_file, store_dir
    from ingest.migrate import migrate

    old = legacy_file(args.db)
    if not old.exists():
        err.print(strings.NOTHING_TO_MIGRATE.format(file=old), markup=False)
        return 0
    migrate(args.db)
    err.print(strings.MIGRATED.format(file=old, store=store_dir(args.db)), markup=False)
    return 0


COMMANDS = (Command(_add_load, cmd_load), Command(_add_calls, cmd_calls), Command(_add_demo, cmd_demo),
            Command(_add_derive, cmd_derive), Command(_add_serve, cmd_serve), Command(_add_compact, cmd_compact),
            Command(_add_prune, cmd_prune), Command(_add_migrate, cmd_migrate))
