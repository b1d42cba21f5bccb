"""The filter every analytics query shares: period, portals, apps, directions, SDK versions, time zone.

`Filters.params()` gives the bound parameters of FILTERED_CALLS_SQL; queries start with
`WITH f AS (FILTERED_CALLS_SQL) ...` and read `f` instead of `calls`. An empty list means "any".
The period is [start, end) in the user's time zone, turned into UTC bounds here (calls store UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
