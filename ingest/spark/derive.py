"""The whole call derivation on Spark, written back where the dashboard reads it.

`derive_on_spark(writer, spark)` runs `ingest.calls.STATEMENTS` and the instance-key index, translated by
`ingest.spark.transpile`, over every stored event, and replaces every file of every derived table, like
`ingest.derived.derive_all` does on DuckDB; the caller publishes (`writer.publish()`), under the writer's lock.

Each statement's result is written to a staging folder inside the store (`.tmp/spark-<id>/`) and read back as the
view the next statements read, so no result is computed twice. Then each table is written once more in the
store's layout (`partitions.TABLES`): one file per day partition, rows in the table's order, the columns and
types the manifest records; the files are renamed into `<table>/day=…/` under fresh names, then listed in the
manifest. The store must be a folder every Spark worker and this process see at the same path (README).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from ingest import calls, partitions
from ingest import manifest as mf
from ingest.catalog import describe, read_files
from ingest.derived import DERIVED, INDEXES
from ingest.spark import session
from ingest.spark.transpile import to_spark

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder for a NULL partition value


def statements() -> list[str]:
    """The derivation in order: the call statements, then the indexes an incremental derive reads."""
    return [*calls.STATEMENTS, *(f"CREATE OR REPLACE TABLE {table} AS {sql}" for table, sql in INDEXES.items())]


def run_statements(spark: SparkSession, stage: Path, *, max_call_ms: int = calls.MAX_CALL_MS,
                   orphan_near_ms: int = calls.ORPHAN_NEAR_MS, progress=None) -> dict[str, Path]:
    """Run the derivation over the `events` view; returns each derived table's staged folder (also its view)."""
    settings = {"max_call_ms": max_call_ms, "orphan_near_ms": orphan_near_ms}
    staged: dict[str, Path] = {}
    for n, sql in enumerate(statements()):
        statement = to_spark(sql, calls._params(sql, settings), columns=session.columns(spark))
        target = statement.target
        path = stage / f"{n:02d}-{target}"
        spark.sql(statement.sql).write.mode("overwrite").parquet(str(path))
        spark.read.parquet(str(path)).createOrReplaceTempView(target)
        staged[target] = path
        if progress:
            progress(target)
    return staged


def _by_day(spark: SparkSession, table: str) -> DataFrame:
    """`table`'s view with `__day`, the partition of each row (YYYY-MM-DD; call_messages: its call's start)."""
    layout = partitions.TABLES[table]
    if table == "call_messages":
        return spark.sql("SELECT m.*, date_format(coalesce(c.started_at, m.ts), 'yyyy-MM-dd') AS __day "
                         "FROM call_messages m LEFT JOIN (SELECT external_call_id, started_at FROM calls) c "
                         "ON c.external_call_id = m.call_id")
    return spark.sql(f"SELECT *, date_format({layout.day}, 'yyyy-MM-dd') AS __day FROM {table}")


def write_table(spark: SparkSession, folder: Path, table: str, columns: list[list[str]] | None,
                generation: int, out: Path) -> list[mf.DataFile]:
    """`table`'s view as new files in the store's layout: one per day partition, sorted, of the recorded types."""
    df = _by_day(spark, table)
    if columns:
        df = session.conform(df, columns + [["__day", "VARCHAR"]])
    order = [c.strip() for c in partitions.TABLES[table].order.split(",")]
    (df.repartition("__day").sortWithinPartitions("__day", *order)
       .write.partitionBy("__day").parquet(str(out)))
    written = []
    for part in sorted(out.glob("__day=*/*.parquet")):
        value = part.parent.name.split("=", 1)[1]
        day = None if value == HIVE_NULL else value
        rel = mf.new_file(table, generation, day)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, folder / rel)
        written.append(mf.DataFile(rel, pq.read_metadata(folder / rel).num_rows, day))
    return written


def _schema_of(folder: Path, files: list[mf.DataFile]) -> list[list[str]]:
    """The columns of files written for a table the manifest has no schema for yet, as DuckDB names them."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM {read_files([folder / f.path for f in files])}")
        return describe(con, "t")
    finally:
        con.close()


def derive_on_spark(writer, spark: SparkSession, *, progress=None, **settings) -> int:
    """Derive every call from every stored event on `spark` and replace the derived tables' files in the
    writer's manifest (publish it after). Returns the number of calls."""
    folder = writer.folder
    stage = folder / ".tmp" / f"spark-{uuid.uuid4().hex[:12]}"
    try:
        session.register(spark, folder, writer.manifest, ["events"])
        run_statements(spark, stage / "statements", progress=progress, **settings)
        generation = writer.manifest.generation + 1
        for table in DERIVED:
            columns = writer.manifest.schemas.get(table)
            written = write_table(spark, folder, table, columns, generation, stage / "tables" / table)
            writer.manifest.replace(table, writer.manifest.files(table), written)
            if columns is None and written:
                writer.manifest.schemas[table] = _schema_of(folder, written)
        return sum(f.rows for f in writer.manifest.files("calls"))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
