"""The Spark engine as the CLI uses it: what it needs (pyspark, a Java runtime) said as a next step, then the run.

Imports nothing of pyspark until asked, so `python -m ingest --help` and the DuckDB engine never need it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

from ingest.errors import CallscopeError


def require() -> None:
    """CallscopeError saying what to install when pyspark or Java is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise CallscopeError("the Spark engine needs pyspark", "Run pip install -r requirements-spark.txt")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise CallscopeError("the Spark engine needs a Java runtime (17 or 21)",
                             "Install one, e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME")


def start(master: str):
    """A Spark session on `master`, once its requirements are there."""
    require()
    from ingest.spark import session

    return session.start(master)


def derive_with_spark(writer, master: str) -> int:
    """`derive --engine spark`: the whole derivation on `master`, into the writer's manifest (the caller
    publishes). Returns the number of calls."""
    spark = start(master)
    from ingest.spark.derive import derive_on_spark

    return derive_on_spark(writer, spark)
