"""Drill-down: the calls behind a number, each opening its replay; and the counts a page's rates rest on."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.explorer import CALLS_FIRST_COLUMNS, DRILL_LIMIT
from analytics.filters import DIRECTIONS, Filters
from analytics.format import count, md_escape, plural, words
from analytics.metrics import DRILL_SQL
from ingest.calls import OUTCOMES
from ui import strings
from ui.data import run
from ui.filters import current
from ui.tables import calls as calls_table


def drill(f: Filters, title: str, key: str, *, outcome: str | None = None, direction: str | None = None,
          bucket_start=None, dimension: str | None = None, value: str | None = None) -> None:
    calls = run(DRILL_SQL, **f.params(), outcome=outcome, direction=direction, bucket=f.bucket,
                bucket_start=bucket_start, dimension=dimension, key=value)
    show_calls(calls, title, key)


def show_calls(calls: pd.DataFrame, title: str, key: str) -> None:
    """The calls behind a number; selecting one opens its replay (queries stop at DRILL_LIMIT rows)."""
    st.markdown(strings.DRILL_TITLE.format(title=md_escape(title), n=len(calls),  # titles quote the log
                                           more="+" if len(calls) >= DRILL_LIMIT else ""))
    if calls.empty:
        st.info(strings.EMPTY_FILTER)
        return
    f = current()
    calls_table(calls, key=key, tz=f.tz if f else "UTC", first=CALLS_FIRST_COLUMNS)


def reconcile(kpis: pd.Series, by_direction: pd.DataFrame, rejected: int) -> str:
    """The counts under the KPI tiles: each direction's calls as the sum of its outcomes, then which calls each
    rate is a share of (the same populations the tiles name)."""
    lines = []
    order = {d: i for i, d in enumerate(DIRECTIONS)}  # inbound first, as the tiles
    for row in by_direction.sort_values("key", key=lambda k: k.map(lambda d: order.get(d, len(order)))).itertuples():
        parts = [f"{count(getattr(row, o))} {words(o)}" for o in OUTCOMES if getattr(row, o, 0)]
        lines.append(strings.RECONCILE_DIRECTION.format(direction=str(row.key).capitalize(),
                                                        calls=plural(row.calls, "call"), parts=" + ".join(parts)))
    lines.append(strings.RECONCILE_RATES.format(offered=count(kpis["offered"]), known=count(kpis["known"]),
                                                rejected=count(rejected)))
    return "  \n".join(lines)
