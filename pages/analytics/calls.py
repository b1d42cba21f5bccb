"""Calls: every call under the shared filter, searchable (call id, engagement id, last digits of a number) and
narrowed by outcome, user and tag; a sortable table whose selected row opens the call's replay in place."""

import streamlit as st

from analytics import annotations, explorer
from analytics.explorer import EXPLORER_LIMIT, explorer_params
from analytics.format import words
from analytics.privacy import last_digits_only
from ingest.calls import OUTCOMES
from ui import strings
from ui.auth import shows_personal
from ui.data import db_path, run
from ui.filters import current_or_stop
from ui.tables import calls as calls_table

st.title(strings.CALLS_TITLE)
f = current_or_stop()

users = run(explorer.USERS_SQL, **f.params())
tags = annotations.all_tags(db_path())
top = st.columns([3, 2, 2, 1.5])
text = top[0].text_input(strings.CALLS_SEARCH, key="calls_q", placeholder=strings.CALLS_SEARCH_PLACEHOLDER,
                         help=strings.CALLS_SEARCH_HELP)
outcomes = top[1].multiselect(strings.CALLS_OUTCOMES, OUTCOMES, key="calls_outcomes", placeholder=strings.ANY,
                              format_func=words)
picked_users = top[2].multiselect(strings.CALLS_USERS, users["user_id"].tolist() if not users.empty else [],
                                  key="calls_users", placeholder=strings.ANY)
tag = top[3].selectbox(strings.CALLS_TAG, tags["tag"].tolist() if not tags.empty else [], index=None,
                       key="calls_tag", placeholder=strings.ANY, help=None if not tags.empty else strings.CALLS_NO_TAGS)
tagged = annotations.calls_with_tag(db_path(), tag) if tag else None

narrowed = explorer_params(outcomes=outcomes, users=picked_users, tagged=tagged, text=text)
if not shows_personal():
    narrowed = last_digits_only(narrowed)
calls = run(explorer.CALLS_SQL, **f.params(), **narrowed, limit=EXPLORER_LIMIT)
if calls.empty:
    st.info(strings.CALLS_NO_MATCH if text or outcomes or picked_users or tag else strings.EMPTY_FILTER)
    st.stop()

matching = int(run(explorer.COUNT_SQL, **f.params(), **narrowed)["matching"].iloc[0])
on_calls = annotations.tags_for(db_path(), calls["external_call_id"].tolist()) if not tags.empty else {}
shown = calls.assign(tags=[on_calls.get(c, []) for c in calls["external_call_id"]])
st.caption(strings.CALLS_COUNT.format(shown=len(shown), matching=matching,
                                      more=strings.CALLS_MORE if matching > EXPLORER_LIMIT else ""))
calls_table(shown, key="calls_table", tz=f.tz, height=560, first=explorer.CALLS_FIRST_COLUMNS,
            config={"tags": st.column_config.ListColumn(strings.CALLS_TAG.lower())})
