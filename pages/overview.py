"""Overview (placeholder until the dashboard issue lands): what is stored and how the calls ended."""

import plotly.express as px
import streamlit as st

from analytics import overview
from ui import strings
from ui.data import run

st.title("Overview")
st.caption(strings.OVERVIEW_CAPTION)

span = run(overview.SPAN_SQL)
if span.empty or not span["calls"].iloc[0]:
    st.info(strings.NO_DATA)
    st.stop()

row = span.iloc[0]
c1, c2, c3 = st.columns(3)
c1.metric("Calls", f"{row['calls']:,}")
c2.metric("Portals", f"{row['portals']:,}")
c3.metric("Span (UTC)", f"{row['first_call']:%Y-%m-%d} → {row['last_call']:%Y-%m-%d}")

outcomes = run(overview.OUTCOME_COUNTS_SQL)
fig = px.bar(outcomes, x="outcome", y="calls", color="direction", barmode="group",
             labels={"calls": "calls (count)", "outcome": "outcome"}, title="Calls by outcome")
st.plotly_chart(fig, width="stretch")

st.subheader("Imports")
st.dataframe(run(overview.LOADS_SQL, limit=20), hide_index=True, width="stretch")
reasons = run(overview.REJECT_REASONS_SQL)
if not reasons.empty:
    st.subheader("Rejected lines, by reason")
    st.dataframe(reasons, hide_index=True, width="stretch")
