"""Cached data access for pages. One reader connection per snapshot generation; results cached per query.

Caches are keyed on the snapshot generation, so a new import (a new snapshot) invalidates them at once.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from analytics.db import DEFAULT_DB_PATH, connect_reader, query, snapshot_generation

RESULT_TTL_S = 600


def db_path() -> Path:
    return Path(st.session_state.get("db_path", DEFAULT_DB_PATH))


def generation() -> tuple[int, int] | None:
    return snapshot_generation(db_path())


@st.cache_resource(max_entries=2)
def _connection(path: str, gen: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    return connect_reader(Path(path))


@st.cache_data(ttl=RESULT_TTL_S, max_entries=256, show_spinner=False)
def _run(path: str, gen: tuple[int, int], sql: str, params: tuple) -> pd.DataFrame:
    con = _connection(path, gen).cursor()
    try:
        return query(con, sql, dict(params))
    finally:
        con.close()


def run(sql: str, **params: object) -> pd.DataFrame:
    """A cached DataFrame for one named statement from `analytics` with bound parameters."""
    gen = generation()
    if gen is None:
        return pd.DataFrame()
    return _run(str(db_path()), gen, sql, tuple(sorted(params.items())))
