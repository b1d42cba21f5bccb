"""A finding of the diagnosis, and how a finding names the messages it rests on (`CALL_ENDED #7 (+1:02.300)`).

Shared by the rules of `analytics.replay.diagnosis` and `analytics.replay.outcome_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.format import offset
from analytics.replay.trace import CallTrace, Message


@dataclass(frozen=True)
class Finding:
    severity: str                    # critical | error | warning | info
    code: str                        # the rule's name
    title: str
    detail: str
    advice: str
    message_indexes: tuple[int, ...]  # trace indexes it rests on; the first is where to look


def ref(call: CallTrace, m: Message) -> str:
    return f"{m.type} #{m.index + 1} ({offset(call.rel_ms(m.ts_ms))})"


def quote(text: str | None) -> str:
    return f"“{text}”" if text else "no message"
