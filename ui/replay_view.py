"""Call replay glue for pages/replay.py: the call's analysis (cached per snapshot) and the view's URL state.

The URL is the view: `?call=<externalCallId>&step=N` (N is 1-based, as the page shows messages), `&time=utc`
for absolute time, `&healthy=<id>` for a chosen comparison call. Controls write the URL; the page reads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from analytics.explorer import CALL_ID_PREFIX_SQL
from analytics.privacy import mask_trace
from analytics.replay import compare
from analytics.replay import load as replay
from analytics.replay.diagnosis import Finding, diagnose
from analytics.replay.trace import CallState, CallTrace, Pair, pair_replies, phases, states
from ui.auth import shows_personal
from ui.data import RESULT_TTL_S, db_path, generation, rows, run

PLAY_STEP_S = 0.8
TIMELINE_KEY = "replay_timeline"
PLAY_KEY = "replay_play"
VIEW_PARAMS = ("call", "step", "time", "healthy")
PREFIX_CANDIDATES = 50


@dataclass
class Analysis:
    trace: CallTrace
    findings: list[Finding]
    pairs: list[Pair]
    phases: list[tuple[str, int, int]]
    states: list[CallState]

    @property
    def size(self) -> int:
        return len(self.trace.messages)

    def default_step(self) -> int:
        """The most severe finding's message, else the call's first message."""
        if self.findings and self.findings[0].message_indexes:
            return self.findings[0].message_indexes[0]
        own = self.trace.call_messages
        return own[0].index if own else 0

    def findings_at(self, step: int) -> list[Finding]:
        return [f for f in self.findings if step in f.message_indexes]


@st.cache_data(ttl=RESULT_TTL_S, max_entries=32, show_spinner=False)
def _analyse(path: str, gen: tuple[int, int], call_id: str, personal: bool) -> Analysis | None:
    """The call's analysis; without `personal`, of its masked trace, so every panel and download drawn from it
    (findings, states, timeline, the log and the summary) is masked too."""
    trace = replay.load_trace(rows, call_id)
    if trace is None:
        return None
    if not personal:
        trace = mask_trace(trace)
    return Analysis(trace, diagnose(trace), pair_replies(trace.messages), phases(trace), states(trace))


def analyse(call_id: str) -> Analysis | None:
    gen = generation()
    return _analyse(str(db_path()), gen, call_id, shows_personal()) if gen is not None else None


def resolve(call_id: str) -> tuple[Analysis | None, pd.DataFrame]:
    """The call a link names: its analysis when the id is a call's or the start of exactly one call's (the URL then
    names the whole id); else None and the candidates, newest first (none: no call has such an id)."""
    view = analyse(call_id)
    if view is not None:
        return view, pd.DataFrame()
    candidates = run(CALL_ID_PREFIX_SQL, prefix=call_id, limit=PREFIX_CANDIDATES)
    if len(candidates) != 1:
        return None, candidates
    full_id = str(candidates["external_call_id"].iloc[0])
    st.query_params["call"] = full_id
    return analyse(full_id), pd.DataFrame()


@st.cache_data(ttl=RESULT_TTL_S, max_entries=32, show_spinner=False)
def _healthy(path: str, gen: tuple[int, int], call_id: str) -> str | None:
    trace = replay.load_trace(rows, call_id)
    healthy = compare.pick_healthy(rows, trace) if trace is not None else None
    return healthy.call_id if healthy is not None else None


def healthy_call_id(call_id: str) -> str | None:
    """The user's pick (`&healthy=`), else a healthy call of the same direction, portal and SDK version."""
    chosen = st.query_params.get("healthy")
    if chosen:
        return chosen
    gen = generation()
    return _healthy(str(db_path()), gen, call_id) if gen is not None else None


# URL state ---------------------------------------------------------------------------------------------------

def current_step(view: Analysis) -> int:
    """`&step=N` when valid, else the default step (written back, so the URL reproduces the view)."""
    raw = st.query_params.get("step", "")
    if raw.isdigit() and 1 <= int(raw) <= view.size:
        return int(raw) - 1
    step = view.default_step()
    st.query_params["step"] = str(step + 1)
    return step


def set_step(step: int, size: int) -> None:
    st.query_params["step"] = str(min(max(step, 0), max(size - 1, 0)) + 1)


def open_call(call_id: str) -> None:
    """Switch the page to another call (its own default step, no comparison pick)."""
    for name in ("step", "healthy"):
        if name in st.query_params:
            del st.query_params[name]
    st.query_params["call"] = call_id
    st.session_state[PLAY_KEY] = False


def next_finding(view: Analysis, step: int, direction: int) -> int | None:
    """The first message of the next (direction=1) or previous (-1) finding, in the diagnosis's order."""
    starts = [f.message_indexes[0] for f in view.findings if f.message_indexes]
    if not starts:
        return None
    current = starts.index(step) if step in starts else (-1 if direction > 0 else len(starts))
    return starts[(current + direction) % len(starts)]


def on_timeline_select(size: int) -> None:
    """A click on a message marker selects that step (its customdata is the trace index)."""
    state = st.session_state.get(TIMELINE_KEY)
    points = (state or {}).get("selection", {}).get("points", []) if isinstance(state, dict) else \
        getattr(getattr(state, "selection", None), "points", []) or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data and isinstance(data[0], (int, float)):
            set_step(int(data[0]), size)
            return
        if isinstance(data, (int, float)):
            set_step(int(data), size)
            return


def stop_play_at_end(view: Analysis, step: int) -> None:
    """Before the Play toggle is drawn: stop at the last message."""
    if st.session_state.get(PLAY_KEY) and step >= view.size - 1:
        st.session_state[PLAY_KEY] = False


def play_tick(view: Analysis, step: int) -> None:
    """At the end of a run while playing: wait, step forward, run again."""
    if st.session_state.get(PLAY_KEY) and step < view.size - 1:
        time.sleep(PLAY_STEP_S)
        set_step(step + 1, view.size)
        st.rerun()


def share_url() -> str:
    """This view's link: the page URL with only the replay's own parameters."""
    base = (st.context.url or "").split("?")[0] or "/replay"
    params = {k: st.query_params[k] for k in VIEW_PARAMS if k in st.query_params}
    return f"{base}?{urlencode(params)}"
