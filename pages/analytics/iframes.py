"""Iframes & tabs: iframe locations and calling-window adoption, simultaneous ringing, drops by location and calling
window, iframes re-created mid-call, user availability; every bar drills to its calls."""

import streamlit as st

from analytics import iframes, metrics
from analytics.figures.charts import (
    CALLING_WINDOW_COLORS,
    availability,
    locations_by_portal,
    locations_trend,
    rate_bars,
    recreated,
    ringing,
)
from analytics.format import count, percent
from analytics.iframes import HELP, by_calling_window, drill_params
from ingest.calls import OUTCOMES
from ui import strings
from ui.data import run
from ui.drill import drill as metrics_drill
from ui.drill import show_calls
from ui.drilldown import clicked
from ui.filters import current_or_stop

st.title(strings.IFRAMES_TITLE)
st.caption(f"{strings.CLICK_FOR_CALLS} {strings.NOT_DIRECTION}")
f = current_or_stop()

summary = run(iframes.SUMMARY_SQL, **f.params()).iloc[0]
if not summary["calls"] and not summary["instances"]:
    st.info(strings.EMPTY_FILTER)
    st.stop()
by_location = run(metrics.BREAKDOWN_SQL, **f.params(), dimension="iframe_location")
recreated_counts = run(iframes.RECREATED_SQL, **f.params())
dropped_rate, dropped, known = metrics.summed_rate(by_location, "dropped_rate")


def drill(title: str, key: str, **given) -> None:
    show_calls(run(iframes.DRILL_SQL, **f.params(), **drill_params(f.bucket, **given)), title, key)


cols = [*st.columns(3), *st.columns(3)[:2]]  # two rows: each label names its calls in full
cols[0].metric("SDK instances", count(summary["instances"]), help=HELP["instances"])
cols[1].metric(strings.USES_CALLING_WINDOW_TILE, percent(summary["calling_window_share"]), help=HELP["calling_window"])
cols[2].metric("Rang in several instances (all calls)", percent(summary["ringing_share"]), help=HELP["ringing"])
cols[3].metric(metrics.RATE_LABELS["dropped_rate"], percent(dropped_rate), help=metrics.RATE_HELP["dropped_rate"])
cols[4].metric("Arrived while unavailable (inbound calls)", count(summary["arrived_unavailable"]),
               help=HELP["availability"])
st.caption(strings.IFRAMES_COUNTS.format(
    window=count(summary["calling_window_instances"]), known=count(summary["calling_window_known"]),
    ringing=count(summary["ringing_incidents"]), calls=count(summary["calls"]), dropped=count(dropped),
    outcome_known=count(known), unavailable=count(summary["arrived_unavailable"]), inbound=count(summary["inbound"])))

left, right = st.columns([3, 2])
with left:
    st.subheader(strings.LOCATIONS_TREND_TITLE.format(bucket=f.bucket), help=HELP["locations"])
    trend = run(iframes.LOCATIONS_TREND_SQL, **f.params(), bucket=f.bucket)
    trend_point = clicked(locations_trend(trend, f.bucket, f.tz), "locations_trend") if not trend.empty else None
with right:
    st.subheader(strings.LOCATIONS_PORTAL_TITLE, help=HELP["locations"])
    by_portal = run(iframes.LOCATIONS_BY_PORTAL_SQL, **f.params())
    portal_point = clicked(locations_by_portal(by_portal), "locations_portal") if not by_portal.empty else None
if trend_point:  # a location's bar, or the calling-window line: the calls whose app uses one that day
    key, bucket_start, kind = trend_point
    drill(f"calls that rang in {key}, {bucket_start}" if kind == "location" else f"calls whose app {key}, "
          f"{bucket_start}", "locations_trend_drill", bucket_start=bucket_start,
          **({"location": key} if kind == "location" else {"calling_window": key}))
if portal_point:
    drill(f"calls that rang in {portal_point[1]}, portal {portal_point[0]}", "locations_portal_drill",
          portal=portal_point[0], location=portal_point[1])

st.subheader(strings.RINGING_TITLE, help=HELP["ringing"])
point = clicked(ringing(run(iframes.RINGING_SQL, **f.params()), OUTCOMES), "ringing")
if point:
    drill(f"{point[1]} calls that rang in {point[0]} instances", "ringing_drill", ringing=point[0], outcome=point[1])

st.subheader(strings.DROPS_TITLE, help=HELP["dropped"])
left, right = st.columns(2)
with left:
    location_point = clicked(rate_bars(by_location, "dropped_rate", "dropped", "known", "dropped rate (%)",
                                       "iframe location"), "drops_location")
with right:
    window_point = clicked(rate_bars(by_calling_window(recreated_counts), "dropped_rate", "dropped", "known",
                                     "dropped rate (%)", "calling window", CALLING_WINDOW_COLORS), "drops_window")
if location_point:
    metrics_drill(f, f"dropped calls, iframe location {location_point[0]}", "drops_location_drill",
                  outcome="dropped", dimension="iframe_location", value=location_point[0])
if window_point:
    drill(f"dropped calls, {window_point[0]}", "drops_window_drill", outcome="dropped", calling_window=window_point[0])

st.subheader(strings.RECREATED_TITLE, help=HELP["recreated"])
point = clicked(recreated(recreated_counts), "recreated")
if point:
    drill(f"calls with {point[0]} iframes re-created, {point[1]}", "recreated_drill", recreated=point[0],
          calling_window=point[1])

st.subheader(strings.AVAILABILITY_TITLE.format(bucket=f.bucket), help=HELP["availability"])
point = clicked(availability(run(iframes.AVAILABILITY_SQL, **f.params(), bucket=f.bucket), f.bucket, f.tz),
                "availability")
if point:
    drill(f"calls that arrived while the user was unavailable, {point[1]}", "availability_drill", unavailable=True,
          bucket_start=point[1])
