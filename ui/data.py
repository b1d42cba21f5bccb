"""Cached data access for pages. One reader connection per published generation; results cached per query.

Caches are keyed on the store's generation (its manifest), so a new import invalidates them at once: the next
page load opens a connection on the new manifest's files (`analytics.db.connect_reader` reads the manifest anew)
and drops the previous generation's connection, which closes when the last query still running on it has
finished (its files stay on disk for the writer's grace period). `run`
gives a DataFrame (tables, charts), `rows` plain dicts (the replay builds its trace from them); both run the
statement through `analytics.db`, parameters bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from analytics import db

RESULT_TTL_S = 600


def db_path() -> Path:
    return Path(st.session_state.get("db_path", db.DEFAULT_DB_PATH))


def generation() -> tuple[int, int] | None:
    return db.snapshot_generation(db_path())


@st.cache_resource(max_entries=1, show_spinner=False)
def _connection(path: str, gen: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    return db.connect_reader(Path(path))


def _on_cursor(path: str, gen: tuple[int, int], read, sql: str, params: tuple):
    con = db.cursor(_connection(path, gen))
    try:
        return read(con, sql, **dict(params))
    finally:
        con.close()


@st.cache_data(ttl=RESULT_TTL_S, max_entries=256, show_spinner=False)
def _frame(path: str, gen: tuple[int, int], sql: str, params: tuple) -> pd.DataFrame:
    return _on_cursor(path, gen, db.frame, sql, params)


@st.cache_data(ttl=RESULT_TTL_S, max_entries=256, show_spinner=False)
def _rows(path: str, gen: tuple[int, int], sql: str, params: tuple) -> list[dict[str, Any]]:
    return _on_cursor(path, gen, db.rows, sql, params)


def run(sql: str, **params: object) -> pd.DataFrame:
    """A cached DataFrame for one named statement from `analytics` with bound parameters."""
    gen = generation()
    if gen is None:
        return pd.DataFrame()
    return _frame(str(db_path()), gen, sql, tuple(sorted(params.items())))


def rows(sql: str, **params: object) -> list[dict[str, Any]]:
    """`run` as plain dicts (an `analytics.db.Runner`): what the replay builds its trace from."""
    gen = generation()
    if gen is None:
        return []
    return _rows(str(db_path()), gen, sql, tuple(sorted(params.items())))


def warm(path: Path, *statements: str) -> None:
    """Open `path`'s snapshot and cache `statements` (without parameters) before any session asks for them: what
    the server's start does, so its first session does not wait for the connection."""
    gen = db.snapshot_generation(path)
    for sql in statements if gen is not None else ():
        _rows(str(path), gen, sql, ())
