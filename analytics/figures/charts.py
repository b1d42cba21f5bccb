"""Plotly figures for the Engagements, Iframes and Funnel pages (no Streamlit). Units and time zone on the axes,
the house look with the legend above the plot (analytics.figures.style.layout). Every clickable trace carries its
drill keys as `customdata` lists; numbers in labels are written as analytics.format writes them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.figures.style import OUTCOME_COLORS, layout
from analytics.format import count, missing, percent
from analytics.iframes import USES_CALLING_WINDOW
from analytics.metrics import MIN_CALLS_FOR_RATE

LOCATION_COLORS = {"remote": "#4a90d9", "widget": "#e8a33d", "window": "#2e9e5b", "(unknown)": "#9aa5b1"}
CALLER_ID_COLORS = {"matched contact": "#2e9e5b", "matched company": "#7fc8a0", "no match": "#9aa5b1",
                    "failed": "#d64545"}
CALLING_WINDOW_COLORS = {"uses a calling window": "#2e9e5b", "no calling window": "#4a90d9", "(unknown)": "#9aa5b1"}
PASSED, LOST = "#4a90d9", "rgba(214,69,69,0.55)"
PASSED_OPTIONAL, SKIPPED = "rgba(74,144,217,0.45)", "rgba(154,165,177,0.35)"


def _rate_axis(fig: go.Figure, title: str) -> None:
    """A percentage on the secondary y axis, with its own round ticks (not synced to the count axis)."""
    fig.update_yaxes(title_text=title, secondary_y=True, rangemode="tozero", showgrid=False, tickmode="auto",
                     nticks=6, ticksuffix="%")


def _time_axis(fig: go.Figure, bucket: str, tz: str) -> None:
    fig.update_xaxes(title_text=f"{bucket} ({tz})")


def _count_axis(fig: go.Figure, title: str, top: float, **where) -> None:
    """Whole numbers only: small counts get a tick per unit instead of 0.5 steps."""
    ticks = dict(tickmode="linear", tick0=0, dtick=1) if top <= 8 else dict(tickmode="auto")
    fig.update_yaxes(title_text=title, rangemode="tozero", tickformat=",d", **ticks, **where)


def _top(values: pd.Series) -> float:
    """The largest value, 0 for none."""
    top = pd.to_numeric(values, errors="coerce").max()
    return float(top) if top == top else 0.0


def _keys(*columns) -> list[list]:
    return [list(row) for row in zip(*columns, strict=True)]


def engagement_trend(trend: pd.DataFrame, bucket: str, tz: str) -> go.Figure:
    """Calls per bucket whose engagement was created / failed (stacked), the failure rate as a line."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    buckets = trend["bucket"].astype(str).tolist()
    created = trend["engagement_replied"] - trend["engagement_failed"]
    for name, values, color in (("created", created, OUTCOME_COLORS["answered"]),
                                ("failed", trend["engagement_failed"], OUTCOME_COLORS["failed"])):
        fig.add_bar(x=trend["bucket"], y=values, name=f"engagement {name}", marker_color=color,
                    customdata=_keys([name] * len(trend), buckets), secondary_y=False,
                    hovertemplate=f"%{{y:,}} calls, engagement {name}<extra></extra>")
    sparse = trend["engagement_replied"] < MIN_CALLS_FOR_RATE  # as the Overview's rates: a gap, not noise
    fig.add_scatter(x=trend["bucket"], y=(trend["engagement_failure_rate"] * 100).mask(sparse), name="failure rate",
                    mode="lines+markers", line=dict(width=2, color="#7b3fbf"), secondary_y=True, connectgaps=False,
                    customdata=_keys(["failed"] * len(trend), buckets),  # a click lists the failed calls
                    hovertemplate="failure rate %{y:.1f}%<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")  # a click picks the segment under the pointer
    _time_axis(fig, bucket, tz)
    fig.update_yaxes(title_text="calls (count)", secondary_y=False)
    _rate_axis(fig, "failure rate (%)")
    return layout(fig, legend_above=True)


def caller_id_mix(frame: pd.DataFrame, kinds: tuple[str, ...]) -> go.Figure:
    """Per portal, the share of inbound calls with a caller-ID reply by outcome (100% stacked, counts on hover)."""
    fig = go.Figure()
    columns = {kind: kind.replace(" ", "_") for kind in kinds}
    portals = frame["portal"].tolist()
    for kind, column in columns.items():
        share = frame[column] / frame["replied"].where(frame["replied"] > 0) * 100
        fig.add_bar(y=portals, x=share, name=kind, orientation="h", marker_color=CALLER_ID_COLORS.get(kind),
                    customdata=_keys(portals, [kind] * len(frame), frame[column], frame["replied"]),
                    text=[percent(v / 100) if v >= 6 else "" for v in share.fillna(0)], textposition="inside",
                    hovertemplate="%{y}: " + kind
                                  + " %{x:.1f}% (%{customdata[2]:,} of %{customdata[3]:,})<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(title_text="inbound calls with a caller-ID reply (%)", range=[0, 100])
    fig.update_yaxes(title_text="portal", type="category", autorange="reversed")
    return layout(fig, height=max(300, 80 + 36 * len(frame)), legend_above=True)


def latency_boxes(frame: pd.DataFrame, key: str, prefix: str, axis_title: str, key_title: str,
                  color: str = "#4a90d9") -> go.Figure:
    """Boxes from precomputed quantiles (`{prefix}_p5_ms` … `{prefix}_p95_ms`): p25–p75, median, whiskers p5/p95;
    each label carries how many values the box summarises (`timed`)."""
    shown = frame[frame[f"{prefix}_median_ms"].notna()]
    fig = go.Figure(go.Box(
        x=[f"{k}<br>n={count(n)}" for k, n in zip(shown[key], shown["timed"], strict=True)], q1=shown[f"{prefix}_p25_ms"],
        median=shown[f"{prefix}_median_ms"],
        q3=shown[f"{prefix}_p75_ms"], lowerfence=shown[f"{prefix}_p5_ms"], upperfence=shown[f"{prefix}_p95_ms"],
        marker_color=color, name=axis_title, showlegend=False, hoverinfo="y", yhoverformat=",.0f"))
    fig.update_xaxes(title_text=key_title, type="category")
    fig.update_yaxes(title_text=axis_title, rangemode="tozero")
    fig.update_layout(hovermode="closest")
    return layout(fig, legend_above=True)


def locations_trend(frame: pd.DataFrame, bucket: str, tz: str) -> go.Figure:
    """Calls per bucket by the iframe locations they rang in (stacked); the share of calls whose app uses a calling
    window as a line."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for location, rows in frame.groupby("location", sort=True):
        fig.add_bar(x=rows["bucket"], y=rows["calls"], name=location, marker_color=location_color(location),
                    customdata=_keys([location] * len(rows), rows["bucket"].astype(str), ["location"] * len(rows)),
                    secondary_y=False, hovertemplate="%{y:,} calls rang in " + location + "<extra></extra>")
    share = frame.groupby("bucket", as_index=False)[["calls", "calling_window", "calling_window_known"]].sum()
    sparse = share["calls"] < MIN_CALLS_FOR_RATE
    fig.add_scatter(x=share["bucket"], y=(share["calling_window"] / share["calling_window_known"] * 100).mask(sparse),
                    name="app uses a calling window (% of calls)", mode="lines+markers", secondary_y=True,
                    line=dict(width=2, color="#7b3fbf"), connectgaps=False,  # a click lists those calls
                    customdata=_keys([USES_CALLING_WINDOW] * len(share), share["bucket"].astype(str),
                                     ["calling_window"] * len(share)),
                    hovertemplate="app uses a calling window: %{y:.1f}% of calls<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")  # a click picks the segment under the pointer
    _time_axis(fig, bucket, tz)
    fig.update_yaxes(title_text="calls (count)", secondary_y=False)
    _rate_axis(fig, "app uses a calling window (% of calls)")
    return layout(fig, legend_above=True)


def locations_by_portal(frame: pd.DataFrame) -> go.Figure:
    """Calls per portal by the iframe locations they rang in (stacked horizontal bars), each portal labelled with
    whether its app uses a calling window."""
    fig = go.Figure()
    for location, rows in frame.groupby("location", sort=True):
        fig.add_bar(y=rows["portal"], x=rows["calls"], name=location, orientation="h",
                    marker_color=location_color(location), customdata=_keys(rows["portal"], [location] * len(rows)),
                    hovertemplate="portal %{y}: %{x:,} calls rang in " + location + "<extra></extra>")
    totals = frame.groupby("portal", as_index=False)[["calls", "calling_window", "calling_window_known"]].sum()
    share = totals["calling_window"] / totals["calling_window_known"].where(totals["calling_window_known"] > 0)
    fig.add_scatter(y=totals["portal"], x=totals["calls"], mode="text", showlegend=False, hoverinfo="skip",
                    text=[f"  {calling_window_words(v)}" for v in share], textposition="middle right")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(title_text="calls (count)", range=[0, totals["calls"].max() * 1.9])
    fig.update_yaxes(title_text="portal", type="category", autorange="reversed")
    return layout(fig, height=max(300, 80 + 36 * frame["portal"].nunique()), legend_above=True)


def location_color(location: str) -> str:
    """A location's colour; a call that rang in several locations (`remote + window`) gets its own."""
    return LOCATION_COLORS.get(location, "#7b3fbf" if " + " in location else "#9aa5b1")


def calling_window_words(share: float | None) -> str:
    """Whether a group's calls came from an app that uses a calling window, in words."""
    if missing(share):
        return ""
    if share == 1:
        return "uses a calling window"
    return "no calling window" if share == 0 else f"uses a calling window: {percent(share)} of calls"


def ringing(frame: pd.DataFrame, outcomes: tuple[str, ...]) -> go.Figure:
    """Calls by how many SDK instances they rang in, stacked by outcome."""
    fig = go.Figure()
    for outcome in outcomes:
        rows = frame[frame["outcome"] == outcome]
        if rows.empty:
            continue
        fig.add_bar(x=rows["ringing"], y=rows["calls"], name=outcome, marker_color=OUTCOME_COLORS.get(outcome),
                    customdata=_keys(rows["ringing"], [outcome] * len(rows)),
                    hovertemplate="%{y:,} " + outcome + " calls rang in %{x} instances<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(title_text="SDK instances the call rang in (count)", type="category",
                     categoryorder="category ascending")
    fig.update_yaxes(title_text="calls (count)")
    return layout(fig, legend_above=True)


def rate_bars(frame: pd.DataFrame, rate: str, numerator: str, denominator: str, axis_title: str, key_title: str,
              colors: dict[str, str] | None = None) -> go.Figure:
    """One horizontal bar per key: a metrics rate in %, with the counts behind it as text."""
    fig = go.Figure(go.Bar(
        y=frame["key"], x=frame[rate] * 100, orientation="h",
        marker_color=[(colors or LOCATION_COLORS).get(k, "#4a90d9") for k in frame["key"]],
        customdata=_keys(frame["key"]),
        text=[f"{percent(r)} ({count(n)} of {count(d)})" for r, n, d in zip(frame[rate].fillna(0), frame[numerator],
                                                                            frame[denominator], strict=True)],
        textposition="outside", hovertemplate="%{y}: %{text}<extra></extra>", cliponaxis=False))
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_xaxes(title_text=axis_title, range=[0, max(_top(frame[rate] * 100), 0.5) * 1.8])
    fig.update_yaxes(title_text=key_title, type="category", autorange="reversed")
    return layout(fig, height=max(240, 110 + 40 * len(frame)), legend_above=True)


def recreated(frame: pd.DataFrame) -> go.Figure:
    """Dropped rate by iframes re-created during the call, one bar per calling-window group."""
    fig = go.Figure()
    for group, rows in frame.groupby("calling_window", sort=True):
        fig.add_bar(x=rows["recreated"], y=rows["dropped_rate"] * 100, name=group,
                    marker_color=CALLING_WINDOW_COLORS.get(group),
                    customdata=_keys(rows["recreated"], [group] * len(rows)),
                    text=[f"{percent(r)} ({count(d)} of {count(k)})"
                          for r, d, k in zip(rows["dropped_rate"].fillna(0), rows["dropped"], rows["known"], strict=True)],
                    textposition="outside", cliponaxis=False,
                    hovertemplate=group + ", %{x} re-created: %{text} dropped<extra></extra>")
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_xaxes(title_text="iframes re-created during the call (count)", type="category",
                     categoryorder="category ascending")
    fig.update_yaxes(title_text="dropped rate (%)", range=[0, max(_top(frame["dropped_rate"] * 100), 5) * 1.2])
    return layout(fig, legend_above=True)


def availability(frame: pd.DataFrame, bucket: str, tz: str) -> go.Figure:
    """Inbound calls arriving while the user was unavailable (bars), USER_UNAVAILABLE messages and users (lines)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=frame["bucket"], y=frame["arrived_unavailable"], name="calls arriving while unavailable",
                marker_color=OUTCOME_COLORS["missed"], secondary_y=False,
                customdata=_keys(["unavailable"] * len(frame), frame["bucket"].astype(str)),
                hovertemplate="%{y:,} calls arrived while unavailable<extra></extra>")
    for column, name, color in (("unavailable_messages", "USER_UNAVAILABLE messages", "#d64545"),
                                ("users_unavailable", "users who went unavailable", "#7b3fbf")):
        fig.add_scatter(x=frame["bucket"], y=frame[column], name=name, mode="lines+markers",
                        line=dict(width=2, color=color), secondary_y=True,
                        customdata=_keys(["unavailable"] * len(frame), frame["bucket"].astype(str)),  # the day's calls
                        hovertemplate="%{y:,} " + name + "<extra></extra>")
    fig.update_layout(hovermode="closest")
    _time_axis(fig, bucket, tz)
    _count_axis(fig, "calls (count)", _top(frame["arrived_unavailable"]), secondary_y=False)
    _count_axis(fig, "messages, users (count)", _top(frame["unavailable_messages"]), secondary_y=True, showgrid=False)
    return layout(fig, legend_above=True)


def funnel(steps: pd.DataFrame, direction: str) -> go.Figure:
    """Each step as a bar: calls that passed it, and the calls lost there stacked after them. An optional step
    (`steps.optional`) is drawn apart: lighter, and the calls that skipped it grey, since they are not lost."""
    fig = go.Figure()
    labels = [f"{n}. {label}" for n, label in zip(steps["step"], steps["label"], strict=True)]
    optional = steps["optional"].astype(bool).tolist()
    traces = (("passed", "passed", PASSED, "passed", False), ("lost", "lost at this step", LOST, "lost", False),
              ("passed", "passed (optional step)", PASSED_OPTIONAL, "passed", True),
              ("lost", "skipped the optional step", SKIPPED, "skipped", True))
    for column, name, color, verb, is_optional in traces:
        keep = [o == is_optional for o in optional]
        if not any(keep):
            continue
        rows = steps[keep]
        text = [f"{count(p)} ({percent(c)})" for p, c in zip(rows["passed"], rows["conversion"], strict=True)] \
            if column == "passed" else None
        fig.add_bar(y=[lab for lab, k in zip(labels, keep, strict=True) if k], x=rows[column], name=name,
                    orientation="h", marker_color=color, text=text, textposition="inside", insidetextanchor="start",
                    customdata=_keys(rows["step"], [column] * len(rows)),
                    hovertemplate="%{y}: %{x:,} " + direction + " calls " + verb + "<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(title_text=f"{direction} calls (count)")
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=labels)
    return layout(fig, height=400, legend_above=True)


def share_histogram(frame: pd.DataFrame, labels: list[str], key_title: str, axis_title: str) -> go.Figure:
    """Per key, the share of its values in each bin (`bin` indexes `labels`), grouped bars; counts on hover."""
    fig = go.Figure()
    for key, rows in frame.groupby("key", sort=True):
        total = rows["instances"].sum()
        fig.add_bar(x=[labels[int(b)] for b in rows["bin"]], y=rows["instances"] / total * 100, name=str(key),
                    marker_color=LOCATION_COLORS.get(key) if key_title == "iframe location" else None,
                    customdata=_keys(rows["instances"], [total] * len(rows)),
                    hovertemplate=f"{key}: " + "%{y:.1f}% (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>")
    fig.update_layout(barmode="group", hovermode="closest", legend_title_text=key_title)
    fig.update_xaxes(title_text=axis_title, type="category", categoryorder="array", categoryarray=labels)
    fig.update_yaxes(title_text="SDK instances (% of the group)", rangemode="tozero")
    return layout(fig, legend_above=True)
