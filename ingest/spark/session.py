"""A Spark session over a store: the manifest's files as views named like the tables, statements run as Arrow.

The session computes like DuckDB does: the session time zone is UTC and a bare TIMESTAMP means one without a zone
(the store's timestamps are UTC wall times), Parquet timestamps are written as microseconds. Results leave Spark
as Arrow tables (`run`), never through pandas.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import sqlglot
from pyspark.sql import DataFrame, SparkSession

from ingest import manifest as mf
from ingest.spark.transpile import to_spark

DEFAULT_MASTER = "local[*]"
CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


def start(master: str = DEFAULT_MASTER, *, app_name: str = "callscope", conf: dict | None = None) -> SparkSession:
    """A Spark session on `master` (`local[*]`, `spark://host:7077`, `yarn`, …) computing like DuckDB."""
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in (CONF | (conf or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_type(duckdb_type: str) -> str:
    """A column type the manifest records (DuckDB's name) as Spark's: `VARCHAR[]` -> `ARRAY<STRING>`; JSON is
    its text (a Parquet string)."""
    kind = sqlglot.exp.DataType.build(duckdb_type, dialect="duckdb")
    return "STRING" if kind.is_type(sqlglot.exp.DType.JSON) else kind.sql(dialect="spark")


def conform(df: DataFrame, columns: list[list[str]]) -> DataFrame:
    """`df` with exactly the recorded columns, in their order and of their types (what DuckDB writes)."""
    return df.selectExpr(*[f"CAST(`{name}` AS {spark_type(kind)}) AS `{name}`" for name, kind in columns])


def empty(spark: SparkSession, columns: list[list[str]]) -> DataFrame:
    schema = ", ".join(f"`{name}` {spark_type(kind)}" for name, kind in columns)
    return spark.createDataFrame([], schema)


def register(spark: SparkSession, folder: Path, manifest: mf.Manifest, tables: list[str] | None = None) -> None:
    """One temporary view per table of `manifest` over its files (only the recorded columns: the `day=`
    folders are not a column), or an empty one of the recorded schema."""
    for table in tables or sorted(manifest.schemas):
        files = manifest.files(table)
        columns = manifest.schemas[table]
        if files:
            df = conform(spark.read.parquet(*[str(folder / f.path) for f in files]), columns)
        else:
            df = empty(spark, columns)
        df.createOrReplaceTempView(table)


def columns(spark: SparkSession):
    """The resolver `transpile.to_spark` asks for a query's columns (Spark analyses it, runs nothing)."""
    return lambda sql: spark.sql(sql).columns


def frame(spark: SparkSession, sql: str, params: dict | None = None) -> DataFrame:
    """A project statement (DuckDB dialect) with `params` bound, as a Spark DataFrame."""
    return spark.sql(to_spark(sql, params or {}, columns=columns(spark)).sql)


def run(spark: SparkSession, sql: str, params: dict | None = None) -> pa.Table:
    """A project statement's result as an Arrow table."""
    return frame(spark, sql, params).toArrow()
