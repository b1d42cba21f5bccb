"""The filter every analytics query shares: period, portals, apps, directions, SDK versions, time zone.

`Filters.params()` gives the bound parameters of FILTERED_CALLS_SQL; queries start with
`WITH f AS (FILTERED_CALLS_SQL) ...` and read `f` instead of `calls`. An empty list means "any".
The period is [start, end) in the user's time zone, turned into UTC bounds here (calls store UTC).
The days a period can take are declared here too (FIRST_DAY..LAST_DAY), with the checks every edge runs on days a
person typed or linked: the date pickers, `?from=`/`?to=` links, `report --from/--to`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ingest.errors import CallscopeError

# Every period lies in these days: wide enough for any capture, narrow enough that a period, the one before it and
# their UTC bounds in any time zone stay dates Python can hold (year 1 to 9999).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# What is wrong with a typed or linked day, and what to do about it (`Error: <what>. <what to do>` on the CLI).
NOT_A_DAY = ("{what} {text!r} is not a day", "Write it as YYYY-MM-DD, e.g. 2025-11-25")
OUT_OF_RANGE = ("{what} {day} is outside the days Callscope covers ({first} to {last})", "Pick a day in that range")
REVERSED = ("the period starts ({start}) after it ends ({end})", "Swap {first_name} and {last_name}")

FILTERED_CALLS_SQL = """
SELECT *, timezone($tz, timezone('UTC', started_at)) AS started_local
FROM calls
WHERE started_at >= $start_utc AND started_at < $end_utc
  AND (len($portals) = 0 OR list_contains($portals, portal_id))
  AND (len($apps) = 0 OR list_contains($apps, app))
  AND (len($directions) = 0 OR list_contains($directions, direction))
  AND (len($sdk_versions) = 0 OR list_contains($sdk_versions, sdk_version))
"""

# The values the filter bar offers (over all calls, not the filtered ones).
FILTER_OPTIONS_SQL = """
SELECT
    list(DISTINCT portal_id ORDER BY portal_id) FILTER (WHERE portal_id IS NOT NULL)       AS portals,
    list(DISTINCT app ORDER BY app) FILTER (WHERE app IS NOT NULL)                         AS apps,
    list(DISTINCT sdk_version ORDER BY sdk_version) FILTER (WHERE sdk_version IS NOT NULL) AS sdk_versions,
    min(started_at) AS first_call, max(started_at) AS last_call
FROM calls
"""

DIRECTIONS = ("inbound", "outbound", "unknown")


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive last day, as a person picks it
    portals: tuple[int, ...] = ()
    apps: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    sdk_versions: tuple[str, ...] = ()
    tz: str = "UTC"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def bounds_utc(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.tz)
        lo = datetime.combine(self.start, time.min, zone).astimezone(UTC).replace(tzinfo=None)
        hi = datetime.combine(self.end + timedelta(days=1), time.min, zone).astimezone(UTC).replace(tzinfo=None)
        return lo, hi

    def params(self) -> dict:
        lo, hi = self.bounds_utc()
        return {
            "start_utc": lo, "end_utc": hi, "tz": self.tz,
            "portals": list(self.portals), "apps": list(self.apps), "directions": list(self.directions),
            "sdk_versions": list(self.sdk_versions),
        }

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of equal length just before this one (for the change against the previous period)."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    @property
    def bucket(self) -> str:
        """Trend granularity: hours for spans of up to 3 days, else days."""
        return "hour" if self.days <= 3 else "day"


def check_day(day: date, what: str) -> date:
    """`day`, when it lies in FIRST_DAY..LAST_DAY; else CallscopeError naming `what` (`--from`, `from`, …)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        what_went_wrong, what_to_do = OUT_OF_RANGE
        raise CallscopeError(what_went_wrong.format(what=what, day=day, first=FIRST_DAY, last=LAST_DAY), what_to_do)
    return day


def parse_day(text: str, what: str) -> date:
    """A typed day (YYYY-MM-DD) in FIRST_DAY..LAST_DAY; else CallscopeError saying what is wrong and what to do."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise CallscopeError(NOT_A_DAY[0].format(what=what, text=text), NOT_A_DAY[1]) from None
    return check_day(day, what)


def check_period(start: date, end: date, names: tuple[str, str] = ("from", "to")) -> tuple[date, date]:
    """(start, end) when both days are in range and the period does not end before it starts; `names` are what the
    person typed them as."""
    check_day(start, names[0])
    check_day(end, names[1])
    if start > end:
        what_went_wrong, what_to_do = REVERSED
        raise CallscopeError(what_went_wrong.format(start=start, end=end),
                             what_to_do.format(first_name=names[0], last_name=names[1]))
    return start, end
