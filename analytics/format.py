"""How Callscope writes numbers, wherever they are shown: the pages, the beta report, the replay (no Streamlit).

One format per kind of number: a percent with one decimal (`12.3%`), a count with thousands separators
(`1,234`), a time with its unit (`4.5 s`, `1,234 ms`; a replay duration `480 ms`, `7.9 s`, `3 min 12 s`), a
change as points, seconds, milliseconds or a signed count (`+1.2 pp`, `+0.5 s`, `+12 ms`, `+300`). A missing
value (None, NaN, NaT) is `MISSING`, never "None" or "nan". Also here: free text without phone numbers and
emails (`scrub`), and UTC timestamps to the millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from ingest.redact import EMAIL_RE, PHONE_RE

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
    """The change from `before` to `now`: `+1.2 pp` (rates), `+0.5 s`, `+12 ms`, `+300` (counts; `0` if none)."""
    if missing(now) or missing(before):
        return MISSING
    if kind == "rate":
        return f"{(now - before) * 100:+.1f} pp"
    if kind == "seconds":
        return f"{now - before:+.1f} s"
    if kind == "ms":
        return f"{now - before:+,.0f} ms"
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
    """Free text (a note, a summary) without the phone numbers and emails written in it, found as ingest finds them
    (`ingest.redact`). Tokens redacted at ingest (`~3fa9c21b0d-0123`) stay: they are no personal data."""
    return PHONE_RE.sub("[phone]", EMAIL_RE.sub("[email]", free_text))
