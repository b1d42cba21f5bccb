"""File locks between processes: `exclusive` for whoever writes, `shared` for readers.

Each lock is an flock on its own small file (`callscope.duckdb.lock`, `callscope.notes.duckdb.lock`,
`spool/.flush.lock`). The kernel drops an flock when its descriptor closes, so a process that dies holding one
never leaves it behind. The exclusive holder writes its pid into the lock file, so whoever gives up waiting can
say which process was in the way.

Writers go first: a writer takes the lock's turnstile (`….lock.turn`) before the lock and holds it while it
waits and writes, and a reader passes through the turnstile before it takes the lock, so readers that keep
arriving (dashboard sessions reading notes) cannot starve a writer (an flock grants a shared lock to a newcomer
even while a writer waits).

`wait_s=None` waits as long as it takes; otherwise the lock is retried (every POLL_MIN_S at first, backing off to
POLL_MAX_S) until `wait_s` has passed, then `on_timeout(holder)` builds the error to raise: `holder` is the pid
the last exclusive holder recorded, or None when the file holds none.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_MIN_S = 0.01
POLL_MAX_S = 0.2

OnTimeout = Callable[[str | None], Exception]


class LockBusy(Exception):
    """The default `on_timeout` error; callers that face users pass their own."""


def lock_path(path: Path) -> Path:
    """The lock file that guards `path`: `data/callscope.duckdb` → `data/callscope.duckdb.lock`."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _busy(holder: str | None) -> Exception:
    return LockBusy(f"locked by process {holder or 'unknown'}")


@contextmanager
def exclusive(path: Path, wait_s: float | None = None, *, on_timeout: OnTimeout = _busy) -> Iterator[None]:
    """Hold the flock on `path` alone (creating the file), with this process's pid written in it."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    turn = _take(_turnstile(path), fcntl.LOCK_EX, wait_s, lambda _: on_timeout(_holder(path)))
    try:
        fd = _take(path, fcntl.LOCK_EX, _left(deadline), on_timeout)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock
    finally:
        os.close(turn)


@contextmanager
def shared(path: Path, wait_s: float | None = None, *, on_timeout: OnTimeout = _busy) -> Iterator[None]:
    """Hold the flock on `path` together with other readers, while no one holds it exclusively."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    os.close(_take(_turnstile(path), fcntl.LOCK_SH, wait_s, lambda _: on_timeout(_holder(path))))
    fd = _take(path, fcntl.LOCK_SH, _left(deadline), on_timeout)
    try:
        yield
    finally:
        os.close(fd)


def _turnstile(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".turn")


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _holder(path: Path) -> str | None:
    """The pid the last exclusive holder of `path` wrote, if any."""
    try:
        return Path(path).read_text(errors="replace")[:32].strip() or None
    except OSError:
        return None


def _take(path: Path, mode: int, wait_s: float | None, on_timeout: OnTimeout) -> int:
    """An open descriptor of `path` holding the flock in `mode`; on timeout it is closed and the error raised."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if wait_s is None:
            fcntl.flock(fd, mode)
            return fd
        deadline = time.monotonic() + wait_s
        pause = POLL_MIN_S
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise on_timeout(os.pread(fd, 32, 0).decode(errors="replace").strip() or None) from None
                time.sleep(pause)
                pause = min(pause * 2, POLL_MAX_S)
    except BaseException:
        os.close(fd)
        raise
