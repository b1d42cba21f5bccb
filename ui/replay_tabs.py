"""The call replay page's lower tabs: compare with a healthy call, notes and tags, share."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import annotations
from analytics.figures.timeline import DIRECTION_WORDS
from analytics.format import md_error, md_escape, offset, shown
from analytics.privacy import mask_text
from analytics.replay import compare
from analytics.replay import load as replay
from ingest.errors import CallscopeError
from ui import strings
from ui.auth import viewer
from ui.data import db_path
from ui.replay_view import Analysis, analyse, healthy_call_id, set_step, share_url
from ui.tables import replay_url

STATUS_WORDS = {"same": "same", "missing": "MISSING", "extra": "EXTRA", "out of order": "OUT OF ORDER"}


def compare_tab(view: Analysis) -> None:
    trace = view.trace
    picked = st.text_input(strings.REPLAY_COMPARE_WITH, value=st.query_params.get("healthy", ""),
                           key=f"replay_healthy_{trace.call_id}")
    if picked.strip() != st.query_params.get("healthy", ""):
        if picked.strip():
            st.query_params["healthy"] = picked.strip()
        elif "healthy" in st.query_params:
            del st.query_params["healthy"]
    healthy_id = healthy_call_id(trace.call_id)
    healthy = analyse(healthy_id) if healthy_id else None
    if healthy is None:
        st.info(strings.REPLAY_COMPARE_NONE.format(direction=md_escape(trace.direction)))
        return
    h = healthy.trace.call
    why = ("your pick" if st.query_params.get("healthy") else
           f"{shown(h.get('direction'))}, portal {shown(h.get('portal_id'))}, SDK {shown(h.get('sdk_version'))}, "
           f"{shown(h.get('outcome'))}")
    st.markdown(strings.REPLAY_COMPARE_PICKED.format(call_id=md_escape(healthy.trace.call_id),
                                                     url=replay_url(healthy.trace.call_id), why=md_escape(why)))
    steps = compare.align(trace, healthy.trace)
    st.markdown(md_escape(compare.summary(steps)))  # names message types, which come from the log
    table = pd.DataFrame({
        "status": [STATUS_WORDS[s.status] + (" (other tab)" if s.other_tab else "") for s in steps],
        "message": [s.type for s in steps],
        "direction": [DIRECTION_WORDS[s.direction] for s in steps],
        "this call": [f"#{s.this_index + 1} {offset(s.this_rel_ms)}" if s.this_index is not None else ""
                      for s in steps],
        "healthy call": [offset(s.healthy_rel_ms) if s.healthy_rel_ms is not None else "" for s in steps],
        "difference": [offset(s.delta_ms) if s.delta_ms is not None else "" for s in steps],
    })
    targets = [s.this_index for s in steps]
    st.dataframe(table, hide_index=True, width="stretch", key=f"replay_compare_{trace.call_id}",
                 on_select=lambda: _jump(f"replay_compare_{trace.call_id}", targets, view.size),
                 selection_mode="single-row")


def _jump(key: str, targets: list[int | None], size: int) -> None:
    rows = st.session_state[key].selection.rows
    if rows and targets[rows[0]] is not None:
        set_step(targets[rows[0]], size)


def notes_tab(view: Analysis) -> None:
    call_id, path = view.trace.call_id, db_path()
    try:
        tags = annotations.tags_for(path, [call_id]).get(call_id, [])
        in_use = annotations.all_tags(path)
        notes = annotations.notes_for(path, call_id)
    except CallscopeError as exc:
        st.error(md_error(exc))
        return
    options = sorted(set(annotations.SUGGESTED_TAGS) | set(in_use["tag"] if not in_use.empty else []) | set(tags))
    key = f"replay_tags_{call_id}"
    st.multiselect(strings.REPLAY_TAGS, options, default=tags, key=key, accept_new_options=True,
                   help=strings.REPLAY_TAGS_HELP, on_change=_save_tags, args=(key, call_id, tags))
    if st.session_state.get("replay_notes_error"):
        st.error(st.session_state.pop("replay_notes_error"))
    who = viewer()
    for row in notes.itertuples() if not notes.empty else ():
        note = row.note if who.personal_data else mask_text(row.note)  # a note may quote a customer's number
        st.markdown(f"> {md_escape(note, lines=True)}\n\n— {md_escape(row.author or 'someone')}, "
                    f"{row.created_at:%Y-%m-%d %H:%M} UTC")
    if notes.empty:
        st.caption(strings.REPLAY_NO_NOTES)
    with st.form(f"replay_note_{call_id}", clear_on_submit=True):
        note = st.text_area(strings.REPLAY_NOTE, key="replay_note_text")
        st.caption(strings.REPLAY_NOTES_AS.format(author=md_escape(who.author)))
        if st.form_submit_button(strings.REPLAY_SAVE_NOTE):
            try:
                annotations.add_note(path, call_id, note, who.author)
                st.rerun()
            except CallscopeError as exc:
                st.error(md_error(exc))


def _save_tags(key: str, call_id: str, before: list[str]) -> None:
    chosen = st.session_state[key]
    author = viewer().author
    try:
        for tag in chosen:
            if tag not in before:
                annotations.add_tag(db_path(), call_id, tag, author)
        for tag in before:
            if tag not in chosen:
                annotations.remove_tag(db_path(), call_id, tag)
    except CallscopeError as exc:
        st.session_state["replay_notes_error"] = md_error(exc)


def share_tab(view: Analysis) -> None:
    trace, url = view.trace, share_url()
    summary = replay.summary_text(trace, view.findings, url)
    c1, c2 = st.columns(2)
    c1.download_button(strings.REPLAY_DOWNLOAD_LOG, replay.to_ndjson(trace), f"callscope-{trace.call_id}.ndjson",
                       mime="application/x-ndjson", icon=":material/download:", key="replay_download_log")
    c2.download_button(strings.REPLAY_DOWNLOAD_SUMMARY, summary, f"callscope-{trace.call_id}.txt",
                       mime="text/plain", icon=":material/description:", key="replay_download_summary")
    st.caption(strings.REPLAY_SUMMARY)
    st.code(summary, language=None, wrap_lines=True)
    st.caption(strings.REPLAY_LINK.format(url=url))
