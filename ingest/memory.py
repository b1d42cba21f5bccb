"""The writer's memory budget: DuckDB's cap for imports and derivations, and more room when a statement needs it.

An import keeps its memory flat whatever the size of the store (each batch is written on its own; DuckDB spills
sorts and joins to the store's `.tmp/`).
A few operators cannot spill everything (an aggregate's states: strings, lists and distinct sets per group stay
in memory; `ingest.derive.outcomes` splits the per-call ones in three for that), and what they need grows with the
store: a statement that runs out of memory is run again on one thread, then with twice the cap, up to MAX_GROWTH
times the budget, rather than failing the import (`with_headroom`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import re
from collections.abc import Callable
from typing import TypeVar

import duckdb
import pyarrow as pa

WRITER_MEMORY_LIMIT = os.environ.get("CALLSCOPE_WRITER_MEMORY", "550MB")
MAX_GROWTH = 8
UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
T = TypeVar("T")
log = logging.getLogger("callscope.memory")
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)  # glibc only


def hand_back() -> None:
    """Give the memory a finished parse left cached back to the system before the derive takes DuckDB's share:
    parsed chunks still in reference cycles, Arrow's pool of the stored batches, and the C heap's free pages
    (glibc's `malloc_trim`; elsewhere that part does nothing). At 1M events: 659 MB -> 353 MB."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def size_bytes(text: str) -> int:
    """`640MB`, `1.5 GiB` (DuckDB's notations) as bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if not match or match[2].upper() not in UNITS | {"": 1}:
        raise ValueError(f"not a memory size: {text!r} (write it like 640MB or 1GB)")
    return int(float(match[1]) * UNITS.get(match[2].upper(), 1))


def _limit(con: duckdb.DuckDBPyConnection) -> int:
    return size_bytes(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchone()[0])


def with_headroom(con: duckdb.DuckDBPyConnection, run: Callable[[], T], what: str) -> T:
    """`run()`; when DuckDB runs out of memory, again on one thread (every thread builds its own part of a hash
    table: one thread needs the least, and takes longer), then with twice the cap on all of them (up to MAX_GROWTH
    × the budget). Whether a statement fits close to the cap varies from run to run with how its threads share
    the work. The cap stays raised for the rest of the connection (one import): what the statement built is still
    held, and a cap below it would fail the next one."""
    budget = size_bytes(WRITER_MEMORY_LIMIT)
    threads = _threads(con)
    try:
        while True:
            try:
                return run()
            except duckdb.OutOfMemoryException:
                limit = _limit(con)
                if _threads(con) > 1:
                    log.warning("%s needs more memory than %d MB on %d threads: trying again on one", what,
                                limit // 2**20, threads)
                    con.execute("SET threads = 1")
                    continue
                if limit * 2 > budget * MAX_GROWTH:
                    raise
                log.warning("%s needs more memory than %d MB: trying again with %d MB", what, limit // 2**20,
                            limit * 2 // 2**20)
                con.execute(f"SET memory_limit = '{limit * 2}B'")
                con.execute(f"SET threads = {threads}")
    finally:
        con.execute(f"SET threads = {threads}")
