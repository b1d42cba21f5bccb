"""`python -m ingest`: the program's entry point and its composition root, the one place that assembles the
commands of every layer: ingest's own (`ingest.cli`), the beta report (`analytics.report.cli`) and the loader
benchmark (`bench.loader`). The import contract in pyproject.toml allows these two upward imports here only."""

from analytics.report.cli import REPORT
from bench.loader import BENCH
from ingest.cli import main

PLUGGED_IN = (BENCH, REPORT)  # commands whose code lives above ingest

if __name__ == "__main__":
    raise SystemExit(main(extra=PLUGGED_IN))
