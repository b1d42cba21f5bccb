"""Read access for the dashboard and reports: always the version of the store published last, read-only
(`ingest.store.connect_reader`: views over the files of the manifest, in a DuckDB instance of its own).

The one place a statement runs. Parameters are always bound (`$name` in the SQL, a keyword here), never formatted
into it. Two shapes: `rows` (plain Python values, for code that builds dataclasses or reads one row) and `frame`
(a DataFrame, for tables and charts). `ui.data` caches both per snapshot generation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import duckdb
import pandas as pd

from ingest.store import DEFAULT_DB_PATH, connect_reader, snapshot_generation
from ingest.store import reader_cursor as cursor

__all__ = ["DEFAULT_DB_PATH", "connect_reader", "cursor", "snapshot_generation", "rows", "frame", "first", "runner",
           "Runner"]

# `rows` with its connection bound: `run(sql, **params) -> list[dict]` (`ui.data.rows` in the dashboard, cached).
Runner = Callable[..., list[dict[str, Any]]]


def rows(con: duckdb.DuckDBPyConnection, sql: str, /, **params: Any) -> list[dict[str, Any]]:
    """Every row as a dict of plain Python values (int, float, str, bool, datetime, list, bytes; NULL is None)."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def first(con: duckdb.DuckDBPyConnection, sql: str, /, **params: Any) -> dict[str, Any] | None:
    """The first row as a dict of plain Python values, or None when there is none."""
    cur = con.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row is not None else None


def frame(con: duckdb.DuckDBPyConnection, sql: str, /, **params: Any) -> pd.DataFrame:
    """The result as a DataFrame."""
    return con.execute(sql, params).df()


def runner(con: duckdb.DuckDBPyConnection) -> Runner:
    """`rows` on one connection, for scripts, tests and benchmarks (the headless twin of `ui.data.rows`)."""
    return partial(rows, con)
