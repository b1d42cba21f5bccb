"""Writing a store's Parquet files: each table's sort order and partition, new files, merges (compaction).

Every file is written once, under a name no other file had (`manifest.new_file`), and only then listed in the
manifest: a file is never changed in place. Events are partitioned by the UTC day of their `ts` and sorted by
(instance, ts, event_key), so the messages of one instance are a few neighbouring rows; derived tables by the day
their row started (an instance, a call: `TABLES[...].day`), sorted for the lookups the replay and the dashboard do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest import manifest as mf
from ingest.catalog import read_files


@dataclass(frozen=True)
class Layout:
    order: str  # ORDER BY of each file
    day: str | None = None  # the partition of a row (an expression over the table's columns); None: unpartitioned
    row_group: int = 32_768


TABLES: dict[str, Layout] = {
    # Small row groups: finding one instance's events (incremental derivation, the replay) reads a few of them.
    "events": Layout("instance, ts, event_key", "ts", 8_192),
    "rejects": Layout("load_id, source, line_no"),
    "loads": Layout("load_id"),
    "instances": Layout("instance", "started_at"),
    "engagement_owners": Layout("engagement_id", "created_at"),
    "call_ids": Layout("call_id, external_call_id", "first_at"),
    "blank_id_messages": Layout("ts, event_key", "ts"),
    # The replay reads one call's rows: sorted by call, small row groups, so statistics skip the rest.
    "call_messages": Layout("call_id, ts, event_key", "call_started_at", 8_192),
    "calls": Layout("started_at, external_call_id", "started_at"),
    # The incremental derive's lookups (ingest/incremental.py): by instance, and by key.
    "instance_keys": Layout("instance", "first_at", 8_192),
    "key_links": Layout("key, instance", "first_at", 8_192),
    "app_clocks": Layout("app, started_on", "started_on"),
}
# A day partition with more files than this gets its smallest merged, until COMPACT_KEEP_FILES remain: a
# collector that flushes every second adds a file per flush, and readers open every file of a table. A 10M-event
# import leaves ~26 files a day (a file per 50,000-line batch and day): below this, so it merges nothing.
COMPACT_AT_FILES = 32
COMPACT_KEEP_FILES = 8
PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE {row_group}"


def copy_to(con: duckdb.DuckDBPyConnection, select_sql: str, folder: Path, rel: str, table: str,
            params: dict | None = None) -> int:
    """Write the rows of `select_sql` (already ordered) to the new file `rel`; returns how many."""
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    options = PARQUET.format(row_group=TABLES[table].row_group)
    quoted = str(target).replace("'", "''")
    return con.execute(f"COPY ({select_sql}) TO '{quoted}' ({options})", params or {}).fetchone()[0]


def write_days(con: duckdb.DuckDBPyConnection, folder: Path, table: str, source: str, generation: int,
               day_sql: str | None = None) -> list[mf.DataFile]:
    """`source` (a table or view on `con` with `table`'s columns) as one new file per day partition (or one file
    for an unpartitioned table), each sorted by the table's order. `day_sql` overrides the partition expression
    (`call_messages` is partitioned by its call's start, which is not one of its columns)."""
    layout = TABLES[table]
    if layout.day is None:
        rel = mf.new_file(table, generation)
        return [mf.DataFile(rel, copy_to(con, f"SELECT * FROM {source} ORDER BY {layout.order}", folder, rel, table))]
    day = day_sql or f"strftime({layout.day}, '%Y-%m-%d')"
    con.execute(f"CREATE OR REPLACE TEMP TABLE by_day AS SELECT *, {day} AS __day FROM {source} "
                f"ORDER BY __day, {layout.order}")
    written = []
    for (value,) in con.execute("SELECT DISTINCT __day FROM by_day ORDER BY 1").fetchall():
        rel = mf.new_file(table, generation, value)
        rows = copy_to(con, "SELECT * EXCLUDE (__day) FROM by_day WHERE __day = $day", folder, rel, table,
                       {"day": value})
        written.append(mf.DataFile(rel, rows, value))
    con.execute("DROP TABLE by_day")
    return written


def write_day(con: duckdb.DuckDBPyConnection, folder: Path, table: str, select_sql: str, day: str,
              generation: int, params: dict) -> mf.DataFile | None:
    """The rows of `select_sql` (all of partition `day`) as one new file in the table's order; None, and no file,
    when there are none."""
    rel = mf.new_file(table, generation, day)
    rows = copy_to(con, f"{select_sql}\nORDER BY {TABLES[table].order}", folder, rel, table, params)
    if not rows:
        (folder / rel).unlink(missing_ok=True)
        return None
    return mf.DataFile(rel, rows, day)


def merge(con: duckdb.DuckDBPyConnection, folder: Path, table: str, files: list[mf.DataFile],
          generation: int) -> mf.DataFile:
    """One new file holding the rows of `files` (of one partition) in the table's order."""
    day = files[0].day
    rel = mf.new_file(table, generation, day)
    select = f"SELECT * FROM {read_files([folder / f.path for f in files])} ORDER BY {TABLES[table].order}"
    return mf.DataFile(rel, copy_to(con, select, folder, rel, table), day)


def compact(con: duckdb.DuckDBPyConnection, folder: Path, manifest: mf.Manifest, table: str, days: set[str | None],
            generation: int, *, keep: int = COMPACT_KEEP_FILES, at: int = COMPACT_AT_FILES) -> int:
    """In each partition of `days` holding more than `at` files, merge the smallest into one until `keep`
    remain (keep=1, at=1: each partition becomes one file). Returns the files merged away."""
    merged = 0
    for day in days:
        files = [f for f in manifest.files(table) if f.day == day]
        if len(files) <= at:
            continue
        smallest = sorted(files, key=lambda f: (f.rows, f.path))[:len(files) - keep + 1]
        manifest.replace(table, smallest, [merge(con, folder, table, smallest, generation)])
        merged += len(smallest)
    return merged


def rewrite_without(con: duckdb.DuckDBPyConnection, folder: Path, manifest: mf.Manifest, table: str,
                    candidates: list[mf.DataFile], keep_sql: str, generation: int) -> None:
    """Replace each file of `candidates` that holds rows failing `keep_sql` (a condition over the table's columns,
    which may name temp tables on `con`) by a copy without them."""
    if not candidates:
        return
    paths = {str(folder / f.path): f for f in candidates}
    hit = con.execute(f"SELECT DISTINCT filename FROM {read_files(list(paths), filename=True)} "
                      f"WHERE NOT ({keep_sql})").fetchall()
    for (name,) in hit:
        old = paths[name]
        rel = mf.new_file(table, generation, old.day)
        select = (f"SELECT * FROM {read_files([folder / old.path])} WHERE {keep_sql} "
                  f"ORDER BY {TABLES[table].order}")
        rows = copy_to(con, select, folder, rel, table)
        if not rows:
            (folder / rel).unlink()
        manifest.replace(table, [old], [mf.DataFile(rel, rows, old.day)])
