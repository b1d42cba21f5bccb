"""Clicks to calls for the analytics pages: a chart point or a table row, then the calls behind it (ui.drill)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.filters import current
from ui.tables import table


def clicked(fig: go.Figure, key: str) -> list | None:
    """Draw a clickable chart; the `customdata` of the point clicked (every builder in analytics.figures puts the
    drill keys there as a list), or None. No mode bar: it would float over the top bar, taking its clicks."""
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points", key=key,
                            config={"displayModeBar": False})
    points = [p for p in (event.selection.points if event else []) if p.get("customdata") is not None]
    if not points:
        return None
    data = points[0]["customdata"]
    return list(data) if isinstance(data, (list, tuple)) else [data]


def picked_row(frame: pd.DataFrame, key: str, **options) -> pd.Series | None:
    """A table (ui.tables.table) whose rows can be selected one at a time; the selected row, or None."""
    f = current()
    event = table(frame, key=key, tz=f.tz if f else "UTC", on_select="rerun", selection_mode="single-row", **options)
    rows = event.selection.rows if event else []
    return frame.iloc[rows[0]] if rows and rows[0] < len(frame) else None
