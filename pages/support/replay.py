"""Call replay: one call on a timeline, message by message, with a plain-words diagnosis.

The URL is the view (`?call=<externalCallId or its first characters>&step=N&time=utc&healthy=<id>`); see
ui/replay_view.py. What is folded away (the finder, the message list, the lower tabs) runs only when opened, so a deep
link draws the call first.
"""

import streamlit as st

from analytics.figures.timeline import build_figure
from analytics.format import md_escape
from ui import replay_panels as panels
from ui import replay_tabs as tabs
from ui import replay_view as view_state
from ui import strings
from ui.data import generation
from ui.tables import calls as calls_table
from ui.tables import table

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

view, candidates = view_state.resolve(call_id)
if view is None:
    if candidates.empty:
        st.warning(strings.REPLAY_NOT_FOUND.format(call_id=md_escape(call_id)))
    else:
        st.warning(strings.REPLAY_AMBIGUOUS.format(call_id=md_escape(call_id), n=len(candidates),
                                                   more="+" if len(candidates) >= view_state.PREFIX_CANDIDATES else ""))
        calls_table(candidates, key="replay_candidates")
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

messages = st.expander(strings.REPLAY_ALL_MESSAGES.format(n=view.size), key="replay_messages", on_change="rerun")
if messages.open:
    with messages:
        table(panels.messages_table(view), height=320)

lower = st.tabs([strings.REPLAY_NOTES, strings.REPLAY_COMPARE, strings.REPLAY_SHARE], key="replay_tab",
                on_change="rerun")
for tab, draw in zip(lower, (tabs.notes_tab, tabs.compare_tab, tabs.share_tab), strict=True):
    if tab.open:
        with tab:
            draw(view)

view_state.play_tick(view, step)
