"""One import: sources → lines → events/rejects → the writer → calls → a new published version of the store."""

from __future__ import annotations

import itertools
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pyarrow.compute as pc

from ingest import columnar as columnar_sql
from ingest import store
from ingest.batches import Batch, parse_blocks, prefetched
from ingest.errors import NotALog
from ingest.parse import Event, Reject, parse_lines
from ingest.read import STDIN, LineBlock, read_blocks, read_lines
from ingest.redact import Redactor, load_key
from ingest.store import LoadCounts, Writer

# A source is "not a log at all" when none of its first lines is a capture record.
SNIFF_LINES = 50

Progress = Callable[[str, int], None]  # (source, bytes consumed so far in it)
T = TypeVar("T")


@dataclass
class LoadResult:
    load_id: int
    counts: LoadCounts
    duration_s: float
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    derive_s: float = 0.0  # of duration_s: deriving the calls and publishing them (the rest read and stored lines)


def _check_is_log(source: str, items: list[Event | Reject]) -> None:
    if items and not any(isinstance(i, Event) for i in items):
        first = next(i for i in items if isinstance(i, Reject))
        raise NotALog(
            f"{'stdin' if source == STDIN else source} does not look like a Callscope capture log "
            f"(first problem, line {first.line_no}: {first.reason})",
            "Pass NDJSON or a JSON array of capture-format v1 records (docs/capture-format-v1.md); gzip is fine",
        )


def _sniff_files(sources: list[str]) -> None:
    """Refuse the whole import before anything is stored if one of the files is not a log at all."""
    for source in sources:
        if source != STDIN:
            _check_is_log(source, list(itertools.islice(parse_lines(read_lines(source)), SNIFF_LINES)))


def _sniffed(source: str, items: Iterator[Event | Reject]) -> Iterator[Event | Reject]:
    head = list(itertools.islice(items, SNIFF_LINES))
    _check_is_log(source, head)
    yield from head
    yield from items


def _sniffed_batches(source: str, batches: Iterator[Batch]) -> Iterator[Batch]:
    """`_sniffed` over batches: the first SNIFF_LINES records, in line order, must hold an event."""
    head: list[Reject] = []
    settled = False
    for batch in batches:
        if not settled:
            need = SNIFF_LINES - len(head)
            events = batch.events.column("line_no") if batch.events is not None else None
            first_event = pc.min(events).as_py() if events is not None and len(events) else None
            rejects = [r for r in batch.rejects if first_event is None or r.line_no < first_event][:need]
            head += rejects
            if first_event is not None and len(rejects) < need:
                settled = True
            elif len(head) >= SNIFF_LINES:
                _check_is_log(source, head)  # type: ignore[arg-type]
        yield batch
    if not settled:
        _check_is_log(source, head)  # type: ignore[arg-type]


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only in positions or values (`char 17`, `line 3`)."""
    return re.sub(r"\b\d+\b", "N", reason)[:160]


def load_sources(
    sources: list[str],
    db_path: Path,
    *,
    redact: bool = False,
    tool: str = "cli",
    progress: Progress | None = None,
    columnar: bool = True,
) -> LoadResult:
    """Load every source; a file that is not a log at all refuses the whole import before anything is stored.
    `columnar=False`: parse every line in Python (`ingest.parse.parse_lines`), the path the columnar one
    (`ingest.batches`) must agree with."""
    started = time.perf_counter()
    redactor = Redactor(load_key(Path(db_path).parent)) if redact else None
    names = [s if s == STDIN else str(Path(s).resolve()) for s in sources]
    reasons: dict[str, int] = {}
    _sniff_files(sources)
    with ExitStack() as stack:
        if redactor is not None:
            sources = [_stdin_copy(stack, db_path) if s == STDIN else s for s in sources]
            for source in sources:  # a name is hidden even in text that comes before the reply revealing it
                redactor.learn_names(raw.text for raw in read_lines(source))
        writer = stack.enter_context(Writer(db_path))
        imp = stack.enter_context(writer.importing(tool, names, redact, started=started))
        parser = stack.enter_context(writer.con.cursor())  # the parse's own connection: it runs on a thread
        columnar_sql.prepare(parser)
        for source, name in zip(sources, names, strict=True):
            counter = [0]
            if columnar:
                batches = prefetched(parse_blocks(parser, read_blocks(source, counter, name), redactor,
                                                  store.BATCH_ROWS))
                batches = _batch_progress(batches, name, counter, progress)
                imp.write_batches(_count_batch_reasons(_sniffed_batches(name, batches), reasons))
            else:
                lines = _with_progress(read_lines(source, counter, name), name, counter, progress)
                imp.write(_count_reasons(_sniffed(name, parse_lines(lines, redactor)), reasons))
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:5]
    return LoadResult(imp.load_id, imp.counts, time.perf_counter() - started, top, imp.finish_s)


def _stdin_copy(stack: ExitStack, db_path: Path) -> str:
    """Standard input kept in a temporary file beside the store (deleted after the import), so that a redacting
    import can read it twice: once for the names it reveals, once to load it."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    tmp = stack.enter_context(tempfile.NamedTemporaryFile(dir=Path(db_path).parent, prefix=".stdin-"))  # noqa: SIM115
    shutil.copyfileobj(sys.stdin.buffer, tmp)
    tmp.flush()
    return tmp.name


def _count_reasons(items: Iterator[Event | Reject], reasons: dict[str, int]) -> Iterator[Event | Reject]:
    for item in items:
        if isinstance(item, Reject):
            kind = _reason_kind(item.reason)
            reasons[kind] = reasons.get(kind, 0) + 1
        yield item


def _count_batch_reasons(batches: Iterator[Batch], reasons: dict[str, int]) -> Iterator[Batch]:
    for batch in batches:
        for reject in batch.rejects:
            kind = _reason_kind(reject.reason)
            reasons[kind] = reasons.get(kind, 0) + 1
        yield batch


def _batch_progress(batches: Iterator[Batch], name: str, counter: list[int],
                    progress: Progress | None) -> Iterator[Batch]:
    """Report the bytes read with each batch (here, on the thread that stores them: the app's progress bar
    can only be moved from there)."""
    for batch in batches:
        if progress is not None:
            progress(name, counter[0])
        yield batch
    if progress is not None:
        progress(name, counter[0])


def _with_progress(lines: Iterator[T], name: str, counter: list[int], progress: Progress | None) -> Iterator[T]:
    """Report the bytes read every 5,000 lines (and every block of them)."""
    if progress is None:
        yield from lines
        return
    for n, line in enumerate(lines):
        if n % 5000 == 0 or isinstance(line, LineBlock):
            progress(name, counter[0])
        yield line
    progress(name, counter[0])
