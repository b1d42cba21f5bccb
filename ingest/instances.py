"""Placing events that do not name their SDK instance: a stateful pass over a source's events in order.

`InstancePlacer` is fed a source's events chunk by chunk (`feed`) and finished at its end (`finish`); it works on
anything with the `Event` fields it reads (`source`, `line_no`, `tab`, `instance`, `instance_source`, `type`) and
`_replace`, so the columnar loader runs it on light stand-ins for its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ingest import sdk

# Events whose instance is only known from a later message are held back; past this many, they are let go.
MAX_PENDING = 10_000

Scope = tuple[str, Any]  # (source, tab)


class InstancePlacer:
    """Give events that lack `instance` and a usable messageId the instance they belong to.

    Rule (IFrameManager.onMessage): a SYNC from HubSpot starts a new SDK instance, so a SYNC/SYNC_ACK without an
    instance belongs to the next instance the app names by its messageId; any other unnamed event belongs to the
    last instance named in the same source and tab. What can't be placed gets `unknown:<source>:<line>`.
    Items without a `tab` attribute (rejects) pass straight through.
    """

    def __init__(self) -> None:
        self.current: dict[Scope, str] = {}
        self.pending: dict[Scope, list[Any]] = {}

    def _release(self, scope: Scope, instance: str | None) -> Iterator[Any]:
        held = self.pending.pop(scope, [])
        fallback = f"unknown:{held[0].source}:{held[0].line_no}" if held else None
        for event in held:
            yield event._replace(instance=instance or fallback, instance_source="inferred" if instance else "unknown")

    def feed(self, items: Iterable[Any]) -> Iterator[Any]:
        """The items placed so far, in the order they are settled (held events come out when placed)."""
        current, pending = self.current, self.pending
        for item in items:
            if not hasattr(item, "tab"):
                yield item
                continue
            scope = (item.source, item.tab)
            if item.instance is not None:
                if item.instance_source == "message_id" or item.instance != current.get(scope):
                    yield from self._release(scope, item.instance)
                current[scope] = item.instance
                yield item
                continue
            if item.type in sdk.HANDSHAKE_TYPES or scope in pending:
                if item.type == "SYNC" and any(e.type != "SYNC" for e in pending.get(scope, ())):
                    yield from self._release(scope, None)  # a second handshake before any app message: a new instance
                pending.setdefault(scope, []).append(item)
                if len(pending[scope]) >= MAX_PENDING:
                    yield from self._release(scope, None)
                continue
            if scope in current:
                yield item._replace(instance=current[scope], instance_source="inferred")
                continue
            pending.setdefault(scope, []).append(item)

    def finish(self) -> Iterator[Any]:
        """Let go of every event still held: the source has ended without naming their instance."""
        for scope in list(self.pending):
            yield from self._release(scope, None)


def place_instances(items: Iterable[Any]) -> Iterator[Any]:
    """One whole stream through an `InstancePlacer`."""
    placer = InstancePlacer()
    yield from placer.feed(items)
    yield from placer.finish()
