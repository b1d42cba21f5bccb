"""Live: calls as the collector (`python -m ingest serve`) loads them, newest first; refreshes itself."""

import streamlit as st

from analytics import live
from analytics.format import count, missing
from ui import strings
from ui.data import run
from ui.tables import TIME_FORMAT
from ui.tables import calls as calls_table

LIVE_REFRESH_S = 3
LIVE_ROWS = 50

st.title("Live")
st.caption(strings.LIVE_CAPTION.format(seconds=LIVE_REFRESH_S))


def _clock(column, label: str, value) -> None:
    """A UTC time as a tile: the time of day large, its date under it (a whole timestamp does not fit a tile)."""
    if missing(value):
        column.metric(label, strings.LIVE_NEVER)
    else:
        column.metric(label, f"{value:%H:%M:%S}", f"{value:%Y-%m-%d}", delta_color="off", delta_arrow="off")


@st.fragment(run_every=LIVE_REFRESH_S)
def recent_calls() -> None:
    calls = run(live.RECENT_CALLS_SQL, limit=LIVE_ROWS)
    if calls.empty:
        st.info(strings.LIVE_EMPTY)
        return
    status = run(live.STATUS_SQL).iloc[0]
    c1, c2, c3 = st.columns(3)
    c1.metric(strings.LIVE_IN_PROGRESS, count(status["in_progress"]))
    _clock(c2, strings.LIVE_LAST_MESSAGE, status["last_message_at"])
    _clock(c3, strings.LIVE_LAST_LOAD, status["last_collector_load_at"])
    calls_table(calls, key="live_calls", config={
        "last_event_at": st.column_config.DatetimeColumn("last message (UTC)", format=TIME_FORMAT)})


recent_calls()
