"""Drill-down: the calls behind a number, each a link to its replay."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.explorer import DRILL_LIMIT
from analytics.filters import Filters
from analytics.metrics import DRILL_SQL
from ui import strings
from ui.data import run
from ui.filters import current
from ui.tables import REPLAY_COLUMN, replay_first, with_replay


def calls_table(frame: pd.DataFrame, key: str) -> None:
    """A table of calls whose id links to the replay page; times in the filter bar's time zone."""
    f = current()
    shown = with_replay(frame)
    st.dataframe(
        shown, hide_index=True, width="stretch", key=key, column_order=replay_first(shown),
        column_config={
            **REPLAY_COLUMN,
            "started": st.column_config.DatetimeColumn(strings.STARTED.format(tz=f.tz if f else "UTC"),
                                                       format="YYYY-MM-DD HH:mm:ss"),
            "time_to_answer_ms": st.column_config.NumberColumn("time to answer (ms)"),
            "duration_ms": st.column_config.NumberColumn("talk (ms)"),
        },
    )


def drill(f: Filters, title: str, key: str, *, outcome: str | None = None, bucket_start=None,
          dimension: str | None = None, value: str | None = None) -> None:
    calls = run(DRILL_SQL, **f.params(), outcome=outcome, bucket=f.bucket, bucket_start=bucket_start,
                dimension=dimension, key=value)
    show_calls(calls, title, key)


def show_calls(calls: pd.DataFrame, title: str, key: str) -> None:
    """The calls behind a number, each linking to its replay (queries stop at DRILL_LIMIT rows)."""
    st.markdown(strings.DRILL_TITLE.format(title=title, n=len(calls), more="+" if len(calls) >= DRILL_LIMIT else ""))
    if calls.empty:
        st.info(strings.EMPTY_FILTER)
        return
    calls_table(calls, key)
