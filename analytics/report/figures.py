"""The beta report's charts (plotly, no Streamlit): previous period beside this one, and the dashboard's own
outcome trend (analytics.figures), so the report looks like the pages."""

from __future__ import annotations

import plotly.graph_objects as go

from analytics.figures.style import layout, outcome_trend
from analytics.format import count, missing, ms, percent
from analytics.metrics import RATE_LABELS, RATE_PARTS
from analytics.report import strings as s
from analytics.report.build import CURRENT, PREVIOUS, Report

NOW_COLOR, BEFORE_COLOR = "#2f6fb3", "#b4bcc6"
PLOTLY_TEMPLATE = "plotly"


def _bar_text(show):
    """A bar's label: the number as analytics.format writes it, none on a missing bar."""
    return lambda value: "" if missing(value) else show(value)


def _pair(fig: go.Figure, x: list, now: list, before: list, text, report: Report, **kw) -> go.Figure:
    """Previous period (grey) beside this period (blue), same x."""
    for name, values, color, f in ((s.PREVIOUS_PERIOD, before, BEFORE_COLOR, report.previous),
                                   (s.THIS_PERIOD, now, NOW_COLOR, report.filters)):
        fig.add_bar(x=x, y=values, name=f"{name} ({f.start:%b %d}–{f.end:%b %d})", marker_color=color,
                    text=[text(v) for v in values], textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}: %{text}<extra>%{fullData.name}</extra>", **kw)  # as the label writes it
    fig.update_layout(barmode="group", hovermode="closest")
    return layout(fig, height=360).update_layout(margin=dict(l=80, t=30))  # room for the axis title, without relayout


def figures(report: Report) -> dict[str, go.Figure]:
    """Every chart of the report, by name (the names `blocks` refers to)."""
    now, before = report.kpis[CURRENT], report.kpis[PREVIOUS]
    hs_now, hs_before = report.hubspot[CURRENT], report.hubspot[PREVIOUS]
    pct = _bar_text(percent)
    figs: dict[str, go.Figure] = {}

    locations = report.iframe_locations
    fig = go.Figure()
    palette = {"widget": "#9aa5b1", "remote": "#2f6fb3", "window": "#2e9e5b", "(unknown)": "#e8a33d"}
    for r in locations.itertuples():
        fig.add_bar(y=[s.PREVIOUS_PERIOD, s.THIS_PERIOD], x=[r.share_previous, r.share], orientation="h",
                    name=r.location, marker_color=palette.get(r.location, "#7b3fbf"),
                    text=[pct(r.share_previous), pct(r.share)], textposition="inside", insidetextanchor="middle",
                    hovertemplate="%{y}: " + r.location + " %{text}<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest", legend_traceorder="normal", uniformtext_minsize=10,
                      uniformtext_mode="hide")
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title_text="share of SDK instances")
    figs["iframe_locations"] = layout(fig, height=260).update_layout(margin=dict(l=110, t=20))

    sdk = report.sdk_versions
    figs["sdk_versions"] = _pair(go.Figure(), sdk["sdk_version"].tolist(), sdk["instances"].tolist(),
                                 sdk["instances_previous"].tolist(), _bar_text(count), report)
    figs["sdk_versions"].update_yaxes(title_text="SDK instances (count)")

    trend = report.trend
    figs["trend"] = outcome_trend(trend, report.filters.bucket, report.filters.tz, {
        rate: RATE_LABELS[rate].lower() for rate in ("answer_rate", "miss_rate", "dropped_rate", "failed_rate")})
    figs["trend"].update_yaxes(secondary_y=True, range=[0, 105], tickvals=[0, 25, 50, 75, 100])

    rates = [*RATE_PARTS]
    figs["rates"] = _pair(go.Figure(), [s.METRIC_LABELS[m] for m in rates], [now[m] for m in rates],
                          [before[m] for m in rates], pct, report)
    figs["rates"].update_yaxes(tickformat=".0%", title_text="rate (%)", rangemode="tozero")

    lat = ("engagement_latency_median_ms", "engagement_latency_p90_ms", "caller_id_latency_median_ms",
           "caller_id_latency_p90_ms")
    figs["latencies"] = _pair(go.Figure(), [s.METRIC_LABELS[m] for m in lat], [hs_now[m] for m in lat],
                              [hs_before[m] for m in lat], _bar_text(ms), report)
    figs["latencies"].update_yaxes(title_text="latency (ms)", rangemode="tozero")

    inc = report.incidents
    figs["incidents"] = _pair(go.Figure(), [s.INCIDENT_SHORT[i] for i in inc["incident"]], inc["count"].tolist(),
                              inc["count_previous"].tolist(), _bar_text(count), report)
    figs["incidents"].update_yaxes(title_text="calls (messages for unknown types)", rangemode="tozero")
    for fig in figs.values():  # the same look wherever it is rendered: Streamlit changes plotly's default template
        fig.update_layout(template=PLOTLY_TEMPLATE)
    return figs
