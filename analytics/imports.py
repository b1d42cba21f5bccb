"""The import audit: every load with its counts, the rejected lines with their reasons, and the collector's
batches that failed to load even alone (quarantined beside the database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.spool import quarantined_segments, spool_dir

LOADS_SQL = """
SELECT load_id, tool, status, started_at, duration_ms, lines_read, loaded, duplicates, rejected, redacted
FROM loads
ORDER BY load_id DESC
LIMIT $limit
"""

# A row stands for `lines` rejected lines: 1, or all those an import counted past the ones it keeps.
REJECT_REASONS_SQL = """
SELECT regexp_replace(reason, '\\b[0-9]+\\b', 'N', 'g') AS reason, sum(lines)::BIGINT AS lines,
       arg_min(source, line_no) AS example_source, min(line_no) AS example_line
FROM rejects
GROUP BY 1
ORDER BY lines DESC
LIMIT 20
"""

REJECTED_LINES_SQL = """
SELECT source, line_no, reason, left(raw, 300) AS raw
FROM rejects
ORDER BY load_id DESC, source, line_no
LIMIT $limit
"""

# Sent in the period (UTC bounds, `Filters.bounds_utc()`), as the sidebar beside the table says.
UNKNOWN_TYPES_SQL = """
SELECT type, count(*) AS messages, min(ts) AS first_seen, max(ts) AS last_seen,
       list(DISTINCT sdk_version) FILTER (WHERE sdk_version IS NOT NULL) AS sdk_versions
FROM events
WHERE NOT known_type AND ts >= $start_utc AND ts < $end_utc
GROUP BY type
ORDER BY messages DESC
"""


# Lifecycle messages sent with a blank externalCallId ("" or whitespace) that belong to no call (ingest/derive/
# messages.py): kept and counted, never part of a call; `near_call` when it landed just after a call's last word.
ORPHANS_SQL = """
SELECT type, count(*) AS messages, count(near_call_id) AS near_a_call, list(DISTINCT app ORDER BY app) AS apps,
       min(ts) AS first_seen, max(ts) AS last_seen
FROM blank_id_messages
WHERE call_id IS NULL AND ts >= $start_utc AND ts < $end_utc
GROUP BY type
ORDER BY messages DESC, type
"""

def quarantined(db_path: Path) -> list[dict[str, Any]]:
    """The collector's quarantined batches, oldest first: each stays listed until an operator moves it away."""
    return [{"batch": q.path.name, "bytes": q.size_bytes,
             "moved_at": datetime.fromtimestamp(q.moved_at, UTC).replace(tzinfo=None) if q.moved_at else None,
             "error": q.error, "file": str(q.path)}
            for q in quarantined_segments(spool_dir(db_path))]
