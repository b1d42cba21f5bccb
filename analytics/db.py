"""Read access for the dashboard and reports: always the latest published snapshot, read-only."""

from __future__ import annotations

import duckdb
import pandas as pd

from ingest.store import DEFAULT_DB_PATH, connect_reader, snapshot_generation

__all__ = ["DEFAULT_DB_PATH", "connect_reader", "snapshot_generation", "query"]


def query(con: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None) -> pd.DataFrame:
    """Run one parameterised statement on a reader connection and return a DataFrame."""
    return con.execute(sql, params or {}).df()

