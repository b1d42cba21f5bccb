"""The beta feedback report: every number for a period and the previous period of equal length (no Streamlit).

Call-level numbers are metrics.KPIS_SQL / TREND_SQL / BREAKDOWN_SQL run with the same `Filters` the dashboard uses,
so the report's numbers are the dashboard's; report-only statements live in analytics/report/sql.py. Personal data
(phone numbers, user ids, note authors, emails or phone numbers written in notes) stays out unless
`include_personal=True`; call ids, portal ids and counts always suffice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd

from analytics import annotations, db, metrics
from analytics.filters import FILTER_OPTIONS_SQL, Filters, check_period
from analytics.format import missing, scrub
from analytics.report import sql as report_sql
from analytics.report import strings as s
from analytics.report.summary import INCIDENT_ORDER, summarize
from ingest.errors import CallscopeError

DEFAULT_TAG = "beta-feedback"
TOP_FAILURE_MESSAGES = 5
CURRENT, PREVIOUS = "current", "previous"
LOCATION_ORDER = ("widget", "remote", "window", "(unknown)")
# Which numbers the report shows in which section, and the parts of its own rates (metrics.RATE_PARTS has the rest).
ADOPTION_ROWS = ("inbound_portals", "inbound_users", "portals_with_calls", "instances", "calling_window_share",
                 "calling_window_portals")
HUBSPOT_KPIS = ("engagement_failure_rate", "caller_id_match_rate")
HUBSPOT_ROWS = ("caller_id_no_match_rate", "caller_id_failure_rate", "update_engagement_failed",
                "engagement_latency_median_ms", "engagement_latency_p90_ms", "caller_id_latency_median_ms",
                "caller_id_latency_p90_ms")
RATE_PARTS_REPORT = {"caller_id_no_match_rate": ("caller_id_no_match", "caller_id_replied"),
                     "caller_id_failure_rate": ("caller_id_failed", "caller_id_replied"),
                     "calling_window_share": ("calling_window_instances", "calling_window_known")}
# What each incident count is a share of (a KPIS_SQL column); unknown message types have no call denominator.
INCIDENT_DENOMINATOR = {"dropped": "known", "arrived_while_unavailable": "inbound", "simultaneous_ringing": "calls",
                        "unknown_types": None}

@dataclass
class Report:
    filters: Filters
    previous: Filters
    kpis: dict[str, dict]            # period -> the KPIS_SQL row, exactly as the dashboard reads it
    adoption: dict[str, dict]        # period -> ADOPTION_SQL row
    hubspot: dict[str, dict]         # period -> HUBSPOT_SQL row
    trend: pd.DataFrame              # TREND_SQL, this period
    portals: pd.DataFrame            # BREAKDOWN_SQL by portal, this period
    iframe_locations: pd.DataFrame   # location, instances, share, instances_previous, share_previous
    sdk_versions: pd.DataFrame       # sdk_version, instances, share, portals, calls, answer_rate, dropped_rate, *_previous
    failure_messages: pd.DataFrame   # message, calls, calls_previous, examples
    incidents: pd.DataFrame          # incident, count, count_previous, denominator, denominator_previous, examples
    unknown_types: pd.DataFrame      # type, messages, instances, messages_previous, examples
    tagged: pd.DataFrame             # external_call_id, started, outcome, portal_id, tags, notes
    calls: pd.DataFrame              # CALL_DETAILS_SQL (+ listed_for) for every example call the report names
    summary: list[str]
    tag: str = DEFAULT_TAG
    tags_available: bool = False
    include_personal: bool = False
    previous_captured: bool = True   # capture had started by the previous period's first day (metrics.previous_captured)

    def period_label(self, period: str) -> str:
        f = self.filters if period == CURRENT else self.previous
        return f"{f.start.isoformat()}/{f.end.isoformat()}"


def report_filters(start: date | None, end: date | None, tz: str = "UTC", *, portals=(), apps=(), sdk_versions=(),
                   directions=(), today: date | None = None) -> Filters:
    """The CLI's filters: a missing end is yesterday in `tz`, a missing start six days before the end (one week)."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CallscopeError(f"{tz!r} is not a time zone", "Use a name like UTC or Europe/London") from None
    end = end or (today or datetime.now(zone).date()) - timedelta(days=1)
    start = start or end - timedelta(days=6)
    check_period(start, end, ("--from", "--to"))
    return Filters(start=start, end=end, portals=tuple(portals), apps=tuple(apps), sdk_versions=tuple(sdk_versions),
                   directions=tuple(directions), tz=tz)


def _both(con, sql: str, periods: dict[str, Filters], **extra) -> dict[str, dict]:
    """One row per period as plain Python values (int, float, None), as DuckDB returns them."""
    return {name: db.first(con, sql, **f.params(), **extra) for name, f in periods.items()}


def _with_previous(now: pd.DataFrame, before: pd.DataFrame, key: str, columns: list[str],
                   counts: tuple[str, ...] = ()) -> pd.DataFrame:
    """`now` plus `<column>_previous` for each column, keys of either period kept; `counts` missing in a period
    are 0 there (a rate missing in a period stays missing)."""
    merged = now.merge(before[[key, *columns]], on=key, how="outer", suffixes=("", "_previous"))
    for column in counts:
        for name in (column, f"{column}_previous"):
            merged[name] = merged[name].fillna(0)
    return merged


def _ids(value) -> list[str]:
    """A DuckDB list cell (list or array; missing when the row came from the other period) as a list of ids."""
    return [str(x) for x in value] if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else []


def _incidents(con, periods: dict[str, Filters], kpis: dict[str, dict], unknown: pd.DataFrame) -> pd.DataFrame:
    found = {name: db.frame(con, report_sql.INCIDENTS_SQL, **f.params()).set_index("incident")
             for name, f in periods.items()}
    rows = []
    for incident in INCIDENT_ORDER:
        denominator = INCIDENT_DENOMINATOR[incident]
        if incident == "unknown_types":
            count, before = int(unknown["messages"].sum()), int(unknown["messages_previous"].sum())
            examples = list(dict.fromkeys(x for xs in unknown["examples"] for x in xs))[:3]
        else:
            now, prev = found[CURRENT], found[PREVIOUS]
            count = int(now.at[incident, "calls"]) if incident in now.index else 0
            before = int(prev.at[incident, "calls"]) if incident in prev.index else 0
            examples = _ids(now.at[incident, "examples"]) if incident in now.index else []
        rows.append({"incident": incident, "count": count, "count_previous": before,
                     "denominator": kpis[CURRENT][denominator] if denominator else None,
                     "denominator_previous": kpis[PREVIOUS][denominator] if denominator else None,
                     "examples": examples})
    return pd.DataFrame(rows)


def notes_version(db_path: Path) -> int | None:
    """Changes whenever someone tags or annotates a call (the notes file's mtime), for caches to key on."""
    try:
        return annotations.notes_path(db_path).stat().st_mtime_ns
    except OSError:
        return None


def _tagged(con, f: Filters, db_path: Path | None, tag: str, include_personal: bool) -> tuple[pd.DataFrame, bool]:
    columns = ["external_call_id", "started", "outcome", "portal_id", "tags", "notes"]
    if db_path is None:
        return pd.DataFrame(columns=columns), False
    if not annotations.notes_path(db_path).exists():  # nobody has tagged a call yet
        return pd.DataFrame(columns=columns), True
    ids = annotations.calls_with_tag(db_path, tag)
    calls = db.frame(con, report_sql.TAGGED_CALLS_SQL, **f.params(), call_ids=ids)
    tags = annotations.tags_for(db_path, calls["external_call_id"].tolist())
    notes = []
    for call_id in calls["external_call_id"]:
        found = annotations.notes_for(db_path, call_id)
        texts = [] if found.empty else [
            (f"{row.note} ({row.author})" if include_personal and row.author else row.note) for row in found.itertuples()]
        notes.append([t if include_personal else scrub(t) for t in texts])
    calls["tags"] = [tags.get(c, [tag]) for c in calls["external_call_id"]]
    calls["notes"] = notes
    return calls[columns], True


def _both_frames(con, periods: dict[str, Filters], sql: str, key: str, columns: list[str],
                 counts: tuple[str, ...] = (), **extra) -> pd.DataFrame:
    """`sql` for this period, with the previous period's `columns` beside it (`_with_previous`)."""
    now, before = (db.frame(con, sql, **f.params(), **extra) for f in periods.values())
    return _with_previous(now, before, key, columns, counts)


def _iframe_locations(con, periods: dict[str, Filters]) -> pd.DataFrame:
    locations = _both_frames(con, periods, report_sql.IFRAME_LOCATIONS_SQL, "location", ["instances", "share"],
                             ("instances", "share"))
    locations["order"] = [LOCATION_ORDER.index(x) if x in LOCATION_ORDER else 99 for x in locations["location"]]
    return locations.sort_values(["order", "location"]).drop(columns="order").reset_index(drop=True)


def _sdk_versions(con, periods: dict[str, Filters]) -> pd.DataFrame:
    """SDK versions by instances, with their calls' answer and dropped rates."""
    sdk = _both_frames(con, periods, report_sql.SDK_VERSIONS_SQL, "sdk_version", ["instances", "share", "portals"],
                       ("instances", "share", "portals"))
    by_sdk = _both_frames(con, periods, metrics.BREAKDOWN_SQL, "key", ["calls", "answer_rate", "dropped_rate"],
                          ("calls",), dimension="sdk_version").rename(columns={"key": "sdk_version"})
    sdk = sdk.merge(by_sdk[["sdk_version", "calls", "answer_rate", "dropped_rate", "calls_previous"]],
                    on="sdk_version", how="outer")
    numbers = ["instances", "instances_previous", "share", "share_previous", "portals", "portals_previous", "calls",
               "calls_previous"]
    sdk[numbers] = sdk[numbers].fillna(0)
    return sdk.sort_values(["instances", "calls", "sdk_version"], ascending=[False, False, True]).reset_index(drop=True)


def _failure_messages(con, periods: dict[str, Filters]) -> pd.DataFrame:
    """This period's top engagement-creation failure messages, with the previous period's count of each (a message
    gone this period is not listed)."""
    failures = _both_frames(con, periods, report_sql.FAILURE_MESSAGES_SQL, "message", ["calls"], ("calls",),
                            top=10**6)
    failures = failures[failures["calls"] > 0].sort_values(["calls", "message"], ascending=[False, True])
    failures = failures.head(TOP_FAILURE_MESSAGES).reset_index(drop=True)
    failures["examples"] = [_ids(x) for x in failures["examples"]]
    return failures


def _unknown_types(con, periods: dict[str, Filters]) -> pd.DataFrame:
    unknown = _both_frames(con, periods, report_sql.UNKNOWN_TYPES_SQL, "type", ["messages"], ("messages",))
    unknown = unknown[unknown["messages"] > 0].reset_index(drop=True)
    unknown["instances"] = unknown["instances"].fillna(0).astype(int)
    unknown["examples"] = [_ids(x) for x in unknown["examples"]]
    return unknown


def _example_calls(con, f: Filters, incidents: pd.DataFrame, failures: pd.DataFrame,
                   include_personal: bool) -> pd.DataFrame:
    """Every call the report names, with why: the incidents and failures it is an example of."""
    reasons: dict[str, list[str]] = {}
    for r in incidents.itertuples():
        for call_id in r.examples:
            reasons.setdefault(call_id, []).append(s.INCIDENT_SHORT[r.incident])
    for call_id in (x for xs in failures["examples"] for x in xs):
        reasons.setdefault(call_id, []).append(s.ENGAGEMENT_FAILED_REASON)
    calls = db.frame(con, report_sql.CALL_DETAILS_SQL, **f.params(), call_ids=list(reasons))
    calls.insert(1, "listed_for", [", ".join(dict.fromkeys(reasons[c])) for c in calls["external_call_id"]])
    return calls if include_personal else calls.drop(columns=list(report_sql.PERSONAL_COLUMNS))


def build_report(con: duckdb.DuckDBPyConnection, filters: Filters, *, db_path: Path | None = None,
                 tag: str = DEFAULT_TAG, include_personal: bool = False) -> Report:
    """Every section of the report for `filters` and `filters.previous()`. `db_path` (the primary database path)
    locates the tags-and-notes file beside it; without it the tagged-calls section is empty."""
    periods = {CURRENT: filters, PREVIOUS: filters.previous()}
    tag = annotations.clean_tag(tag)  # "Beta feedback" → "beta-feedback"; CallscopeError if it cannot be one
    kpis = _both(con, metrics.KPIS_SQL, periods)
    failures = _failure_messages(con, periods)
    unknown = _unknown_types(con, periods)
    incidents = _incidents(con, periods, kpis, unknown)
    tagged, tags_available = _tagged(con, filters, db_path, tag, include_personal)
    captured = metrics.previous_captured(filters, (db.first(con, FILTER_OPTIONS_SQL) or {}).get("first_call"))
    summary = summarize(
        kpis[CURRENT], kpis[PREVIOUS], days=filters.days, captured=captured,
        incidents={r.incident: (r.count, r.count_previous, r.denominator, r.denominator_previous)
                   for r in incidents.itertuples()},
        top_failure=(failures.at[0, "message"], int(failures.at[0, "calls"])) if len(failures) else None)
    return Report(
        filters=filters, previous=periods[PREVIOUS], kpis=kpis, adoption=_both(con, report_sql.ADOPTION_SQL, periods),
        hubspot=_both(con, report_sql.HUBSPOT_SQL, periods),
        trend=db.frame(con, metrics.TREND_SQL, **filters.params(), bucket=filters.bucket),
        portals=db.frame(con, metrics.BREAKDOWN_SQL, **filters.params(), dimension="portal"),
        iframe_locations=_iframe_locations(con, periods), sdk_versions=_sdk_versions(con, periods),
        failure_messages=failures, incidents=incidents, unknown_types=unknown, tagged=tagged,
        calls=_example_calls(con, filters, incidents, failures, include_personal), summary=summary, tag=tag,
        tags_available=tags_available, include_personal=include_personal, previous_captured=captured)


# Long format (the CSV file) ---------------------------------------------------------------------------------------

LONG_COLUMNS = ("section", "metric", "period", "value", "numerator", "denominator")


def _num(value):
    if missing(value):
        return ""
    return value.item() if hasattr(value, "item") else value


def long_format(report: Report) -> list[tuple]:
    """Every number of the report, one per row: LONG_COLUMNS (the CSV file). Periods are ISO intervals
    (2025-11-19/2025-11-25), trend rows their bucket; missing values are empty."""
    rows: list[tuple] = []
    for period in (CURRENT, PREVIOUS):
        label = report.period_label(period)
        k, a, h = report.kpis[period], report.adoption[period], {**report.kpis[period], **report.hubspot[period]}
        for m, v in k.items():
            if m not in metrics.RATE_PARTS:
                rows.append(("volume", m, label, v, "", ""))
        for m, (num, den) in metrics.RATE_PARTS.items():
            rows.append(("hubspot" if m in HUBSPOT_KPIS else "volume", m, label, k[m], k[num], k[den]))
        for m in ADOPTION_ROWS:
            num, den = RATE_PARTS_REPORT.get(m, ("", ""))
            rows.append(("adoption", m, label, a[m], a.get(num, ""), a.get(den, "")))
        for m in HUBSPOT_ROWS:
            num, den = RATE_PARTS_REPORT.get(m, ("", ""))
            rows.append(("hubspot", m, label, h[m], h.get(num, ""), h.get(den, "")))
        suffix = "" if period == CURRENT else "_previous"
        total = a["instances"]
        for r in report.iframe_locations.to_dict("records"):
            rows.append(("adoption", f"iframe_location:{r['location']}", label, r["share" + suffix],
                         r["instances" + suffix], total))
        for r in report.sdk_versions.to_dict("records"):
            rows.append(("adoption", f"sdk_version:{r['sdk_version']}", label, r["share" + suffix],
                         r["instances" + suffix], total))
        for r in report.failure_messages.to_dict("records"):
            rows.append(("hubspot", f"engagement_failure_message:{r['message']}", label, r["calls" + suffix], "", ""))
        for r in report.incidents.to_dict("records"):
            rows.append(("incidents", r["incident"], label, r["count" + suffix], r["count" + suffix],
                         r["denominator" + suffix]))
        for r in report.unknown_types.to_dict("records"):
            rows.append(("incidents", f"unknown_type:{r['type']}", label, r["messages" + suffix], "", ""))
    current = report.period_label(CURRENT)
    for r in report.portals.to_dict("records"):
        for m in ("calls", *metrics.RATE_PARTS):
            num, den = metrics.RATE_PARTS.get(m, ("", ""))
            rows.append(("portal", f"{m}[portal={r['key']}]", current, r[m], r.get(num, ""), r.get(den, "")))
    fmt_bucket = "%Y-%m-%dT%H:%M" if report.filters.bucket == "hour" else "%Y-%m-%d"
    for r in report.trend.to_dict("records"):
        for m in ("calls", *metrics.RATE_PARTS):
            num, den = metrics.RATE_PARTS.get(m, ("", ""))
            rows.append(("trend", m, f"{r['bucket']:{fmt_bucket}}", r[m], r.get(num, ""), r.get(den, "")))
    rows.append(("tagged", f"calls_tagged:{report.tag}", current, len(report.tagged), "", ""))
    return [tuple(_num(v) for v in row) for row in rows]
