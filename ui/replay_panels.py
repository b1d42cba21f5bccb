"""The call replay page's panels: finder, header, step controls, diagnosis, the message at a step."""

from __future__ import annotations

from datetime import datetime
from datetime import time as dtime

import pandas as pd
import streamlit as st

from analytics.figures.style import OUTCOME_BADGES
from analytics.figures.timeline import DIRECTION_WORDS
from analytics.filters import FIRST_DAY, LAST_DAY
from analytics.format import MISSING, md_escape, offset, plural, shown, utc, words
from analytics.privacy import last_digits_only
from analytics.replay import load as replay
from analytics.replay.trace import lane_label
from ingest.calls import OUTCOMES
from ui import strings
from ui.auth import shows_personal
from ui.data import run
from ui.replay_view import PLAY_KEY, Analysis, next_finding, open_call, set_step
from ui.tables import CALL_ID_WIDTH, table

SEVERITY_ICONS = {"critical": ":material/cancel:", "error": ":material/error:", "warning": ":material/warning:",
                  "info": ":material/info:"}
FINDER_COLUMNS = ["external_call_id", "started_at", "direction", "outcome", "portal_id", "from_number", "to_number",
                  "messages"]
SEVERITY_COLORS = {"critical": "red", "error": "red", "warning": "orange", "info": "gray"}


def finder(expanded: bool) -> None:
    """Search by call id, engagement id, phone digits, portal and time window; a selected row opens the call. Runs
    only while unfolded (folded on a deep link, so the call draws first)."""
    box = st.expander(strings.REPLAY_FIND, expanded=expanded, key="replay_finder", on_change="rerun")
    if not box.open:
        return
    with box:
        c1, c2, c3 = st.columns([3, 1, 1])
        text = c1.text_input(strings.REPLAY_FIND_TEXT, key="replay_find_text", help=strings.REPLAY_FIND_HELP)
        portals = run(replay.PORTALS_SQL)
        portal = c2.selectbox(strings.REPLAY_FIND_PORTAL, [None] + portals["portal_id"].tolist(),
                              format_func=lambda p: strings.ANY if p is None else str(p), key="replay_find_portal")
        outcome = c3.selectbox(strings.REPLAY_FIND_OUTCOME, [None, *OUTCOMES], key="replay_find_outcome",
                               format_func=lambda o: strings.ANY if o is None else words(o))
        since = until = None
        if st.toggle(strings.REPLAY_FIND_WINDOW, key="replay_find_window"):
            w1, w2, w3 = st.columns(3)
            day = w1.date_input("Day (UTC)", key="replay_find_day", min_value=FIRST_DAY, max_value=LAST_DAY)
            since = datetime.combine(day, w2.time_input("From", dtime(0, 0), key="replay_find_from"))
            until = datetime.combine(day, w3.time_input("To", dtime(23, 59), key="replay_find_to"))
        search = replay.find_params(text, portal_id=portal, since=since, until=until, outcome=outcome)
        found = run(replay.FIND_CALLS_SQL, **(search if shows_personal() else last_digits_only(search)))
        if found.empty:
            st.info(strings.REPLAY_FIND_NONE)
            return
        more = "+" if len(found) >= replay.FIND_LIMIT else ""
        st.caption(strings.REPLAY_FIND_RESULTS.format(n=len(found), more=more))
        ids = found["external_call_id"].tolist()
        table(found, key="replay_find_table", height=260, on_select=lambda: _open_selected(ids),
              selection_mode="single-row", order=FINDER_COLUMNS,
              config={"external_call_id": st.column_config.TextColumn(strings.CALL_ID, width=CALL_ID_WIDTH)})


def _open_selected(ids: list[str]) -> None:
    rows = st.session_state["replay_find_table"].selection.rows
    if rows:
        open_call(ids[rows[0]])


def header(view: Analysis) -> None:
    c = view.trace.call
    outcome = c.get("outcome") or "unknown"
    st.markdown(f"### {md_escape(view.trace.call_id)} :{OUTCOME_BADGES.get(outcome, 'gray')}-badge"
                f"[{md_escape(words(outcome))}]")
    facts = [shown(c.get("direction")), f"portal {shown(c.get('portal_id'))}",
             f"{shown(c.get('app'))} · SDK {shown(c.get('sdk_version'))}", f"started {utc(c['started_ms'])} UTC",
             f"rang in {plural(c.get('instances'), 'instance')} / {plural(c.get('tabs'), 'tab')}",
             f"engagement {c.get('engagement_id') or c.get('engagement') or 'none'}",
             f"caller ID {words(c.get('caller_id') or 'not asked')}",
             f"{view.size} messages ({len(view.trace.call_messages)} of the call)"]
    st.caption(md_escape(" · ".join(facts)))  # app, SDK version and engagement come from the log


def step_controls(view: Analysis, step: int) -> None:
    """First / previous / next / last, play, and a slider over every message (J and K step too)."""
    n = view.size
    buttons, slider = st.columns([3, 4], vertical_alignment="center")
    with buttons.container(horizontal=True, vertical_alignment="center"):
        st.button("", icon=":material/first_page:", help=strings.REPLAY_FIRST, on_click=set_step, args=(0, n),
                  disabled=step == 0, key="replay_first")
        st.button(strings.REPLAY_PREV, icon=":material/chevron_left:", on_click=set_step, args=(step - 1, n),
                  disabled=step == 0, key="replay_prev", shortcut="J")
        st.button(strings.REPLAY_NEXT, icon=":material/chevron_right:", icon_position="right", on_click=set_step,
                  args=(step + 1, n), disabled=step >= n - 1, key="replay_next", shortcut="K")
        st.button("", icon=":material/last_page:", help=strings.REPLAY_LAST, on_click=set_step, args=(n - 1, n),
                  disabled=step >= n - 1, key="replay_last")
        st.toggle(strings.REPLAY_PLAY, key=PLAY_KEY)
    if n > 1:
        picked = slider.slider(strings.REPLAY_STEP.format(n=step + 1, total=n), 1, n, step + 1)
        if picked != step + 1:
            set_step(picked - 1, n)
            st.rerun()


def diagnosis(view: Analysis, step: int) -> None:
    st.subheader(strings.REPLAY_DIAGNOSIS)
    if not view.findings:
        st.success(strings.REPLAY_NO_PROBLEMS)
        return
    with st.container(horizontal=True):
        for label, direction, icon, key in ((strings.REPLAY_PREV_FINDING, -1, ":material/arrow_upward:", "P"),
                                            (strings.REPLAY_NEXT_FINDING, 1, ":material/arrow_downward:", "N")):
            target = next_finding(view, step, direction)
            st.button(label, key=f"replay_finding_{direction}", icon=icon, on_click=set_step,
                      args=(target, view.size), disabled=target is None, shortcut=key)
    msgs = view.trace.messages
    for k, f in enumerate(view.findings):
        current = step in f.message_indexes
        with st.container(border=True):
            color = SEVERITY_COLORS[f.severity]
            st.markdown(f":{color}[{SEVERITY_ICONS[f.severity]}] **{md_escape(f.title)}** :{color}-badge[{f.severity}]"
                        + (" :blue-badge[at this step]" if current else ""))
            st.markdown(md_escape(f.detail))  # findings are plain words quoting the log: messages, types, tabs
            st.markdown(f"**{strings.REPLAY_WHAT_TO_DO}:** {md_escape(f.advice)}")
            with st.container(horizontal=True, gap="small"):
                for j, i in enumerate(f.message_indexes[:6]):
                    st.button(f"#{i + 1} {md_escape(msgs[i].type)}", key=f"replay_jump_{k}_{j}", on_click=set_step,
                              args=(i, view.size), type="primary" if i == step else "secondary")


def step_detail(view: Analysis, step: int) -> None:
    m = view.trace.messages[step]
    state = view.states[step]
    st.subheader(f"#{step + 1} {md_escape(m.type)}")
    inst = view.trace.instance(m.instance)
    st.caption(f"{DIRECTION_WORDS[m.direction]} · {utc(m.ts_ms)} UTC · {offset(view.trace.rel_ms(m.ts_ms))} from "
               f"the first ring · {md_escape(lane_label(inst) or m.instance)}")
    if not m.in_call:
        st.caption(strings.REPLAY_CONTEXT)
    if m.redacted:
        st.caption(strings.REPLAY_REDACTED)
    message, now = st.columns([3, 2])
    message.json(m.message, expanded=True)
    holder = lane_label(view.trace.instance(state.holder)) or MISSING
    rang = ", ".join(lane_label(view.trace.instance(i)) or str(i) for i in state.ringing) or MISSING
    now.markdown(f"**{strings.REPLAY_STATE}**")
    e = md_escape  # the state quotes the log: HubSpot's error messages, tab names, iframe locations
    now.markdown(f"- phase: **{e(state.phase)}**\n- engagement: {e(state.engagement)}\n- caller ID: "
                 f"{e(state.caller_id)}\n- held by: {e(holder)}\n- rang in: {e(rang)}\n- user when it rang: "
                 f"{e(state.available)}")


def messages_table(view: Analysis) -> pd.DataFrame:
    """Every message of the trace as a table row (for the message list under the timeline)."""
    t = view.trace
    return pd.DataFrame({
        "#": [m.index + 1 for m in t.messages],
        "time": [offset(t.rel_ms(m.ts_ms)) for m in t.messages],
        "direction": [DIRECTION_WORDS[m.direction] for m in t.messages],
        "type": [m.type for m in t.messages],
        "lane": [lane_label(t.instance(m.instance)) or m.instance for m in t.messages],
        "of_the_call": [m.in_call for m in t.messages],
        "error": [m.error_message or "" for m in t.messages],
    })
