"""Reading a store: an in-memory DuckDB connection whose views read exactly the files of one manifest.

`connect_reader(db)` reads the published manifest once and defines one view per table over its files
(`read_parquet([...])`), or an empty table of the right schema when a table has no files. The connection is a
DuckDB instance of its own: nothing in it is cached across connections, so a long-lived process (the dashboard)
that connects again after a publish reads the new version, while queries still running on an older connection
keep reading the files of theirs (a writer deletes superseded files only GRACE_S after they left the manifest).
The views name the tables bare (`FROM calls`), as every statement in `analytics` and `ingest` does.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ingest import manifest as mf
from ingest.errors import NoData


def sql_list(paths: list[Path]) -> str:
    """A SQL list literal of file paths (they are ours, but the store's folder is the user's: quotes doubled)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def read_files(paths: list[Path], *, filename: bool = False) -> str:
    """`read_parquet` of `paths` (files of one table, one schema). The partition is in the path (`day=…`) for
    other engines; the rows carry what it is derived from, so DuckDB is told not to add it as a column.
    `filename`: add the column `filename`."""
    return f"read_parquet({sql_list(paths)}, hive_partitioning = false{', filename = true' if filename else ''})"


def table_sql(paths: list[Path]) -> str:
    return f"SELECT * FROM {read_files(paths)}"


def describe(con: duckdb.DuckDBPyConnection, table: str) -> list[list[str]]:
    """`table`'s columns on `con` as [[name, DuckDB type], ...] (what the manifest records as its schema)."""
    return [list(c) for c in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()]


def empty_table_ddl(table: str, columns: list[list[str]]) -> str:
    return f"CREATE OR REPLACE TABLE {table} ({', '.join(f'{_quote(n)} {t}' for n, t in columns)})"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def define_tables(con: duckdb.DuckDBPyConnection, folder: Path, manifest: mf.Manifest,
                  tables: list[str] | None = None, extra_files: dict[str, list[mf.DataFile]] | None = None) -> None:
    """One view per table of `manifest` (plus `extra_files`, not published yet) on `con`; an empty table of the
    recorded schema for a table without files."""
    extra_files = extra_files or {}
    for table in tables or sorted(manifest.schemas):
        files = manifest.files(table) + extra_files.get(table, [])
        if files:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS {table_sql([folder / f.path for f in files])}")
        else:
            con.execute(f"DROP VIEW IF EXISTS {table}")
            con.execute(empty_table_ddl(table, manifest.schemas[table]))


# Tables a reader also sees as `<table>_by_day`, with the partition as a column `day` (DATE): a statement that
# filters on `day` with a constant or a bound value opens only those days' files. Looking one call up (the replay)
# then costs what the call spans, not what the store holds: every file a query cannot skip by its path costs
# DuckDB a look at its statistics.
BY_DAY = ("events", "call_messages", "instance_keys", "calls")


def define_day_views(con: duckdb.DuckDBPyConnection, folder: Path, manifest: mf.Manifest) -> None:
    for table in BY_DAY:
        files = manifest.files(table)
        if table in manifest.schemas and files and all(f.day for f in files):
            paths = sql_list([folder / f.path for f in files])
            con.execute(f"CREATE OR REPLACE VIEW {table}_by_day AS SELECT * FROM read_parquet({paths}, "
                        "hive_partitioning = true, hive_types = {'day': DATE})")
        elif table in manifest.schemas:
            con.execute(empty_table_ddl(f"{table}_by_day", manifest.schemas[table] + [["day", "DATE"]]))


def no_data(db_path: Path) -> NoData:
    return NoData(
        f"no Callscope data at {db_path}",
        "Load a log with `python -m ingest load FILE` or build the demo with `python -m ingest demo`",
    )


def connect_reader(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only view of the version published last, in a DuckDB instance of its own (see the module doc).

    A store still in the old single-file format is converted first (`ingest.migrate`)."""
    folder = mf.store_dir(db_path)
    manifest = mf.read(db_path)
    if manifest is None and mf.legacy_file(db_path).exists():
        from ingest.migrate import migrate  # a first start on a version-1 store

        migrate(db_path)
        manifest = mf.read(db_path)
    if manifest is None:
        raise no_data(db_path)
    tmp = folder / ".tmp"
    con = duckdb.connect(config={"temp_directory": str(tmp)})  # spills inside the store, not in /tmp
    try:
        con.execute("SET parquet_metadata_cache = true")  # footers are read once per connection, not per query
        define_tables(con, folder, manifest)
        define_day_views(con, folder, manifest)
    except BaseException:
        con.close()
        raise
    return con


def reader_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of a `connect_reader` connection (one per thread), reading the same version."""
    return con.cursor()


def snapshot_generation(db_path: Path) -> tuple[int, int] | None:
    """Changes whenever a writer publishes (the manifest file is replaced): readers reconnect and caches key on it."""
    for path in (mf.manifest_path(db_path), mf.legacy_file(db_path)):  # an old store is converted on first read
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        return st.st_ino, st.st_mtime_ns
    return None
