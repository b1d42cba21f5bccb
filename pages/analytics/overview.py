"""Overview: KPIs against the previous period, the outcome trend, breakdowns; every number drills to calls."""

import streamlit as st

from analytics import metrics
from analytics.figures.style import outcome_trend
from analytics.filters import FILTER_OPTIONS_SQL
from analytics.format import delta, missing, number, words
from analytics.metrics import DIMENSIONS, HIGHER_IS_BETTER, MIN_CALLS_FOR_RATE, RATE_HELP, RATE_LABELS
from ui import strings
from ui.data import rows, run
from ui.drill import drill, reconcile
from ui.drilldown import clicked, picked_row
from ui.filters import current_or_stop
from ui.tables import table

st.title("Overview")
f = current_or_stop()

now = run(metrics.KPIS_SQL, **f.params()).iloc[0]
before = run(metrics.KPIS_SQL, **f.previous().params()).iloc[0]
if not now["calls"]:
    st.info(strings.EMPTY_FILTER)
    st.stop()
first_call = rows(FILTER_OPTIONS_SQL)[0]["first_call"]
captured = metrics.previous_captured(f, first_call)

TILES = [("calls", strings.CALLS_ALL, "count", None), *[(rate, RATE_LABELS[rate], "rate", rate) for rate in (
    "answer_rate", "miss_rate", "dropped_rate", "engagement_failure_rate", "caller_id_match_rate")],
    ("tta_median_s", strings.TTA_MEDIAN, "seconds", "tta"), ("tta_p90_s", strings.TTA_P90, "seconds", "tta")]
cols = st.columns(4)
for i, (column, label, kind, help_key) in enumerate(TILES):
    value, prior = now[column], before[column]
    compared = captured and metrics.enough_to_compare(before, column) and not missing(value) and not missing(prior)
    good = HIGHER_IS_BETTER[column]
    vs = strings.VS_PREVIOUS if compared else strings.NOT_COMPARED
    cols[i % 4].metric(label, number(value, kind), delta(value, prior, kind) if compared else None,
                       delta_color="off" if good is None else "normal" if good else "inverse",
                       help=(RATE_HELP.get(help_key, "") + vs.format(days=f.days, n=MIN_CALLS_FOR_RATE)).strip())
if not captured:
    st.caption(strings.NO_COMPARISON.format(days=f.days, first=f"{first_call:%Y-%m-%d}" if first_call else "—"))

by_direction = run(metrics.BREAKDOWN_SQL, **f.params(), dimension="direction")
st.caption(reconcile(now, by_direction, int(run(metrics.REJECTED_LINES_SQL)["rejected"].iloc[0])))
with st.expander(strings.COUNTS_BEHIND):
    table(metrics.counts_behind(now))

st.subheader(strings.TREND_TITLE.format(bucket=f.bucket))
st.caption(strings.TREND_CAPTION.format(n=MIN_CALLS_FOR_RATE, bucket=f.bucket))
trend = run(metrics.TREND_SQL, **f.params(), bucket=f.bucket)
point = clicked(outcome_trend(trend, f.bucket, f.tz, {r: RATE_LABELS[r].lower() for r in (
    "answer_rate", "miss_rate", "dropped_rate")}), "trend")
if point:  # a bar segment (an outcome), or a rate's point (the calls its numerator counts)
    outcome, bucket_start, direction = point
    what, when = " ".join(filter(None, (words(outcome), direction))), bucket_start[:10 if f.bucket == "day" else 16]
    drill(f, f"{what} calls, {when}", "trend_drill", outcome=outcome, direction=direction, bucket_start=bucket_start)

st.subheader(strings.BREAKDOWN_TITLE)
dimension = st.segmented_control(strings.BREAKDOWN_BY, list(DIMENSIONS), format_func=DIMENSIONS.get,
                                 default="portal", key="breakdown_dim") or "portal"
breakdown = run(metrics.BREAKDOWN_SQL, **f.params(), dimension=dimension)
row = picked_row(breakdown[metrics.BREAKDOWN_VIEW_COLUMNS], "breakdown",
                 config={"key": st.column_config.TextColumn(DIMENSIONS[dimension].lower())})
if row is not None:
    drill(f, f"{DIMENSIONS[dimension].lower()} {row['key']}", "breakdown_drill", dimension=dimension, value=row["key"])
