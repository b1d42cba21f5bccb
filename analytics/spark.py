"""The metric statements on Spark: the same named statements the dashboard runs, through `ingest.spark`.

`SparkConnection(spark)` stands where a `connect_reader` connection stands (`analytics.db.rows`/`first`/`frame`,
`analytics.report.build.build_report`): `execute(sql, params)` translates the statement, runs it on Spark and hands
the Arrow result to an in-memory DuckDB cursor, so rows, dicts and DataFrames come out exactly as they do from the
store's own connection (types included), and no Spark result passes through pandas.

`statements()` is every statement the project runs over the store (the derivation and the metrics), found by name
(`*_SQL` constants that are whole statements), so a new metric is linted and checked for parity without being
listed anywhere.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import duckdb

from ingest import calls
from ingest import manifest as mf
from ingest.derive.keys import INSTANCE_KEYS_SQL

# The modules whose statements read the store (annotations.py reads its own notes file; live.py and imports.py
# read the collector's and the loads' bookkeeping, not calls).
METRIC_MODULES = ("analytics.filters", "analytics.metrics", "analytics.engagements", "analytics.iframes",
                  "analytics.funnel", "analytics.explorer", "analytics.report.sql")
_STATEMENT_STARTS = ("SELECT", "WITH", "CREATE", "UPDATE")
_TEMPLATE_FIELD = re.compile(r"\{[a-z_]+\}")  # a `str.format` template (its fields filled in elsewhere)


def _is_statement(text: str) -> bool:
    head = text.lstrip().split(None, 1)
    return bool(head) and head[0].upper() in _STATEMENT_STARTS


def metric_statements() -> dict[str, str]:
    """`module.NAME` -> SQL for every metric statement (a statement imported elsewhere under its home's name)."""
    found: dict[str, str] = {}
    for name in METRIC_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (attr.endswith("_SQL") and isinstance(value, str) and _is_statement(value)
                    and not _TEMPLATE_FIELD.search(value) and value not in found.values()):
                found[f"{name}.{attr}"] = value
    return found


def derive_statements() -> dict[str, str]:
    """The derivation, in order (`ingest.calls.STATEMENTS`, then the instance-key index)."""
    names = ("INSTANCES", "ENGAGEMENT_OWNERS", "CALL_IDS", "BLANK_ID_MESSAGES", "CALL_MESSAGES", "CALL_MSGS",
             "CALL_COURSE", "CALL_ENGAGEMENT", "CALL_PARTIES", "CALLS", "NEVER_ENDED")
    found = {f"ingest.calls.{n}_SQL": sql for n, sql in zip(names, calls.STATEMENTS, strict=True)}
    found["ingest.derive.keys.INSTANCE_KEYS_SQL"] = INSTANCE_KEYS_SQL.format(events="events")
    return found


def statements() -> dict[str, str]:
    return derive_statements() | metric_statements()


class SparkConnection:
    """A DuckDB-like connection whose statements run on Spark over a store's published version."""

    def __init__(self, spark, db_path: Path):
        from ingest.spark import session

        manifest = mf.read(db_path)
        if manifest is None:
            from ingest.catalog import no_data

            raise no_data(db_path)
        session.register(spark, mf.store_dir(db_path), manifest)
        self.spark = spark
        self._duck = duckdb.connect()

    def execute(self, sql: str, params: dict | None = None) -> duckdb.DuckDBPyConnection:
        from ingest.spark import session

        cursor = self._duck.cursor()  # one per statement: a result read halfway never blocks the next
        cursor.register("result", session.run(self.spark, sql, params or {}))
        return cursor.execute("SELECT * FROM result")

    def cursor(self) -> SparkConnection:
        return self

    def close(self) -> None:
        self._duck.close()

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
