"""Sources to raw lines: paths, `-` for stdin, gzip by its magic bytes, NDJSON or one JSON array.

Nothing here parses a record; it only yields `RawLine`s, one per NDJSON line or array element, streaming
(memory stays flat however big the file): a line over MAX_LINE_BYTES is cut short and yielded as an error, the
rest of it skipped unread into memory.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import ijson
import msgspec

from ingest.errors import UnreadableSource

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20
# A capture record is a few hundred bytes (the capture script sends whole batches of at most 48 KiB); a longer
# "line" is garbage, and holding it whole would let one file or request take any amount of memory and CPU.
MAX_LINE_BYTES = 1 << 20
KEPT_BYTES = 1_024  # of a line over MAX_LINE_BYTES, kept for its reject
STDIN = "-"


@dataclass(frozen=True, slots=True)
class RawLine:
    source: str
    line_no: int  # 1-based line in an NDJSON file, 1-based element index in a JSON array
    text: bytes
    error: str | None = None  # set when the reader itself could not cut a record out (broken array)


def source_size(path: str) -> int | None:
    """Bytes on disk, for a progress bar; None for stdin."""
    return None if path == STDIN else os.path.getsize(path)


def _open_binary(path: str) -> BinaryIO:
    if path == STDIN:
        return sys.stdin.buffer
    p = Path(path)
    if p.is_dir():
        raise UnreadableSource(f"{path} is a folder", "Pass the log files inside it, e.g. `python -m ingest load {path}/*.ndjson`")
    try:
        return open(p, "rb")
    except FileNotFoundError:
        raise UnreadableSource(f"{path} does not exist", "Check the path") from None
    except OSError as exc:
        raise UnreadableSource(f"cannot read {path}: {exc.strerror}", "Check the file's permissions") from None


def _peekable(raw: BinaryIO) -> io.BufferedReader:
    return raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]


def read_lines(path: str, counter: list[int] | None = None, name: str | None = None, *,
               plain: bool = False) -> Iterator[RawLine]:
    """Yield every record of one source, named `name` (default: the path). `counter[0]` follows the bytes
    consumed on disk (for a progress bar). `plain`: the source is NDJSON as it stands, never un-gzipped or read
    as an array (the collector's spool segments: their body was un-gzipped once already)."""
    return _read(path, counter, name, plain, blocks=False)  # type: ignore[return-value]


def read_blocks(path: str, counter: list[int] | None = None, name: str | None = None, *,
                plain: bool = False) -> Iterator[LineBlock | RawLine]:
    """The same records as `read_lines`, NDJSON cut in bulk: a `LineBlock` per chunk read (a `RawLine` for each
    array element and each line the reader itself rejects)."""
    return _read(path, counter, name, plain, blocks=True)


def _read(path: str, counter: list[int] | None, name: str | None, plain: bool, *,
          blocks: bool) -> Iterator[LineBlock | RawLine]:
    raw = _open_binary(path)
    try:
        yield from read_stream(name or path, _peekable(raw), counter, plain=plain, blocks=blocks)
    finally:
        if path != STDIN:
            raw.close()


def read_body(name: str, body: bytes, *, blocks: bool = False) -> Iterator[LineBlock | RawLine]:
    """The records of a request body already in memory and un-gzipped (never again): NDJSON or one JSON array."""
    stream = io.BufferedReader(io.BytesIO(body))
    if is_json_array(body[:4096]):
        return _array_elements(name, stream, None)
    return _ndjson_blocks(name, stream, None) if blocks else _ndjson_lines(name, stream, None)


def is_json_array(head: bytes) -> bool:
    """Whether data starting with `head` is read as one JSON array (else as NDJSON)."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def read_stream(name: str, stream: io.BufferedReader, counter: list[int] | None = None, *,
                plain: bool = False, blocks: bool = False) -> Iterator[LineBlock | RawLine]:
    """`read_lines` (or `read_blocks`) on an open stream."""
    ndjson = _ndjson_blocks if blocks else _ndjson_lines
    if plain:
        yield from ndjson(name, stream, counter)
        return
    if stream.peek(2)[:2] == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=_CountingReader(stream, counter))  # type: ignore[assignment]
        counter = None
    if is_json_array(stream.peek(4096)[:4096]):
        yield from _array_elements(name, stream, counter)
    else:
        yield from ndjson(name, stream, counter)


@dataclass(frozen=True, slots=True)
class LineBlock:
    """Consecutive records of one source, cut in bulk: `texts[i]` (stripped, never empty) is line `line_nos[i]`."""

    source: str
    line_nos: Sequence[int]
    texts: list[bytes]


def _ndjson_lines(path: str, stream: io.BufferedReader, counter: list[int] | None) -> Iterator[RawLine]:
    for item in _ndjson_blocks(path, stream, counter):
        if isinstance(item, RawLine):
            yield item
        else:
            yield from map(RawLine, itertools.repeat(path), item.line_nos, item.texts)


def _ndjson_blocks(path: str, stream: io.BufferedReader, counter: list[int] | None) -> Iterator[LineBlock | RawLine]:
    """Lines cut from chunks (`read1`), so a damaged gzip stream still yields every line before the damage: a
    `LineBlock` per chunk read, a `RawLine` for each line the reader itself rejects. A line over MAX_LINE_BYTES is
    yielded as an error as soon as it is that long; the rest of it is read and dropped."""
    line_no = 0
    tail = b""
    skipping = False  # inside a line already yielded as too long: drop bytes up to its end
    while True:
        try:
            chunk = stream.read1(CHUNK_BYTES)
        except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
            yield RawLine(path, line_no + 1, tail[:200], f"file is damaged here ({type(exc).__name__}: {exc})")
            return
        if counter is not None:
            counter[0] += len(chunk)
        if not chunk:
            break
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            chunk, skipping = chunk[end + 1:], False
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield from _cut(path, line_no, lines)
        line_no += len(lines)
        if len(tail) > MAX_LINE_BYTES:
            line_no += 1
            yield _too_long(path, line_no, tail)
            tail, skipping = b"", True
    if tail.strip():
        yield LineBlock(path, [line_no + 1], [tail.strip()])


def _cut(path: str, line_no: int, lines: list[bytes]) -> Iterator[LineBlock | RawLine]:
    """`lines` (numbered from line_no + 1) as blocks of stripped non-empty lines, too long ones as errors."""
    if lines and max(map(len, lines)) > MAX_LINE_BYTES:
        start = 0
        for i, line in enumerate(lines):
            if len(line) > MAX_LINE_BYTES:
                yield from _cut(path, line_no + start, lines[start:i])
                yield _too_long(path, line_no + i + 1, line)
                start = i + 1
        yield from _cut(path, line_no + start, lines[start:])
        return
    texts = [line.strip() for line in lines]
    if all(texts):
        numbers: Sequence[int] = range(line_no + 1, line_no + 1 + len(texts))
    else:
        numbers = [line_no + 1 + i for i, text in enumerate(texts) if text]
        texts = list(filter(None, texts))
    if texts:
        yield LineBlock(path, numbers, texts)


def _too_long(path: str, line_no: int, line: bytes) -> RawLine:
    return RawLine(path, line_no, line[:KEPT_BYTES], f"line over {MAX_LINE_BYTES:,} bytes")


def _array_elements(path: str, stream: io.BufferedReader, counter: list[int] | None) -> Iterator[RawLine]:
    index = 0
    source = _CountingReader(stream, counter) if counter is not None else stream
    try:
        for index, item in enumerate(ijson.items(source, "item", use_float=True), start=1):
            text = msgspec.json.encode(item)
            yield _too_long(path, index, text) if len(text) > MAX_LINE_BYTES else RawLine(path, index, text)
    except ijson.JSONError as exc:
        yield RawLine(path, index + 1, b"", f"JSON array is malformed after element {index}: {exc}")
    except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
        yield RawLine(path, index + 1, b"", f"file is damaged after element {index} ({type(exc).__name__}: {exc})")


class _CountingReader(io.RawIOBase):
    """Counts the bytes read through it, so a progress bar can follow compressed or array input."""

    def __init__(self, inner: BinaryIO, counter: list[int] | None):
        self._inner = inner
        self._counter = counter

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if self._counter is not None:
            self._counter[0] += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
