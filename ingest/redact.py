"""Redaction of personal data (phone numbers, names, emails) before anything is stored.

Values become stable keyed hashes: the same number gives the same token under the same key, so calls can still
be joined and searched, and phone tokens keep the last 4 digits (`~3fa9c21b0d-7768`) for "last digits" search.
The key comes from CALLSCOPE_REDACT_KEY, else from a `redact.key` file created beside the database.

Where personal data is found:
- by key, anywhere in a message: phone keys (`fromNumber`, `hs_call_to_number`, any key naming a phone or a
  number), name keys (`firstName`, `lastName`, `name`: ContactIdMatch and CompanyIdMatch in the SDK's types.ts)
  and `email`; in URLs, query parameters with those names.
- in free text (every other string: error messages, `hs_call_title`, `hs_call_body`, notes, URLs, rejected
  lines, reasons): emails, phone numbers (`personal_spans`), and the names this Redactor has learned.
- names are learned from the name keys as the log reveals them (a caller-ID reply), then found in every later
  free text the same Redactor sees: one import for `ingest load` (its files, in order); the collector's whole
  run for `ingest serve`, which reads each request body for names before redacting it (order inside a batch
  does not matter). Names stay in memory, never written anywhere, not even hashed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

import ijson
import msgspec
import phonenumbers

# Keys whose values are phone numbers in SDK payloads (INCOMING_CALL, OUTGOING_CALL_STARTED, DIAL_NUMBER,
# CALL_COMPLETED.engagementProperties).
PHONE_KEYS = frozenset({
    "fromNumber", "toNumber", "phoneNumber", "phone_number", "hs_call_from_number", "hs_call_to_number",
})
# Other keys an app may put a bare number under (`callerNumber`, `tel`, `msisdn`, `?phone=` in a URL).
PHONE_KEY_RE = re.compile(r"(?i)phone|number$|_number|^tel$|msisdn|^(?:to|from|dial|caller|callee)$")
PHONE_VALUE_RE = re.compile(r"(?!\d{4}-\d\d-\d\d)\+?(?:[\s().-]*\d){7,}[\s().-]*")  # not a date
# ContactIdMatch.firstName/lastName, CompanyIdMatch.name.
NAME_KEYS = frozenset({"firstName", "lastName", "name"})
EMAIL_KEYS = frozenset({"email"})
# Envelope fields and message fields holding a URL (SYNC's hostUrl, SYNC_ACK's iFrameUrl, a recording).
URL_KEYS = frozenset({"url", "hostUrl", "iFrameUrl", "hs_call_recording_url"})
# Envelope fields that identify records: ids the capture makes up, never free text, kept as they are (the
# collector checks `app` against the token's app).
ENVELOPE_IDS = frozenset({"direction", "instance", "tab", "app", "sdk_version", "event_id"})

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number in free text: "+" then 7+ digits (spaces, dots, dashes, brackets allowed between them), or a
# quoted run of 7-15 such digits. Other numbers are found by `phonenumbers` (see `personal_spans`).
PHONE_RE = re.compile(r"\+\d(?:[\s().-]{0,2}\d){6,}|(?<=\")\d(?:[\s().-]?\d){6,14}(?=\")")
GROUPED_DIGITS_RE = re.compile(r"\d\)?[\s.-]{1,2}\(?\d")
# `phonenumbers` costs ~25 µs a string, up to ~12 µs a character of numbers written back to back: past these
# bounds (a long text; what the collector reads of one request body) the loose rule takes over, so no input buys
# unbounded CPU (a body: ~1 s at most).
MATCHER_MAX_CHARS = 4_096
MATCHER_CHARS_PER_BODY = 65_536
# Digit groups with separators (7+ digits in all, checked apart): every way of writing numbers, some dates.
LOOSE_PHONE_RE = re.compile(r"(?<![\w.+-])\(?\d{1,7}\)?(?:[\s.-]{1,2}\(?\d{1,7}\)?){1,6}(?!\w|[.-]\d)")
# A North American number: (415) 555-0123, 415.555.0188, 1-800-555-0100, 555 0166.
NANP_RE = re.compile(r"(?<![\w+])(?:1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)?\d{3}[\s.-]\d{4}(?![\d])")
IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# Numbers without "+" are read as numbers of this region (`415-555-0199`, `(415) 555-0123`, `555 0166`).
DEFAULT_REGION = "US"
# What redaction writes: never redacted again, never read as a number or a name.
TOKEN_RE = re.compile(r"~[0-9a-f]{10}(?:-\d{0,4})?")
# In a line that is not valid JSON (a reject): `"firstName": "Ada"` and the like.
JSON_FIELD_RE = re.compile(r'"(\w+)"\s*:\s*"((?:[^"\\]|\\.)*)"')
NAME_WORD_RE = re.compile(r"[^\W\d_]+")  # letters only: `Ada_Lovelace`, `Ada%20Lovelace` hold two words
MIN_NAME_CHARS = 2  # a one-letter "name" would mask every `a` in every message
MAX_NAMES = 200_000  # ~60 MB: past this (a flood of made-up names), fields are still redacted, texts not searched
MEMO_ENTRIES, MEMO_MAX_CHARS = 8_192, 2_048  # the free texts remembered redacted: how many, how long at most

REDACT_KEY_ENV = "CALLSCOPE_REDACT_KEY"
UNREADABLE = (msgspec.DecodeError, RecursionError, ValueError)  # ValueError: bytes that are not UTF-8, too

Span = tuple[int, int, str]  # start, end, kind: email | phone | name


def load_key(key_dir: Path) -> bytes:
    env = os.environ.get(REDACT_KEY_ENV)
    if env:
        return env.encode()
    key_file = key_dir / "redact.key"
    if not key_file.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text().strip().encode()


@functools.lru_cache(maxsize=4096)
def _names_a_phone(key: str) -> bool:
    return PHONE_KEY_RE.search(key) is not None


def _is_phone(key: str, value: str) -> bool:
    """A phone key's value: always under the SDK's phone keys; under a key that only looks like one (`tel`,
    `callerNumber`), when the value is a number (7+ digits, nothing but digits and separators)."""
    return key in PHONE_KEYS or (_names_a_phone(key) and PHONE_VALUE_RE.fullmatch(value) is not None)


def personal_spans(text: str, *, may_match: Callable[[int], bool] | None = None) -> list[Span]:
    """Where `text` holds an email or a phone number: the one detection used by ingest and by the displays.

    Phone numbers: "+" and 7+ digits; a quoted digit run; what `phonenumbers` finds as a possible number of
    DEFAULT_REGION written with separators (`415.555.0188`, `415-555-0199`, `(415) 555-0123`, `555 0166`); and
    every number of that shape (NANP_RE), which the matcher misreads when numbers follow each other.
    A bare digit run (`1764072000000`, `4455123`) is left alone: in this log those are timestamps and ids (a
    bare number is found by its key instead: `fromNumber`, `?phone=`); so is an IPv4 address.
    Tokens written by redaction (`~3fa9c21b0d-0123`) are never matched. `phonenumbers` only reads a text with
    digits grouped as in a number (LOOSE_PHONE_RE); when `may_match(len)` says no, or the text is over
    MATCHER_MAX_CHARS, LOOSE_PHONE_RE's matches are the numbers: it masks more (dates, IPs), never less.
    """
    spans: list[Span] = []
    if "@" in text:
        spans += [(m.start(), m.end(), "email") for m in EMAIL_RE.finditer(text)]
    if "+" in text or '"' in text:
        spans += [(m.start(), m.end(), "phone") for m in PHONE_RE.finditer(text)]
    grouped = GROUPED_DIGITS_RE.search(text) and [
        m.span() for m in LOOSE_PHONE_RE.finditer(text) if sum(c.isdigit() for c in m.group()) >= 7]
    if grouped:
        spans += [(m.start(), m.end(), "phone") for m in NANP_RE.finditer(text)]
    if grouped and len(text) <= MATCHER_MAX_CHARS and (may_match is None or may_match(len(text))):
        spans += _apart([(m.start, m.end, "phone") for m in phonenumbers.PhoneNumberMatcher(
            text, DEFAULT_REGION, leniency=phonenumbers.Leniency.POSSIBLE)
            if not m.raw_string.isdigit() and not IPV4_RE.fullmatch(m.raw_string)], spans)
    elif grouped:
        spans += [(start, end, "phone") for start, end in grouped]
    return _apart(spans, (m.span() for m in TOKEN_RE.finditer(text))) if "~" in text else spans


def _apart(spans: list[Span], others: Iterable[tuple[int, ...]]) -> list[Span]:
    """`spans` without those that overlap one of `others`."""
    others = list(others)
    return [s for s in spans if not any(s[0] < o[1] and o[0] < s[1] for o in others)]


def replace_spans(text: str, spans: list[Span], replacement: Callable[[str, str], str]) -> str:
    """`text` with each span replaced by `replacement(kind, matched text)`; of overlapping spans the one that
    starts first (the longest of those) wins."""
    out, at = [], 0
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < at:
            continue
        out += [text[at:start], replacement(kind, text[start:end])]
        at = end
    return "".join(out) + text[at:] if out else text


class Names:
    """The names a log revealed, to find them again in free text: word sequences, indexed by their first word.

    A name is all the words of one name field (`Ada`, `Lovelace`, `Analytical Engines`), compared case-blind
    and whole-word. Safe to share between threads: each first word's entry is replaced, never changed.
    """

    def __init__(self) -> None:
        self._by_first: dict[str, frozenset[tuple[str, ...]]] = {}
        self._lock = threading.Lock()
        self.learned = 0  # how many names (a text redacted with fewer known names is redacted again)

    def learn(self, name: str) -> None:
        words = tuple(NAME_WORD_RE.findall(name.casefold()))
        if not words or sum(map(len, words)) < MIN_NAME_CHARS or words in self._by_first.get(words[0], ()) \
                or self.learned >= MAX_NAMES:
            return
        with self._lock:
            self._by_first[words[0]] = self._by_first.get(words[0], frozenset()) | {words}
            self.learned += 1

    def spans(self, text: str) -> list[Span]:
        if not self._by_first or not any(w in self._by_first for w in NAME_WORD_RE.findall(text.casefold())):
            return []
        words = [(m.start(), m.end(), m.group().casefold()) for m in NAME_WORD_RE.finditer(text)]
        spans, i = [], 0
        while i < len(words):
            longest = max((len(name) for name in self._by_first.get(words[i][2], ())
                           if tuple(w[2] for w in words[i:i + len(name)]) == name), default=0)
            if longest:
                spans.append((words[i][0], words[i + longest - 1][1], "name"))
            i += longest or 1
        return spans


class Redactor:
    def __init__(self, key: bytes):
        self._key = key
        self.names = Names()
        self._chars_left = threading.local()  # what `phonenumbers` may still read of the body redacted here
        self._done: dict[tuple[str, str, int], str] = {}  # texts and URLs repeat: redacted once per set of names

    def _may_match(self, chars: int) -> bool:
        """Whether `phonenumbers` may read one more text: not past MATCHER_CHARS_PER_BODY of the body redacted."""
        left = getattr(self._chars_left, "n", None)
        if left is None:
            return True
        self._chars_left.n = left - chars
        return left >= chars

    def token(self, value: str) -> str:
        digest = hmac.new(self._key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:10]
        return f"~{digest}"

    def phone(self, value: str) -> str:
        digits = re.sub(r"\D", "", value)
        return f"{self.token(digits)}-{digits[-4:]}"

    def value(self, key: str, value: Any) -> Any:
        """One field's value: by its key (phone, name, email, URL), else as free text."""
        if not isinstance(value, str) or not value or value.startswith("~"):
            return value
        if _is_phone(key, value):
            return self.phone(value)
        if key in NAME_KEYS:
            self.names.learn(value)
            return self.token(value)
        if key in EMAIL_KEYS:
            return self.token(value)
        if key in URL_KEYS or value.startswith(("http://", "https://")):
            return self.url(value)
        return self.text(value)

    def walk(self, obj: Any) -> Any:
        """A copy of `obj` with every personal value replaced; the input is not changed. Names anywhere in `obj`
        are learned before its free text is redacted. No recursion: any depth is fine."""
        holder: list[Any] = [None]
        stack: list[tuple[Any, Any, str, Any]] = [(holder, 0, "", obj)]
        free: list[tuple[Any, Any, str, str]] = []  # (container, slot, key, text), done once all names are known
        while stack:
            container, slot, key, value = stack.pop()
            if isinstance(value, dict):
                copy = container[slot] = dict(value)
                for at, item in value.items():
                    if isinstance(item, str):
                        if item and at not in NAME_KEYS:
                            free.append((copy, at, at, item))
                        else:
                            copy[at] = self.value(at, item)
                    elif isinstance(item, (dict, list)):
                        stack.append((copy, at, at, item))
            elif isinstance(value, list):
                copy = container[slot] = list(value)
                for i, item in enumerate(value):
                    if isinstance(item, str) and item:
                        free.append((copy, i, "", item))
                    elif isinstance(item, (dict, list)):
                        stack.append((copy, i, "", item))
            else:
                container[slot] = self.value(key, value)
        for container, slot, key, value in free:
            container[slot] = self.value(key, value)
        return holder[0]

    def text(self, raw: str) -> str:
        """Free text (a message's string, a rejected line, a reason): emails, phone numbers, `"name": "…"`
        fields of a line that is not JSON, and every name learned so far."""
        return self._remembered("text", raw, self._text)

    def _remembered(self, kind: str, raw: str, redact: Callable[[str], str]) -> str:
        if len(raw) > MEMO_MAX_CHARS:
            return redact(raw)
        key = (kind, raw, self.names.learned)
        done = self._done.get(key)
        if done is None:
            if len(self._done) >= MEMO_ENTRIES:
                self._done = {}
            done = self._done[key] = redact(raw)
        return done

    def _text(self, raw: str) -> str:
        spans = self._json_fields(raw) if '"' in raw else []
        spans += personal_spans(raw, may_match=self._may_match)
        spans += self.names.spans(raw)
        if not spans:
            return raw
        if "~" in raw:
            spans = _apart(spans, (m.span() for m in TOKEN_RE.finditer(raw)))
        return replace_spans(raw, spans, self._replacement)

    def _replacement(self, kind: str, found: str) -> str:
        if kind == "phone":
            return self.phone(found)
        if kind.startswith("field:"):
            return self.value(kind[6:], found)
        return self.token(found)

    def _json_fields(self, raw: str) -> list[Span]:
        """The value spans of name, email and phone fields written as JSON text (`"firstName": "Ada"` in a line
        the decoder could not read, or in a message quoting JSON); names among them are learned."""
        spans = []
        for m in JSON_FIELD_RE.finditer(raw):
            key, value = m.group(1), m.group(2)
            if key in NAME_KEYS or key in EMAIL_KEYS or _is_phone(key, value):
                if key in NAME_KEYS:
                    self.names.learn(value)
                spans.append((m.start(2), m.end(2), f"field:{key}"))
        return spans

    def url(self, url: str) -> str:
        """A URL with the personal data in its path, query and fragment replaced (query values by their name)."""
        return self._remembered("url", url, self._url)

    def _url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        path, fragment = _requoted(parts.path, self.text), parts.fragment
        if "=" in fragment:
            head, _, query = fragment.rpartition("?")
            fragment = (head + "?" if head else "") + self._query(query)
        else:
            fragment = _requoted(fragment, self.text)
        return urlunsplit((parts.scheme, parts.netloc, path, self._query(parts.query), fragment))

    def _query(self, query: str) -> str:
        pairs = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            key = unquote_plus(name)
            pairs.append(name + eq + _requoted(value, lambda v, key=key: self.value(key, v) if v else v))
        return "&".join(pairs)

    def line(self, raw: bytes) -> bytes:
        """One capture record (a line of a request body) with its personal data replaced, for the collector's
        spool: the message and URL as at ingest, other unknown fields too; ids and direction unchanged. A line
        that is not JSON keeps its bytes except the personal data (so it is rejected as before)."""
        try:
            record = msgspec.json.decode(raw)
        except UNREADABLE:
            return self.text(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if not isinstance(record, (dict, list, str)):
            return raw  # a number, true, false, null: nothing personal in it
        if not isinstance(record, dict):
            return msgspec.json.encode(self.walk(record))
        rest = self.walk({k: v for k, v in record.items() if k not in ENVELOPE_IDS})
        return msgspec.json.encode({k: v if k in ENVELOPE_IDS else rest[k] for k, v in record.items()})

    def body(self, body: bytes) -> bytes:
        """A request body (NDJSON, or one JSON array) as NDJSON with the personal data replaced, line k holding
        record k (the request's line numbers). Names anywhere in the body are learned first. An array that is not
        valid JSON keeps its bytes except the personal data (the reader rejects it as it would have). Memory:
        about twice the body (its lines, then what is kept); `phonenumbers` reads MATCHER_CHARS_PER_BODY of it."""
        self._chars_left.n = MATCHER_CHARS_PER_BODY  # for both passes: learning names, then redacting
        try:
            return self._body(body)
        finally:
            self._chars_left.n = None

    def _body(self, body: bytes) -> bytes:
        if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            try:
                self.learn_names(item for item in _array_items(body) if b"Name" in item or b'"name"' in item)
            except (ijson.JSONError, *UNREADABLE):
                return self.line(body)
            records: Callable[[], Iterable[bytes]] = lambda: _array_items(body)  # noqa: E731
        else:
            self.learn_names(line for line in _ndjson_lines(body) if b"Name" in line or b'"name"' in line)
            records = lambda: _ndjson_lines(body)  # noqa: E731
        out = bytearray()
        for line in records():
            out += self.line(line) if line else b""
            out += b"\n"
        return bytes(out)

    def learn_names(self, lines: Iterable[bytes]) -> None:
        """Learn the names held by these records' name fields (their redacted copies are dropped)."""
        for line in lines:
            try:
                self.walk(msgspec.json.decode(line))
            except UNREADABLE:
                self._json_fields(line.decode("utf-8", "replace"))


def _ndjson_lines(body: bytes) -> Iterator[bytes]:
    """Each line of `body`, stripped (an empty line stays, so line numbers do not move)."""
    return (line.strip() for line in body.removesuffix(b"\n").split(b"\n")) if body else iter(())


def _array_items(body: bytes) -> Iterator[bytes]:
    """Each element of a JSON array, as JSON (the reader's `ijson` reading of it, element by element)."""
    for item in ijson.items(io.BytesIO(body), "item", use_float=True):
        yield msgspec.json.encode(item)


def _requoted(part: str, redact: Callable[[str], str]) -> str:
    """A percent-encoded URL part, redacted as plain text; re-encoded only when something was replaced."""
    plain = unquote(part)
    redacted = redact(plain)
    return part if redacted == plain else quote(redacted, safe="/~:@!$'()*+,;")
