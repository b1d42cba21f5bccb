"""`instance_keys`: what links each SDK instance to others, the index an incremental derive finds its scope with.

One row per instance (events without one count as the instance ''): the span of its events (`first_at`,
`last_at`: which day partitions hold them) and `keys`, every tab (`t:`), externalCallId (`c:`, not blank) and
engagementId (`e:`, not 0) its events carry. Two instances that share a key may change each other's derived
rows; two that share none never do (ingest/incremental.py says why). `{events}` is the table or files to read.

`key_links`: the same index turned around, one row per (key, instance), sorted by key: which instances carry a
key. An incremental derive looks keys up in it (a few row groups each) instead of reading the whole index.
"""

from ingest.derive import BLANK_ID

INSTANCE_KEYS_SQL = f"""
WITH linked AS (
    SELECT coalesce(instance, '') AS instance, 't:' || tab AS key FROM {{events}} WHERE tab IS NOT NULL
    UNION SELECT coalesce(instance, ''), 'c:' || external_call_id FROM {{events}} WHERE NOT {BLANK_ID}
    UNION SELECT coalesce(instance, ''), 'e:' || engagement_id FROM {{events}}
          WHERE engagement_id IS NOT NULL AND engagement_id <> 0
),
spans AS (SELECT coalesce(instance, '') AS instance, min(ts) AS first_at, max(ts) AS last_at FROM {{events}} GROUP BY 1)
SELECT s.instance, s.first_at, s.last_at,
       coalesce(list(l.key ORDER BY l.key) FILTER (WHERE l.key IS NOT NULL), []) AS keys
FROM spans s LEFT JOIN linked l USING (instance)
GROUP BY s.instance, s.first_at, s.last_at
"""

KEY_LINKS_SQL = "SELECT unnest(keys) AS key, instance, first_at FROM {instance_keys}"
