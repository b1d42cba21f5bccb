"""Each fix rule of ingest/spark/rules.py (and the statement-level rewrites of transpile.py) on the construct it
fixes: the same DuckDB statement over the same rows gives the same result on DuckDB and, translated, on Spark —
and sqlglot's plain translation does not (it fails or differs), so the rule is what makes it equal."""

from __future__ import annotations

import random

import duckdb
import sqlglot

from ingest.spark.transpile import to_spark
from tests.conftest import require_spark

require_spark()


def on_duckdb(sql: str, params: dict | None = None) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def on_spark(spark, sql: str, params: dict | None = None) -> list[tuple]:
    from ingest.spark import session

    statement = to_spark(sql, params or {}, columns=session.columns(spark))
    return [tuple(row.values()) for row in spark.sql(statement.sql).toArrow().to_pylist()]


def plainly_on_spark(spark, sql: str) -> list[tuple] | Exception:
    """sqlglot's own translation, without the rules (a failure is returned, not raised)."""
    try:
        return [tuple(r) for r in spark.sql(sqlglot.transpile(sql, read="duckdb", write="spark")[0]).collect()]
    except Exception as error:  # noqa: BLE001 - any failure shows the rule is needed
        return error


def assert_rule_needed_and_exact(spark, sql: str) -> None:
    expected = on_duckdb(sql)
    assert on_spark(spark, sql) == expected
    assert plainly_on_spark(spark, sql) != expected


ROWS = "(VALUES (1, 'a', 2, TRUE), (1, NULL, 1, TRUE), (1, 'c', NULL, FALSE), (2, 'd', 5, FALSE)) t(g, a, b, c)"


def test_arg_min_returns_the_non_null_value_of_the_least_key(spark):
    assert_rule_needed_and_exact(spark, f"SELECT g, arg_min(a, (b, g)), arg_max(a, b) FROM {ROWS} GROUP BY g ORDER BY g")


def test_a_sort_key_orders_like_its_row_nulls_last(spark):
    # the key's NULL part sorts last, as in the row (b, a): g=1's least key is (1, NULL), not (NULL, 'c')
    key = "create_sort_key(b, 'ASC NULLS LAST', a, 'ASC NULLS LAST')"
    assert_rule_needed_and_exact(spark, f"SELECT g, arg_min(c, k), arg_max(c, k) FROM (SELECT *, {key} AS k FROM {ROWS}) "
                                        "GROUP BY g ORDER BY g")


def test_ordered_lists_keep_order_nulls_and_are_null_over_no_rows(spark):
    assert_rule_needed_and_exact(spark, f"""
        SELECT g, list(a ORDER BY b DESC) AS down, list(a ORDER BY b) FILTER (WHERE c) AS up,
               list(DISTINCT a ORDER BY a) FILTER (WHERE a <> 'zz') AS names, list(b ORDER BY a) FILTER (WHERE false)
        FROM {ROWS} GROUP BY g ORDER BY g""")


def test_list_slices_are_one_based_and_inclusive(spark):
    assert_rule_needed_and_exact(spark, f"SELECT list(a ORDER BY b NULLS FIRST)[1:2] FROM {ROWS}")


TIMES = ("(VALUES (TIMESTAMP '2025-03-09 06:59:59.123'), (TIMESTAMP '2025-03-09 07:00:00'), "
         "(TIMESTAMP '2025-11-02 05:30:00'), (TIMESTAMP '2025-11-02 06:14:59.999')) t(ts)")


def test_millisecond_arithmetic(spark):
    assert_rule_needed_and_exact(spark, f"SELECT ts + to_milliseconds(1500), ts - to_milliseconds(86400000) FROM {TIMES}")


def test_utc_wall_times_become_local_wall_times_across_dst(spark):
    assert_rule_needed_and_exact(spark, f"SELECT timezone('America/New_York', timezone('UTC', ts)) FROM {TIMES}")


def test_date_trunc_stays_a_wall_time(spark):
    sql = f"SELECT date_trunc('hour', ts) AS h, typeof(date_trunc('day', ts)) AS kind FROM {TIMES}"
    expected = [(h,) for h, _ in on_duckdb(sql)]
    assert [(h,) for h, _ in on_spark(spark, sql)] == expected
    assert spark.sql(to_spark(f"SELECT date_trunc('hour', ts) AS h FROM {TIMES}").sql).dtypes == [("h", "timestamp_ntz")]


def test_quarter_hour_buckets(spark):
    assert_rule_needed_and_exact(spark, f"SELECT time_bucket(INTERVAL 15 MINUTES, ts) FROM {TIMES}")


def test_distinct_rows_with_a_null_part_count(spark):
    """Portable without a rule: Spark 4 reads the row as a struct too (a NULL part does not drop it)."""
    sql = f"SELECT count(DISTINCT (a, b)) FROM {ROWS}"
    assert on_spark(spark, sql) == on_duckdb(sql) == [(4,)]


def test_quantiles_and_medians_to_the_last_bit(spark):
    rng = random.Random(3)
    rows = ", ".join(f"({g}, {rng.randint(0, 100_000)})" for g in range(40) for _ in range(rng.randint(1, 30)))
    sql = (f"SELECT g, quantile_cont(x, 0.05), quantile_cont(x, 0.9), quantile_cont(x, 0.95), median(x), "
           f"quantile_cont(x, 0.9) FILTER (WHERE x > 50000) FROM (VALUES {rows}) t(g, x) GROUP BY g ORDER BY g")
    assert_rule_needed_and_exact(spark, sql)


def test_any_value_skips_nulls(spark):
    assert on_spark(spark, f"SELECT any_value(a) FROM (SELECT * FROM {ROWS} WHERE a IS NULL OR g = 2)") == [("d",)]


def test_regexp_full_match_anchors_both_ends(spark):
    assert_rule_needed_and_exact(spark, r"""SELECT s, regexp_full_match(coalesce(s, ''), '[\s\pZ]*')
        FROM (VALUES (' '), (''), (NULL), ('a '), (' a'), (chr(160)), ('x' || chr(10))) t(s) ORDER BY s""")


def test_infinity_is_later_than_every_timestamp(spark):
    assert_rule_needed_and_exact(spark, f"SELECT ts < 'infinity'::TIMESTAMP FROM {TIMES}")


def test_grouping_reads_the_grouped_column_not_the_output_alias(spark):
    assert_rule_needed_and_exact(spark, f"""
        WITH r AS (SELECT coalesce(a, '(none)') AS k, b FROM {ROWS})
        SELECT CASE WHEN grouping(k) = 1 THEN 'all' ELSE k END AS k, count(*) AS n
        FROM r GROUP BY GROUPING SETS ((k), ()) ORDER BY grouping(k) DESC, n DESC, k""")


def test_asof_join_finds_the_latest_row_at_or_before(spark):
    assert_rule_needed_and_exact(spark, """
        WITH l AS (SELECT * FROM (VALUES ('i', 5), ('i', 10), ('i', 1), ('j', 7), (NULL, 7)) t(k, t)),
             r AS (SELECT * FROM (VALUES ('i', 2, 'a'), ('i', 5, 'b'), ('i', 9, 'c'), ('j', 8, 'd')) t(k, t, v))
        SELECT l.k, l.t, r.v FROM l ASOF LEFT JOIN r ON l.k = r.k AND l.t >= r.t ORDER BY l.k, l.t""")


def test_union_by_name_matches_columns_by_name(spark):
    assert_rule_needed_and_exact(spark, "SELECT 1 AS a, 2 AS b UNION ALL BY NAME SELECT 3 AS b, 4 AS c ORDER BY b")


def test_bound_lists_membership_length_and_lookup(spark):
    sql = "SELECT s, list_contains($keys, s), len($keys), $values[list_position($keys, s)] FROM (VALUES ('x'), ('y'), (NULL)) t(s)"
    params = {"keys": ["x", "z"], "values": [10, 20]}
    assert on_spark(spark, sql, params) == on_duckdb(sql, params)
    assert on_spark(spark, sql, {"keys": [], "values": []}) == on_duckdb(sql, {"keys": [], "values": []})


def test_an_update_becomes_the_select_of_the_updated_table(spark):
    spark.sql("SELECT * FROM VALUES ('a', 'in_progress', 1), ('b', 'in_progress', 9), (NULL, 'answered', 1) "
              "AS t(app, outcome, last)").createOrReplaceTempView("calls")
    from ingest.spark import session

    statement = to_spark("UPDATE calls SET outcome = 'never_ended' FROM (SELECT 'a' AS app, 5 AS newest) clock "
                         "WHERE calls.outcome = 'in_progress' AND calls.app IS NOT DISTINCT FROM clock.app "
                         "AND calls.last < clock.newest", {}, columns=session.columns(spark))
    assert statement.target == "calls"
    rows = sorted(spark.sql(statement.sql).toArrow().to_pylist(), key=lambda r: str(r["app"]))
    assert rows == [{"app": None, "outcome": "answered", "last": 1}, {"app": "a", "outcome": "never_ended", "last": 1},
                    {"app": "b", "outcome": "in_progress", "last": 9}]
