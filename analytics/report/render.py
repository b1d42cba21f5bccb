"""The beta report as files: one self-contained HTML page, Markdown tables, long-format CSV (no Streamlit).

HTML and Markdown render the same list of blocks (`blocks(report)`), which the Beta report page previews too, so
every format shows the same numbers. The HTML embeds plotly.js once, inline, from the installed plotly package and
requests nothing: no fonts, no CDN; replay links are relative (`replay?call=<id>`) unless an http(s) base URL is
given. Blocks hold plain text, much of it quoted from the log (failure messages, types, tags, notes): HTML escapes
it, Markdown makes it inert (`analytics.format.md_escape`). The charts are in analytics/report/figures.py.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from plotly.offline import get_plotlyjs

from analytics.format import MISSING, count, md_escape, missing
from analytics.metrics import HIGHER_IS_BETTER, RATE_HELP, RATE_PARTS
from analytics.report import strings as s
from analytics.report.build import (
    ADOPTION_ROWS,
    CURRENT,
    HUBSPOT_KPIS,
    HUBSPOT_ROWS,
    LONG_COLUMNS,
    PREVIOUS,
    RATE_PARTS_REPORT,
    Report,
    long_format,
)
from analytics.report.figures import figures
from analytics.report.summary import fmt, fmt_delta, incident_change, material_change, rules

FORMATS = {"html": ("text/html", ".html"), "md": ("text/markdown", ".md"), "csv": ("text/csv", ".csv")}
TILES = ("inbound", "outbound", "answer_rate", "miss_rate", "dropped_rate", "failed_rate", "tta_median_s", "tta_p90_s")
VOLUME_ROWS = ("calls", "inbound", "outbound", "answer_rate", "miss_rate", "dropped_rate", "failed_rate",
               "tta_median_s", "tta_p90_s")


@dataclass
class Cell:
    text: str
    tone: str | None = None     # good | bad (a material change), else plain
    links: list[tuple[str, str]] | None = None  # replay links: (text, href)


@dataclass
class Tile:
    label: str
    value: str
    delta: str
    higher_is_better: bool | None
    tone: str | None


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    align: str = ""  # one l/r per column; missing means l for the first column, r for the rest
    wide: bool = False  # cells stay on one line; the table scrolls sideways in a narrow window


@dataclass
class Block:
    kind: str  # h2 | p | ul | table | chart | tiles
    text: str = ""
    items: list = field(default_factory=list)
    table: Table | None = None


def link_base(base_url: str) -> str:
    """The address replay links start with: an http(s) URL or a relative path, percent-encoded where Markdown or
    HTML could read it as syntax; anything else (`javascript:`, `data:`, …) is no base, so the links stay relative."""
    if urlsplit(base_url.strip()).scheme.lower() not in ("", "http", "https"):
        return ""
    return quote(base_url.strip(), safe=":/?#@!$&'*+,;=%-._~")


def replay_href(call_id: str, base_url: str = "") -> str:
    return f"{link_base(base_url)}replay?call={quote(str(call_id), safe='')}"


def _links(ids, base_url: str) -> Cell:
    """Example calls, each shown by the first 8 characters of its id and linked to its replay."""
    links = [(str(i)[:8], replay_href(i, base_url)) for i in ids]
    return Cell(", ".join(text for text, _ in links), links=links)


def _tone(change) -> str | None:
    return {"improved": "good", "worse": "bad"}.get(change.verdict) if change else None


def _row(metric: str, now: dict, before: dict, parts: tuple[str, str] | None = None) -> list[Cell]:
    samples = (int(now.get(parts[1]) or 0), int(before.get(parts[1]) or 0)) if parts else (
        (int(now.get("answered") or 0), int(before.get("answered") or 0)) if metric.startswith("tta_") else (0, 0))
    counts = f"{count(now[parts[0]])} / {count(now[parts[1]])}" if parts else ""
    return [Cell(s.METRIC_LABELS.get(metric, metric)), Cell(fmt(metric, now.get(metric))),
            Cell(fmt(metric, before.get(metric))),
            Cell(fmt_delta(metric, now.get(metric), before.get(metric)),
                 tone=_tone(material_change(metric, now.get(metric), before.get(metric), samples))), Cell(counts)]


def _comparison(caption: str, rows: list) -> Table:
    return Table(caption, [s.METRIC, s.THIS_PERIOD, s.PREVIOUS_PERIOD, s.CHANGE, s.COUNTS], rows, "lrrrr")


def blocks(report: Report, base_url: str = "") -> list[Block]:
    """The report's content in order, for every renderer and the page's preview."""
    now, before = report.kpis[CURRENT], report.kpis[PREVIOUS]
    out = [Block("h2", s.SUMMARY), Block("ul", items=list(report.summary)), Block("tiles", items=[
        Tile(s.METRIC_LABELS[m], fmt(m, now.get(m)), fmt_delta(m, now.get(m), before.get(m)), HIGHER_IS_BETTER.get(m),
             _row(m, now, before, RATE_PARTS.get(m))[3].tone) for m in TILES])]
    for section in (_adoption, _volume, _hubspot, _incidents, _named_calls):
        out += section(report, base_url)
    out += [Block("h2", s.DEFINITIONS), Block("ul", items=[
        *(f"{s.METRIC_LABELS[k]}: {v}" for k, v in RATE_HELP.items() if k in s.METRIC_LABELS),
        *(f"{s.INCIDENT_SHORT[k].capitalize()}: {v}" for k, v in s.INCIDENT_HELP.items()), rules(),
        s.WITH_PERSONAL if report.include_personal else s.NO_PERSONAL])]
    return out if report.previous_captured else _without_changes(out)


def _without_changes(out: list[Block]) -> list[Block]:
    """The blocks without changes: the previous period was not fully captured (Report.previous_captured)."""
    for block in out:
        for tile in block.items if block.kind == "tiles" else ():
            tile.delta, tile.tone = MISSING, None
        if block.kind == "table" and s.CHANGE in block.table.columns:
            at = block.table.columns.index(s.CHANGE)
            for row in block.table.rows:
                row[at] = Cell(MISSING)
    return out


def _adoption(report: Report, base_url: str) -> list[Block]:
    ad_now, ad_before = report.adoption[CURRENT], report.adoption[PREVIOUS]
    return [Block("h2", s.ADOPTION), Block("table", table=_comparison(s.ADOPTION_TABLE, [
        _row(m, ad_now, ad_before, RATE_PARTS_REPORT.get(m)) for m in ADOPTION_ROWS])),
        Block("chart", "iframe_locations", items=[s.IFRAME_CHART]), Block("table", table=Table(
            s.IFRAME_TABLE, ["iframe location", "instances", "share", "share before", s.CHANGE],
            [[Cell(r.location), Cell(count(r.instances)), Cell(fmt("share", r.share)),
              Cell(fmt("share", r.share_previous)), Cell(fmt_delta("share", r.share, r.share_previous))]
             for r in report.iframe_locations.itertuples()])),
        Block("chart", "sdk_versions", items=[s.SDK_CHART]), Block("table", table=Table(
            s.SDK_TABLE, ["SDK version", "instances", "share", "share before", "portals", "calls", "answer rate",
                          "dropped rate"],
            [[Cell(r.sdk_version), Cell(count(r.instances)), Cell(fmt("share", r.share)),
              Cell(fmt("share", r.share_previous)), Cell(count(r.portals)), Cell(count(r.calls)),
              Cell(fmt("answer_rate", r.answer_rate)), Cell(fmt("dropped_rate", r.dropped_rate))]
             for r in report.sdk_versions.itertuples()]))]


def _volume(report: Report, base_url: str) -> list[Block]:
    now, before = report.kpis[CURRENT], report.kpis[PREVIOUS]
    return [Block("h2", s.VOLUME), Block("table", table=_comparison(s.HEADLINE_TABLE, [
        _row(m, now, before, RATE_PARTS.get(m)) for m in VOLUME_ROWS])),
        Block("chart", "trend", items=[s.TREND_CHART.format(bucket=report.filters.bucket, tz=report.filters.tz)]),
        Block("chart", "rates", items=[s.RATES_CHART]),
        Block("table", table=Table(s.PORTAL_TABLE, ["portal", "calls", "inbound", "answer rate", "miss rate",
                                                    "dropped rate", "failed rate", "TTA median"],
            [[Cell(str(r.key)), Cell(count(r.calls)), Cell(count(r.inbound)), Cell(fmt("answer_rate", r.answer_rate)),
              Cell(fmt("miss_rate", r.miss_rate)), Cell(fmt("dropped_rate", r.dropped_rate)),
              Cell(fmt("failed_rate", r.failed_rate)), Cell(fmt("tta_median_s", r.tta_median_s))]
             for r in report.portals.itertuples()]))]


def _hubspot(report: Report, base_url: str) -> list[Block]:
    now, before = report.kpis[CURRENT], report.kpis[PREVIOUS]
    hs_now, hs_before = {**now, **report.hubspot[CURRENT]}, {**before, **report.hubspot[PREVIOUS]}
    return [Block("h2", s.HUBSPOT), Block("table", table=_comparison(s.HUBSPOT_TABLE, [
        *[_row(m, now, before, RATE_PARTS[m]) for m in HUBSPOT_KPIS],
        *[_row(m, hs_now, hs_before, RATE_PARTS_REPORT.get(m)) for m in HUBSPOT_ROWS]])),
        Block("table", table=Table(s.FAILURES_TABLE, ["message", "calls", "previous period", s.EXAMPLES],
            [[Cell(r.message), Cell(count(r.calls)), Cell(count(r.calls_previous)), _links(list(r.examples), base_url)]
             for r in report.failure_messages.itertuples()] or [[Cell(s.NONE_ROW), Cell(""), Cell(""), Cell("")]],
            "lrrl")), Block("chart", "latencies", items=[s.LATENCY_CHART])]


def _incidents(report: Report, base_url: str) -> list[Block]:
    return [Block("h2", s.INCIDENTS), Block("chart", "incidents", items=[s.INCIDENTS_CHART]),
            Block("table", table=Table(s.INCIDENTS_TABLE, ["incident", s.THIS_PERIOD, s.PREVIOUS_PERIOD, s.CHANGE,
                                                           s.EXAMPLES],
                [[Cell(s.INCIDENT_LABELS[r.incident]), Cell(_incident_value(r.count, r.denominator)),
                  Cell(_incident_value(r.count_previous, r.denominator_previous)), _incident_delta(r),
                  _links(list(r.examples), base_url)] for r in report.incidents.itertuples()], "lrrrl")),
            Block("table", table=Table(s.UNKNOWN_TABLE, ["type", "messages", "instances", "previous period",
                                                         s.EXAMPLES],
                [[Cell(r.type), Cell(count(r.messages)), Cell(count(r.instances)), Cell(count(r.messages_previous)),
                  _links(list(r.examples), base_url)] for r in report.unknown_types.itertuples()]
                or [[Cell(s.NONE_ROW), Cell(""), Cell(""), Cell(""), Cell("")]], "lrrrl"))]


def _named_calls(report: Report, base_url: str) -> list[Block]:
    """The example calls the report names, then the calls the team tagged."""
    out = []
    if not report.calls.empty:
        columns = [c for c in report.calls.columns if c != "external_call_id"]
        out.append(Block("table", table=Table(s.EXAMPLES_TABLE, ["call", *(s.CALL_COLUMNS.get(c, c) for c in columns)], [
            [_links([row["external_call_id"]], base_url), *[Cell(_plain(row[c])) for c in columns]]
            for row in report.calls.to_dict("records")], "l" * (1 + len(columns)), wide=True)))
    out.append(Block("h2", s.TAGGED.format(tag=report.tag)))
    if report.tagged.empty:
        out.append(Block("p", (s.NO_TAGGED if report.tags_available else s.NO_TAGS_STORE).format(tag=report.tag)))
    else:
        out.append(Block("table", table=Table(s.TAGGED_TABLE if not report.include_personal else s.TAGGED.format(
            tag=report.tag), ["call", "started", "outcome", "portal", "tags", "notes"],
            [[_links([r.external_call_id], base_url), Cell(f"{r.started:%Y-%m-%d %H:%M}"),
              Cell(r.outcome), Cell(str(r.portal_id)), Cell(", ".join(r.tags)), Cell(" · ".join(r.notes))]
             for r in report.tagged.itertuples()], "llllll")))
    return out


def _incident_value(calls: int, denominator) -> str:
    if missing(denominator):
        return count(calls)
    return f"{count(calls)} ({fmt('share', calls / denominator if denominator else None)} of {count(denominator)})"


def _incident_delta(r) -> Cell:
    change = incident_change(r.incident, r.count, r.count_previous, r.denominator, r.denominator_previous)
    if missing(r.denominator):
        return Cell(fmt_delta(r.incident, r.count, r.count_previous), tone=_tone(change))
    shares = [c / d if d else None for c, d in ((r.count, r.denominator), (r.count_previous, r.denominator_previous))]
    return Cell(fmt_delta("share", *shares), tone=_tone(change))


def _plain(value) -> str:
    if missing(value):
        return ""
    if hasattr(value, "strftime"):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


# HTML -------------------------------------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6775; --line: #dde3ea; --good: #1f7a46; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7fa; color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 36px 0 12px; padding-top: 12px;
     border-top: 1px solid var(--line); }
.sub, .scope, footer, figcaption, caption { color: var(--muted); }
.sub { font-size: 16px; margin: 0; } .scope { margin: 2px 0 0; font-size: 14px; }
ul.summary { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px 14px 36px; }
ul.summary li { margin: 4px 0; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 14px 0; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.tile .label { color: var(--muted); font-size: 13px; } .tile .value { font-size: 24px; font-weight: 600; }
.tile .delta { font-size: 13px; color: var(--muted); }
.good { color: var(--good); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
figure { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; padding: 8px 10px; }
figcaption { font-size: 14px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 12px 0 18px; font-size: 14px;
        border: 1px solid var(--line); }
caption { text-align: left; font-weight: 600; padding: 6px 0; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f6; font-weight: 600; text-align: left; } td.r, th.r { text-align: right; }
td { font-variant-numeric: tabular-nums; } td.r { white-space: nowrap; } a { color: #1a5aa6; }
.wide { overflow-x: auto; } .wide td { white-space: nowrap; } .wide td:nth-child(2) { white-space: normal; }
footer { margin-top: 40px; font-size: 13px; }
@media (max-width: 800px) { .tiles { grid-template-columns: repeat(2, 1fr); } }
"""


def _cell_html(cell: Cell) -> str:
    if cell.links:
        return ", ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for t, h in cell.links)
    text = html.escape(cell.text)
    return f'<span class="{cell.tone}">{text}</span>' if cell.tone else text


def _table_html(t: Table) -> str:
    align = [(t.align[i] if i < len(t.align) else ("l" if i == 0 else "r")) for i in range(len(t.columns))]
    head = "".join(f'<th class="{a}">{html.escape(c)}</th>' for c, a in zip(t.columns, align, strict=True))
    body = "".join("<tr>" + "".join(f'<td class="{a}">{_cell_html(c)}</td>' for c, a in zip(row, align, strict=True)) + "</tr>"
                   for row in t.rows)
    table = f"<table><caption>{html.escape(t.caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>' if t.wide else table


def header_lines(report: Report) -> tuple[str, str]:
    f, p = report.filters, report.previous
    joined = lambda xs: ", ".join(map(str, xs)) or s.ALL  # noqa: E731
    return (s.SUBTITLE.format(start=f.start, end=f.end, days=f.days, tz=f.tz, prev_start=p.start, prev_end=p.end),
            s.SCOPE.format(portals=joined(f.portals), apps=joined(f.apps), directions=joined(f.directions),
                           sdk_versions=joined(f.sdk_versions)))


def to_html(report: Report, base_url: str = "") -> str:
    """One self-contained page: inline CSS, plotly.js inline once, every chart interactive, no external requests."""
    figs = figures(report)
    parts = []
    for block in blocks(report, base_url):
        if block.kind == "h2":
            parts.append(f"<h2>{html.escape(block.text)}</h2>")
        elif block.kind == "p":
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "ul":
            parts.append('<ul class="summary">' + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "tiles":
            parts.append('<div class="tiles">' + "".join(
                f'<div class="tile"><div class="label">{html.escape(t.label)}</div><div class="value">'
                f'{html.escape(t.value)}</div><div class="delta"><span class="{t.tone or ""}">{html.escape(t.delta)}'
                f'</span> {html.escape(s.VS_PREVIOUS.format(days=report.filters.days))}</div></div>'
                for t in block.items) + "</div>")
        elif block.kind == "table":
            parts.append(_table_html(block.table))
        elif block.kind == "chart":
            chart = figs[block.text].to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{block.text}",
                                              config={"displaylogo": False, "responsive": True})
            parts.append(f"<figure><figcaption>{html.escape(block.items[0])}</figcaption>{chart}</figure>")
    sub, scope = header_lines(report)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(s.TITLE)} '
            f'{report.filters.start}–{report.filters.end}</title><style>{CSS}</style>'
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body><main>'
            f'<header><h1>{html.escape(s.TITLE)}</h1><p class="sub">{html.escape(sub)}</p>'
            f'<p class="scope">{html.escape(scope)}</p></header>{"".join(parts)}'
            f'<footer>{html.escape(s.GENERATED_BY)}</footer></main></body></html>\n')


# Markdown ---------------------------------------------------------------------------------------------------------

def _cell_md(cell: Cell) -> str:
    if cell.links:
        return ", ".join(f"[{md_escape(t)}]({h})" for t, h in cell.links)
    text = md_escape(cell.text)
    return f"**{text}**" if cell.tone else text


def md_table(t: Table) -> str:
    align = [(t.align[i] if i < len(t.align) else ("l" if i == 0 else "r")) for i in range(len(t.columns))]
    lines = [f"**{md_escape(t.caption)}**", "", "| " + " | ".join(md_escape(c) for c in t.columns) + " |",
             "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    lines += ["| " + " | ".join(_cell_md(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def to_markdown(report: Report, base_url: str = "") -> str:
    sub, scope = header_lines(report)
    out = [f"# {s.TITLE}", "", f"_{md_escape(sub)}_", "", md_escape(scope), ""]
    charts_noted = False
    for block in blocks(report, base_url):
        if block.kind == "h2":
            out += [f"## {md_escape(block.text)}", ""]
        elif block.kind == "p":
            out += [md_escape(block.text), ""]
        elif block.kind == "ul":
            out += [*(f"- {md_escape(i)}" for i in block.items), ""]
        elif block.kind == "table":
            out += [md_table(block.table), ""]
        elif block.kind == "chart" and not charts_noted:
            out += [s.MARKDOWN_CHARTS, ""]
            charts_noted = True
    out += [s.GENERATED_BY, ""]
    return "\n".join(out)


# CSV ------------------------------------------------------------------------------------------------------------

def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LONG_COLUMNS)
    writer.writerows(long_format(report))
    return buffer.getvalue()


# Files ------------------------------------------------------------------------------------------------------------

def render(report: Report, fmt_name: str, base_url: str = "") -> str:
    if fmt_name == "html":
        return to_html(report, base_url)
    if fmt_name == "md":
        return to_markdown(report, base_url)
    return to_csv(report)


def file_name(report: Report, fmt_name: str) -> str:
    return f"callscope-beta-report-{report.filters.start}_{report.filters.end}{FORMATS[fmt_name][1]}"


def write(report: Report, formats: list[str], out: Path, base_url: str = "") -> list[Path]:
    """Write each format; `out` is a folder, or the file itself when one format is asked for and `out` has a suffix."""
    out = Path(out)
    single = len(formats) == 1 and out.suffix != ""
    paths = [out if single else out / file_name(report, f) for f in formats]
    for path, f in zip(paths, formats, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, f, base_url), encoding="utf-8")
    return paths
