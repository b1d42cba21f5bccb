"""The portable subset: every statement the project runs over the store (the derivation and every metric, found by
name in analytics.spark.statements) uses only constructs that translate exactly to Spark, so a new metric cannot
silently mean something else on the cluster. Also the binding: values become literals, never SQL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from analytics.spark import derive_statements, metric_statements, statements
from ingest.spark import rules
from ingest.spark.lint import unported
from ingest.spark.transpile import SparkDialect, to_spark


def test_the_statements_are_found_by_name():
    names = set(statements())
    assert {"ingest.calls.CALLS_SQL", "ingest.calls.NEVER_ENDED_SQL", "analytics.metrics.KPIS_SQL",
            "analytics.engagements.CALLER_ID_SQL", "analytics.report.sql.UNKNOWN_TYPES_SQL"} <= names
    assert len(derive_statements()) == 12 and len(metric_statements()) >= 30


@pytest.mark.parametrize("name", sorted(statements()))
def test_every_statement_is_in_the_portable_subset(name):
    assert unported(statements()[name]) == []


def test_a_construct_without_a_rule_fails_the_lint():
    found = unported("SELECT list_reverse(aliases), epoch_ms(started_at), len(aliases), aliases[1] FROM calls")
    assert [f.split(":")[0] for f in found] == ["list_reverse", "UnixToTime", "Length", "Bracket"]


def test_every_rule_says_what_it_fixes_and_is_linted():
    assert set(rules.RULES) == set(rules.COVERED.values())
    for rule in rules.RULES:
        assert rule.__doc__ and "sqlglot" in rule.__doc__ and "Spark" in rule.__doc__, rule.__name__


def test_every_statement_translates():
    params = {name: None for sql in statements().values() for name in _names(sql)}
    params |= {"start_types": ["INCOMING_CALL"], "stage_types": ["CALL_ENDED"], "stage_numbers": [2], "ended_stage": 2,
               "bucket": "day", "max_call_ms": 1000, "orphan_near_ms": 1000}
    for name, sql in statements().items():
        statement = to_spark(sql, params, columns=lambda query: ["a"])
        assert sqlglot.parse_one(statement.sql, read=SparkDialect), name
        assert "$" not in statement.sql.replace("'$.", "")


def _names(sql: str) -> set[str]:
    import re

    return set(re.findall(r"\$([a-z_]+)", sql))


@pytest.mark.parametrize("hostile", ["x' OR 1=1 --", "a\\'b", "'; DROP TABLE calls; --", "ünï'cødé\n"])
def test_a_bound_value_is_a_literal_never_sql(hostile):
    sql = to_spark("SELECT * FROM calls WHERE external_call_id = $id AND list_contains($ids, app)",
                   {"id": hostile, "ids": [hostile]}).sql
    tree = sqlglot.parse_one(sql, read=SparkDialect)
    literals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string]
    assert literals == [hostile, hostile]
    assert tree.find(exp.Drop) is None and len(list(tree.find_all(exp.Or))) == 0


def test_parameters_inside_strings_and_comments_stay_text():
    sql = to_spark("SELECT message->>'$.data.x' AS v -- it's $not_a_param\nFROM events WHERE type = $t",
                   {"t": "SYNC"}).sql
    assert "$.data.x" in sql and "'SYNC'" in sql


def test_an_unbound_parameter_is_an_error():
    with pytest.raises(KeyError, match="outcome"):
        to_spark("SELECT * FROM calls WHERE outcome = $outcome", {})


def test_the_spark_engine_says_what_to_install(monkeypatch):
    from ingest.errors import CallscopeError
    from ingest.spark import engine

    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(CallscopeError, match="Java runtime") as raised:
        engine.require()
    assert "openjdk-17-jre-headless" in raised.value.hint
