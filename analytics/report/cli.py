"""`python -m ingest report`: the beta feedback report from the command line (plugged into `ingest.cli` as a
`Command` by `ingest/__main__.py`). Heavy imports wait until the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analytics.filters import FIRST_DAY, LAST_DAY, parse_day
from ingest.cli import Command, db_arg, err
from ingest.errors import CallscopeError
from ingest.store import connect_reader


def add(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    report = sub.add_parser("report", help="Write the inbound-calling beta feedback report (HTML, Markdown, CSV).",
                            description="Write the beta feedback report for a period and the previous period of equal "
                                        "length: adoption, outcomes, HubSpot-side results, incidents, tagged calls and "
                                        "a written summary. The numbers are the dashboard's for the same filters.")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help=f"first day of the period, {FIRST_DAY} at the earliest (default: 6 days before --to)")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                        help=f"last day of the period, inclusive, {LAST_DAY} at the latest (default: yesterday in "
                             f"--tz)")
    report.add_argument("--portal", type=int, action="append", default=[], metavar="ID",
                        help="only this portalId (repeatable; default all)")
    report.add_argument("--app", action="append", default=[], metavar="APP", help="only this app (repeatable)")
    report.add_argument("--sdk", action="append", default=[], metavar="VERSION",
                        help="only this SDK version (repeatable)")
    report.add_argument("--direction", action="append", default=[], choices=("inbound", "outbound", "unknown"),
                        help="only this call direction (repeatable; default both)")
    report.add_argument("--tz", default="UTC", help="time zone the days are in, e.g. Europe/London (default UTC)")
    report.add_argument("--format", choices=("html", "md", "csv", "all"), default="all",
                        help="which file to write (default all three)")
    report.add_argument("--out", type=Path, default=Path("."), metavar="PATH",
                        help="folder to write into (default .); with one --format, a file name, or - for stdout")
    report.add_argument("--base-url", default="", metavar="URL",
                        help="dashboard address for the replay links, e.g. https://callscope.example.com/ "
                             "(default: relative links, replay?call=ID)")
    report.add_argument("--tag", default="beta-feedback", help="list the calls carrying this tag (default beta-feedback)")
    report.add_argument("--include-personal", action="store_true",
                        help="include phone numbers, user ids and unredacted notes (left out by default)")
    report.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="where the statements run: duckdb (default) or spark (pip install -r "
                             "requirements-spark.txt)")
    report.add_argument("--master", default="local[*]", metavar="URL",
                        help="with --engine spark: the Spark master, e.g. spark://host:7077 (default local[*])")
    db_arg(report)
    return report


def _connect(args: argparse.Namespace):
    """The store's reader: DuckDB's, or the same statements run on Spark (analytics.spark.SparkConnection)."""
    if args.engine == "spark":
        from analytics.spark import SparkConnection
        from ingest.spark.engine import start

        return SparkConnection(start(args.master), args.db)
    return connect_reader(args.db)


def run(args: argparse.Namespace) -> int:
    from analytics.report import strings as report_strings
    from analytics.report.build import build_report, report_filters
    from analytics.report.render import FORMATS, link_base, render, write

    start, end = (parse_day(text, name) if text else None for text, name in ((args.start, "--from"), (args.end, "--to")))
    if args.base_url and not link_base(args.base_url):
        raise CallscopeError(f"--base-url {args.base_url!r} is not an http(s) address",
                             "Give the dashboard's address, e.g. https://callscope.example.com/")
    f = report_filters(start, end, args.tz, portals=args.portal, apps=args.app, sdk_versions=args.sdk,
                       directions=args.direction)
    formats = list(FORMATS) if args.format == "all" else [args.format]
    if str(args.out) == "-" and len(formats) > 1:
        raise CallscopeError("--out - writes one format to stdout", "Add --format html, md or csv")
    with _connect(args) as con:
        report = build_report(con, f, db_path=args.db, tag=args.tag, include_personal=args.include_personal)
    if str(args.out) == "-":
        sys.stdout.write(render(report, formats[0], args.base_url))
    else:
        for path in write(report, formats, args.out, args.base_url):
            err.print(report_strings.CLI_WROTE.format(path=path), markup=False)
    for sentence in report.summary:
        err.print(sentence, markup=False)
    return 0


REPORT = Command(add=add, run=run)
