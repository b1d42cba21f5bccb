"""Strings from a log or a link are shown as written, never as Markdown, HTML or LaTeX: the replay page, the Calls
page, drill-downs, the beta report page and its Markdown and HTML files.

Markdown is rendered here with markdown-it (CommonMark with raw HTML on, plus GFM tables and strikethrough), to assert
on what a reader would get; Streamlit's own extras (`$math$`, `:directive[…]`) are asserted on the source.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from analytics import annotations
from analytics.db import connect_reader
from analytics.filters import Filters
from analytics.format import md_escape
from analytics.report.build import build_report
from analytics.report.render import replay_href, to_html, to_markdown
from tests.logs import T0, Log, Tab
from tests.test_app import app_on
from tests.test_replay import replay_page

EVIL_ID = "x](javascript:alert(1))"
EVIL_ERROR = "![img](https://evil.example/x.png) $\\LaTeX$ <script>alert(1)</script> *loud*"
EVIL_NOTE = "see `code`` and ```fences\n<script>alert('note')</script>\n# not a heading\n[n](javascript:alert(3))"
EVIL_TAB = "**tab** [t](javascript:alert(2)) :red[red]"
EVIL_TYPE = "*WEIRD*_<b>TYPE</b>"
DAY = {"from": "2025-11-25", "to": "2025-11-25"}
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# What escaped text must never turn into, once rendered: anything but text. Around it, the page's own Markdown may
# still draw headings, bold text, badges and links to the replay page.
ACTIVE = re.compile(r"<(?!/?p>|br />)[a-z/]", re.I)
ACTIVE_ON_A_PAGE = re.compile(r"<img|<script|<a href=\"(?!/replay\?|replay\?)|<code|<em>|<del|<h[1-2]", re.I)


def html_of(markdown: str) -> str:
    return MARKDOWN.render(markdown)


def text_of(markdown: str) -> str:
    """What a reader sees: the rendered HTML without its tags, entities decoded."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_of(markdown)))


def assert_inert(markdown: str, active: re.Pattern = ACTIVE) -> None:
    rendered = html_of(markdown)
    assert not active.search(rendered), rendered
    assert not re.search(r"(?<!\\)\$", markdown), markdown               # Streamlit's LaTeX needs an unescaped $
    assert not re.search(r"(?<!\\):red\[red\]", markdown), markdown     # and a directive an unescaped colon


def evil_log() -> Log:
    log = Log()
    app = Tab(log, EVIL_TAB).iframe("remote", at=T0)
    app.ring(EVIL_ID, at=T0 + 60_000)
    app.recv("CREATE_ENGAGEMENT_FAILED", error={"message": EVIL_ERROR})
    app.send("CALL_ANSWERED", externalCallId=EVIL_ID)
    app.send(EVIL_TYPE, externalCallId=EVIL_ID)  # a type the SDK does not define: the findings quote it
    app.end(EVIL_ID, "COMPLETED", at=app.now + 60_000)
    app.ring("c-ok", at=T0 + 600_000)
    app.send("CALL_ANSWERED", externalCallId="c-ok")
    app.end("c-ok", "COMPLETED", 9001, at=app.now + 60_000)
    return log


@pytest.fixture(scope="module")
def evil_db(tmp_path_factory):
    from tests.conftest import Db

    db = Db(tmp_path_factory.mktemp("evil"))
    db.load(evil_log())
    annotations.add_tag(db.path, EVIL_ID, "beta-feedback", author="<b>Mallory</b>")
    annotations.add_note(db.path, EVIL_ID, EVIL_NOTE, author="`Mallory`")
    return db


# The helper --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [EVIL_ID, EVIL_ERROR, EVIL_NOTE, EVIL_TAB, "$\\LaTeX$", "<script>x</script>",
                                     "# h", "1. one", "- item", "> quote", "[r]: javascript:x", "a\\", "&lt;b&gt;",
                                     "~~gone~~", "a | b", "_em_ and __strong__", "www.evil.example", "https://e.x/y"])
def test_md_escape_shows_the_text_as_written(payload):
    escaped = md_escape(payload)
    assert_inert(escaped)
    assert text_of(escaped).strip() == " ".join(payload.split())


@settings(max_examples=400, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=60)
       | st.text(st.sampled_from("\\`*_{}[]()#+-.!|<>~$&:/ aZ1\n"), max_size=40))
def test_md_escape_renders_as_one_plain_paragraph(text):
    collapsed = " ".join(text.split())
    expected = f"<p>{escapeHtml(collapsed)}</p>\n" if collapsed else ""
    assert html_of(md_escape(text)) == expected
    assert_inert(md_escape(text))


def test_md_escape_keeps_lines_when_asked():
    escaped = md_escape(EVIL_NOTE, lines=True)
    assert_inert(escaped)
    assert html_of(f"> {escaped}").count("<br />") == 3
    assert "# not a heading" in text_of(f"> {escaped}")


# The dashboard ------------------------------------------------------------------------------------------------

def shown(at) -> list[str]:
    """Every piece of Markdown the page drew: text, captions, headings, alerts, button labels."""
    return [e.value for e in [*at.markdown, *at.caption, *at.subheader, *at.success, *at.info, *at.warning,
                              *at.error]] + [b.label for b in at.button]


def test_replay_page_shows_log_strings_as_written(evil_db):
    at = replay_page(evil_db.path, call=EVIL_ID)
    assert not at.exception, [e.message for e in at.exception]
    for markdown in shown(at):
        assert_inert(markdown, ACTIVE_ON_A_PAGE)
    header = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert text_of(header).startswith(EVIL_ID)
    seen = "\n".join(text_of(m) for m in shown(at))
    for payload in (EVIL_ERROR, EVIL_TAB, f"The app sent {EVIL_TYPE}"):
        assert payload in seen, payload
    for line in EVIL_NOTE.splitlines():
        assert line in seen, line


def test_replay_not_found_warning_quotes_the_link_as_written(evil_db):
    link = "nope](javascript:alert(1)) ![i](https://evil.example/i.png) `x"
    at = replay_page(evil_db.path, call=link)
    assert not at.exception
    warning = at.warning[0].value
    assert_inert(warning, ACTIVE_ON_A_PAGE)
    assert link in text_of(warning)


def test_calls_page_opens_the_replay_of_the_selected_call_as_written(evil_db):
    at = app_on(evil_db.path, **DAY)
    at.switch_page("pages/analytics/calls.py").run()
    ids = at.dataframe[0].value["external_call_id"].tolist()
    at.session_state["calls_table"] = {"selection": {"rows": [ids.index(EVIL_ID)], "columns": []}}
    at.run()  # the selected row opens its replay in place: the id goes into the URL as a value, not as Markdown
    assert not at.exception
    assert at.query_params["call"] == EVIL_ID
    header = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert_inert(header, ACTIVE_ON_A_PAGE)
    assert text_of(header).startswith(EVIL_ID)


def test_drill_title_quotes_the_failure_message_as_written(evil_db):
    at = app_on(evil_db.path, **DAY)
    at.switch_page("pages/analytics/engagements.py").run()
    at.session_state["failure_groups"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    titles = [m.value for m in at.markdown if m.value.startswith("**Calls behind")]
    assert titles and all(assert_inert(t, ACTIVE_ON_A_PAGE) is None for t in titles)
    assert "![img](https://evil.example/x.png)" in text_of(titles[0])


# The beta report ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evil_report(evil_db):
    with connect_reader(evil_db.path) as con:
        return build_report(con, Filters(date(2025, 11, 25), date(2025, 11, 25)), db_path=evil_db.path,
                            include_personal=True)


def test_report_markdown_is_inert(evil_report):
    markdown = to_markdown(evil_report, base_url="javascript:alert(1)//")
    rendered = html_of(markdown)
    assert "<img" not in rendered and "<script" not in rendered and "javascript:" not in "".join(
        re.findall(r'href="([^"]*)"', rendered))
    assert re.findall(r'href="([^"]*)"', rendered) and all(
        h.startswith("replay?call=") for h in re.findall(r'href="([^"]*)"', rendered))
    assert not re.search(r"(?<!\\)\$", markdown)
    assert "![img](https://evil.example/x.png)" in text_of(markdown)   # the failure message, as logged
    assert "<script>alert('note')</script>" in text_of(markdown)        # the note, as typed


def test_report_html_is_inert(evil_report):
    page = to_html(evil_report, base_url="javascript:alert(1)//")
    assert "<script>alert" not in page and "<img" not in page  # the page, plotly's chart data included
    body = re.sub(r"<script( type=\"text/javascript\">|>\s*window\.PLOTLYENV).*?</script>", "", page, flags=re.S)
    assert "<script" not in body                                # only plotly.js and its charts run
    hrefs = re.findall(r'href="([^"]*)"', body)
    assert hrefs and all(h.startswith("replay?call=") for h in hrefs), hrefs
    assert "&lt;script&gt;alert(N)&lt;/script&gt;" in body  # the failure message (digits as N), shown as text


def test_report_links_keep_an_http_base():
    assert replay_href(EVIL_ID, "https://callscope.example.com/") == \
        "https://callscope.example.com/replay?call=x%5D%28javascript%3Aalert%281%29%29"
    assert replay_href("c1", "data:text/html,<b>") == "replay?call=c1"
