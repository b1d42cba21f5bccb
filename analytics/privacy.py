"""Personal data masked for the people who may not see it: a phone number shows its last 4 digits (`•••0833`), a
name its initials (`A. H.`), an email its first letter and domain (`a•••@silverline.example.com`).

The dashboard masks what it shows, never what it stores or queries: searches still match whole numbers, and the
masking is applied to the values a page draws or a download holds (`mask_frame` for tables, `mask_trace` for one
call's replay, `mask_text` for free text such as a note). Who may see personal data is the dashboard's setting
(ui/access.py); without sign-in configured, everything shows in full (local use).

Personal data is found the way ingest finds it before storing (`ingest.redact`): by key in a message (`fromNumber`,
`firstName`, `email`, `?phone=` in a URL), and in free text (phone numbers, emails, and the names the same call
revealed). Tokens written by redaction at ingest (`~3fa9c21b0d-0833`) are no personal data and stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd

from analytics.replay.trace import CallTrace
from ingest.redact import NAME_WORD_RE, Redactor

MASK = "•••"
# Table columns by what they hold. Other columns (ids, counts, outcomes, times) carry no personal data.
PHONE_COLUMNS = frozenset({"from_number", "to_number", "phone_number"})
NAME_COLUMNS = frozenset({"caller_name", "contact_name", "company_name"})
EMAIL_COLUMNS = frozenset({"email", "contact_email"})
# Free text that may quote a person: a rejected line, a HubSpot error message, a note.
TEXT_COLUMNS = frozenset({"raw", "error", "engagement_error", "caller_id_error", "message", "note", "reason"})
# The `calls` row's fields in a trace, by the same kinds.
CALL_PHONE_FIELDS = ("from_number", "to_number")
CALL_TEXT_FIELDS = ("engagement_error", "caller_id_error", "never_ended_because")


def mask_phone(value: str) -> str:
    """`+44 20 7946 0833` → `•••0833` (its last 4 digits); a value with no digit → `•••`."""
    digits = re.sub(r"\D", "", value)
    return f"{MASK}{digits[-4:]}"


def initials(name: str) -> str:
    """`Ana Haddad` → `A. H.`; `Ironbark Foods` → `I. F.`"""
    letters = [word[0].upper() for word in NAME_WORD_RE.findall(name)]
    return " ".join(f"{letter}." for letter in letters) or MASK


def mask_email(value: str) -> str:
    """`ana.haddad@silverline.example.com` → `a•••@silverline.example.com`."""
    local, at, domain = value.strip().partition("@")
    return f"{local[:1]}{MASK}@{domain}" if at else MASK


class Masker(Redactor):
    """ingest's Redactor with masks in place of keyed tokens: the same detection (keys, free text, names learned
    from the messages walked), a different replacement. One per call or table: it learns that call's names."""

    def __init__(self) -> None:
        super().__init__(key=b"")  # no token is ever keyed: `token` and `phone` are replaced below

    def token(self, value: str) -> str:
        """What the Redactor hashes, masked instead: an email (name and email keys, and spans of free text)."""
        return mask_email(value) if "@" in value else initials(value)

    def phone(self, value: str) -> str:
        return mask_phone(value)


def mask_text(text: str | None, masker: Masker | None = None) -> str | None:
    """Free text without its phone numbers, emails and (with a masker that learned them) names."""
    if not isinstance(text, str) or not text:
        return text
    return (masker or Masker()).text(text)


def _column(values: pd.Series, mask) -> pd.Series:
    return values.map(lambda v: mask(v) if isinstance(v, str) and v and not v.startswith("~") else v)


def mask_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table with its personal columns masked (by name: PHONE_, NAME_, EMAIL_ and TEXT_COLUMNS)."""
    personal = [c for c in frame.columns if c in PHONE_COLUMNS | NAME_COLUMNS | EMAIL_COLUMNS | TEXT_COLUMNS]
    if not personal:
        return frame
    masker, masked = Masker(), frame.copy()
    for name in personal:
        if name in PHONE_COLUMNS:
            masked[name] = _column(frame[name], mask_phone)
        elif name in NAME_COLUMNS:
            masked[name] = _column(frame[name], initials)
        elif name in EMAIL_COLUMNS:
            masked[name] = _column(frame[name], mask_email)
        else:
            masked[name] = _column(frame[name], masker.text)
    return masked


def last_digits_only(search: dict) -> dict:
    """Search parameters (`digits`: what a person typed as a number) for a viewer who sees numbers masked: a number
    then matches on its last 4 digits, the ones shown, so a search cannot confirm a whole number they may not see."""
    digits = search.get("digits")
    return {**search, "digits": digits[-4:]} if digits else search


def mask_trace(trace: CallTrace) -> CallTrace:
    """A copy of a call's trace with its personal data masked: every message (names anywhere in the call are
    learned first, then found in its free text), their error messages and URLs, and the call's numbers and errors.
    Everything the replay derives from the copy (findings, states, timeline, the downloads) is masked with it."""
    masker = Masker()
    bodies = masker.walk([m.message for m in trace.messages])
    messages = [replace(m, message=body, error_message=mask_text(m.error_message, masker),
                        url=masker.url(m.url) if m.url else m.url)
                for m, body in zip(trace.messages, bodies, strict=True)]
    call = dict(trace.call)
    for name in CALL_PHONE_FIELDS:
        if isinstance(call.get(name), str) and call[name] and not call[name].startswith("~"):
            call[name] = mask_phone(call[name])
    for name in CALL_TEXT_FIELDS:
        call[name] = mask_text(call.get(name), masker)
    return replace(trace, call=call, messages=messages)
