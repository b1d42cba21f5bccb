"""Column formats for the tables pages show: the metric tables, and a call id that links to its replay."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import strings

PCT = "percent"
REPLAY_URL = "/replay?call="
# The replay link, shown as the call id (the URL's `?call=` part): spread into a table's column_config.
REPLAY_COLUMN = {
    "replay": st.column_config.LinkColumn(strings.CALL_ID, display_text=r"\?call=(.*)", width="medium"),
}

METRIC_COLUMNS = {
    "key": st.column_config.TextColumn("value"),
    "answer_rate": st.column_config.NumberColumn("answer rate", format=PCT),
    "miss_rate": st.column_config.NumberColumn("miss rate", format=PCT),
    "dropped_rate": st.column_config.NumberColumn("dropped rate", format=PCT),
    "failed_rate": st.column_config.NumberColumn("failed rate", format=PCT),
    "engagement_failure_rate": st.column_config.NumberColumn("engagement failures", format=PCT),
    "caller_id_match_rate": st.column_config.NumberColumn("caller-ID match rate", format=PCT),
    "tta_median_s": st.column_config.NumberColumn("TTA median (s)", format="%.1f"),
    "tta_p90_s": st.column_config.NumberColumn("TTA p90 (s)", format="%.1f"),
    "value": st.column_config.NumberColumn("value", format=PCT),
}


def replay_url(call_id: object) -> str:
    return f"{REPLAY_URL}{call_id}"


def with_replay(calls: pd.DataFrame) -> pd.DataFrame:
    """`calls` plus a `replay` column: each call's replay URL, which REPLAY_COLUMN shows as the call id."""
    return calls.assign(replay=REPLAY_URL + calls["external_call_id"].astype(str))


def replay_first(calls: pd.DataFrame, *first: str) -> list[str]:
    """A column order: the replay link, then `first`, then the rest (the bare id is the link's text already)."""
    shown = ("replay", *first)
    return [*shown, *[c for c in calls.columns if c not in shown and c != "external_call_id"]]
