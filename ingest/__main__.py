"""`python -m ingest`: the program's entry point and its composition root, the one place that assembles the
commands of every layer: ingest's own (`ingest.cli`), the beta report (`analytics.report.cli`), the loader
benchmark (`bench.loader`) and the Spark derivation benchmark (`bench.spark`). The import contract in pyproject.toml
allows these upward imports here only."""

from analytics.report.cli import REPORT
from bench.loader import BENCH
from bench.spark import BENCH_SPARK
from ingest.cli import main

PLUGGED_IN = (BENCH, BENCH_SPARK, REPORT)  # commands whose code lives above ingest

if __name__ == "__main__":
    raise SystemExit(main(extra=PLUGGED_IN))
