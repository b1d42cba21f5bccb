"""Overview numbers: calls by outcome and the import audit (the full dashboard is its own issue)."""

from __future__ import annotations

OUTCOME_COUNTS_SQL = """
SELECT outcome, direction, count(*) AS calls
FROM calls
GROUP BY ALL
ORDER BY calls DESC
"""

SPAN_SQL = """
SELECT min(started_at) AS first_call, max(started_at) AS last_call, count(*) AS calls,
       count(DISTINCT portal_id) AS portals
FROM calls
"""

LOADS_SQL = """
SELECT load_id, tool, status, started_at, duration_ms, lines_read, loaded, duplicates, rejected, redacted
FROM loads
ORDER BY load_id DESC
LIMIT $limit
"""

REJECT_REASONS_SQL = """
SELECT regexp_replace(reason, '\\b[0-9]+\\b', 'N', 'g') AS reason, count(*) AS lines, min(source) AS example_source
FROM rejects
GROUP BY 1
ORDER BY lines DESC
LIMIT 10
"""
