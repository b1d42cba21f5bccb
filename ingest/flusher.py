"""Loading the collector's spool into the store, in a process of its own.

- `flush()` loads the pending segments as one import (`load_segments`: `read_blocks` of plain NDJSON, never
  un-gzipped again → the columnar parse over all of them → `Writer.importing`, whose `write` stores them and whose close
  derives the calls, closes the `loads` row of tool `collector` and publishes), then deletes them. Killed
  between the load and the delete, the next flush loads them again and every line counts as a duplicate (event
  keys): stored exactly once. A segment that fails to load for a reason in its data is found by loading halves
  on their own and moved to `spool/quarantine/` with the error beside it, so the segments after it still load.
- `Flusher` runs `flush()` every `interval_s` (a backlog flush after flush) in a process of its own, so the
  collector holds the writer lock only while flushing and `python -m ingest load` can take turns with it, and
  parsing and deriving a flush never hold the interpreter lock the acknowledgements need (in one process, a
  flush made the acks wait: p99 127 ms under load). The process reports each flush's status and the bytes it
  freed from the spool back over a queue; it stops when told to (loading what is left first) or when the
  collector is gone (a kill -9: the next collector loads the rest).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest import columnar as columnar_sql
from ingest.batches import parse_blocks
from ingest.errors import CallscopeError, WriterBusy
from ingest.locks import POLL_MAX_S
from ingest.parse import parse_lines
from ingest.read import read_blocks, read_lines
from ingest.redact import Redactor, load_key
from ingest.spool import QUARANTINE, TOOL, Spool
from ingest.store import BATCH_ROWS, LoadCounts, Writer

# One flush is one import of what is pending, bounded, so a backlog (after a restart, or while another writer held
# the lock) drains in steps that each publish a snapshot. A flush's cost is mostly fixed (re-deriving the calls of
# the instances it touches, rewriting their days' derived files), so under load the flushes grow with the backlog and
# the collector loads faster the further it falls behind: with 3M events stored, 53,900 events flushed in 5.5 s
# (9.8k/s) and 215,600 in 9.7 s (22k/s). A bound too low keeps the loading rate below a steady load's, and the spool
# grows without end (16 MB: 8.9k events/s loaded under 27.6k/s acknowledged).
MAX_SEGMENTS_PER_FLUSH = 20_000
MAX_FLUSH_BYTES = 128 << 20
# Between two flushes of a backlog the writer lock is free for FLUSH_PAUSE_S: long enough for an `ingest load`
# waiting for it (it retries every POLL_MAX_S) to take its turn. The acknowledgements come first for the CPU
# because the flusher runs at a lower priority (FLUSHER_NICENESS), not because it idles: a pause as long as the last
# flush (as before) left the CPU idle half the time under load: 11.8k events/s loaded of 20k/s offered, 14.5k without.
FLUSH_PAUSE_S = 2 * POLL_MAX_S
FLUSHER_NICENESS = 10
PARENT_CHECK_S = 0.5

log = logging.getLogger("callscope.collector")


@dataclass
class FlushResult:
    segments: int
    counts: LoadCounts
    duration_s: float
    quarantined: list[Path] = field(default_factory=list)
    freed: int = 0  # bytes that left the spool (loaded or quarantined)

    def add(self, segments: int, counts: LoadCounts) -> None:
        self.segments += segments
        for name, value in counts.__dict__.items():
            setattr(self.counts, name, getattr(self.counts, name) + value)


def flush(spool: Spool, db_path: Path, *, redact: bool = False, max_segments: int = MAX_SEGMENTS_PER_FLUSH,
          max_bytes: int = MAX_FLUSH_BYTES) -> FlushResult | None:
    """Load the oldest pending segments (up to `max_segments` and `max_bytes`, at least one) into the database,
    then delete them. None when none wait.

    Raises CallscopeError when the database cannot be written now (another writer held it for WRITER_WAIT_S, its
    disk refused a write) and OSError when a segment cannot be read: the segments stay for later. Any other
    failure is in the data (the parser rejects every value it knows cannot be stored; this is one it did not
    foresee): see `_load_or_split`.
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
        result = FlushResult(0, LoadCounts(), 0.0)
        _load_or_split(spool, segments, db_path, redact, result)
    result.duration_s = time.perf_counter() - started
    return result


def _load_or_split(spool: Spool, segments: list[Path], db_path: Path, redact: bool, result: FlushResult) -> None:
    """Load `segments` as one import and delete them; when that fails for a reason in the data, load each half
    on its own, down to the one segment that fails alone, which is quarantined: one bad batch must not hold
    back every batch after it, and finding it takes about 2·log2(segments) imports."""
    try:
        counts = load_segments(segments, db_path, redact=redact)
    except (CallscopeError, OSError, MemoryError):
        raise  # the database or the disk, not the data: everything stays for the next flush
    except Exception as exc:
        if len(segments) == 1:
            error = f"{type(exc).__name__}: {exc}"
            result.freed += segments[0].stat().st_size
            result.quarantined.append(spool.quarantine(segments[0], error))
            log.error("batch %s fails to load (%s); moved to %s", segments[0].name, error, spool.folder / QUARANTINE)
            return
        half = len(segments) // 2
        _load_or_split(spool, segments[:half], db_path, redact, result)
        _load_or_split(spool, segments[half:], db_path, redact, result)
        return
    result.freed += spool.remove(segments)
    result.add(len(segments), counts)


def load_segments(paths: list[Path], db_path: Path, *, redact: bool = False) -> LoadCounts:
    """Many small logs as one import: `ingest.load.load_sources`'s steps, with one write over all of them.

    The segments' lines go through the columnar parse (`ingest.batches.parse_blocks`) together: a chunk spans
    many segments (one request's tens of lines each), each row keeps its segment as its source, and instances are
    placed per source, as for files. The writer stores a batch as one file per day, where a write per segment
    would write one per segment (~12 ms each). A redacting collector parses every line in Python (`parse_line`
    redacts; tests/test_columnar.py checks that both parses agree on segments). There is no "is this a log at all" check: `accept()` already
    answered each request, and lines of a request answered 400 still belong in `rejects`.
    """
    started = time.perf_counter()
    redactor = Redactor(load_key(Path(db_path).parent)) if redact else None
    names = [str(p.resolve()) for p in paths]
    with Writer(db_path) as writer, writer.importing(TOOL, names, redact, started=started) as imp:
        if redactor is None:
            with writer.con.cursor() as parser:
                columnar_sql.prepare(parser)
                blocks = itertools.chain.from_iterable(read_blocks(name, plain=True) for name in names)
                imp.write_batches(parse_blocks(parser, blocks, None, BATCH_ROWS))
        else:
            imp.write(itertools.chain.from_iterable(parse_lines(read_lines(name, plain=True), redactor)
                                                    for name in names))
    return imp.counts


@dataclass
class FlusherStatus:
    flushes: int = 0
    last_flush_at: float | None = None  # epoch seconds
    last_duration_s: float = 0.0
    last_counts: LoadCounts | None = None
    last_error: str | None = None
    waiting_for: str | None = None  # another writer holds the database: normal (an `ingest load`), not an error


class FlushLoop:
    """`flush()` over and over, with the status the collector's health shows; `report(kind, value)` hears of
    each flush (`status`) and of the spool bytes it freed (`freed`)."""

    def __init__(self, spool: Spool, db_path: Path, *, interval_s: float, redact: bool = False, report=None):
        self.spool, self.db_path, self.interval_s, self.redact = spool, Path(db_path), interval_s, redact
        self.status = FlusherStatus()
        self.report = report or (lambda kind, value: None)

    def drain(self) -> None:
        """Flush until the spool is empty (start-up leftovers, shutdown); stop at the first failure."""
        while self.flush_once():
            pass

    def flush_once(self) -> bool:
        """One flush; True when something was loaded (or quarantined) and more may wait."""
        more = self._flush()
        self.report("status", self.status)
        return more

    def _flush(self) -> bool:
        try:
            result = flush(self.spool, self.db_path, redact=self.redact)
        except WriterBusy as exc:  # keep acknowledging into the spool; load it once the other writer is done
            self.status.waiting_for = str(exc)
            log.info("flush postponed: %s", exc)
            return False
        except CallscopeError as exc:  # the disk is full, or the database cannot be written: keep acknowledging, retry
            self.status.last_error = str(exc)
            log.warning("flush postponed: %s", exc)
            return False
        except Exception as exc:  # keep the segments and the process; health shows the error
            self.status.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("flush failed; the spooled batches stay for the next try")
            return False
        if result is None:
            return False
        self.report("freed", result.freed)
        st = self.status
        st.flushes, st.last_flush_at, st.last_duration_s = st.flushes + 1, time.time(), result.duration_s
        st.last_counts, st.last_error, st.waiting_for = result.counts, None, None
        c = result.counts
        log.info("flushed %d batch(es): %d read, %d loaded, %d duplicates, %d rejected (%.2f s)",
                 result.segments, c.read, c.loaded, c.duplicates, c.rejected, result.duration_s)
        return True

    def run(self, stopped) -> None:
        """Flush every interval until `stopped(wait)` (a backlog drains flush after flush); `stopped` waits up to
        `wait` seconds and says whether to stop."""
        wait = 0.0  # what waits from before a restart starts loading at once
        while not stopped(wait):
            more = self.flush_once()
            wait = FLUSH_PAUSE_S if more else self.interval_s


def _flusher_process(folder: Path, db_path: Path, interval_s: float, redact: bool, stop, updates) -> None:
    """The flusher process: a `FlushLoop` until the collector says stop or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the collector stops us
    os.nice(FLUSHER_NICENESS)  # the acknowledgements first: they wait on a sender, a flush on nothing
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parent = multiprocessing.parent_process()
    loop = FlushLoop(Spool(folder), db_path, interval_s=interval_s, redact=redact,
                     report=lambda kind, value: updates.put((kind, value)))

    def orphaned() -> bool:
        return parent is not None and not parent.is_alive()

    def stopped(wait: float) -> bool:
        """Wait `wait` s, looking for the collector every PARENT_CHECK_S: a flusher whose collector was killed
        stops within that, whatever its interval."""
        deadline = time.monotonic() + wait
        while not orphaned():
            if stop.wait(max(0.0, min(PARENT_CHECK_S, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
        return True

    loop.run(stopped)
    if not orphaned():  # told to stop: load what is left. Orphaned: the next collector's flusher loads it
        loop.drain()


class Flusher:
    """Moves the spool into the store: `start()` runs a `FlushLoop` in a process of its own, `stop()` has it load
    what is left and waits for it. `flush_once()` and `drain()` flush in this process (tests, leftovers)."""

    def __init__(self, spool: Spool, db_path: Path, *, interval_s: float, redact: bool = False):
        self.spool = spool
        self.loop = FlushLoop(spool, db_path, interval_s=interval_s, redact=redact)
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def status(self) -> FlusherStatus:
        return self.loop.status

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # a fork of a process with threads may inherit a held lock
        self._stop, self._updates = ctx.Event(), ctx.SimpleQueue()
        loop = self.loop
        self._process = ctx.Process(target=_flusher_process, name="callscope-flusher", daemon=True,
                                    args=(self.spool.folder, loop.db_path, loop.interval_s, loop.redact,
                                          self._stop, self._updates))
        self._process.start()
        self._listener = threading.Thread(target=self._listen, name="callscope-flusher-status", daemon=True)
        self._listener.start()

    def _listen(self) -> None:
        """Apply what the flusher process reports: its status, and the bytes it took out of the spool."""
        while (update := self._updates.get()) is not None:
            kind, value = update
            if kind == "freed":
                self.spool.release(value)
            else:
                self.loop.status = value

    def stop(self) -> None:
        if self._process is not None:
            self._stop.set()
            self._process.join()
            self._updates.put(None)
            self._listener.join()
            self._process = None
        self.drain()  # what the process left (it loads everything before it exits, unless it died)

    def drain(self) -> None:
        self.loop.drain()

    def flush_once(self) -> bool:
        return self.loop.flush_once()
