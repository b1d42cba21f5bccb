"""The collector's defences against slow and greedy clients (its token is public: it travels in the capture
script's URL, so anyone can open connections and start requests).

- **Slow request heads** (slowloris): every connection must deliver a complete request head within
  `request_timeout_s` of connecting (or of its previous answer, on a kept-alive connection), or it is closed.
  Trickling one byte at a time does not reset that deadline, unlike uvicorn's idle keep-alive timer.
- **Too many connections**: at most `max_connections` are open. When a new one arrives over the cap, the
  connection that has waited longest without a complete request is closed to make room: a healthy sender
  finishes its head within milliseconds, so it is never that one; only when every open connection is busy with a
  request is the newcomer turned away. The process's file-descriptor limit is raised to its hard limit at start.
- **Slow or many bodies**: a body must arrive within `request_timeout_s` (answer 408), and all bodies being
  received at once may hold at most `max_buffered_bytes` (answer 503 with Retry-After), so memory stays bounded
  whatever the number of senders.

A reverse proxy in front (nginx, a cloud load balancer) should still add per-client-IP connection and rate limits,
which one process behind the proxy cannot tell apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import threading
import time
from dataclasses import dataclass

DEFAULT_MAX_CONNECTIONS = 1_000
DEFAULT_REQUEST_TIMEOUT_S = 15.0
DEFAULT_MAX_BUFFERED_BYTES = 64 << 20
FD_RESERVE = 64  # descriptors kept for the spool, DuckDB and logs when the limit is low


@dataclass(frozen=True)
class Limits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES


def raise_fd_limit(limits: Limits) -> Limits:
    """Raise the soft descriptor limit to the hard one; cap max_connections below what remains."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    cap = max(1, min(limits.max_connections, soft - FD_RESERVE))
    return Limits(cap, limits.request_timeout_s, limits.max_buffered_bytes)


class BodyBudget:
    """Bytes of request bodies being received right now, across all requests; `take` refuses past the cap."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.in_use = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.in_use + n > self.max_bytes:
                return False
            self.in_use += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.in_use = max(0, self.in_use - n)


def guarded_protocol(limits: Limits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a request-head deadline and a connection cap (pass as `http=`). Imports
    uvicorn when called, so the CLI's other commands start without it."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._waiting_since = time.monotonic()
            self._head_deadline: asyncio.TimerHandle | None = None
            if len(self.connections) > limits.max_connections and not self._evict_slowest():
                transport.close()
                return
            self._arm_head_deadline()

        def _evict_slowest(self) -> bool:
            """Close the open connection that has waited longest for a complete request head (not this one)."""
            idle = [c for c in self.connections if c is not self and getattr(c, "_head_deadline", None) is not None]
            if not idle:
                return False
            slowest = min(idle, key=lambda c: c._waiting_since)
            slowest._close()
            return True

        def _arm_head_deadline(self) -> None:
            self._waiting_since = time.monotonic()
            self._disarm_head_deadline()
            self._head_deadline = self.loop.call_later(limits.request_timeout_s, self._close)

        def _disarm_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _close(self) -> None:
            self._disarm_head_deadline()
            self.connections.discard(self)  # counted out now, not when the loop reports the loss
            if not self.transport.is_closing():
                with contextlib.suppress(h11.LocalProtocolError):  # the peer already broke the protocol
                    self.conn.send(h11.ConnectionClosed())
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm_head_deadline()  # a whole head arrived; the app bounds the body

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_deadline()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

    return GuardedH11Protocol
