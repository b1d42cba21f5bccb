"""The collector's spool: an acknowledged batch is a file on disk before the 2xx goes out (`ingest.flusher`
loads the spool into the store through the file import's own steps).

- `Spool.accept(body)` checks the request body (already un-gzipped) with the importer's own reader and parser
  (`read_body`, `parse_lines`), at most MAX_BATCH_LINES lines, and writes it as one segment file under
  `<store>/spool/`: a temporary name, fsync, rename, fsync of the folder. A segment is a capture-format v1 log
  in NDJSON whose line k is the request's record k, so the answer's rejected lines are exactly those the import
  will reject. An NDJSON body is spooled verbatim, except that a record naming no `app` gets the token's (that
  line alone re-encoded); a JSON array becomes one line per element.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ingest import locks
from ingest.errors import CallscopeError
from ingest.manifest import fsync_dir, store_dir
from ingest.parse import Event, Reject, parse_lines
from ingest.read import RawLine, is_json_array, read_body
from ingest.redact import Redactor

TOOL = "collector"
SEGMENT_SUFFIX = ".ndjson"
# Records in one request at most: the capture script sends at most 48 KiB, a few hundred records. Each line costs
# a parse at once and a row later, so a small gzip body of millions of tiny lines is refused (413), not read.
MAX_BATCH_LINES = 10_000
QUARANTINE = "quarantine"  # the spool's sub-folder for segments that fail to load even alone
# Past this much unloaded data (the database stayed locked for long), the collector answers 503, not 2xx.
MAX_SPOOL_BYTES = 1 << 30

log = logging.getLogger("callscope.collector")


def spool_dir(db_path: Path) -> Path:
    return store_dir(db_path) / "spool"


@dataclass
class Receipt:
    """What one accepted request became: its segment, how many records it holds, which lines were rejected."""

    path: Path | None
    accepted: int
    rejects: list[Reject] = field(default_factory=list)


class TooManyLines(ValueError):
    """A request body holds more than MAX_BATCH_LINES lines; nothing was spooled."""


@dataclass(frozen=True)
class Quarantined:
    """A segment moved out of the way because it failed to load even alone."""

    path: Path
    size_bytes: int
    moved_at: float  # epoch seconds
    error: str


class AppMismatch(CallscopeError):
    """Lines name another app than the one whose token sent them; nothing was spooled."""

    def __init__(self, app: str, lines: list[tuple[int, str]]):
        super().__init__(f"{len(lines)} line(s) name another app than {app!r}", "Send each app's records with its own token")
        self.lines = lines


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a new Spool in this process: nothing of ours is in flight yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _size(path: Path) -> int:
    """A segment's bytes; 0 when it is gone (loaded and deleted since it was listed)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Spool:
    def __init__(self, folder: Path, redactor: Redactor | None = None):
        self.folder = Path(folder)
        self.redactor = redactor  # with --redact: personal data is replaced before anything is written
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._clean_temp()
        self.bytes_pending = sum(map(_size, self.pending()))  # a flusher may be deleting loaded ones meanwhile

    def _clean_temp(self) -> None:
        """Temporary files of a process that is gone were never acknowledged: drop them (names carry the pid)."""
        for tmp in self.folder.glob(".*.tmp"):
            pid = tmp.name.split("-")[1] if tmp.name.count("-") >= 2 else ""
            if not pid.isdigit() or not _alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def pending(self) -> list[Path]:
        """Segments not loaded yet, oldest first (names start with the arrival time)."""
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(SEGMENT_SUFFIX) and not p.name.startswith("."))

    def accept(self, body: bytes, app: str | None = None) -> Receipt:
        """Check a request body line by line, give its records that name no app the token's `app`, and make it
        durable; return once it is on disk (fsynced).

        Raises TooManyLines past MAX_BATCH_LINES, AppMismatch when a record's `app` is not `app` (nothing spooled).
        """
        lines = _records(body)
        if self.redactor is not None:  # the spool never holds raw personal data: redact, then read what is kept
            body = self.redactor.body(body)
            lines = _records(body)
        items = list(parse_lines(lines))
        events = [i for i in items if isinstance(i, Event)]
        rejects = [i for i in items if isinstance(i, Reject)]
        strangers = [(e.line_no, e.app) for e in events if app is not None and e.app not in (None, app)]
        if strangers:
            raise AppMismatch(app, sorted(strangers))
        if not items:
            return Receipt(None, 0)
        return Receipt(self._write(_segment(body, lines, events, app)), len(events), rejects)

    def _write(self, data: bytes) -> Path:
        """`data` as a new segment: a temporary file, fsync, rename, fsync of the folder."""
        stamp = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}"
        tmp = self.folder / f".{stamp}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    fh.write(data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        path = self.folder / (stamp + SEGMENT_SUFFIX)
        os.rename(tmp, path)
        fsync_dir(self.folder)
        with self._lock:
            self.bytes_pending += path.stat().st_size
        return path

    def remove(self, paths: list[Path]) -> int:
        """Delete loaded segments; returns the bytes freed."""
        freed = 0
        for path in paths:
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        fsync_dir(self.folder)
        self.release(freed)
        return freed

    def release(self, freed: int) -> None:
        """`freed` bytes left the spool (here, or in the flusher's process)."""
        with self._lock:
            self.bytes_pending = max(0, self.bytes_pending - freed)

    def quarantine(self, path: Path, error: str) -> Path:
        """Move a segment that fails to load even alone to `quarantine/`, its error in `<name>.error` beside it."""
        folder = self.folder / QUARANTINE
        folder.mkdir(exist_ok=True)
        (folder / (path.name + ".error")).write_text(error)
        size = path.stat().st_size
        target = folder / path.name
        os.rename(path, target)
        fsync_dir(folder)
        fsync_dir(self.folder)
        with self._lock:
            self.bytes_pending = max(0, self.bytes_pending - size)
        return target

    def quarantined(self) -> list[Quarantined]:
        return quarantined_segments(self.folder)

    def flush_lock(self) -> AbstractContextManager[None]:
        """One flusher per spool at a time (two collectors on one folder would load a segment twice)."""
        return locks.exclusive(self.folder / ".flush.lock")


def quarantined_segments(folder: Path) -> list[Quarantined]:
    """The segments in `folder`'s quarantine, oldest first."""
    found = []
    for path in sorted((Path(folder) / QUARANTINE).glob("*" + SEGMENT_SUFFIX)):
        note = path.with_name(path.name + ".error")
        try:
            error = note.read_text() if note.exists() else ""
            found.append(Quarantined(path, path.stat().st_size, note.stat().st_mtime if error else 0.0, error))
        except FileNotFoundError:  # moved away meanwhile
            continue
    return found


def _records(body: bytes) -> list[RawLine]:
    """The body's records as the importer's reader cuts them; TooManyLines past MAX_BATCH_LINES lines."""
    refusal = TooManyLines(f"the body has over {MAX_BATCH_LINES:,} lines; send smaller batches")
    if not is_json_array(body[:4096]) and body.count(b"\n") > MAX_BATCH_LINES:
        raise refusal  # counted without reading a line
    lines = []
    for raw in read_body("body", body):
        if raw.line_no > MAX_BATCH_LINES:
            raise refusal
        lines.append(raw)
    return lines


def _segment(body: bytes, lines: list[RawLine], events: list[Event], app: str | None) -> bytes:
    """What to spool for a request: NDJSON whose line k is the request's record k. An NDJSON body stays as it is
    but for its records that name no app, which get the token's (re-encoded: the one change); a JSON array
    becomes one line per element (a broken tail becomes its reason as a JSON string: rejected again)."""
    unnamed = [e.line_no for e in events if e.app is None] if app is not None else []
    if is_json_array(body[:4096]):
        out = [b""] * (lines[-1].line_no if lines else 0)
        for raw in lines:
            out[raw.line_no - 1] = raw.text if raw.error is None else msgspec.json.encode(raw.error)
    elif unnamed:
        out = body.split(b"\n")
    else:
        return body if body.endswith(b"\n") else body + b"\n"
    for line_no in unnamed:
        record = msgspec.json.decode(out[line_no - 1])
        record["app"] = app
        out[line_no - 1] = msgspec.json.encode(record)
    data = b"\n".join(out)
    return data if data.endswith(b"\n") else data + b"\n"
