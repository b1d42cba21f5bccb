"""Live: calls as the collector (`python -m ingest serve`) loads them, newest first; refreshes itself."""

import streamlit as st

from analytics import live
from analytics.format import count, missing
from ui import strings
from ui.data import run
from ui.tables import REPLAY_COLUMN, replay_first, with_replay

LIVE_REFRESH_S = 3
LIVE_ROWS = 50

st.title("Live")
st.caption(strings.LIVE_CAPTION.format(seconds=LIVE_REFRESH_S))


def _clock(value) -> str:
    return strings.LIVE_NEVER if missing(value) else f"{value:%Y-%m-%d %H:%M:%S} UTC"


@st.fragment(run_every=LIVE_REFRESH_S)
def recent_calls() -> None:
    calls = run(live.RECENT_CALLS_SQL, limit=LIVE_ROWS)
    if calls.empty:
        st.info(strings.LIVE_EMPTY)
        return
    status = run(live.STATUS_SQL).iloc[0]
    c1, c2, c3 = st.columns(3)
    c1.metric(strings.LIVE_IN_PROGRESS, count(status["in_progress"]))
    c2.metric(strings.LIVE_LAST_MESSAGE, _clock(status["last_message_at"]))
    c3.metric(strings.LIVE_LAST_LOAD, _clock(status["last_collector_load_at"]))
    shown = with_replay(calls)
    st.dataframe(
        shown, hide_index=True, width="stretch", column_order=replay_first(shown),
        column_config={
            **REPLAY_COLUMN,
            "started_at": st.column_config.DatetimeColumn("started (UTC)"),
            "answered_at": st.column_config.DatetimeColumn("answered (UTC)"),
            "ended_at": st.column_config.DatetimeColumn("ended or went away (UTC)"),
            "last_event_at": st.column_config.DatetimeColumn("last message (UTC)"),
            "duration_ms": st.column_config.NumberColumn("talk time (ms)"),
        },
    )


recent_calls()
