"""Spark derives the same calls and computes the same metrics as DuckDB, from the same SQL.

One store (a 3-day demo plus random logs full of blank ids, aliases, stale engagements and messages sharing a
millisecond) is derived twice: by DuckDB (`derive_all`) and by Spark in local[2] (`derive_on_spark`, written back as
the store's files and published). Every derived table is equal row for row (EXCEPT ALL both ways, the same schema
and day partitions), and every metric statement (analytics.spark.metric_statements) gives the same rows — in the
same order when it orders them — on DuckDB over the DuckDB-derived store and on Spark over the Spark-derived one.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta

import duckdb
import pytest
import sqlglot

from analytics.filters import Filters
from analytics.spark import SparkConnection, metric_statements
from ingest.catalog import read_files
from ingest.demo import write_demo_files
from ingest.derived import DERIVED
from ingest.manifest import read as read_manifest
from ingest.store import Writer, connect_reader, store_dir
from tests.conftest import Db, require_spark
from tests.logs import T0
from tests.test_determinism import random_log, rederive, write_lines

require_spark()


@pytest.fixture(scope="module")
def stores(tmp_path_factory, spark):
    """(the store DuckDB derived, the copy Spark derived)."""
    from ingest.spark.derive import derive_on_spark

    root = tmp_path_factory.mktemp("spark-parity")
    db = Db(root / "duckdb")
    db.folder.mkdir()
    for path in write_demo_files(root / "demo", days=3, calls=300, seed=11, end_ms=T0):
        db.load(path)
    for seed in range(6):
        db.load(write_lines(root / f"random-{seed}.ndjson", random_log(seed)))
    rederive(db.path)
    on_spark = root / "spark"
    shutil.copytree(store_dir(db.path), on_spark)
    with Writer(on_spark) as writer:
        derive_on_spark(writer, spark)
        writer.publish()
    return store_dir(db.path), on_spark


def _table(con: duckdb.DuckDBPyConnection, folder, table: str) -> str:
    files = read_manifest(folder).files(table)
    con.execute(f"CREATE OR REPLACE VIEW {table}_{len(con.execute('SHOW TABLES').fetchall())} AS "
                f"SELECT * FROM {read_files([folder / f.path for f in files])}")
    return f"{table}_{len(con.execute('SHOW TABLES').fetchall()) - 1}"


@pytest.mark.parametrize("table", DERIVED)
def test_every_derived_table_is_equal_row_for_row(stores, table):
    on_duckdb, on_spark = stores
    duck, spark = read_manifest(on_duckdb), read_manifest(on_spark)
    assert sorted(f.day or "" for f in spark.files(table)) == sorted(f.day or "" for f in duck.files(table))
    assert spark.schemas[table] == duck.schemas[table]
    con = duckdb.connect()
    a, b = _table(con, on_duckdb, table), _table(con, on_spark, table)
    assert con.execute(f"DESCRIBE {a}").fetchall() == con.execute(f"DESCRIBE {b}").fetchall()
    assert con.execute(f"SELECT count(*) FROM {a}").fetchall()[0][0] > 0
    assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchall() == [(0,)]
    assert con.execute(f"SELECT count(*) FROM (FROM {b} EXCEPT ALL FROM {a})").fetchall() == [(0,)]


def test_the_dashboard_reads_what_spark_published(stores):
    on_duckdb, on_spark = stores
    with connect_reader(on_duckdb) as a, connect_reader(on_spark) as b:
        query = "SELECT outcome, count(*) FROM calls GROUP BY ALL ORDER BY ALL"
        assert b.execute(query).fetchall() == a.execute(query).fetchall()
        assert len(b.execute(query).fetchall()) >= 5


def _params(con) -> list[dict]:
    first, last = con.execute("SELECT min(started_at)::DATE, max(started_at)::DATE FROM calls").fetchall()[0]
    portal, app = con.execute("SELECT portal_id, app FROM calls WHERE portal_id IS NOT NULL "
                              "ORDER BY started_at, external_call_id LIMIT 1").fetchall()[0]
    ids = [r[0] for r in con.execute("SELECT external_call_id FROM calls ORDER BY started_at, external_call_id "
                                     "LIMIT 6").fetchall()]
    extra = dict(bucket="hour", dimension="iframe_location", key="remote", outcome=None, direction=None,
                 bucket_start=None, engagement=None, message=None, caller_id_kind=None, portal=None, location=None,
                 ringing=None, recreated=None, calling_window=None, unavailable=None, lost=True, step=3, limit=100,
                 top=5, call_ids=ids, outcomes=[], users=[], by_tag=False, tagged=[], text=None, digits=None,
                 prefix=ids[0][:3])
    narrowed = dict(bucket="day", dimension="portal", key=str(portal), outcome="answered", lost=False, step=2,
                    outcomes=["answered", "missed"], text=ids[1][:4], by_tag=True, tagged=ids[:3], digits="55")
    return [Filters(start=first, end=last, tz="America/New_York").params() | extra,
            Filters(start=first - timedelta(days=1), end=min(last, date(2100, 1, 1)), tz="Asia/Kolkata",
                    portals=(portal,), apps=(app,), directions=("inbound",)).params() | extra | narrowed]


@pytest.fixture(scope="module")
def engines(stores, spark):
    on_duckdb, on_spark = stores
    con = connect_reader(on_duckdb)
    yield con, SparkConnection(spark, on_spark), _params(con)
    con.close()


def _ordered(sql: str) -> bool:
    return sqlglot.parse_one(re.sub(r"\$(\w+)", r"\1", sql), read="duckdb").args.get("order") is not None


@pytest.mark.parametrize("name", sorted(metric_statements()))
def test_every_metric_statement_gives_the_same_rows(engines, name):
    con, spark, param_sets = engines
    sql = metric_statements()[name]
    for params in param_sets:
        named = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
        expected = con.execute(sql, named).to_arrow_table()
        got = spark.execute(sql, named).to_arrow_table()
        assert got.schema.names == expected.schema.names
        assert [str(t) for t in got.schema.types] == [str(t) for t in expected.schema.types]
        check = duckdb.connect()
        check.register("a", expected)
        check.register("b", got)
        assert check.execute("SELECT count(*) FROM (FROM a EXCEPT ALL FROM b)").fetchall() == [(0,)], params
        assert check.execute("SELECT count(*) FROM (FROM b EXCEPT ALL FROM a)").fetchall() == [(0,)], params
        if _ordered(sql):
            assert got.to_pylist() == expected.to_pylist()


def test_the_report_is_the_same_on_spark(stores, engines):
    from analytics.report.build import build_report, report_filters
    from analytics.report.render import render

    on_duckdb, on_spark = stores
    con, spark, _ = engines
    first, last = con.execute("SELECT min(started_at)::DATE, max(started_at)::DATE FROM calls").fetchall()[0]
    f = report_filters(first + timedelta(days=1), last, "Europe/London")
    expected = render(build_report(con, f, db_path=on_duckdb), "md", "")
    assert render(build_report(spark, f, db_path=on_spark), "md", "") == expected
    assert "Answer rate" in expected
