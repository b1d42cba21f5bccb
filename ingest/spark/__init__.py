"""The call derivation and the metrics on Apache Spark, from the same SQL DuckDB runs (no second definition).

- `transpile.py`: the project's DuckDB SQL as Spark SQL: parameters bound as typed literals, then sqlglot plus the
  named fix rules of `rules.py` (each fixes one construct sqlglot leaves wrong); `unported()` lints a statement
  for constructs no rule covers.
- `session.py`: a Spark session that reads a store's manifest files as views, and runs a translated statement.
- `derive.py`: the whole derivation on Spark, written back as the store's Parquet partitions and published through
  the same manifest, under the same writer lock.

Spark is for batch at scale (a year of events, a re-derivation after a rule changes); DuckDB stays the default and
the dashboard's engine. pyspark is optional (requirements-spark.txt): nothing imports this package unless asked.
"""
