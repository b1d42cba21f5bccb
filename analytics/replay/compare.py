"""A failing call beside a healthy one: which messages are missing, extra or out of order, and how each step's
timing differs.

The healthy call is of the same direction, answered, logged (engagement created, CALL_COMPLETED sent, no update
failure), rang in one instance, and gets no warning from the diagnosis; the same portal and SDK version are
preferred, then the same portal, then the nearest in time. The alignment runs over the call's own messages (and
the capture markers and SYNCs that show its iframe going away), keyed by type and direction, with difflib's
longest-matching-blocks alignment; a message extra on one side and missing on the other is "out of order".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from analytics.db import Runner
from analytics.format import duration
from analytics.replay.diagnosis import diagnose
from analytics.replay.load import load_trace
from analytics.replay.trace import START_TYPES, CallTrace, Message

HEALTHY_CANDIDATES = 5

HEALTHY_CANDIDATES_SQL = """
SELECT external_call_id, portal_id, sdk_version, started_at, messages
FROM calls
WHERE direction = $direction AND external_call_id <> $call_id
  AND outcome = 'answered' AND engagement = 'created' AND completed_at IS NOT NULL
  AND NOT coalesce(update_engagement_failed, false) AND coalesce(caller_id, 'matched') = 'matched'
  AND instances = 1
ORDER BY (portal_id IS NOT DISTINCT FROM $portal_id AND sdk_version IS NOT DISTINCT FROM $sdk_version) DESC,
         (portal_id IS NOT DISTINCT FROM $portal_id) DESC,
         abs(epoch_ms(started_at) - $started_ms),
         external_call_id
LIMIT $limit
"""


@dataclass(frozen=True)
class Step:
    status: str                 # same | missing | extra | out of order
    type: str
    direction: str
    this_index: int | None      # trace indexes
    healthy_index: int | None
    this_rel_ms: int | None     # from each call's first ring
    healthy_rel_ms: int | None
    other_tab: bool = False     # extra because it came from another instance the call rang in

    @property
    def delta_ms(self) -> int | None:
        if self.this_rel_ms is None or self.healthy_rel_ms is None:
            return None
        return self.this_rel_ms - self.healthy_rel_ms


def healthy_candidates(run: Runner, call: CallTrace, limit: int = HEALTHY_CANDIDATES) -> list[str]:
    found = run(HEALTHY_CANDIDATES_SQL, direction=call.direction, call_id=call.call_id,
                portal_id=call.call.get("portal_id"), sdk_version=call.call.get("sdk_version"),
                started_ms=call.call.get("started_ms") or 0, limit=limit)
    return [row["external_call_id"] for row in found]


def pick_healthy(run: Runner, call: CallTrace, limit: int = HEALTHY_CANDIDATES) -> CallTrace | None:
    """The first candidate the diagnosis finds nothing worse than `info` in."""
    for call_id in healthy_candidates(run, call, limit):
        trace = load_trace(run, call_id)
        if trace is not None and all(f.severity == "info" for f in diagnose(trace)):
            return trace
    return None


def _steps_of(trace: CallTrace) -> list[Message]:
    """The call's own messages, plus the markers of an iframe going away while it was on."""
    own = trace.call_messages
    if not own:
        return []
    first, last = own[0].ts_ms, max(own[-1].ts_ms, trace.call.get("went_away_ms") or 0)
    return [m for m in trace.messages if m.in_call or (
        m.type in ("PAGEHIDE", "SYNC") and first <= m.ts_ms <= last
        and (m.type == "PAGEHIDE" or (trace.instance(m.instance) and trace.instance(m.instance).role != "call")))]


def _replies_sorted(msgs: list[Message]) -> list[Message]:
    """HubSpot's replies in a row, in a fixed order: the order of its replies is not specified (its caller-ID
    match and engagement creation race), so it is not a difference."""
    out: list[Message] = []
    run: list[Message] = []
    for m in msgs + [None]:
        if m is not None and m.direction == "from_hubspot":
            run.append(m)
            continue
        out += sorted(run, key=lambda r: r.type)
        run = []
        if m is not None:
            out.append(m)
    return out


def main_instances(trace: CallTrace) -> set[str | None]:
    """The instance that holds the call (it answered, else it rang first) and the iframes that took its place."""
    answered = trace.of_type("CALL_ANSWERED")
    starts = trace.of_type(*START_TYPES)
    first = (answered or starts or trace.call_messages or trace.messages)[0].instance if trace.messages else None
    return {first} | {i.instance for i in trace.instances if i.role != "call"}


def align(this: CallTrace, healthy: CallTrace) -> list[Step]:
    """This call's steps against the healthy call's: the holding instance's by alignment; messages from the other
    tabs it rang in are extra."""
    main_this, main_healthy = main_instances(this), main_instances(healthy)
    a = _replies_sorted([m for m in _steps_of(this) if m.instance in main_this])
    b = _replies_sorted([m for m in _steps_of(healthy) if m.instance in main_healthy])
    keys_a, keys_b = [(m.type, m.direction) for m in a], [(m.type, m.direction) for m in b]
    steps: list[Step] = []
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            steps += [_step("same", this, healthy, x, y) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
            continue
        steps += [_step("extra", this, healthy, x, None) for x in a[i1:i2]]
        steps += [_step("missing", this, healthy, None, y) for y in b[j1:j2]]
    steps = _moves(steps, this, healthy)
    for m in (m for m in _steps_of(this) if m.instance not in main_this):  # other tabs, in time order
        rel = this.rel_ms(m.ts_ms)
        at = next((k for k, s in enumerate(steps) if s.this_rel_ms is not None and s.this_rel_ms > rel), len(steps))
        steps.insert(at, replace(_step("extra", this, healthy, m, None), other_tab=True))
    return steps


def _step(status: str, this: CallTrace, healthy: CallTrace, x: Message | None, y: Message | None) -> Step:
    m = x or y
    return Step(status, m.type, m.direction, x.index if x else None, y.index if y else None,
                this.rel_ms(x.ts_ms) if x else None, healthy.rel_ms(y.ts_ms) if y else None)


def _moves(steps: list[Step], this: CallTrace, healthy: CallTrace) -> list[Step]:
    """An extra message that the healthy call has elsewhere (listed as missing) is out of order, not missing."""
    missing = {i: s for i, s in enumerate(steps) if s.status == "missing"}
    out: list[Step | None] = list(steps)
    for i, s in enumerate(steps):
        if s.status != "extra":
            continue
        match = next((j for j, m in missing.items() if (m.type, m.direction) == (s.type, s.direction)), None)
        if match is not None:
            found = missing.pop(match)
            out[i] = Step("out of order", s.type, s.direction, s.this_index, found.healthy_index, s.this_rel_ms,
                          found.healthy_rel_ms)
            out[match] = None
    return [s for s in out if s is not None]


def summary(steps: list[Step]) -> str:
    """One sentence: what differs from the healthy call."""
    counts = {k: sum(s.status == k for s in steps) for k in ("missing", "extra", "out of order")}
    if not any(counts.values()):
        slowest = max((s for s in steps if s.delta_ms is not None), key=lambda s: abs(s.delta_ms), default=None)
        timing = (f" The largest timing difference is at {slowest.type}: {duration(abs(slowest.delta_ms))} "
                  f"{'later' if slowest.delta_ms > 0 else 'earlier'}." if slowest and slowest.delta_ms else "")
        return "Same messages in the same order as the healthy call." + timing
    parts = [f"{n} {k}" for k, n in counts.items() if n]
    other = sum(s.other_tab for s in steps)
    if other:
        parts[list(k for k, n in counts.items() if n).index("extra")] += f" ({other} from the other tabs it rang in)"
    missing = [s.type for s in steps if s.status == "missing"]
    return ("Compared with the healthy call: " + ", ".join(parts) + "."
            + (f" Missing: {', '.join(dict.fromkeys(missing))}." if missing else ""))
