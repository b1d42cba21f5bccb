"""Imports: every load with its counts (read = loaded + duplicates + rejected), rejected lines, unknown types."""

import streamlit as st

from analytics import imports
from ui import strings
from ui.data import run

st.title("Imports")
st.caption(strings.IMPORTS_CAPTION)

loads = run(imports.LOADS_SQL, limit=200)
if loads.empty:
    st.info(strings.NO_DATA)
    st.stop()
st.dataframe(loads, hide_index=True, width="stretch",
             column_config={"duration_ms": st.column_config.NumberColumn("duration (ms)"),
                            "started_at": st.column_config.DatetimeColumn("started (UTC)")})

st.subheader(strings.REJECT_REASONS)
reasons = run(imports.REJECT_REASONS_SQL)
if reasons.empty:
    st.success(strings.NO_REJECTS)
else:
    st.dataframe(reasons, hide_index=True, width="stretch")
    with st.expander(strings.REJECTED_LINES):
        st.dataframe(run(imports.REJECTED_LINES_SQL, limit=500), hide_index=True, width="stretch")

st.subheader(strings.UNKNOWN_TYPES)
unknown = run(imports.UNKNOWN_TYPES_SQL)
if unknown.empty:
    st.success(strings.NO_UNKNOWN_TYPES)
else:
    st.caption(strings.UNKNOWN_TYPES_HELP)
    st.dataframe(unknown, hide_index=True, width="stretch")
