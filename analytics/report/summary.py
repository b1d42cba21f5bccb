"""The beta report's written summary: deterministic sentences from the numbers, never from a model.

Each headline number is compared with the previous period of equal length. A change is stated only when it is
material (thresholds below, also printed under the report); its wording follows `metrics.HIGHER_IS_BETTER`: a rate
that went up "improved" when higher is better and "got worse" when lower is better; numbers with no good direction
(call volume) just changed.

Incidents are compared as shares of the calls they can happen to (simultaneous ringing: of all calls; arrived while
unavailable: of inbound calls), lower is better, so a busier period alone is not "worse"; unknown message types, which
have no such denominator, as counts. Calls dropped on navigation are the dropped rate, stated once as that.

"The biggest problem" is picked by a fixed rule: among the changes for the worse, the rate (headline rate or
incident share) that moved the most percentage points; if no rate got worse, the time to answer that moved the most
relative to its previous value; then the count that did (ties: HEADLINE order, then INCIDENT_ORDER). If nothing got
worse: the incident with the most calls (ties: INCIDENT_ORDER), unknown message types only when no call incident
occurred; else no problem stands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analytics.format import delta, missing, number
from analytics.metrics import HIGHER_IS_BETTER, RATE_PARTS
from analytics.report import strings as s

RATE_MIN_PP = 1.0            # a rate must move by at least 1 percentage point,
RATE_MIN_DENOMINATOR = 20    # with at least 20 calls behind it in both periods,
RATE_MIN_CALLS = 3           # and a move worth at least 3 calls at the smaller period's volume (1 of 100 is noise);
COUNT_MIN_RELATIVE = 0.10    # a count by at least 10% of the previous value,
COUNT_MIN_ABSOLUTE = 5       # and by at least 5;
TIME_MIN_RELATIVE = 0.10     # a time to answer by at least 10%,
TIME_MIN_ABSOLUTE_S = 0.5    # and 0.5 s,
TIME_MIN_SAMPLES = 20        # with at least 20 answered calls in both periods.

HEADLINE = ("calls", "inbound", "outbound", "answer_rate", "miss_rate", "dropped_rate", "failed_rate",
            "engagement_failure_rate", "caller_id_match_rate", "tta_median_s", "tta_p90_s")
INCIDENT_ORDER = ("dropped", "arrived_while_unavailable", "simultaneous_ringing", "unknown_types")
CALL_INCIDENTS = INCIDENT_ORDER[:3]
WORSE_TIERS = {"rate": 0, "seconds": 1, "ms": 1, "count": 2}  # the biggest problem: rates first, then times, counts

KIND = {"calls": "count", "inbound": "count", "outbound": "count", "tta_median_s": "seconds", "tta_p90_s": "seconds",
        "inbound_portals": "count", "inbound_users": "count", "portals_with_calls": "count", "instances": "count",
        "calling_window_share": "rate", "calling_window_portals": "count", "update_engagement_failed": "count",
        "caller_id_no_match_rate": "rate", "caller_id_failure_rate": "rate",
        **{k: "rate" for k in RATE_PARTS},
        "share": "rate", **{f"{w}_latency_{q}_ms": "ms" for w in ("engagement", "caller_id") for q in ("median", "p90")}}
# Which way is good for the report's own numbers too (metrics.HIGHER_IS_BETTER covers the dashboard's).
REPORT_HIGHER_IS_BETTER = {**HIGHER_IS_BETTER, "caller_id_no_match_rate": False, "caller_id_failure_rate": False,
                           "update_engagement_failed": False, "engagement_latency_median_ms": False,
                           "engagement_latency_p90_ms": False, "caller_id_latency_median_ms": False,
                           "caller_id_latency_p90_ms": False, **{name: False for name in INCIDENT_ORDER}}


def fmt(metric: str, value, kind: str | None = None) -> str:
    """A number as the report prints it (analytics.format): rates in %, times with their unit, counts with
    separators; `kind` defaults to the metric's (KIND)."""
    return number(value, kind or KIND.get(metric, "count"))


def fmt_delta(metric: str, now, before, kind: str | None = None) -> str:
    """The change as analytics.format writes it; a count's also relative to before (`+300, +30%`)."""
    kind = kind or KIND.get(metric, "count")
    change = delta(now, before, kind)
    if kind != "count" or missing(now) or missing(before) or change == "0" or not before:
        return change
    return f"{change}, {(int(now) - int(before)) / before:+.0%}"


@dataclass(frozen=True)
class Change:
    metric: str
    label: str
    now: float
    before: float
    verdict: str   # improved | worse | up | down
    weight: float  # the change as a multiple of its materiality threshold
    kind: str      # count | rate | seconds | ms

    def item(self) -> str:
        return s.SUM_ITEM.format(label=self.label, before=fmt(self.metric, self.before, self.kind),
                                 now=fmt(self.metric, self.now, self.kind),
                                 delta=fmt_delta(self.metric, self.now, self.before, self.kind))


def material_change(metric: str, now, before, samples: tuple[int, int] = (0, 0), *, label: str | None = None,
                    kind: str | None = None) -> Change | None:
    """The change of one number if it is material, else None. `samples`: the calls behind a rate or a time, per
    period (current, previous); counts need none."""
    if missing(now) or missing(before):
        return None
    kind = kind or KIND.get(metric, "count")
    delta = now - before
    if kind == "rate":
        if (min(samples) < RATE_MIN_DENOMINATOR or round(abs(delta) * 100, 9) < RATE_MIN_PP
                or round(abs(delta) * min(samples), 9) < RATE_MIN_CALLS):
            return None
        weight = abs(delta) * 100 / RATE_MIN_PP
    elif kind in ("seconds", "ms"):
        if min(samples) < TIME_MIN_SAMPLES or before <= 0:
            return None
        if abs(delta) / before < TIME_MIN_RELATIVE or abs(delta) < TIME_MIN_ABSOLUTE_S * (1000 if kind == "ms" else 1):
            return None
        weight = abs(delta) / before / TIME_MIN_RELATIVE
    else:
        relative = abs(delta) / max(before, 1)
        if abs(delta) < COUNT_MIN_ABSOLUTE or relative < COUNT_MIN_RELATIVE:
            return None
        weight = relative / COUNT_MIN_RELATIVE
    good = REPORT_HIGHER_IS_BETTER.get(metric)
    if good is None:
        verdict = "up" if delta > 0 else "down"
    else:
        verdict = "improved" if (delta > 0) == good else "worse"
    return Change(metric, label or _in_sentence(s.METRIC_LABELS.get(metric, metric)), now, before, verdict, weight, kind)


def _in_sentence(label: str) -> str:
    """"Answer rate" → "answer rate" inside a sentence; "Caller-ID match rate" keeps its capitals after the first."""
    first = label.split(" ")[0]
    return label if first.isupper() else label[0].lower() + label[1:]


def _samples(metric: str, now: Mapping, before: Mapping) -> tuple[int, int]:
    if metric in RATE_PARTS:
        column = RATE_PARTS[metric][1]
    elif metric.startswith("tta_"):
        column = "answered"
    else:
        return (0, 0)
    return int(now.get(column) or 0), int(before.get(column) or 0)


def _share(count: int, denominator) -> float | None:
    return count / denominator if denominator else None


def headline_changes(now: Mapping, before: Mapping, incidents: Mapping[str, tuple] = {}) -> list[Change]:
    """Material changes of the headline numbers (KPIS_SQL rows) and incidents, in fixed order. `incidents`: name ->
    (count now, count before[, denominator now, denominator before]); without denominators the counts compare."""
    changes = [c for m in HEADLINE if (c := material_change(m, now.get(m), before.get(m), _samples(m, now, before)))]
    for name in INCIDENT_ORDER[1:]:  # "dropped" is the dropped rate, already a headline
        if name in incidents and (change := incident_change(name, *incidents[name])):
            changes.append(change)
    return changes


def incident_change(name: str, count: int, count_before: int, den=None, den_before=None) -> Change | None:
    """An incident's material change: of its share of calls when it has denominators, else of its count."""
    label = s.INCIDENT_SHORT[name]
    if missing(den) and missing(den_before):
        return material_change(name, count, count_before, label=label, kind="count")
    den, den_before = (0 if missing(d) else int(d) for d in (den, den_before))
    return material_change(name, _share(count, den), _share(count_before, den_before), (den, den_before),
                           label=label, kind="rate")


def summarize(now: Mapping, before: Mapping, *, days: int, incidents: Mapping[str, tuple] = {},
              top_failure: tuple[str, int] | None = None, captured: bool = True) -> list[str]:
    """The summary's sentences. `now`/`before`: KPIS_SQL rows for the period and the previous one; `incidents`:
    name -> (count now, count before[, denominator now, denominator before]); `top_failure`: (message, calls) of the
    most frequent engagement-creation failure message; `captured`: whether capture had started by the previous
    period's first day (if not, nothing is compared: its smaller numbers are only the capture starting)."""
    out = [s.SUM_VOLUME.format(calls=fmt("calls", now.get("calls")), inbound=fmt("calls", now.get("inbound")),
                               outbound=fmt("calls", now.get("outbound")), days=days,
                               prev_calls=fmt("calls", before.get("calls")))]
    if not now.get("calls"):
        return [*out, s.SUM_NO_CALLS]
    changes = headline_changes(now, before, incidents) if before.get("calls") and captured else []
    if not captured:
        out.append(s.SUM_NOT_CAPTURED.format(days=days))
    elif not before.get("calls"):
        out.append(s.SUM_NO_PREVIOUS.format(days=days))
    else:
        for verdicts, sentence in ((("improved",), s.SUM_IMPROVED), (("worse",), s.SUM_WORSE),
                                   (("up", "down"), s.SUM_MOVED)):
            items = [c.item() for c in changes if c.verdict in verdicts]
            if items:
                out.append(sentence.format(items="; ".join(items)))
        if not changes:
            out.append(s.SUM_NOTHING_MOVED.format(days=days))
    out.append(biggest_problem(changes, incidents, days))
    if top_failure and top_failure[1]:
        out.append(s.SUM_TOP_FAILURE.format(message=top_failure[0], calls=f"{top_failure[1]:,}",
                                            failed=f"{int(now.get('engagement_failed') or 0):,}"))
    return out


def biggest_problem(changes: list[Change], incidents: Mapping[str, tuple], days: int) -> str:
    worse = [c for c in changes if c.verdict == "worse"]
    if worse:  # min keeps the first of equals: HEADLINE order, then incidents
        top = min(worse, key=lambda c: (WORSE_TIERS[c.kind], -c.weight))
        return s.SUM_BIGGEST_WORSE.format(item=top.item())
    for group in (CALL_INCIDENTS, ("unknown_types",)):
        counted = [(incidents[n][0], n) for n in group if incidents.get(n, (0, 0))[0]]
        if counted:
            count, name = max(counted, key=lambda pair: (pair[0], -group.index(pair[1])))
            return s.SUM_BIGGEST_INCIDENT.format(label=s.INCIDENT_LABELS[name], count=f"{count:,}",
                                                 unit=s.INCIDENT_UNITS[name], before=f"{incidents[name][1]:,}", days=days)
    return s.SUM_BIGGEST_NONE


def rules() -> str:
    return s.SUM_RULES.format(rate_pp=RATE_MIN_PP, rate_min=RATE_MIN_DENOMINATOR, rate_calls=RATE_MIN_CALLS,
                              count_rel=COUNT_MIN_RELATIVE,
                              count_min=COUNT_MIN_ABSOLUTE, time_rel=TIME_MIN_RELATIVE, time_abs=TIME_MIN_ABSOLUTE_S,
                              time_min=TIME_MIN_SAMPLES)
