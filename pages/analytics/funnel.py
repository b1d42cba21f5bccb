"""Lifecycle funnel: SYNC → ready → INITIALIZED → started → engagement → answered → ended → completed → finalized,
per call and direction, with the calls lost at each step; then time to ready and handshakes that never completed."""

import streamlit as st

from analytics import funnel
from analytics.figures.charts import funnel as funnel_chart
from analytics.figures.charts import share_histogram
from analytics.format import count, ms
from analytics.funnel import HANDSHAKE_DIMENSIONS, HELP, funnel_steps, ready_bins, ready_stats, steps_help
from ui import strings
from ui.data import run
from ui.drill import show_calls
from ui.drilldown import clicked, picked_row
from ui.filters import current_or_stop
from ui.tables import table

st.title(strings.FUNNEL_TITLE)
st.caption(strings.CLICK_FOR_CALLS)
f = current_or_stop()

counts = run(funnel.FUNNEL_SQL, **f.params())
if counts.empty:
    st.info(strings.EMPTY_FILTER)
    st.stop()

directions = [d for d in ("inbound", "outbound") if not f.directions or d in f.directions]  # the sidebar's
if not directions:
    st.info(strings.FUNNEL_NO_DIRECTION)
with st.expander(strings.FUNNEL_STEPS):
    st.markdown(HELP["funnel"] + "\n\n" + steps_help())

STEP_COLUMNS = {  # calls: passed the step, lost there; conversion from the step before; passed of all calls
    "label": st.column_config.TextColumn("step", help=strings.FUNNEL_STEP_HELP),
    "passed": st.column_config.NumberColumn("passed", format="localized"),
    "lost": st.column_config.NumberColumn("lost here", format="localized"),
    "conversion": st.column_config.NumberColumn("conversion", format="%.1f%%", help=HELP["funnel"]),
    "of_all": st.column_config.NumberColumn("of all calls", format="%.1f%%"),
}
for direction, column in zip(directions, st.columns(max(len(directions), 1)), strict=False):
    with column:
        steps = funnel_steps(counts, direction)
        if not steps["passed"].iloc[0] and not steps["lost"].iloc[0]:
            st.info(strings.FUNNEL_NO_CALLS.format(direction=direction))
            continue
        point = clicked(funnel_chart(steps, direction), f"funnel_{direction}")
        st.caption(strings.FUNNEL_TABLE_HELP)
        row = picked_row(steps.assign(lost=steps["lost"].mask(steps["optional"]))[["step", *STEP_COLUMNS]],
                         f"funnel_table_{direction}", config=STEP_COLUMNS, order=list(STEP_COLUMNS))
    if point or row is not None:
        step, lost = (int(point[0]), point[1] == "lost") if point else (int(row["step"]), True)
        picked = steps.loc[steps["step"] == step].iloc[0]
        verb = ("skipped" if picked["optional"] else "lost at") if lost else "that passed"
        with column:
            calls = run(funnel.DRILL_SQL, **f.params(), direction=direction, step=step, lost=lost)
            show_calls(calls, f"{direction} calls {verb} “{picked['label']}”", f"funnel_drill_{direction}")

st.subheader(strings.HANDSHAKES_TITLE, help=HELP["ready"])
st.caption(strings.NOT_DIRECTION)
by = st.segmented_control(strings.HANDSHAKES_BY, list(HANDSHAKE_DIMENSIONS), format_func=HANDSHAKE_DIMENSIONS.get,
                          default="iframe_location", key="handshakes_by") or "iframe_location"
ready = run(funnel.READY_SQL, **f.params(), dimension=by)
total = ready_stats(ready)
if not total["instances"]:
    st.info(strings.NO_INSTANCES)
    st.stop()
cols = st.columns(4)
cols[0].metric("SDK instances", count(total["instances"]), help=HELP["ready"])
cols[1].metric("Never ready", count(total["never_ready"]), help=HELP["never_ready"])
for column, label, value in ((cols[2], "Time to ready, median", total["median_ms"]),
                             (cols[3], "Time to ready, p90", total["p90_ms"])):
    column.metric(label, ms(value), help=HELP["ready"])
st.plotly_chart(share_histogram(ready_bins(ready), [label for _, label in funnel.READY_BINS], HANDSHAKE_DIMENSIONS[by],
                                "first SYNC → SYNC_ACK"), width="stretch", key="time_to_ready")
with st.expander(f"{strings.NEVER_READY_TITLE} ({count(total['never_ready'])})"):
    never = run(funnel.NEVER_READY_SQL, **f.params())
    if never.empty:
        st.success(strings.ALL_HANDSHAKES_DONE)
    else:
        table(never, tz=f.tz, config={"waited_ms": st.column_config.NumberColumn("SYNC seen for (ms)",
                                                                                 format="localized")})
