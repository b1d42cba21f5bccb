"""Engagements & caller ID: what HubSpot answered to each call's engagement creation and caller-ID lookup.

Definitions (per call, a call counts once however many tabs it rang in; columns of `calls`, ingest/calls.py):
- Engagement created / failed: `calls.engagement`. Created = CREATE_ENGAGEMENT_SUCCEEDED or ENGAGEMENT_CREATED
  (or the app sent an engagementId in CALL_ENDED / CALL_COMPLETED); failed = CREATE_ENGAGEMENT_FAILED and never
  created. The trend and the failure rate are metrics.TREND_SQL / KPIS_SQL (engagement-creation failure rate).
- Failure messages: the CREATE_ENGAGEMENT_FAILED `error.message` of each failed call, normalised so messages that
  differ only in ids group together: e-mail addresses become `[email]`, UUIDs `[id]`, every run of digits `N`.
  The groups add up to the failed calls of the failure rate.
- Caller-ID outcome, over inbound calls with a CALLER_ID_MATCH_* reply (the caller-ID match rate's denominator;
  the call's latest reply decides, as in ingest/calls.py): matched contact = at least one CONTACT match
  (companies may match too); matched company = COMPANY matches only; no match = SUCCEEDED with an empty list;
  failed = CALLER_ID_MATCH_FAILED. Matched contact + matched company = the match rate's numerator.
- Caller-ID latency: the call's first INCOMING_CALL to HubSpot's first CALLER_ID_MATCH_* reply, in ms
  (`calls.caller_id_latency_ms`). The box shows p5, p25, median, p75 and p95.
"""

from __future__ import annotations

from analytics import metrics
from analytics.explorer import DRILL_COLUMNS, DRILL_LIMIT
from analytics.filters import FILTERED_CALLS_SQL

# e-mails, then UUIDs, then digit runs: "contact 9310576 is not accessible by user 65236476" ->
# "contact N is not accessible by user N".
_NORMALISED_ERROR = (
    r"regexp_replace(regexp_replace(regexp_replace(coalesce(engagement_error, '(no message)'),"
    r" '[^\s@]+@[^\s@]+', '[email]', 'g'),"
    r" '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '[id]', 'g'),"
    r" '[0-9]+', 'N', 'g')"
)

CALLER_ID_KINDS = ("matched contact", "matched company", "no match", "failed")
_CALLER_ID_KIND = """CASE caller_id
    WHEN 'matched' THEN CASE WHEN list_contains(caller_id_types, 'CONTACT') THEN 'matched contact'
                             ELSE 'matched company' END
    WHEN 'no_match' THEN 'no match'
    WHEN 'failed' THEN 'failed'
END"""

# One row per normalised message: calls, portals, first and last seen (the user's time zone), the latest raw
# message, and up to three example calls, newest first.
FAILURE_GROUPS_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
failed AS (
    SELECT external_call_id, started_at, started_local, portal_id, engagement_error, {_NORMALISED_ERROR} AS message
    FROM f
    WHERE engagement = 'failed'
)
SELECT message, count(*) AS calls, count(DISTINCT portal_id) AS portals,
       min(started_local) AS first_seen, max(started_local) AS last_seen,
       arg_max(engagement_error, started_at) AS latest_message,
       list(external_call_id ORDER BY started_at DESC, external_call_id)[1:3] AS examples
FROM failed
GROUP BY message
ORDER BY calls DESC, message
LIMIT 200
"""

# The caller-ID mix and latency per portal, plus one row for all portals (portal = 'all portals').
CALLER_ID_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL}),
replied AS (
    SELECT coalesce(portal_id::VARCHAR, '(unknown)') AS portal, {_CALLER_ID_KIND} AS kind, caller_id_latency_ms
    FROM f
    WHERE direction = 'inbound' AND caller_id IS NOT NULL
)
SELECT CASE WHEN grouping(portal) = 1 THEN 'all portals' ELSE portal END AS portal,
       count(*)                                          AS replied,
       count(*) FILTER (WHERE kind = 'matched contact') AS matched_contact,
       count(*) FILTER (WHERE kind = 'matched company') AS matched_company,
       count(*) FILTER (WHERE kind = 'no match')        AS no_match,
       count(*) FILTER (WHERE kind = 'failed')          AS failed,
       count(caller_id_latency_ms)                      AS timed,
       quantile_cont(caller_id_latency_ms, 0.05)        AS latency_p5_ms,
       quantile_cont(caller_id_latency_ms, 0.25)        AS latency_p25_ms,
       median(caller_id_latency_ms)                     AS latency_median_ms,
       quantile_cont(caller_id_latency_ms, 0.75)        AS latency_p75_ms,
       quantile_cont(caller_id_latency_ms, 0.95)        AS latency_p95_ms,
       quantile_cont(caller_id_latency_ms, 0.9)         AS latency_p90_ms
FROM replied
GROUP BY GROUPING SETS ((portal), ())
ORDER BY grouping(portal) DESC, replied DESC, portal
"""

# The calls behind a bar, a row or a segment. Extra parameters, NULL = any: $engagement ('created' | 'failed'),
# $bucket_start (with $bucket), $message (a normalised failure message), $caller_id_kind, $portal.
DRILL_SQL = f"""
WITH f AS ({FILTERED_CALLS_SQL})
SELECT {DRILL_COLUMNS}, engagement_error, caller_id, caller_id_latency_ms
FROM f
WHERE ($engagement IS NULL OR engagement = $engagement)
  AND ($bucket_start IS NULL OR date_trunc($bucket, started_local) = $bucket_start)
  AND ($message IS NULL OR (engagement = 'failed' AND {_NORMALISED_ERROR} = $message))
  AND ($caller_id_kind IS NULL OR (direction = 'inbound' AND {_CALLER_ID_KIND} = $caller_id_kind))
  AND ($portal IS NULL OR coalesce(portal_id::VARCHAR, '(unknown)') = $portal)
ORDER BY started_at DESC
LIMIT {DRILL_LIMIT}
"""


def drill_params(bucket: str, *, engagement=None, bucket_start=None, message=None, caller_id_kind=None,
                 portal=None) -> dict:
    """DRILL_SQL's parameters beyond `Filters.params()`."""
    return {"bucket": bucket, "engagement": engagement, "bucket_start": bucket_start, "message": message,
            "caller_id_kind": caller_id_kind, "portal": None if portal == "all portals" else portal}


HELP = {
    "engagement": metrics.RATE_HELP["engagement_failure_rate"]
    + " Created: CREATE_ENGAGEMENT_SUCCEEDED or ENGAGEMENT_CREATED (or the app sent an engagementId); "
    "failed: CREATE_ENGAGEMENT_FAILED and never created. A call counts once however many tabs it rang in.",
    "failures": "CREATE_ENGAGEMENT_FAILED error messages of the calls whose engagement failed, grouped once "
    "e-mails become [email], UUIDs [id] and every number N. The groups add up to the failed calls.",
    "caller_id": metrics.RATE_HELP["caller_id_match_rate"]
    + " Matched contact: at least one CONTACT match (companies may match too); matched company: COMPANY "
    "matches only; no match: CALLER_ID_MATCH_SUCCEEDED with no matches; failed: CALLER_ID_MATCH_FAILED. "
    "Inbound calls only; the call's latest reply decides.",
    "latency": "From the call's first INCOMING_CALL to HubSpot's first CALLER_ID_MATCH_* reply, inbound calls with a "
    "reply. Boxes: p25–p75 with the median; whiskers p5 and p95.",
}
