"""The derived tables as files: derive calls from the stored events and write them as Parquet partitions.

`derive_all(writer)` runs the whole derivation (`ingest.calls.derive`) over every stored event and replaces every
file of every derived table: what `python -m ingest derive`, a migration and a prune do, and the first import into
a store. Later imports derive only what they touch (`ingest.incremental`).
"""

from __future__ import annotations

import duckdb

from ingest import partitions
from ingest.calls import derive
from ingest.catalog import define_tables, describe
from ingest.derive.keys import INSTANCE_KEYS_SQL, KEY_LINKS_SQL
from ingest.derive.outcomes import APP_CLOCKS_SQL

# What an incremental derive (ingest/incremental.py) reads instead of the whole store, derived after the calls:
# what links instances (both ways), and the app's clock per day.
INDEXES = {"instance_keys": INSTANCE_KEYS_SQL.format(events="events"),
           "key_links": KEY_LINKS_SQL.format(instance_keys="instance_keys"),
           "app_clocks": APP_CLOCKS_SQL.format(instances="instances")}
# The tables `ingest.calls.derive` creates, in the order it creates them, and the indexes.
DERIVED = ("instances", "engagement_owners", "call_ids", "blank_id_messages", "call_messages", "calls", *INDEXES)
# call_messages is partitioned by the day its call started (an orphan row, shown with a call: that call's).
CALL_MESSAGES_DAY = ("strftime(coalesce((SELECT c.started_at FROM calls c WHERE c.external_call_id = call_id), ts), "
                     "'%Y-%m-%d')")


def day_sql(table: str) -> str | None:
    return CALL_MESSAGES_DAY if table == "call_messages" else None


def write_derived(writer, con: duckdb.DuckDBPyConnection, tables=DERIVED) -> None:
    """Replace every file of `tables` by the rows of the tables of those names on `con`."""
    generation = writer.manifest.generation + 1
    for table in tables:
        written = partitions.write_days(con, writer.folder, table, table, generation, day_sql(table))
        writer.manifest.replace(table, writer.manifest.files(table), written)
        writer.manifest.schemas[table] = describe(con, table)


def derive_index(con: duckdb.DuckDBPyConnection) -> None:
    """The `INDEXES` over the tables `events` and `instances` on `con`."""
    for table, sql in INDEXES.items():
        con.execute(f"CREATE TABLE {table} AS {sql}")


def derive_all(writer) -> None:
    """Derive every call from every stored event and replace the derived tables' files."""
    con = writer._connect()
    try:
        define_tables(con, writer.folder, writer.manifest, ["events"])
        derive(con)
        derive_index(con)
        write_derived(writer, con)
    finally:
        con.close()
