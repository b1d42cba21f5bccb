"""Drill-down: the calls behind a number, each a link to its replay."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.filters import Filters
from analytics.explorer import DRILL_LIMIT
from analytics.metrics import DRILL_SQL
from ui import strings
from ui.data import run
from ui.filters import current

REPLAY_URL = "/replay?call="


def calls_table(frame: pd.DataFrame, key: str) -> None:
    """A table of calls whose id links to the replay page; times in the filter bar's time zone."""
    f = current()
    shown = frame.assign(replay=REPLAY_URL + frame["external_call_id"].astype(str))
    st.dataframe(
        shown, hide_index=True, width="stretch", key=key,
        column_order=["replay", *[c for c in frame.columns if c != "external_call_id"]],
        column_config={
            "replay": st.column_config.LinkColumn(strings.CALL_ID, display_text=r"\?call=(.*)", width="medium"),
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
