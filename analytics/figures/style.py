"""Plotly figure builders shared by pages (no Streamlit): units and time zone on the axes, theme-neutral."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.metrics import MIN_CALLS_FOR_RATE, RATE_CALLS
from ingest.calls import OUTCOMES

OUTCOME_COLORS = {"answered": "#2e9e5b", "missed": "#e8a33d", "unanswered": "#9aa5b1", "failed": "#d64545",
                  "dropped": "#7b3fbf", "never_ended": "#c9a227", "in_progress": "#4a90d9"}
# The same colours by the names Streamlit's markdown takes (`:violet-badge[dropped]`), which accepts no hex.
NAMED_COLORS = {"#2e9e5b": "green", "#e8a33d": "orange", "#9aa5b1": "gray", "#d64545": "red", "#7b3fbf": "violet",
                "#c9a227": "yellow", "#4a90d9": "blue"}
OUTCOME_BADGES = {outcome: NAMED_COLORS[color] for outcome, color in OUTCOME_COLORS.items()}


def layout(fig: go.Figure, *, height: int = 380, legend_above: bool = False) -> go.Figure:
    """The house look: transparent background so the chart reads in light and dark themes, a faint grid, the legend
    below the plot (or above it, clear of the x-axis title). The builder's hovermode stays ("closest" where a click
    must pick one bar, not the whole x position); without one, the hover is unified along x."""
    legend = (dict(orientation="h", x=0, y=1.02, yanchor="bottom", traceorder="normal") if legend_above
              else dict(orientation="h", y=-0.2))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30 if legend_above else 40, b=10),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", legend=legend,
                      hovermode=fig.layout.hovermode or "x unified")
    fig.update_xaxes(gridcolor="rgba(128,128,128,0.2)")
    fig.update_yaxes(gridcolor="rgba(128,128,128,0.2)")
    return fig


def outcome_trend(trend: pd.DataFrame, bucket: str, tz: str, rates: dict[str, str]) -> go.Figure:
    """Stacked calls per bucket by outcome, with rates as lines on a second axis."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for outcome in OUTCOMES:  # every outcome the trend counts, in the order the SDK's lifecycle ends them
        if outcome in trend and trend[outcome].any():
            fig.add_bar(x=trend["bucket"], y=trend[outcome], name=outcome.replace("_", " "),
                        marker_color=OUTCOME_COLORS[outcome],
                        customdata=[[outcome, str(b), None] for b in trend["bucket"]],
                        secondary_y=False,
                        hovertemplate="%{y:,} " + outcome.replace("_", " ") + " calls<extra></extra>")
    sparse = trend["calls"] < MIN_CALLS_FOR_RATE  # a rate over 3 calls is noise, not a trend: leave a gap
    for column, label in rates.items():  # a click on a rate lists the calls its numerator counts that day
        outcome, direction = RATE_CALLS[column]
        fig.add_scatter(x=trend["bucket"], y=(trend[column] * 100).mask(sparse), name=label, mode="lines+markers",
                        secondary_y=True, line=dict(width=2), connectgaps=False,
                        customdata=[[outcome, str(b), direction] for b in trend["bucket"]],
                        hovertemplate=label + " %{y:.1f}%<extra></extra>")
    fig.update_layout(barmode="stack", hovermode="closest")  # a click picks the segment under the pointer
    fig.update_xaxes(title_text=f"{bucket} ({tz})")
    fig.update_yaxes(title_text="calls (count)", secondary_y=False)
    fig.update_yaxes(title_text="rate (%)", secondary_y=True, range=[0, 100], dtick=20, showgrid=False)
    return layout(fig, height=420)
