"""Column formats for the metric tables pages show."""

import streamlit as st

PCT = "percent"

METRIC_COLUMNS = {
    "key": st.column_config.TextColumn("value"),
    "answer_rate": st.column_config.NumberColumn("answer rate", format=PCT),
    "miss_rate": st.column_config.NumberColumn("miss rate", format=PCT),
    "dropped_rate": st.column_config.NumberColumn("dropped rate", format=PCT),
    "failed_rate": st.column_config.NumberColumn("failed rate", format=PCT),
    "engagement_failure_rate": st.column_config.NumberColumn("engagement failures", format=PCT),
    "caller_id_match_rate": st.column_config.NumberColumn("caller-ID match rate", format=PCT),
    "tta_median_s": st.column_config.NumberColumn("TTA median (s)", format="%.1f"),
    "tta_p90_s": st.column_config.NumberColumn("TTA p90 (s)", format="%.1f"),
    "value": st.column_config.NumberColumn("value", format=PCT),
}
