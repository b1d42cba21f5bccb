"""Raw lines to typed events or rejects: a pure step, no I/O.

`parse_lines` turns each `RawLine` into an `Event` (one SDK postMessage or capture marker, with the fields that
matter pulled into typed columns and the whole message kept) or a `Reject` (the line and why). Nothing raises
for bad input: bytes that are not UTF-8, nesting deeper than the decoder goes, and a value its column cannot
hold (an id beyond 64 bits, a time no reader can show) each make that line a reject, so the writer never meets
them. An unknown message type is an event flagged `known_type=False`: new SDK versions add types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal, NamedTuple

import msgspec

from ingest import sdk
from ingest.instances import place_instances
from ingest.read import RawLine
from ingest.redact import Redactor

# Timestamps outside these bounds are typos or seconds-for-milliseconds, not SDK traffic (the SDK shipped 2018).
MIN_TS_MS = 1_514_764_800_000  # 2018-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_REJECT_TEXT = 65_536
# engagementId, portalId and userId are stored as BIGINT.
MIN_BIGINT, MAX_BIGINT = -(1 << 63), (1 << 63) - 1
# callStartTime is stored as a TIMESTAMP, which readers turn into Python datetimes: years 1 to 9999.
MIN_TIME_MS = -62_135_596_800_000  # 0001-01-01
MAX_TIME_MS = 253_402_300_800_000  # 10000-01-01


class Envelope(msgspec.Struct):
    """Capture format v1, one line (docs/capture-format-v1.md)."""

    ts: int | float | str
    direction: Literal["to_hubspot", "from_hubspot", "capture"]
    message: dict[str, Any]
    instance: str | int | None = None
    tab: str | int | None = None
    app: str | None = None
    sdk_version: str | None = None
    url: str | None = None
    event_id: str | int | None = None


class Event(NamedTuple):
    """One stored row of `events` (without load_id). The writer's Arrow batch has a column per field, named after
    it, and is inserted by name; `ingest.schema.EVENT_COLUMNS` gives each field its Arrow type and table column."""

    event_key: bytes
    source: str
    line_no: int
    ts_ms: int
    direction: str
    instance: str | None
    instance_source: str  # field | message_id | inferred | unknown
    tab: str | None
    app: str | None
    sdk_version: str | None
    url: str | None
    type: str
    known_type: bool
    message_id: str | None
    external_call_id: str | None
    engagement_id: int | None
    call_end_status: str | None
    iframe_location: str | None
    uses_calling_window: bool | None
    portal_id: int | None
    user_id: int | None
    owner_id: str | None
    from_number: str | None
    to_number: str | None
    error_message: str | None
    error_type: str | None
    caller_id_matches: int | None
    caller_id_types: list[str] | None
    create_engagement: bool | None
    call_start_ms: int | None
    message: str
    redacted: bool


class Reject(msgspec.Struct):
    source: str
    line_no: int
    text: str
    reason: str


_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder(order="sorted")
_plain_encoder = msgspec.json.Encoder()


def parse_ts(value: int | float | str) -> int:
    """Epoch milliseconds from a number of ms or an ISO-8601 string with an offset; ValueError otherwise."""
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"ts {value[:40]!r} is neither epoch milliseconds nor ISO-8601") from None
        if dt.tzinfo is None:
            raise ValueError("ts is an ISO-8601 time without an offset (add Z or +hh:mm)")
        ms = round(dt.timestamp() * 1000)
    else:
        ms = int(value)
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise ValueError(f"ts {value} is not epoch milliseconds between 2018 and 2100")
    return ms


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        return int(value)  # over 4,300 digits: ValueError, and the line is a reject
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # early inbound demos sent "true"
        return value.lower() == "true"
    return None


def _end_status(value: Any) -> str | None:
    status = _str(value)
    if status is None:
        return None
    status = status.strip().upper()
    return status.removeprefix("INTERNAL_")  # an app that logged the JS constant name meant the value


def _error(message: dict[str, Any], data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(error_message, error_type) of a *_FAILED reply or an ERROR message."""
    error = data.get("error")
    if isinstance(error, dict):
        return _str(error.get("message")), _str(error.get("type"))
    if isinstance(error, str):
        return error, None
    if message.get("type") == "ERROR":
        kind = _str(data.get("type"))
        if kind == sdk.UNKNOWN_MESSAGE_TYPE_ERROR:
            original = (data.get("data") or {}).get("originalMessage") if isinstance(data.get("data"), dict) else None
            original_type = _str(original.get("type")) if isinstance(original, dict) else None
            return f"unknown message type {original_type}" if original_type else None, kind
        return _str(data.get("message")), kind
    return None, None


def _caller_id(data: dict[str, Any]) -> tuple[int | None, list[str] | None]:
    matches = data.get("callerIdMatches")
    if not isinstance(matches, list):
        return None, None
    types = sorted({m["callerIdType"] for m in matches if isinstance(m, dict) and isinstance(m.get("callerIdType"), str)})
    return len(matches), types


def _message_instance(message_id: str | None) -> str | None:
    if not message_id or "_" not in message_id:
        return None
    prefix = message_id.split("_", 1)[0]
    return prefix or None


def event_key(envelope_line: bytes, event_id: str | int | None) -> bytes:
    """Idempotency key: the capture's own event_id when it has one, else a hash of the canonical record."""
    material = b"id:" + str(event_id).encode() if event_id not in (None, "") else b"rec:" + envelope_line
    return hashlib.blake2b(material, digest_size=16).digest()


def parse_line(raw: RawLine, redactor: Redactor | None = None) -> Event | Reject:
    """One line → its `Event`, or a `Reject` with the reason; never raises for what the line holds."""
    if raw.error:
        return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), raw.error)
    try:
        item = _parse(raw, redactor)
    except RecursionError:
        reason = "nested too deeply to read"
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    except (ValueError, OverflowError) as exc:  # a value Python cannot even convert (e.g. an int of 5,000 digits)
        reason = f"a value cannot be read ({exc})"[:200]
    else:
        if isinstance(item, Reject):
            return item
        problem = _unstorable(item)
        if problem is None:
            return item
        reason = problem
    return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), reason)


def _unstorable(event: Event) -> str | None:
    """Why one of the event's typed values cannot be stored, or None."""
    engagement, portal, user, start = event.engagement_id, event.portal_id, event.user_id, event.call_start_ms
    if engagement is None and portal is None and user is None and start is None:
        return None  # most messages carry none of them
    for field, value in (("engagementId", engagement), ("portalId", portal), ("userId", user)):
        if value is not None and not MIN_BIGINT <= value <= MAX_BIGINT:
            return f"{field} {_shown(value)} does not fit a 64-bit integer"
    if start is not None and not MIN_TIME_MS <= start < MAX_TIME_MS:
        return f"callStartTime {_shown(start)} is not epoch milliseconds between the years 1 and 9999"
    return None


def _shown(number: int) -> str:
    text = str(number)
    return text if len(text) <= 30 else f"{text[:24]}… ({len(text)} digits)"


def _parse(raw: RawLine, redactor: Redactor | None) -> Event | Reject:
    try:
        env = _decoder.decode(raw.text)
    except msgspec.ValidationError as exc:
        return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), f"not a capture record: {exc}")
    except msgspec.DecodeError as exc:
        return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), f"not JSON: {exc}")
    message = env.message
    msg_type = message.get("type")
    if not isinstance(msg_type, str) or not msg_type.strip():
        return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), "message has no string `type`")
    try:
        ts_ms = parse_ts(env.ts)
    except (ValueError, OverflowError) as exc:
        return Reject(raw.source, raw.line_no, _reject_text(raw.text, redactor), _reason(str(exc), redactor))

    key = event_key(_encoder.encode(env), env.event_id)
    url = env.url
    if redactor is not None:
        message = redactor.walk(message)
        url = redactor.url(url) if url else url
    data = message.get("data")
    data = data if isinstance(data, dict) else {}
    message_id = _str(message.get("messageId"))

    instance, instance_source = _str(env.instance), "field"
    if instance is None and env.direction == "to_hubspot" and msg_type != "SYNC_ACK":
        # The app's messageIds are `<instanceId>_<Date.now()>`; SYNC_ACK copies HubSpot's SYNC id instead.
        instance, instance_source = _message_instance(message_id), "message_id"
    if instance is None:
        instance_source = "unknown"

    sync = msg_type in sdk.HANDSHAKE_TYPES  # the handshake carries its fields top-level, not in data
    failure = msg_type == "ERROR" or msg_type.endswith("_FAILED")
    error_message, error_type = _error(message, data) if failure else (None, None)
    matches, match_types = _caller_id(data) if msg_type == "CALLER_ID_MATCH_SUCCEEDED" else (None, None)
    sdk_version = env.sdk_version or (_str(message.get("version")) if msg_type == "SYNC_ACK" else None)
    if data:
        to_number = data.get("toNumber") or data.get("phoneNumber") or data.get("phone_number")
        external_call_id, engagement_id = _str(data.get("externalCallId")), _int(data.get("engagementId"))
        from_number, to_number = _str(data.get("fromNumber")), _str(to_number)
        end_status = _end_status(data.get("callEndStatus"))
        create_engagement, call_start_ms = _bool(data.get("createEngagement")), _int(data.get("callStartTime"))
    else:
        external_call_id = engagement_id = from_number = to_number = end_status = None
        create_engagement = call_start_ms = None

    return Event(
        key, raw.source, raw.line_no, ts_ms, env.direction, instance, instance_source, _str(env.tab), env.app,
        sdk_version, url, msg_type, sdk.is_known_type(msg_type), message_id, external_call_id,
        _int(message.get("engagementId")) if sync else engagement_id, end_status,
        _str(message.get("iframeLocation")) if sync else None,
        _bool(message.get("usesCallingWindow")) if sync else None,
        _int(message.get("portalId")) if sync else None,
        _int(message.get("userId")) if sync else None,
        _str(message.get("ownerId")) if sync else None,
        from_number, to_number, error_message, error_type, matches, match_types, create_engagement, call_start_ms,
        _plain_encoder.encode(message).decode(), redactor is not None,
    )


def _reject_text(text: bytes, redactor: Redactor | None) -> str:
    decoded = text[:MAX_REJECT_TEXT].decode("utf-8", errors="replace")
    return redactor.text(decoded) if redactor is not None else decoded


def _reason(reason: str, redactor: Redactor | None) -> str:
    """A reason that quotes a value of the line (`ts '…' is neither…`), redacted like the line."""
    return redactor.text(reason) if redactor is not None else reason


def parse_lines(lines: Iterable[RawLine], redactor: Redactor | None = None) -> Iterator[Event | Reject]:
    """Parse a stream in order: `parse_line` on each line, then `place_instances`."""
    return place_instances(parse_line(raw, redactor) for raw in lines)
