"""The calls explorer: the filtered calls, narrowed by outcome, user, tag and one search box, newest first.

The search box finds a call by
- its external call id: any part of it, case-insensitive;
- its engagement id: exactly;
- the last digits of a phone number: `from_number` or `to_number` ends with them. A redacted number's token keeps
  the number's last 4 digits (`~3fa9c21b0d-7768`, ingest/redact.py), so up to 4 digits find redacted calls too.
Digits are only read as a phone number when the box holds nothing but a number (digits, spaces, `+ - . ( )`).

DRILL_COLUMNS is what every drill-down table of the analytics pages starts with, so a page's "calls behind this
number" looks the same wherever it was clicked; each drill statement adds the few columns its number is about.
"""

from __future__ import annotations

import re

from analytics.filters import FILTERED_CALLS_SQL

DRILL_LIMIT = 500  # ui.drill shows "500+" at this many
EXPLORER_LIMIT = 2000
CALLS_FIRST_COLUMNS = ("started", "direction", "outcome")  # after the call id, in the explorer and drill tables

DRILL_COLUMNS = """external_call_id, started_local AS started, direction, outcome, portal_id, iframe_locations,
       duration_ms / 1000 AS talk_s"""  # each drill adds the columns its number is about; the replay has the rest

# The explorer's own narrowing. Extra parameters: $outcomes, $users (empty list = any), $by_tag + $tagged (the ids
# carrying the chosen tag), $text, $digits (NULL = no search).
_MATCHES = """(len($outcomes) = 0 OR list_contains($outcomes, outcome))
  AND (len($users) = 0 OR list_contains($users, user_id))
  AND (NOT $by_tag OR list_contains($tagged, external_call_id))
  AND ($text IS NULL
       OR contains(lower(external_call_id), lower($text))
       OR list_contains(aliases, $text)  -- another externalCallId the app used for the same call
       OR engagement_id::VARCHAR = $text
       OR ($digits IS NOT NULL AND (from_number LIKE '%' || $digits OR to_number LIKE '%' || $digits)))"""

# The newest $limit matching calls: what tells calls apart at a glance (the replay has everything else).
CALLS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT external_call_id, started_local AS started, direction, outcome, portal_id, from_number, to_number,
       duration_ms / 1000 AS talk_s
FROM f
WHERE {_MATCHES}
ORDER BY started_at DESC, external_call_id
LIMIT $limit
"""

# The calls whose externalCallId starts with $prefix, newest first: a link may carry only the first characters of
# an id (the beta report prints 8), which open the call when they are unique and list the candidates when not.
CALL_ID_PREFIX_SQL = """
SELECT external_call_id, started_at, direction, outcome, portal_id, app
FROM calls
WHERE starts_with(external_call_id, $prefix)
ORDER BY started_at DESC, external_call_id
LIMIT $limit
"""

# How many calls match, beyond the limit.
COUNT_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT count(*) AS matching FROM f WHERE {_MATCHES}
"""

# The users the user filter offers: those with calls under the shared filter.
USERS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT user_id, count(*) AS calls
FROM f
WHERE user_id IS NOT NULL
GROUP BY user_id
ORDER BY calls DESC, user_id
"""

_PHONE_LIKE = re.compile(r"[\d\s()+.\-]+")


def search_params(text: str | None) -> dict:
    """The search box's bound parameters: `text` (NULL when empty) and `digits` (only for a phone-like entry)."""
    value = (text or "").strip()
    digits = re.sub(r"\D", "", value) if _PHONE_LIKE.fullmatch(value) else ""
    return {"text": value or None, "digits": digits or None}


def explorer_params(*, outcomes=(), users=(), tagged: list[str] | None = None, text: str | None = None) -> dict:
    """CALLS_SQL's and COUNT_SQL's parameters beyond `Filters.params()` (CALLS_SQL also takes $limit);
    `tagged=None` means no tag filter."""
    return {"outcomes": list(outcomes), "users": [int(u) for u in users], "by_tag": tagged is not None,
            "tagged": list(tagged or []), **search_params(text)}
