"""How a page shows a table: every header in plain words, every number written as analytics.format writes it, no
cell reading "None", and call ids that open their replay in place.

A column's kind comes from its name (units in names): `*_rate`, `*share`, `conversion`, `of_all` are shares shown as
percents with one decimal (`16.7%`); `*_ms` milliseconds and `*_s` seconds carry their unit in the header; `*_id`
ids are written without separators; other integers are counts with separators (`1,234`); missing values are
MISSING (`—`). `table()` draws one, its personal columns masked for a viewer who may not see them
(analytics/privacy.py: its download holds what it shows); `open_replay()` switches this session to a call's replay.
"""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd
import streamlit as st

from analytics.format import MISSING, words
from analytics.privacy import mask_frame
from ui import strings
from ui.auth import shows_personal

REPLAY_PAGE = "pages/support/replay.py"
REPLAY_URL = "/replay?call="
SHARES = ("conversion", "of_all", "share", "value")
# Headers that plain words from the column name would not get right.
HEADERS = {
    "external_call_id": "call id", "key": "value", "sdk_version": "SDK version", "sdk_versions": "SDK versions",
    "portal_id": "portal", "user_id": "user", "caller_id": "caller ID", "caller_id_match_rate": "caller-ID match",
    "caller_id_latency_ms": "caller-ID latency (ms)", "tta_median_s": "answer median (s)",
    "tta_p90_s": "answer p90 (s)",
    "talk_s": "talk (s)", "instances": "instances rang", "from_number": "from",
    "to_number": "to",
    "iframe_locations": "iframe locations", "engagement_failure_rate": "engagement failures",
    "uses_calling_window": "app uses a calling window", "arrived_while_unavailable": "arrived while unavailable",
    "iframes_recreated": "iframes re-created", "lines_read": "lines read", "load_id": "import",
}
TIME_FORMAT = "YYYY-MM-DD HH:mm:ss"
CALL_ID_WIDTH = 260  # px: a whole UUID (externalCallIds are mostly UUIDs), no more


def header(name: str) -> str:
    """A column name in plain words, with its unit: `time_to_answer_ms` → `time to answer (ms)`, `started_at` →
    `started (UTC)`."""
    if name in HEADERS:
        return HEADERS[name]
    for suffix, unit in (("_ms", "ms"), ("_s", "s"), ("_at", "UTC")):
        if name.endswith(suffix):
            return f"{words(name.removesuffix(suffix))} ({unit})"
    return words(name).replace("sdk", "SDK")


def _is_list(column: pd.Series) -> bool:
    """A column of lists (DuckDB lists arrive as arrays): shown as pills, not as `[a,b]` text."""
    first = column.dropna().head(1)
    return column.dtype == object and len(first) > 0 and isinstance(first.iloc[0], (list, tuple, np.ndarray))


def _is_share(name: str) -> bool:
    return name.endswith(("_rate", "_share")) or name in SHARES


def display(frame: pd.DataFrame, tz: str = "UTC") -> tuple[pd.DataFrame, dict]:
    """`frame` ready to show (shares as percents, milliseconds rounded) and the column config that labels and
    formats each column by its kind."""
    shown, config = frame.copy(), {}
    for name in frame.columns:
        column, label = frame[name], header(name)
        if pd.api.types.is_bool_dtype(column):
            config[name] = st.column_config.CheckboxColumn(label)
        elif pd.api.types.is_datetime64_any_dtype(column):
            zone = "UTC" if name.endswith("_at") else tz
            config[name] = st.column_config.DatetimeColumn(label if name.endswith("_at") else f"{label} ({zone})",
                                                           format=TIME_FORMAT)
        elif _is_list(column):
            config[name] = st.column_config.ListColumn(label)
        elif not pd.api.types.is_numeric_dtype(column):
            config[name] = st.column_config.TextColumn(label)
        elif _is_share(name):
            shown[name] = column * 100
            config[name] = st.column_config.NumberColumn(label, format="%.1f%%")
        elif name.endswith("_s"):
            config[name] = st.column_config.NumberColumn(label, format="%.1f")
        elif name.endswith("_id"):
            config[name] = st.column_config.NumberColumn(label, format="%d")
        else:  # counts, and milliseconds (whole: a latency to the millisecond)
            shown[name] = column.round() if name.endswith("_ms") else column
            config[name] = st.column_config.NumberColumn(label, format="localized")
    return shown, config


def table(frame: pd.DataFrame, *, key: str | None = None, tz: str = "UTC", config: dict | None = None,
          order: list[str] | None = None, **options):
    """Draw `frame` as display() shows it (`config` overrides a column), full width, without the index; masked
    unless this viewer may see personal data."""
    shown, columns = display(frame if shows_personal() else mask_frame(frame), tz)
    return st.dataframe(shown, hide_index=True, width="stretch", key=key, column_order=order,
                        column_config={**columns, **(config or {})}, placeholder=MISSING, **options)


def replay_url(call_id: object) -> str:
    """The replay page of a call, relative, its id percent-encoded (an id is whatever the app logged)."""
    return f"{REPLAY_URL}{quote(str(call_id), safe='')}"


def open_replay(call_id: str) -> None:
    """Switch this session to the call's replay (the filters and caches stay; no new tab, no new session)."""
    st.switch_page(REPLAY_PAGE, query_params={"call": call_id})


def calls(frame: pd.DataFrame, *, key: str, tz: str = "UTC", first: tuple[str, ...] = (), config: dict | None = None,
          **options) -> None:
    """A table of calls, the call id first and whole; selecting a row opens that call's replay in place."""
    order = ["external_call_id", *first, *[c for c in frame.columns if c not in ("external_call_id", *first)]]
    event = table(frame, key=key, tz=tz, order=order, on_select="rerun", selection_mode="single-row",
                  config={"external_call_id": st.column_config.TextColumn(strings.CALL_ID, width=CALL_ID_WIDTH),
                          **(config or {})}, **options)
    rows = event.selection.rows if event else []
    if rows and rows[0] < len(frame):
        open_replay(str(frame.iloc[rows[0]]["external_call_id"]))
