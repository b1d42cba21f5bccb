"""The import audit: every load with its counts, and the rejected lines with their reasons."""

from __future__ import annotations

LOADS_SQL = """
SELECT load_id, tool, status, started_at, duration_ms, lines_read, loaded, duplicates, rejected, redacted
FROM loads
ORDER BY load_id DESC
LIMIT $limit
"""

REJECT_REASONS_SQL = """
SELECT regexp_replace(reason, '\\b[0-9]+\\b', 'N', 'g') AS reason, count(*) AS lines,
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

UNKNOWN_TYPES_SQL = """
SELECT type, count(*) AS messages, min(ts) AS first_seen, max(ts) AS last_seen,
       list(DISTINCT sdk_version) FILTER (WHERE sdk_version IS NOT NULL) AS sdk_versions
FROM events
WHERE NOT known_type
GROUP BY type
ORDER BY messages DESC
"""
