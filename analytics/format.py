"""How Callscope writes numbers, wherever they are shown: the pages, the beta report, the replay (no Streamlit).

One format per kind of number: a percent with one decimal (`12.3%`), a count with thousands separators
(`1,234`), a time with its unit (`4.5 s`, `1,234 ms`; a replay duration `480 ms`, `7.9 s`, `3 min 12 s`), a
change as points, seconds, milliseconds or a signed count (`+1.2 pp`, `+0.5 s`, `+12 ms`, `+300`). A missing
value (None, NaN, NaT) is `MISSING`, never "None" or "nan". Also here: free text without phone numbers and
emails (`scrub`), UTC timestamps to the millisecond, and text from a log or a link made inert in Markdown
(`md_escape`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from ingest.errors import CallscopeError
from ingest.redact import personal_spans, replace_spans

MISSING = "—"
KINDS = ("count", "rate", "seconds", "ms")


def missing(value: object) -> bool:
    """None, NaN, NaT or pandas' NA: a number that is not there."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def count(value: object) -> str:
    return MISSING if missing(value) else f"{int(value):,}"


def percent(value: object) -> str:
    """A share (0.123) as a percent: `12.3%`."""
    return MISSING if missing(value) else f"{value:.1%}"


def seconds(value: object) -> str:
    return MISSING if missing(value) else f"{value:.1f} s"


def ms(value: object) -> str:
    """A measured latency in milliseconds: `1,234 ms`."""
    return MISSING if missing(value) else f"{value:,.0f} ms"


def number(value: object, kind: str) -> str:
    """`value` as its kind says: count | rate (a share, shown as a percent) | seconds | ms."""
    return {"count": count, "rate": percent, "seconds": seconds, "ms": ms}[kind](value)


def delta(now: object, before: object, kind: str) -> str:
    """The change from `before` to `now`: `+1.2 pp` (rates), `+0.5 s`, `+12 ms`, `+300` (counts; `0` if none).
    Computed from the two values as shown (`73.4%` → `74.4%` is `+1.0 pp`), so it always matches what a reader
    subtracts."""
    if missing(now) or missing(before):
        return MISSING
    if kind == "rate":
        return f"{round(now * 100, 1) - round(before * 100, 1):+.1f} pp"
    if kind == "seconds":
        return f"{round(now, 1) - round(before, 1):+.1f} s"
    if kind == "ms":
        return f"{round(now) - round(before):+,.0f} ms"
    change = int(now) - int(before)
    return f"{change:+,}" if change else "0"


def duration(value_ms: int | float) -> str:
    """A duration in the replay: `480 ms`, `7.9 s`, `3 min 12 s`."""
    if value_ms < 1000:
        return f"{int(value_ms)} ms"
    if value_ms < 60_000:
        return f"{value_ms / 1000:.1f} s"
    return f"{int(value_ms // 60_000)} min {int(value_ms % 60_000 // 1000)} s"


def offset(value_ms: int | float) -> str:
    """A time relative to the first ring, to the millisecond: `+4.512 s`, `+9:03.904`, `-1:02:07.003`."""
    sign, value_ms = ("-" if value_ms < 0 else "+"), abs(int(value_ms))
    h, rest = divmod(value_ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s = rest / 1000
    if h:
        return f"{sign}{h}:{m:02d}:{s:06.3f}"
    if m:
        return f"{sign}{m}:{s:06.3f}"
    return f"{sign}{s:.3f} s"


def utc(epoch_ms: int) -> str:
    """An epoch-milliseconds time in UTC, to the millisecond: `2025-11-25 10:42:07.003` (say "UTC" after it)."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def shown(value: object) -> str:
    """A value in a sentence: itself, or MISSING."""
    return MISSING if missing(value) else str(value)


def words(name: str) -> str:
    """An identifier as words: `in_progress` → `in progress`."""
    return name.replace("_", " ")


def plural(n: int | None, noun: str, nouns: str | None = None) -> str:
    """`1 tab`, `2 tabs`, `3 matches` (`nouns` when adding an s will not do)."""
    return f"{count(n)} {noun if n == 1 else nouns or noun + 's'}"


def scrub(free_text: str) -> str:
    """Free text (a note, a summary) without the phone numbers and emails written in it (`[phone]`, `[email]`),
    found as ingest finds them (`ingest.redact.personal_spans`: `+1 415 555 0123`, `415.555.0188`,
    `(415) 555-0123`, `555 0166`). Tokens redacted at ingest (`~3fa9c21b0d-0123`) stay: they are no personal data."""
    return replace_spans(free_text, personal_spans(free_text), lambda kind, _: f"[{kind}]")


# Characters that can open Markdown, HTML or LaTeX anywhere in a line (CommonMark, GFM, and Streamlit's `$math$` and
# `:directive[...]`). Some are only syntax next to something: `_` inside a word never emphasises; `[` opens a link
# only when its `]` is followed by `(` or `[` (or, at the start of a line, by `:`), and `!` only before `[`; `:`
# starts a directive (`:red[`, `:material/…:`) or an autolink (`https://`) only before a letter or a slash, and `.`
# an autolink only after `www`. Those stay as they are when they cannot act, so ids and messages read as logged.
_MD_CHARS = re.compile(r"[\\`*_~$<>|&\]!:.]")
# Block syntax that only counts at the start of a line: headings, lists, setext underlines, link definitions.
_MD_LINE_START = re.compile(r"^([#+\-=\[])|^(\d+)([.)])")


def _md_char(match: re.Match) -> str:
    """One character of _MD_CHARS, escaped unless it cannot act where it is (next to the string's ends it always can:
    the Markdown around it is not known here)."""
    text, i, char = match.string, match.start(), match.group()
    before, after = text[i - 1:i], text[i + 1:i + 2]
    if char == "_":
        inert = before.isalnum() and after.isalnum()
    elif char in "]!":
        inert = after not in ("", "(", "[") if char == "]" else after not in ("", "[")
    elif char == ":":
        inert = after != "" and not (after.isalpha() or after == "/")
    elif char == ".":
        inert = text[max(i - 3, 0):i].lower() != "www"
    else:
        inert = False
    return char if inert else "\\" + char


def _md_line(line: str) -> str:
    line = _MD_CHARS.sub(_md_char, " ".join(line.split()))
    return _MD_LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else f"{m.group(2)}\\{m.group(3)}", line)


def md_escape(text: object, *, lines: bool = False) -> str:
    """Text from a log, a link or a person, safe to put into Markdown: shown as written, never as a link, an image,
    HTML, code, emphasis, LaTeX or a heading. Whitespace runs become one space; line breaks too, unless `lines`, where
    each non-empty line stays a line (a Markdown hard break between them). None is the empty string."""
    raw = "" if text is None else str(text)
    if not lines:
        return _md_line(raw)
    return "  \n".join(_md_line(line) for line in raw.splitlines() if line.strip())


def md_error(exc: CallscopeError) -> str:
    """An error a person can act on, for `st.error`: what happened (inert: it may quote the log or what they typed),
    then what to do next (our own words, Markdown allowed)."""
    return f"{md_escape(exc.message)}. {exc.hint}" if exc.hint else md_escape(exc.message)
