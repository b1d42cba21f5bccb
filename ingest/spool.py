"""The collector's spool: an acknowledged batch is a file on disk before the 2xx goes out, and reaches DuckDB
through the file import's own steps.

- `Spool.accept(body)` writes the request body (already un-gzipped) verbatim as one segment file under
  `<db dir>/spool/`: a temporary name, fsync, rename, fsync of the folder. A segment is a capture-format v1 log
  (NDJSON, or the JSON array the client sent), so its line numbers are the request's, and the answer's
  rejected lines are exactly those the import will reject: it is checked with the importer's own reader and
  parser (`read_lines`, `parse_lines`) on the very bytes that get spooled.
- `flush()` loads the pending segments as one import (`load_segments`: `read_lines` → `parse_lines` per
  segment → `Writer.importing`, whose `write` stores them and whose close derives the calls, closes the `loads`
  row of tool `collector` and publishes), then deletes them. Killed between the load and the delete, the next
  flush loads them again and every line counts as a duplicate (event keys): stored exactly once.
- `Flusher` runs `flush()` on a thread every `interval_s` (longer when a flush is slow), so the collector holds
  the writer lock only while flushing and `python -m ingest load` can take turns with it.
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

from ingest import locks
from ingest.errors import CallscopeError
from ingest.parse import Event, Reject, parse_lines
from ingest.read import read_lines
from ingest.redact import Redactor, load_key
from ingest.store import LoadCounts, Writer

TOOL = "collector"
SEGMENT_SUFFIX = ".ndjson"
# One flush is one import: bounded, so a backlog (after a restart, or while another writer held the lock)
# drains in steps that each publish a snapshot.
MAX_SEGMENTS_PER_FLUSH = 5_000
MAX_FLUSH_BYTES = 16 << 20
# Past this much unloaded data (the database stayed locked for long), the collector answers 503, not 2xx.
MAX_SPOOL_BYTES = 1 << 30
# After a flush that took d seconds the next waits max(interval, FLUSH_PAUSE_FACTOR × d): every flush rebuilds
# the derived tables and copies the whole file to the read snapshot, so its cost grows with the database, and
# the pause keeps the writer lock free at least half the time for `ingest load` (and the CPU for acks).
FLUSH_PAUSE_FACTOR = 1.0

log = logging.getLogger("callscope.collector")


def spool_dir(db_path: Path) -> Path:
    return Path(db_path).parent / "spool"


@dataclass
class Receipt:
    """What one accepted request became: its segment, how many records it holds, which lines were rejected."""

    path: Path | None
    accepted: int
    rejects: list[Reject] = field(default_factory=list)


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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._clean_temp()
        self.bytes_pending = sum(p.stat().st_size for p in self.pending())

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
        """Check a request body line by line and make it durable; return once it is on disk (fsynced).

        Raises AppMismatch (nothing spooled) when a record's `app` is not `app`.
        """
        stamp = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}"
        tmp = self.folder / f".{stamp}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    fh.write(body)
                    if body and not body.endswith(b"\n"):
                        fh.write(b"\n")
                items = list(parse_lines(read_lines(str(tmp))))
                events = [i for i in items if isinstance(i, Event)]
                rejects = [i for i in items if isinstance(i, Reject)]
                strangers = [(e.line_no, e.app) for e in events if app is not None and e.app not in (None, app)]
                if strangers:
                    raise AppMismatch(app, sorted(strangers))
                if not items:
                    tmp.unlink()
                    return Receipt(None, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        path = self.folder / (stamp + SEGMENT_SUFFIX)
        os.rename(tmp, path)
        _fsync_dir(self.folder)
        with self._lock:
            self.bytes_pending += path.stat().st_size
        return Receipt(path, len(events), rejects)

    def remove(self, paths: list[Path]) -> None:
        freed = 0
        for path in paths:
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        _fsync_dir(self.folder)
        with self._lock:
            self.bytes_pending = max(0, self.bytes_pending - freed)

    def flush_lock(self) -> AbstractContextManager[None]:
        """One flusher per spool at a time (two collectors on one folder would load a segment twice)."""
        return locks.exclusive(self.folder / ".flush.lock")


@dataclass
class FlushResult:
    segments: int
    counts: LoadCounts
    duration_s: float


def flush(spool: Spool, db_path: Path, *, redact: bool = False, max_segments: int = MAX_SEGMENTS_PER_FLUSH,
          max_bytes: int = MAX_FLUSH_BYTES) -> FlushResult | None:
    """Load the oldest pending segments (up to `max_segments` and `max_bytes`, at least one) into the database,
    then delete them. None when none wait.

    Raises WriterBusy when another writer held the database for WRITER_WAIT_S; the segments stay for later.
    """
    started = time.perf_counter()
    with spool.flush_lock():
        segments, size = [], 0
        for path in spool.pending()[:max_segments]:
            size += path.stat().st_size
            if segments and size > max_bytes:
                break
            segments.append(path)
        if not segments:
            return None
        counts = load_segments(segments, db_path, redact=redact)
        spool.remove(segments)
    return FlushResult(len(segments), counts, time.perf_counter() - started)


def load_segments(paths: list[Path], db_path: Path, *, redact: bool = False) -> LoadCounts:
    """Many small logs as one import: `ingest.load.load_sources`'s steps, with one `Import.write` over all of them.

    Each segment is read and parsed on its own (instances are placed per source, as for files), and their items
    are chained into a single write: the writer commits one INSERT per BATCH_ROWS events, where a write per
    segment would commit one per segment (~12 ms each, so ~80 batches/s at most). There is no "is this a log
    at all" check: `accept()` already answered each request, and lines of a request answered 400 still belong
    in `rejects`.
    """
    started = time.perf_counter()
    redactor = Redactor(load_key(Path(db_path).parent)) if redact else None
    names = [str(p.resolve()) for p in paths]
    with Writer(db_path) as writer, writer.importing(TOOL, names, redact, started=started) as imp:
        imp.write(itertools.chain.from_iterable(parse_lines(read_lines(name), redactor) for name in names))
    return imp.counts


@dataclass
class FlusherStatus:
    flushes: int = 0
    last_flush_at: float | None = None  # epoch seconds
    last_duration_s: float = 0.0
    last_counts: LoadCounts | None = None
    last_error: str | None = None


class Flusher:
    """Moves the spool into DuckDB on a background thread; `stop()` loads what is left before returning."""

    def __init__(self, spool: Spool, db_path: Path, *, interval_s: float, redact: bool = False):
        self.spool, self.db_path, self.interval_s, self.redact = spool, Path(db_path), interval_s, redact
        self.status = FlusherStatus()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callscope-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.drain()

    def drain(self) -> None:
        """Flush until the spool is empty (start-up leftovers, shutdown); stop at the first failure."""
        while self.flush_once():
            pass

    def flush_once(self) -> bool:
        """One flush; True when something was loaded and more may wait."""
        try:
            result = flush(self.spool, self.db_path, redact=self.redact)
        except CallscopeError as exc:  # another writer kept the lock: keep acknowledging, try again later
            self.status.last_error = str(exc)
            log.warning("flush postponed: %s", exc)
            return False
        except Exception as exc:  # keep the segments and the process; health shows the error
            self.status.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("flush failed; the spooled batches stay for the next try")
            return False
        if result is None:
            return False
        st = self.status
        st.flushes, st.last_flush_at, st.last_duration_s = st.flushes + 1, time.time(), result.duration_s
        st.last_counts, st.last_error = result.counts, None
        c = result.counts
        log.info("flushed %d batch(es): %d read, %d loaded, %d duplicates, %d rejected (%.2f s)",
                 result.segments, c.read, c.loaded, c.duplicates, c.rejected, result.duration_s)
        return True

    def _run(self) -> None:
        wait = self.interval_s
        while not self._stop.wait(wait):
            self.flush_once()
            wait = max(self.interval_s, FLUSH_PAUSE_FACTOR * self.status.last_duration_s)
