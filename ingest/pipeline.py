"""Parsing on the second core: chunks of raw lines go to a worker process, events come back in order.

`parse_line` is pure, so chunks parse independently; placing instances (`place_instances`) needs order and
runs here, in the loading process. The pool is only worth its start-up for big inputs (PARALLEL_MIN_BYTES).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

from ingest.parse import Event, Reject, parse_chunk, parse_line, place_instances
from ingest.read import RawLine
from ingest.redact import Redactor

CHUNK_LINES = 4_000
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
WORKERS = max(1, min(2, (os.cpu_count() or 1)))


def parse_parallel(lines: Iterable[RawLine], redactor: Redactor | None, pool: ProcessPoolExecutor | None
                   ) -> Iterator[Event | Reject]:
    if pool is None:
        return place_instances(parse_line(raw, redactor) for raw in lines)
    return place_instances(_unchunk(_ordered(pool, lines, redactor)))


def _ordered(pool: ProcessPoolExecutor, lines: Iterable[RawLine], redactor: Redactor | None
             ) -> Iterator[list[Event | Reject]]:
    """Results chunk by chunk, in input order, with at most 2 chunks per worker in flight (flat memory)."""
    in_flight: deque[Future] = deque()
    it = iter(lines)
    while True:
        while len(in_flight) < 2 * WORKERS + 1:
            chunk = list(itertools.islice(it, CHUNK_LINES))
            if not chunk:
                break
            in_flight.append(pool.submit(parse_chunk, chunk, redactor))
        if not in_flight:
            return
        yield in_flight.popleft().result()


def _unchunk(chunks: Iterator[list[Event | Reject]]) -> Iterator[Event | Reject]:
    for chunk in chunks:
        yield from chunk


def make_pool(total_bytes: int) -> ProcessPoolExecutor | None:
    """A parsing pool for big imports from a single-threaded process (the CLI); None means parse in-process.

    Forking a process that runs other threads (Streamlit's first-run demo build, the collector's flusher) can copy
    a lock some thread holds into the child and deadlock it, and spawn/forkserver re-import the caller's main
    module; so threaded callers parse in-process. The pool is made before the writer opens DuckDB, so no DuckDB
    thread is ever forked.
    """
    if total_bytes < PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return None
    return ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("fork"))
