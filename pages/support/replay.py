"""Call replay: one call on a timeline, message by message, with a plain-words diagnosis.

The URL is the view (`?call=<externalCallId>&step=N&time=utc&healthy=<id>`); see ui/replay_view.py.
"""

import streamlit as st

from analytics.figures.timeline import build_figure
from ui import replay_panels as panels
from ui import replay_tabs as tabs
from ui import replay_view as view_state
from ui import strings
from ui.data import generation

st.title(strings.REPLAY_TITLE)
st.caption(strings.REPLAY_CAPTION)
if generation() is None:
    st.info(strings.NO_DATA)
    st.stop()

call_id = st.query_params.get("call", "").strip()
panels.finder(expanded=not call_id)
if not call_id:
    st.info(strings.REPLAY_PICK)
    st.stop()

view = view_state.analyse(call_id)
if view is None:
    st.warning(strings.REPLAY_NOT_FOUND.format(call_id=call_id))
    st.stop()

step = view_state.current_step(view)
view_state.stop_play_at_end(view, step)
panels.header(view)

utc = st.segmented_control(strings.REPLAY_TIME, [strings.REPLAY_TIME_RELATIVE, strings.REPLAY_TIME_UTC],
                           default=strings.REPLAY_TIME_UTC if st.query_params.get("time") == "utc"
                           else strings.REPLAY_TIME_RELATIVE, key="replay_time",
                           label_visibility="collapsed") == strings.REPLAY_TIME_UTC
if utc != (st.query_params.get("time") == "utc"):
    if utc:
        st.query_params["time"] = "utc"
    else:
        del st.query_params["time"]

figure = build_figure(view.trace, view.pairs, view.phases, selected=step, relative=not utc)
st.plotly_chart(figure, width="stretch", key=view_state.TIMELINE_KEY, selection_mode="points",
                on_select=lambda: view_state.on_timeline_select(view.size),
                config={"displaylogo": False, "scrollZoom": True})
panels.step_controls(view, step)

left, right = st.columns([5, 6], gap="large")
with left:
    panels.diagnosis(view, step)
with right:
    panels.step_detail(view, step)

with st.expander(f"All {view.size} messages"):
    st.dataframe(panels.messages_table(view), hide_index=True, width="stretch", height=320)

compare_tab, notes_tab, share_tab = st.tabs([strings.REPLAY_COMPARE, strings.REPLAY_NOTES, strings.REPLAY_SHARE])
with compare_tab:
    tabs.compare_tab(view)
with notes_tab:
    tabs.notes_tab(view)
with share_tab:
    tabs.share_tab(view)

view_state.play_tick(view, step)
