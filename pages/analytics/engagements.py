"""Engagements & caller ID: engagement creation over time, failure messages, the caller-ID mix and latency by portal;
every bar, segment and row drills to its calls."""

import streamlit as st

from analytics import engagements, metrics
from analytics.engagements import CALLER_ID_KINDS, HELP, drill_params
from analytics.figures.charts import caller_id_mix, engagement_trend, latency_boxes
from analytics.format import count, ms, percent
from analytics.metrics import MIN_CALLS_FOR_RATE, RATE_LABELS
from ui import strings
from ui.data import run
from ui.drill import show_calls
from ui.drilldown import clicked, picked_row
from ui.filters import current_or_stop
from ui.tables import table

st.title(strings.ENGAGEMENTS_TITLE)
st.caption(strings.CLICK_FOR_CALLS)
f = current_or_stop()

trend = run(metrics.TREND_SQL, **f.params(), bucket=f.bucket)  # its counts add up to the period's rates
if trend.empty:
    st.info(strings.EMPTY_FILTER)
    st.stop()
failure_rate, failed, replied = metrics.summed_rate(trend, "engagement_failure_rate")
match_rate, matched, caller_replied = metrics.summed_rate(trend, "caller_id_match_rate")
caller = run(engagements.CALLER_ID_SQL, **f.params())
overall = caller[caller["portal"] == "all portals"]
by_portal = caller[(caller["portal"] != "all portals") & (caller["replied"] > 0)]


def drill(title: str, key: str, **given) -> None:
    show_calls(run(engagements.DRILL_SQL, **f.params(), **drill_params(f.bucket, **given)), title, key)


latency = overall.iloc[0] if not overall.empty else None
cols = st.columns(4)
cols[0].metric(RATE_LABELS["engagement_failure_rate"], percent(failure_rate), help=HELP["engagement"])
cols[1].metric(RATE_LABELS["caller_id_match_rate"], percent(match_rate), help=HELP["caller_id"])
cols[2].metric("Caller-ID latency, median (inbound)", ms(latency["latency_median_ms"] if latency is not None else None),
               help=HELP["latency"])
cols[3].metric("Caller-ID latency, p90 (inbound)", ms(latency["latency_p90_ms"] if latency is not None else None),
               help=HELP["latency"])
st.caption(strings.ENGAGEMENTS_COUNTS.format(failed=count(failed), replied=count(replied), matched=count(matched),
                                             caller_replied=count(caller_replied)))

st.subheader(strings.ENGAGEMENT_TREND_TITLE.format(bucket=f.bucket), help=HELP["engagement"])
st.caption(strings.ENGAGEMENT_TREND_CAPTION.format(bucket=f.bucket, n=MIN_CALLS_FOR_RATE))
point = clicked(engagement_trend(trend, f.bucket, f.tz), "engagement_trend")
if point:
    drill(f"engagement {point[0]}, {point[1]}", "engagement_trend_drill", engagement=point[0], bucket_start=point[1])

st.subheader(strings.FAILURE_MESSAGES_TITLE, help=HELP["failures"])
groups = run(engagements.FAILURE_GROUPS_SQL, **f.params())
if groups.empty:
    st.info(strings.NO_ENGAGEMENT_FAILURES)
else:
    row = picked_row(groups, "failure_groups", config={
        "message": st.column_config.TextColumn("message (normalised)", width="medium"),
        "first_seen": st.column_config.DatetimeColumn(f"first seen ({f.tz})", format="YYYY-MM-DD HH:mm"),
        "last_seen": st.column_config.DatetimeColumn(f"last seen ({f.tz})", format="YYYY-MM-DD HH:mm"),
        "latest_message": st.column_config.TextColumn("latest message, as sent"),
        "examples": st.column_config.ListColumn("example calls (newest)"),
    })
    if row is not None:
        drill(f"“{row['message']}”", "failure_drill", engagement="failed", message=row["message"])

st.subheader(strings.CALLER_ID_TITLE, help=HELP["caller_id"])
if by_portal.empty:
    st.info(strings.NO_CALLER_ID)
    st.stop()
left, right = st.columns(2)
with left:
    point = clicked(caller_id_mix(caller[caller["replied"] > 0], CALLER_ID_KINDS), "caller_id_mix")
with right:
    st.markdown(f"**{strings.CALLER_ID_LATENCY_TITLE}**", help=HELP["latency"])
    st.plotly_chart(latency_boxes(caller[caller["timed"] > 0], "portal", "latency", "caller-ID latency (ms)",
                                  "portal"), width="stretch", key="caller_id_latency")
if point:
    drill(f"{point[1]}, {point[0]}", "caller_id_drill", caller_id_kind=point[1], portal=point[0])
with st.expander(strings.CALLER_ID_COUNTS):
    table(caller)
