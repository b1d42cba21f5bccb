"""Overview: KPIs against the previous period, the outcome trend, breakdowns; every number drills to calls."""

import streamlit as st

from analytics import metrics
from analytics.figures.style import MIN_CALLS_FOR_RATE, outcome_trend
from analytics.format import delta, missing, number
from analytics.metrics import DIMENSIONS, HIGHER_IS_BETTER, RATE_HELP
from ui import strings
from ui.data import run
from ui.drill import drill
from ui.filters import current_or_stop
from ui.tables import METRIC_COLUMNS

st.title("Overview")
f = current_or_stop()

now = run(metrics.KPIS_SQL, **f.params()).iloc[0]
before = run(metrics.KPIS_SQL, **f.previous().params()).iloc[0]
if not now["calls"]:
    st.info(strings.EMPTY_FILTER)
    st.stop()

TILES = [("calls", "Calls", "count", None), ("answer_rate", "Answer rate", "rate", "answer_rate"),
         ("miss_rate", "Miss rate", "rate", "miss_rate"), ("dropped_rate", "Dropped rate", "rate", "dropped_rate"),
         ("engagement_failure_rate", "Engagement failures", "rate", "engagement_failure_rate"),
         ("caller_id_match_rate", "Caller-ID match rate", "rate", "caller_id_match_rate"),
         ("tta_median_s", "Time to answer, median", "seconds", "tta"),
         ("tta_p90_s", "Time to answer, p90", "seconds", "tta")]
cols = st.columns(4)
for i, (column, label, kind, help_key) in enumerate(TILES):
    value, prior = now[column], before[column]
    change = None if missing(value) or missing(prior) else delta(value, prior, kind)
    good = HIGHER_IS_BETTER[column]
    cols[i % 4].metric(label, number(value, kind), change,
                       delta_color="off" if good is None else "normal" if good else "inverse",
                       help=(RATE_HELP.get(help_key, "") + strings.VS_PREVIOUS.format(days=f.days)).strip())

st.caption(strings.RECONCILE.format(**{k: int(now[k]) for k in (
    "calls", "answered", "missed", "unanswered", "failed", "dropped", "in_progress")},
    no_end=int(now["dropped"] + now["in_progress"]), rejected=int(run(metrics.REJECTED_LINES_SQL)["rejected"].iloc[0])))
with st.expander(strings.COUNTS_BEHIND):
    st.dataframe(metrics.counts_behind(now), hide_index=True, width="stretch", column_config=METRIC_COLUMNS)

st.subheader(strings.TREND_TITLE.format(bucket=f.bucket))
st.caption(strings.TREND_CAPTION.format(n=MIN_CALLS_FOR_RATE, bucket=f.bucket))
trend = run(metrics.TREND_SQL, **f.params(), bucket=f.bucket)
fig = outcome_trend(trend, f.bucket, f.tz, {"answer_rate": "answer rate", "miss_rate": "miss rate",
                                            "dropped_rate": "dropped rate"})
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points", key="trend")
points = [p for p in (event.selection.points if event else []) if p.get("customdata")]
if points:
    point = points[0]
    drill(f, f"{point['customdata']} calls, {point['x']}", "trend_drill", outcome=point["customdata"],
          bucket_start=point["x"])

st.subheader(strings.BREAKDOWN_TITLE)
dimension = st.segmented_control(strings.BREAKDOWN_BY, list(DIMENSIONS), format_func=DIMENSIONS.get,
                                 default="portal", key="breakdown_dim") or "portal"
table = run(metrics.BREAKDOWN_SQL, **f.params(), dimension=dimension)
picked = st.dataframe(table[metrics.BREAKDOWN_VIEW_COLUMNS], hide_index=True, width="stretch", on_select="rerun",
                      selection_mode="single-row", key="breakdown", column_config=METRIC_COLUMNS)
if picked and picked.selection.rows:
    key = table.iloc[picked.selection.rows[0]]["key"]
    drill(f, f"{DIMENSIONS[dimension].lower()} {key}", "breakdown_drill", dimension=dimension, value=key)
