"""Beta report: the inbound-calling beta feedback report for the sidebar's filters, previewed and downloadable.

The preview walks the same blocks the HTML and Markdown files are made of, so what you read is what you send;
`python -m ingest report` writes the same files.
"""

from pathlib import Path
from urllib.parse import urljoin

import streamlit as st

from analytics.db import connect_reader
from analytics.filters import Filters
from analytics.format import MISSING, md_error, md_escape
from analytics.report import strings as s
from analytics.report.build import CURRENT, DEFAULT_TAG, Report, build_report, notes_version
from analytics.report.figures import figures
from analytics.report.render import FORMATS, blocks, file_name, header_lines, link_base, md_table, render
from ingest.errors import CallscopeError
from ui import strings
from ui.auth import shows_personal
from ui.data import RESULT_TTL_S, db_path, generation
from ui.filters import current


@st.cache_data(ttl=RESULT_TTL_S, max_entries=16, show_spinner=False)
def _report(path: str, gen: tuple[int, int], notes: int | None, f: Filters, tag: str, personal: bool) -> Report:
    with connect_reader(Path(path)) as con:
        return build_report(con, f, db_path=Path(path), tag=tag, include_personal=personal)


st.title(s.PAGE_TITLE)
st.caption(s.PAGE_CAPTION)
f = current()
if f is None or generation() is None:
    st.info(strings.NO_DATA)
    st.stop()

left, middle, right = st.columns([1, 2, 1], vertical_alignment="bottom")
tag = left.text_input(s.TAG_LABEL, value=DEFAULT_TAG, help=s.TAG_HELP, key="report_tag").strip() or DEFAULT_TAG
browser_base = urljoin(st.context.url, ".") if st.context.url else ""  # the address this dashboard was opened at
base_url = middle.text_input(s.BASE_URL_LABEL, value=browser_base, help=s.BASE_URL_HELP, key="report_base_url",
                             placeholder=s.BASE_URL_PLACEHOLDER).strip()
if shows_personal():  # offered only to those who may see personal data
    personal = right.toggle(s.INCLUDE_PERSONAL, value=False, help=s.INCLUDE_PERSONAL_HELP, key="report_personal")
else:
    personal = False
    right.caption(strings.REPORT_NO_PERSONAL)
try:
    report = _report(str(db_path()), generation(), notes_version(db_path()), f, tag, personal)
except CallscopeError as exc:  # a tag that cannot be one, or the notes file busy for longer than a moment
    st.error(md_error(exc))
    st.stop()
if not report.kpis[CURRENT]["calls"]:
    st.info(strings.EMPTY_FILTER)
    st.stop()

subtitle, scope = header_lines(report)
st.markdown(f"**{md_escape(subtitle)}**  \n{md_escape(scope)}")
for column, name in zip(st.columns(len(FORMATS)), FORMATS, strict=True):
    column.download_button(
        s.DOWNLOAD.format(label=s.FORMAT_LABELS[name]), data=lambda name=name: render(report, name, base_url),
        file_name=file_name(report, name), mime=FORMATS[name][0], help=s.DOWNLOAD_HELP[name],
        key=f"download_{name}", on_click="ignore", icon=":material/download:", width="stretch")
st.caption(s.LINKS_TO.format(example=f"{link_base(base_url)}replay?call=…"))  # percent-encoded: no backtick
if personal:
    st.warning(s.WITH_PERSONAL)

charts = figures(report)
for block in blocks(report):  # plain text that quotes the log and the tag typed above: inert in Markdown
    if block.kind == "h2":
        st.subheader(md_escape(block.text))
    elif block.kind == "p":
        st.markdown(md_escape(block.text))
    elif block.kind == "ul":
        st.markdown("\n".join(f"- {md_escape(item)}" for item in block.items))
    elif block.kind == "tiles":
        columns = st.columns(4)
        for i, tile in enumerate(block.items):
            color = "off" if tile.tone is None or tile.higher_is_better is None else (
                "normal" if tile.higher_is_better else "inverse")
            columns[i % 4].metric(tile.label, tile.value, tile.delta if tile.delta != MISSING else None, delta_color=color,
                                  help=s.VS_PREVIOUS.format(days=f.days))
    elif block.kind == "table":
        st.markdown(md_table(block.table))
    elif block.kind == "chart":
        st.markdown(f"**{md_escape(block.items[0])}**")
        st.plotly_chart(charts[block.text], width="stretch", key=f"report_chart_{block.text}")
