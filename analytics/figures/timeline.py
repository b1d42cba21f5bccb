"""The call replay timeline as a plotly figure (no Streamlit here): one lane per SDK instance, every message a
marker, request→reply connectors with their latency, the call's phases shaded, the selected step ringed.

Markers: ▲ the app posted it to HubSpot (drawn above the lane's centre), ▼ HubSpot posted it to the app (below),
◆ a capture marker (PAGEHIDE). Blue/green are the call's own messages, grey is context from its instances, red
is a failure or an error. Each marker's customdata is its trace index, for click-to-select.
"""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go

from analytics.format import duration, offset, utc
from analytics.replay.trace import CallTrace, Instance, Message, Pair

LANE_OFFSET = 0.2
COLORS = {"to": "#1f6fd1", "from": "#12946b", "context": "#9aa3ad", "failure": "#d62728", "capture": "#7b4fbf",
          "lane": "rgba(120,130,145,0.22)", "quiet": "rgba(120,130,145,0.7)", "gone": "#d62728",
          "connector": "rgba(70,80,95,0.55)",
          "selected": "#ff8c00"}
PHASE_COLORS = {"ringing": "rgba(255,193,7,0.16)", "talking": "rgba(40,167,69,0.13)",
                "wrap-up": "rgba(108,117,125,0.15)"}
PHASE_SOLID = {"ringing": "rgba(255,193,7,0.45)", "talking": "rgba(40,167,69,0.35)", "wrap-up": "rgba(108,117,125,0.4)"}
LABEL_GAP = 0.045    # of the visible time range: closer labels in one row are dropped (the hover still has them)
SYMBOLS = {"to_hubspot": "triangle-up", "from_hubspot": "triangle-down", "capture": "diamond"}
DIRECTION_WORDS = {"to_hubspot": "app → HubSpot", "from_hubspot": "HubSpot → app", "capture": "capture marker"}
LABEL_LIMIT = 40     # label call messages on the chart when the call has at most this many of them
KEY_FIELDS = ("externalCallId", "engagementId", "callEndStatus", "fromNumber", "toNumber", "createEngagement",
              "isAvailable", "isLoggedIn", "openIn", "iframeLocation", "usesCallingWindow", "portalId")
SHORT = {"INCOMING_CALL": "ring", "OUTGOING_CALL_STARTED": "dial", "CALL_ANSWERED": "answered",
         "CALL_ENDED": "ended", "CALL_COMPLETED": "completed", "CALL_TRANSFERRED": "transferred",
         "CREATE_ENGAGEMENT_SUCCEEDED": "engagement", "CREATE_ENGAGEMENT_FAILED": "engagement failed",
         "CALLER_ID_MATCH_SUCCEEDED": "caller ID", "CALLER_ID_MATCH_FAILED": "caller ID failed",
         "UPDATE_ENGAGEMENT_SUCCEEDED": "updated", "UPDATE_ENGAGEMENT_FAILED": "update failed",
         "NAVIGATE_TO_RECORD": "navigate", "PAGEHIDE": "page hidden", "SYNC": "SYNC"}


def _hms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


class _Axis:
    """Message time → x: seconds (or minutes, for long calls) from the first ring, or absolute UTC."""

    def __init__(self, trace: CallTrace, relative: bool, span_ms: int):
        self.ring, self.relative = trace.first_ring_ms, relative
        self.scale = 60_000 if span_ms > 20 * 60_000 else 1000
        self.title = (f"{'minutes' if self.scale == 60_000 else 'seconds'} from the first ring" if relative
                      else "time (UTC)")

    def x(self, ms: int | None):
        if ms is None:
            return None
        if self.relative:
            return (ms - self.ring) / self.scale
        return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def lane_text(inst: Instance, ring_ms: int) -> str:
    """The lane's label: tab, iframe location, when it loaded (its SYNC), and whether it went away during the call."""
    role = {"handover": " (handed the call)", "replacement": " (new iframe)"}.get(inst.role, "")
    head = f"<b>{inst.tab or 'no tab'}</b> · {inst.iframe_location or '?'}{role}<br>"
    if inst.went_away_ms:
        how = "page unloaded" if inst.unloaded_ms == inst.went_away_ms else "replaced by a new iframe"
        return (head + f"{_hms(inst.started_ms)}–{_hms(inst.went_away_ms)} "
                f"({duration(inst.went_away_ms - inst.started_ms)})<br>✕ {how}")
    before = ring_ms - inst.started_ms
    since = f"{duration(before)} before the ring" if before > 0 else f"{duration(-before)} after the ring"
    return head + f"loaded {_hms(inst.started_ms)} ({since})<br>did not go away during the call"


def hover_text(trace: CallTrace, m: Message) -> str:
    arrow = DIRECTION_WORDS[m.direction]
    lines = [f"<b>#{m.index + 1} {m.type}</b> ({arrow})", f"{utc(m.ts_ms)} UTC",
             f"{offset(trace.rel_ms(m.ts_ms))} from the first ring"]
    source = m.message if m.type in ("SYNC", "SYNC_ACK") else m.data
    fields = [f"{k}: {source[k]}" for k in KEY_FIELDS if k in source]
    if m.caller_id_matches is not None:
        fields.append(f"callerIdMatches: {m.caller_id_matches}")
    if m.error_message:
        fields.append(f"error: {m.error_message[:120]}")
    if not m.in_call:
        fields.append("(context: not one of the call's own messages)")
    return "<br>".join(lines + fields)


def _category(m: Message) -> str:
    if m.failed:
        return "failure"
    if m.direction == "capture":
        return "capture"
    if not m.in_call:
        return "context"
    return "to" if m.direction == "to_hubspot" else "from"


LEGEND = {"to": "▲ call message, app → HubSpot", "from": "▼ call message, HubSpot → app",
          "context": "context (session messages)", "failure": "failure / error", "capture": "◆ capture marker"}


def build_figure(trace: CallTrace, pairs: list[Pair], phases: list[tuple[str, int, int]], selected: int | None = None,
                 relative: bool = True) -> go.Figure:
    msgs = trace.messages
    lanes = {inst.instance: k for k, inst in enumerate(trace.instances)}
    for m in msgs:  # messages of an instance the instances table does not know
        lanes.setdefault(m.instance, len(lanes))
    own = trace.call_messages or msgs
    lo = min(m.ts_ms for m in own)
    # The view: the call, up to its instance going away and the iframe that took its place.
    hi = max([m.ts_ms for m in own] + [trace.call.get("went_away_ms") or 0] +
             [m.ts_ms for m in msgs if m.type == "PAGEHIDE" and m.ts_ms >= lo][:1] +
             [i.started_ms + 500 for i in trace.instances if i.role != "call" and i.started_ms >= lo][:1])
    pad = max(1000, (hi - lo) // 12)
    axis = _Axis(trace, relative, hi - lo)

    def y(m: Message) -> float:
        return lanes[m.instance] + {"to_hubspot": -LANE_OFFSET, "from_hubspot": LANE_OFFSET}.get(m.direction, 0)

    fig = go.Figure()
    _lanes(fig, trace, lanes, axis)
    visible_ms = hi - lo + 2 * pad
    for name, a, b in phases:
        label = dict(annotation_text=name, annotation_position="top left",
                     annotation_font=dict(size=11, color="#555")) if (b - a) >= 0.08 * visible_ms else {}
        fig.add_vrect(x0=axis.x(a), x1=axis.x(b), fillcolor=PHASE_COLORS[name], line_width=0, layer="below", **label)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{name} ({duration(b - a)})",
                                 hoverinfo="skip", marker=dict(symbol="square", size=13, color=PHASE_SOLID[name])))
    _connectors(fig, trace, pairs, axis, y, LABEL_GAP * visible_ms)
    labelled = _labelled(msgs, LABEL_GAP * visible_ms) if len(trace.call_messages) <= LABEL_LIMIT else set()
    for category, legend in LEGEND.items():
        points = [m for m in msgs if _category(m) == category]
        if not points:
            continue
        fig.add_trace(go.Scatter(
            x=[axis.x(m.ts_ms) for m in points], y=[y(m) for m in points], mode="markers", name=legend,
            customdata=[[m.index] for m in points],
            hovertext=[hover_text(trace, m) for m in points], hovertemplate="%{hovertext}<extra></extra>",
            marker=dict(symbol=[SYMBOLS[m.direction] for m in points], size=11 if len(msgs) < 300 else 8,
                        color=COLORS[category], line=dict(width=0.5, color="white"))))
    for m in msgs:  # labels as annotations: they stay out of the range slider's overview
        if m.index in labelled:
            fig.add_annotation(x=axis.x(m.ts_ms), y=y(m), text=SHORT.get(m.type, m.type.lower()), showarrow=False,
                               yshift=13 if m.direction == "to_hubspot" else -13,
                               font=dict(size=10, color=COLORS[_category(m)]))
    if selected is not None and 0 <= selected < len(msgs):
        _ring(fig, axis.x(msgs[selected].ts_ms), y(msgs[selected]))
    n = max(len(lanes), 1)
    fig.update_layout(
        # The x-axis title sits under the range slider: the bottom margin keeps room for it.
        height=min(900, 210 + 105 * n), margin=dict(l=10, r=10, t=40, b=44), hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, font=dict(size=10.5), itemsizing="constant"),
        clickmode="event+select",
        dragmode="zoom", plot_bgcolor="white", uirevision=trace.call_id)
    fig.update_xaxes(title_text=axis.title, range=[axis.x(lo - pad), axis.x(hi + pad)], showgrid=True,
                     gridcolor="#eee", zeroline=relative, zerolinecolor="#bbb",
                     rangeslider=dict(visible=True, thickness=0.07))
    fig.update_yaxes(tickvals=list(range(n)), ticktext=_ticktext(trace, lanes), range=[n - 0.45, -0.55],
                     showgrid=False, zeroline=False, fixedrange=True)
    return fig


def _ring(fig: go.Figure, x, y: float) -> None:
    """The selected step: a ring around its marker and a dotted line through its time."""
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", showlegend=False, hoverinfo="skip",
                             marker=dict(symbol="circle-open", size=24, color=COLORS["selected"],
                                         line=dict(width=3, color=COLORS["selected"]))))
    fig.add_vline(x=x, line=dict(color=COLORS["selected"], width=1, dash="dot"))


def _labelled(msgs: list[Message], gap_ms: float) -> set[int]:
    """Which messages get a text label: the call's own and capture markers, one per `gap_ms` in each row
    (lane and direction), call lifecycle and failures first."""
    rows: dict[tuple, list[int]] = {}
    keep: set[int] = set()
    ranked = sorted((m for m in msgs if m.in_call or m.direction == "capture"),
                    key=lambda m: (not m.failed and m.type not in SHORT, m.index))
    for m in ranked:
        taken = rows.setdefault((m.instance, m.direction), [])
        if all(abs(m.ts_ms - t) >= gap_ms for t in taken):
            taken.append(m.ts_ms)
            keep.add(m.index)
    return keep


def _ticktext(trace: CallTrace, lanes: dict) -> list[str]:
    by_id = {inst.instance: inst for inst in trace.instances}
    return [lane_text(by_id[i], trace.first_ring_ms) if i in by_id else f"<b>instance {i or 'unknown'}</b>"
            for i in lanes]


def _lanes(fig: go.Figure, trace: CallTrace, lanes: dict, axis: _Axis) -> None:
    xs, ys, gone_x, gone_y, gone_text, quiet_x, quiet_y = [], [], [], [], [], [], []
    for inst in trace.instances:
        k = lanes[inst.instance]
        end = inst.last_message_ms or inst.started_ms
        xs += [axis.x(inst.started_ms), axis.x(end), None]
        ys += [k, k, None]
        if inst.went_away_ms and inst.went_away_ms > end:  # loaded but silent until it went away
            quiet_x += [axis.x(end), axis.x(inst.went_away_ms), None]
            quiet_y += [k, k, None]
        if inst.went_away_ms:
            gone_x.append(axis.x(inst.went_away_ms))
            gone_y.append(k)
            how = ("its page unloaded (PAGEHIDE)" if inst.unloaded_ms == inst.went_away_ms
                   else "a new iframe replaced it")
            gone_text.append(f"<b>instance went away</b><br>{utc(inst.went_away_ms)} UTC<br>{how}")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=COLORS["lane"], width=26), hoverinfo="skip",
                             showlegend=False))
    if quiet_x:
        fig.add_trace(go.Scatter(x=quiet_x, y=quiet_y, mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color=COLORS["quiet"], width=2, dash="dash")))
    if gone_x:
        fig.add_trace(go.Scatter(x=gone_x, y=gone_y, mode="markers", name="✕ instance went away",
                                 hovertext=gone_text, hovertemplate="%{hovertext}<extra></extra>",
                                 marker=dict(symbol="x-thin-open", size=18, line=dict(width=3, color=COLORS["gone"]))))


def _connectors(fig: go.Figure, trace: CallTrace, pairs: list[Pair], axis: _Axis, y, gap_ms: float) -> None:
    if not pairs:
        return
    msgs = trace.messages
    xs, ys, mid_x, mid_y, hover = [], [], [], [], []
    shown: dict[str | None, list[int]] = {}
    for p in pairs:
        a, b = msgs[p.request], msgs[p.reply]
        xs += [axis.x(a.ts_ms), axis.x(b.ts_ms), None]
        ys += [y(a), y(b), None]
        mid_x.append(axis.x((a.ts_ms + b.ts_ms) // 2))
        mid_y.append((y(a) + y(b)) / 2)
        hover.append(f"{a.type} #{a.index + 1} → {b.type} #{b.index + 1}<br>reply after {duration(p.latency_ms)}")
        taken = shown.setdefault(b.instance, [])
        if b.in_call and all(abs(b.ts_ms - t) >= gap_ms for t in taken):  # the call's replies, not crowded
            taken.append(b.ts_ms)
            fig.add_annotation(x=mid_x[-1], y=mid_y[-1], text=duration(p.latency_ms), showarrow=False, xanchor="left",
                               xshift=5, font=dict(size=9, color="#555"), bgcolor="rgba(255,255,255,0.7)")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="request → reply", hoverinfo="skip",
                             line=dict(color=COLORS["connector"], width=1.5, dash="dot")))
    fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", showlegend=False, hovertext=hover,
                             hovertemplate="%{hovertext}<extra></extra>",
                             marker=dict(size=5, color=COLORS["connector"])))
