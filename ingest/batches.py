"""Raw lines to typed batches: the columnar parse of a source (or of many: the collector's spool), chunk by chunk.

`parse_blocks` gathers the lines (`ingest.read.read_blocks`) into chunks of about BATCH_ROWS lines and
turns each into a `Batch`: an Arrow table of its events (the `events` batch columns, `ingest.schema`) and its
rejects. DuckDB extracts the plain lines (`ingest.columnar`); `ingest.parse.parse_line` parses the others, so every
reject keeps its exact reason. A redacting import parses every line in Python for now (`parse_line` redacts).
Then events that do not name their instance are placed (`ingest.instances`), across chunks as across lines.
Memory stays flat: a chunk is bounded in lines and in bytes, and only the events still waiting for their instance
are carried from one chunk to the next. `prefetched` parses the next chunk on a thread while the writer stores
this one (both mostly in DuckDB, which lets go of the interpreter lock).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest import columnar
from ingest.instances import InstancePlacer
from ingest.parse import Event, Reject, parse_line
from ingest.read import LineBlock, RawLine
from ingest.redact import Redactor
from ingest.schema import BATCH_SCHEMA, events_table

T = TypeVar("T")
CHUNK_BYTES = 32 << 20  # a chunk is cut at this many bytes of lines even when it has fewer than BATCH_ROWS lines
# (real capture lines average ~450 bytes: a full chunk of 50,000 lines is about 23 MB)
# A statement costs DuckDB milliseconds however few its lines: a smaller chunk (a collector segment, a short
# file) is parsed in Python, where a line costs microseconds.
COLUMNAR_MIN_LINES = 256


@dataclass
class Batch:
    """Part of an import: events in the order they were settled (`BATCH_SCHEMA`), rejects in line order."""

    events: pa.Table | None = None
    rejects: list[Reject] = field(default_factory=list)

    @property
    def size(self) -> int:
        return (len(self.events) if self.events is not None else 0) + len(self.rejects)


class _Slot(NamedTuple):
    """An event as `InstancePlacer` sees it: `row` is its index in the table being placed."""

    row: int
    source: str
    line_no: int
    tab: str | None
    instance: str | None
    instance_source: str
    type: str


class _Placement:
    """`InstancePlacer` over tables: a chunk in which every event names its instance (and none is held from before)
    only updates the last instance of each tab; any other chunk goes through the placer row by row."""

    def __init__(self) -> None:
        self.placer = InstancePlacer()
        self.held: pa.Table | None = None  # rows of events still waiting (placer.pending refers to them by row)

    def place(self, table: pa.Table, final: bool) -> pa.Table:
        unknown = pc.sum(pc.equal(table.column("instance_source"), "unknown")).as_py() or 0
        if self.held is None and not unknown:
            sources, tabs = table.column("source").to_pylist(), table.column("tab").to_pylist()
            self.placer.current.update(zip(zip(sources, tabs, strict=True), table.column("instance").to_pylist(),
                                           strict=True))
            return table
        rows = table if self.held is None else pa.concat_tables([self.held, table])
        first = len(rows) - len(table)
        columns = [table.column(c).to_pylist() for c in ("source", "line_no", "tab", "instance", "instance_source",
                                                          "type")]
        slots = [_Slot(first + i, *values) for i, values in enumerate(zip(*columns, strict=True))]
        settled = list(self.placer.feed(slots))
        if final:
            settled += self.placer.finish()
        self._hold(rows)
        out = rows.take(pa.array([s.row for s in settled], type=pa.int64()))
        for name in ("instance", "instance_source"):
            out = out.set_column(out.schema.get_field_index(name), name,
                                 pa.array([getattr(s, name) for s in settled], type=pa.string()))
        return out

    def _hold(self, rows: pa.Table) -> None:
        """Keep the rows of the events still pending, renumbered."""
        waiting = [slot for held in self.placer.pending.values() for slot in held]
        if not waiting:
            self.held = None
            return
        self.held = rows.take(pa.array([s.row for s in waiting], type=pa.int64()))
        renumbered = iter(range(len(waiting)))
        for scope, held in self.placer.pending.items():
            self.placer.pending[scope] = [s._replace(row=next(renumbered)) for s in held]


def parse_blocks(con: duckdb.DuckDBPyConnection, items: Iterable[LineBlock | RawLine], redactor: Redactor | None,
                 chunk_lines: int) -> Iterator[Batch]:
    """Records → batches of their events and rejects (each chunk of about `chunk_lines` lines). The records may
    come from many sources (the collector's spool segments): a chunk spans them, and each row keeps its own."""
    placement = _Placement()
    columnar_min = min(COLUMNAR_MIN_LINES, chunk_lines)
    lines = _Lines()
    errors: list[RawLine] = []
    seen = False
    for item in items:
        seen = True
        if isinstance(item, LineBlock):
            lines.add(item.source, item.line_nos, item.texts)
        elif item.error:
            errors.append(item)
        else:
            lines.add(item.source, [item.line_no], [item.text])
        while len(lines) + len(errors) >= chunk_lines or lines.size >= CHUNK_BYTES:
            cut = chunk_lines - len(errors)
            if lines.size >= CHUNK_BYTES:
                cut = min(cut, _within(lines.texts, CHUNK_BYTES))
            head, lines = lines.split(max(cut, 1))
            yield _chunk(con, head, errors, redactor, placement, final=False, columnar_min=columnar_min)
            errors = []
    if seen:
        yield _chunk(con, lines, errors, redactor, placement, final=True, columnar_min=columnar_min)


class _Lines:
    """The lines of a chunk being gathered: their sources, numbers and texts, side by side."""

    def __init__(self, sources: list[str] | None = None, line_nos: list[int] | None = None,
                 texts: list[bytes] | None = None) -> None:
        self.sources, self.line_nos, self.texts = sources or [], line_nos or [], texts or []
        self.size = sum(map(len, self.texts))

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, source: str, line_nos: list[int], texts: list[bytes]) -> None:
        self.sources.extend(repeat(source, len(texts)))
        self.line_nos.extend(line_nos)
        self.texts.extend(texts)
        self.size += sum(map(len, texts))

    def split(self, cut: int) -> tuple[_Lines, _Lines]:
        return (_Lines(self.sources[:cut], self.line_nos[:cut], self.texts[:cut]),
                _Lines(self.sources[cut:], self.line_nos[cut:], self.texts[cut:]))


def _within(texts: list[bytes], limit: int) -> int:
    """How many of the first `texts` fit in `limit` bytes."""
    total = 0
    for n, text in enumerate(texts):
        total += len(text)
        if total > limit:
            return n
    return len(texts)


def _chunk(con: duckdb.DuckDBPyConnection, lines: _Lines, errors: list[RawLine], redactor: Redactor | None,
           placement: _Placement, *, final: bool, columnar_min: int) -> Batch:
    rejects: list[Reject] = [parse_line(raw, redactor) for raw in errors]  # type: ignore[misc]
    tables = []
    routed: Iterable[int] = range(len(lines))
    if redactor is None and len(lines) >= columnar_min:
        fast, routed = _extract(con, lines.line_nos, lines.texts)
        if len(fast):
            keys = columnar.event_keys(fast.column("event_id"))
            sources = _sources(lines.sources, fast.column("pos"))
            fast = fast.append_column("event_key", keys).append_column("source", sources)
            tables.append(fast.select([*BATCH_SCHEMA.names, "pos"]))
    events: list[Event] = []
    positions: list[int] = []
    for pos in routed:
        item = parse_line(RawLine(lines.sources[pos], lines.line_nos[pos], lines.texts[pos]), redactor)
        if isinstance(item, Event):
            events.append(item)
            positions.append(pos)
        else:
            rejects.append(item)  # type: ignore[arg-type]
    if events:
        tables.append(events_table(events).append_column("pos", pa.array(positions, type=pa.int64())))
    rejects.sort(key=lambda r: (r.source, r.line_no))
    if not tables:
        table = events_table([])
    else:
        # DuckDB keeps the lines' order; Python's few events are merged into it
        table = tables[0] if len(tables) == 1 else pa.concat_tables(
            [t.cast(tables[0].schema) for t in tables]).sort_by("pos")
        table = table.drop_columns(["pos"]).cast(BATCH_SCHEMA)
    table = placement.place(table, final) if len(table) or final else table
    return Batch(table, rejects)


def _sources(sources: list[str], positions: pa.ChunkedArray) -> pa.Array:
    """The source of each line at `positions`: a file's chunk has one (repeated in C, not listed from Python)."""
    if len(set(sources)) == 1:
        return pa.repeat(pa.scalar(sources[0], type=pa.string()), len(positions))
    return pc.take(pa.array(sources, type=pa.string()), positions)


def _extract(con: duckdb.DuckDBPyConnection, line_nos: list[int], texts: list[bytes]) -> tuple[pa.Table, list[int]]:
    """The plain lines' rows (by `ingest.columnar`, with `pos`, their position in the chunk) and the positions of
    the lines left to Python: those that are not `columnar.canonical`, and those `columnar.extract` hands back."""
    plain = list(map(columnar.canonical, texts))
    if all(plain):
        keep = None
    else:
        keep = [i for i, ok in enumerate(plain) if ok]
        line_nos, texts = [line_nos[i] for i in keep], [texts[i] for i in keep]
    if texts:
        extracted = columnar.extract(con, pa.array(line_nos, type=pa.int64()),
                                     pa.array(texts, type=pa.binary()).cast(pa.string()))
        events, routed = extracted.events, extracted.routed
    else:
        events, routed = columnar_empty(), []
    if keep is None:
        return events, routed
    kept = pa.array(keep, type=pa.int64())
    events = events.set_column(events.schema.get_field_index("pos"), "pos", pc.take(kept, events.column("pos")))
    return events, sorted([i for i, ok in enumerate(plain) if not ok] + [keep[p] for p in routed])


def columnar_empty() -> pa.Table:
    return pa.table({name: pa.array([], type=BATCH_SCHEMA.field(name).type) for name in BATCH_SCHEMA.names
                     if name not in ("event_key", "source")} | {"event_id": pa.array([], type=pa.string()),
                                                                 "pos": pa.array([], type=pa.int64())})


def coalesce(batches: Iterable[Batch], min_rows: int) -> Iterator[Batch]:
    """Batches of many small sources (the collector's segments) merged until each holds `min_rows` events, so that
    a flush writes a few files per day, not one per segment."""
    tables: list[pa.Table] = []
    rejects: list[Reject] = []
    rows = 0
    for batch in batches:
        if batch.events is not None and len(batch.events):
            tables.append(batch.events)
            rows += len(batch.events)
        rejects += batch.rejects
        if rows >= min_rows or len(rejects) >= min_rows:
            yield Batch(pa.concat_tables(tables) if tables else None, rejects)
            tables, rejects, rows = [], [], 0
    if tables or rejects:
        yield Batch(pa.concat_tables(tables) if tables else None, rejects)


_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """`items`, produced on a thread of their own up to `depth` ahead (one: memory holds at most three chunks): parsing the next chunk (DuckDB's extract,
    which lets go of the interpreter) overlaps with storing this one. An error in `items` is raised here, in
    order; a consumer that stops early (an error of its own, a file that is not a log) stops the producer."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))

    thread = threading.Thread(target=produce, name="callscope-parse", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()
