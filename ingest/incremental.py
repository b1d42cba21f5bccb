"""Incremental derivation: an import re-derives only the calls its events touch, and replaces exactly their rows.

Every row of a derived table depends only on the events of its own instance and of the instances it is linked
to: by a tab (an instance is replaced by the next one in its tab; a call's iframes re-created in its tabs), by an
externalCallId (a call's messages, wherever they come from) or by an engagementId (whose engagement, which ids
are one call, HubSpot's replies, the SYNC that hands a call to a re-mounted iframe). ingest/derive/ joins rows
on nothing else. So the rows an import can change are those of the instances linked, step by step, to the
instances its new events belong to (a closure, computed to a fixpoint over `instance_keys`, one row per
instance with the tabs, call ids and engagements its events carry, and `key_links`, the same turned around: a
step looks up only the rows it follows). The import then
1. reads the stored events of the scope's instances only (from the day partitions they span),
2. runs the same derivation over them (`ingest.calls.derive`, the statements a full derive runs),
3. deletes the stored rows of the scope (by instance, call id, engagement) and writes the new ones, rewriting only
   the files that held scope rows.
The one rule that reads beyond the linked instances is never_ended by the app's clock (`outcomes.APP_CLOCK_SQL`):
after the scope is derived, the clock of each app is taken over every stored instance, and every stored
in_progress call it makes never_ended is rewritten too (the clock only moves forward, so a call it turned before
stays turned). `python -m ingest derive` stays a full derivation; a test checks that both give the same rows.
"""

from __future__ import annotations

import duckdb

from ingest import partitions
from ingest.calls import MAX_CALL_MS, derive
from ingest.catalog import read_files
from ingest.derive.keys import INSTANCE_KEYS_SQL
from ingest.derive.outcomes import APP_CLOCKS_SQL, NEVER_ENDED_BY_CLOCK_SQL
from ingest.derived import DERIVED, day_sql, derive_index

# DuckDB turns `x IN (SELECT ...)` into a filter the Parquet statistics can skip row groups with only for up to this many
# values (its default is 50). A collector flush's scope is often more: at 60 instances of a day of 3M events, reading
# their events took 0.41 s with the default and 0.08 s with this. Far more values make the filter itself slow (100,000:
# 2.1 s against 0.13 s over 5M rows), and those scopes find most row groups anyway.
SCOPE_FILTER_VALUES = 1_000

# What identifies a derived table's rows in the scope (a condition over its columns).
IN_SCOPE = {
    "instances": "instance IN (SELECT instance FROM nodes)",
    "instance_keys": "instance IN (SELECT instance FROM nodes)",
    "key_links": "instance IN (SELECT instance FROM nodes)",
    "app_clocks": "true",  # every row of the scope's days (they are recomputed whole)
    "blank_id_messages": "coalesce(instance, '') IN (SELECT instance FROM nodes)",
    "call_messages": "coalesce(instance, '') IN (SELECT instance FROM nodes)",
    "call_ids": "external_call_id IN (SELECT id FROM scope_calls)",
    "calls": "external_call_id IN (SELECT id FROM scope_calls UNION ALL SELECT id FROM clock_calls)",
    "engagement_owners": "'e:' || engagement_id IN (SELECT key FROM keys)",
}

# The stored events of the scope's instances (events without an instance are the instance ''). Two selects, not one
# `coalesce(instance, '') IN (...)`: a plain `instance IN (...)` and `instance IS NULL` let DuckDB skip the row groups
# the files' statistics rule out, so the read costs what it finds, not what the day holds.
SCOPE_EVENTS_SQL = """
SELECT * FROM {events} WHERE instance IN (SELECT instance FROM nodes)
UNION ALL SELECT * FROM {events} WHERE instance IS NULL AND '' IN (SELECT instance FROM nodes)"""


def derive_touched(writer, new_files: list) -> None:
    """Re-derive what the events in `new_files` (this import's, already in the working manifest) touch."""
    if not new_files:
        return  # nothing new: every derived row stays as it is
    con = writer._connect()
    try:
        con.execute(f"SET dynamic_or_filter_threshold = {SCOPE_FILTER_VALUES}")
        folder, manifest = writer.folder, writer.manifest
        con.execute(f"CREATE TEMP TABLE seed AS {INSTANCE_KEYS_SQL.format(events=read_files([folder / f.path for f in new_files]))}")
        _close_scope(con, _stored(writer, "instance_keys"), _stored(writer, "key_links"))
        days = _scope_days(con, new_files)
        events = read_files([folder / f.path for f in manifest.files("events", days)])
        con.execute(f"CREATE TABLE events AS {SCOPE_EVENTS_SQL.format(events=events)}")
        derive(con)
        derive_index(con)
        _clock(con, writer, days)
        _replace(con, writer, days)
    finally:
        con.close()


def _stored(writer, table: str) -> str:
    """The stored rows of `table` (every file: statistics skip what a lookup does not need), or none."""
    files = writer.manifest.files(table)
    if files:
        return read_files([writer.folder / f.path for f in files])
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in writer.manifest.schemas[table])
    return f"(SELECT {columns} LIMIT 0)"


def _close_scope(con: duckdb.DuckDBPyConnection, index: str, links: str) -> None:
    """`nodes`: the instances linked, step by step, to the new events' instances (`seed`); `spans`: the stored
    span of each; `keys`: their tabs, ids and engagements; `scope_calls`: the call ids among them.

    Each step looks up only what it follows: the stored index rows of the instances it reached (`index`, sorted
    by instance) and the instances that carry the keys it found (`links`, sorted by key); the statistics of both
    skip every other row group, so a step costs what it finds, not what the store holds."""
    con.execute("CREATE TEMP TABLE nodes (instance VARCHAR)")
    con.execute("CREATE TEMP TABLE spans (instance VARCHAR, first_at TIMESTAMP, last_at TIMESTAMP)")
    con.execute("CREATE TEMP TABLE keys (key VARCHAR)")
    con.execute("CREATE TEMP TABLE frontier AS SELECT DISTINCT instance FROM seed")
    con.execute("CREATE TEMP TABLE fresh AS SELECT DISTINCT unnest(keys) AS key FROM seed")
    while True:
        con.execute("INSERT INTO nodes SELECT instance FROM frontier")
        con.execute(f"CREATE OR REPLACE TEMP TABLE stored AS SELECT instance, first_at, last_at, keys FROM {index} "
                    "WHERE instance IN (SELECT instance FROM frontier)")
        con.execute("INSERT INTO spans SELECT instance, first_at, last_at FROM stored")
        con.execute("CREATE OR REPLACE TEMP TABLE fresh AS SELECT key FROM fresh "
                    "UNION SELECT unnest(keys) FROM stored EXCEPT SELECT key FROM keys")
        con.execute("INSERT INTO keys SELECT key FROM fresh")
        con.execute(f"CREATE OR REPLACE TEMP TABLE frontier AS SELECT DISTINCT instance FROM {links} "
                    "WHERE key IN (SELECT key FROM fresh) AND instance NOT IN (SELECT instance FROM nodes)")
        if not con.execute("SELECT count(*) FROM frontier").fetchone()[0]:
            break
        con.execute("DELETE FROM fresh")
    con.execute("CREATE TEMP TABLE scope_calls AS SELECT substr(key, 3) AS id FROM keys WHERE starts_with(key, 'c:')")


def _scope_days(con: duckdb.DuckDBPyConnection, new_files: list) -> set[str]:
    """The UTC days the scope's stored events lie in (their instances' spans), and the new events' days."""
    spans = con.execute("""
        SELECT DISTINCT strftime(unnest(generate_series(first_at::DATE, last_at::DATE, INTERVAL 1 DAY)), '%Y-%m-%d')
        FROM spans""").fetchall()
    return {d for (d,) in spans} | {f.day for f in new_files}


def _clock(con: duckdb.DuckDBPyConnection, writer, days: set[str]) -> None:
    """Apply never_ended by the app's clock over every instance: to the scope's calls, and to stored in_progress
    calls outside the scope, whose `calls` rows (`clock_calls`) are rewritten with the scope's.

    The clock is the newest of the app's `app_clocks` rows: those of the scope's days are recomputed from their
    instances (the stored ones outside the scope, and the scope's), the others are read as stored."""
    folder, manifest = writer.folder, writer.manifest
    columns = "app, started_at, last_message_at, pagehide_at"
    stored = [folder / f.path for f in manifest.files("instances", days)]
    others = (f"SELECT {columns} FROM {read_files(stored)} "
              f"WHERE instance NOT IN (SELECT instance FROM nodes) UNION ALL " if stored else "")
    con.execute("CREATE OR REPLACE TABLE app_clocks AS " + APP_CLOCKS_SQL.format(
        instances=f"({others}SELECT {columns} FROM instances)"))
    kept = [folder / f.path for f in manifest.files("app_clocks") if f.day not in days]
    kept_sql = f"SELECT app, newest_at FROM {read_files(kept)} UNION ALL " if kept else ""
    con.execute(f"CREATE TEMP TABLE clock AS SELECT app, max(newest_at) AS newest_at "
                f"FROM ({kept_sql}SELECT app, newest_at FROM app_clocks) GROUP BY app")
    params = {"max_call_ms": MAX_CALL_MS}
    con.execute(NEVER_ENDED_BY_CLOCK_SQL.format(clock="FROM clock"), params)
    calls = manifest.files("calls")
    con.execute("CREATE TEMP TABLE clock_calls (id VARCHAR)")
    if calls:
        con.execute(f"""
            INSERT INTO calls BY NAME
            SELECT c.* REPLACE ('never_ended' AS outcome, 'silence' AS never_ended_because)
            FROM {read_files([folder / f.path for f in calls])} c JOIN clock USING (app)
            WHERE c.outcome = 'in_progress' AND c.external_call_id NOT IN (SELECT id FROM scope_calls)
              AND c.last_event_at < clock.newest_at - to_milliseconds($max_call_ms)""", params)
        con.execute("INSERT INTO clock_calls SELECT external_call_id FROM calls "
                    "WHERE external_call_id NOT IN (SELECT id FROM scope_calls)")


def _replace(con: duckdb.DuckDBPyConnection, writer, days: set[str]) -> None:
    """Delete the scope's stored rows of each derived table (rewriting only the files that hold some), write its
    new rows, and mark the partitions touched (for compaction at publish).

    Only the files of `days` can hold scope rows: every derived row is dated by one of the scope's events (an
    instance's or call id's first event, a call's start, an engagement's CREATE_ENGAGEMENT_SUCCEEDED), and `days`
    spans every scope instance's events. Two exceptions: `calls` also replaces the stored in_progress calls the
    app's clock ended (`clock_calls`, any day), and `call_messages` is partitioned by its call's start."""
    folder, manifest = writer.folder, writer.manifest
    generation = manifest.generation + 1
    clock_days = {d for (d,) in con.execute(
        "SELECT DISTINCT strftime(started_at, '%Y-%m-%d') FROM calls "
        "WHERE external_call_id IN (SELECT id FROM clock_calls)").fetchall()}
    stored_calls = manifest.files("calls", days | clock_days)
    call_days = {d for (d,) in con.execute(
        f"SELECT DISTINCT strftime(started_at, '%Y-%m-%d') FROM {read_files([folder / f.path for f in stored_calls])} "
        f"WHERE {IN_SCOPE['calls']}").fetchall()} if stored_calls else set()
    candidate_days = {"call_messages": call_days, "calls": days | clock_days}
    for table in DERIVED:
        candidates = manifest.files(table, candidate_days.get(table, days))
        partitions.rewrite_without(con, folder, manifest, table, candidates, f"NOT ({IN_SCOPE[table]})", generation)
        written = partitions.write_days(con, folder, table, table, generation, day_sql(table))
        manifest.replace(table, [], written)
        writer.touched.setdefault(table, set()).update(
            {f.day for f in written} | {f.day for f in candidates})
