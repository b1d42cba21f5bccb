"""The project's DuckDB SQL as Spark SQL: one definition of every rule and metric, run by either engine.

`to_spark(sql, params, columns=)` returns a `SparkStatement`: the SELECT to run (a `CREATE OR REPLACE TABLE t AS`
becomes its query and the target `t`; an `UPDATE t … FROM` becomes the SELECT of the updated table). Steps:
1. Bind: every `$name` becomes a typed literal built as a syntax-tree node (sqlglot quotes strings), never by
   formatting a value into the text. The SDK's vocabulary and the filter's lists are lists: membership and length
   of a bound list become `x IN (…)` and a number, and `$values[list_position($keys, x)]` a CASE.
2. The statement-level rules below (ASOF JOIN, UNION ALL BY NAME, UPDATE … FROM, CREATE TABLE AS), then the
   expression rules of `rules.py`, then sqlglot's Spark generator with QUALIFY kept (Spark 4 has it; sqlglot's
   rewrite into a subquery breaks `e.*`).

`unported(sql)` lists the constructs of a statement that neither sqlglot's plain translation is trusted for
(`PORTABLE`) nor a rule covers: tests/test_transpile_lint.py runs it over every statement the project runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator
from sqlglot.transforms import any_to_exists, eliminate_distinct_on, preprocess, unnest_to_explode

from ingest.spark import rules

PARAM_PREFIX = "__param__"
TRUNC_UNITS = ("minute", "hour", "day", "week", "month", "quarter", "year")  # a bound date_trunc unit
# A `$name` outside string literals and comments (skipped whole: `'$.data.x'` is a JSON path, `-- it's` a comment).
_PARAM_OR_STRING = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\$([A-Za-z_][A-Za-z0-9_]*)", re.S)


class SparkGeneratorKeepingQualify(SparkGenerator):
    TRANSFORMS = {
        **SparkGenerator.TRANSFORMS,
        exp.Select: preprocess([eliminate_distinct_on, unnest_to_explode, any_to_exists]),
    }


class SparkDialect(Spark):
    """Spark 4 as sqlglot writes it, except that QUALIFY stays QUALIFY."""

    Generator = SparkGeneratorKeepingQualify


@dataclass(frozen=True)
class SparkStatement:
    sql: str  # a query
    target: str | None = None  # the table a CREATE TABLE AS / UPDATE defines (None: a plain query)


# Resolves the output columns of a query (Spark SQL text) without running it: `session.columns`.
Columns = Callable[[str], list[str]]


def _mark_parameters(sql: str) -> str:
    return _PARAM_OR_STRING.sub(lambda m: PARAM_PREFIX + m.group(1) if m.group(1) else m.group(0), sql)


def parse(sql: str) -> exp.Expr:
    """A DuckDB statement of the project, `$name` parameters as columns named `__param__name`."""
    return sqlglot.parse_one(_mark_parameters(sql), read="duckdb")


def _param_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Column) and not node.table and node.name.startswith(PARAM_PREFIX):
        return node.name[len(PARAM_PREFIX):]
    return None


def literal(value) -> exp.Expr:
    """A bound value as a typed literal node: NULL, booleans, integers, floats, strings, timestamps, dates."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime):
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")),
                        to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    if isinstance(value, date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TypeError(f"cannot bind a {type(value).__name__} on Spark")


def bind(tree: exp.Expr, params: dict) -> exp.Expr:
    """Every parameter as a literal; a bound list's membership, length and positional lookup as plain SQL."""

    def value(node: exp.Expr):
        name = _param_name(node)
        if name is None:
            return None, False
        if name not in params:
            raise KeyError(f"parameter ${name} is not bound")
        return params[name], True

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.ArrayContains):
            values, bound = value(node.this)
            if bound:  # list_contains($list, x): x IN (…); an empty list holds nothing (NULL for a NULL x)
                if values:
                    return exp.In(this=node.expression, expressions=[literal(v) for v in values])
                return exp.Cast(this=exp.If(this=exp.Is(this=node.expression, expression=exp.Null()), true=exp.Null(),
                                            false=exp.false()), to=exp.DataType.build("BOOLEAN"))
            needle, bound = value(node.expression)
            if bound and needle is None:  # list_contains(list, NULL) is NULL (Spark refuses an untyped NULL)
                return exp.Cast(this=exp.Null(), to=exp.DataType.build("BOOLEAN"))
        if isinstance(node, exp.TimestampTrunc) and node.text("unit").lower().startswith(PARAM_PREFIX):
            unit = params[node.text("unit").lower()[len(PARAM_PREFIX):]]
            if unit not in TRUNC_UNITS:
                raise ValueError(f"date_trunc unit {unit!r} is not one of {TRUNC_UNITS}")
            node.set("unit", exp.var(unit.upper()))
            return node
        if isinstance(node, exp.Length):
            values, bound = value(node.this)
            if bound and isinstance(values, (list, tuple)):
                return exp.Literal.number(len(values))
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
            values, bound = value(node.this)
            position = node.expressions[0]
            if bound and isinstance(position, exp.Anonymous) and position.name.lower() == "list_position":
                keys, _ = value(position.expressions[0])
                if not keys:  # nothing to find: NULL
                    return exp.Null()
                case = exp.Case(this=position.expressions[1], ifs=[])
                for k, v in zip(keys, values, strict=True):
                    case = case.when(literal(k), literal(v))
                return case
        values, bound = value(node)
        return literal(values) if bound else node

    return tree.transform(fix)


def _asof_join(tree: exp.Expr) -> exp.Expr:
    """`a ASOF [LEFT] JOIN b ON a.k = b.k AND a.t >= b.t` (the latest row of `b` at or before each row of `a`):
    Spark has no ASOF JOIN (sqlglot passes it through). Each row of `b` is valid from its `t` until the next `t`
    of its key (`lead`), so an equi-join on the key plus `b.t <= a.t < next` finds the same one row; the project's
    ASOF sides hold one row per key and time, so there is never a tie."""
    for join in list(tree.find_all(exp.Join)):
        if (join.args.get("method") or "").upper() != "ASOF":
            continue
        right = join.this
        alias = right.alias_or_name
        conditions = list(join.args["on"].flatten()) if isinstance(join.args["on"], exp.And) else [join.args["on"]]
        keys = [c for c in conditions if isinstance(c, exp.EQ)]
        (order,) = [c for c in conditions if isinstance(c, exp.GTE)]
        ahead, behind = order.this, order.expression  # a.t >= b.t
        if behind.table != alias:
            raise ValueError("ASOF JOIN must read `left.t >= right.t`")
        right_keys = [k.expression if k.expression.table == alias else k.this for k in keys]
        source = right.this if isinstance(right, exp.Subquery) else exp.select("*").from_(exp.to_table(right.name))
        partition = ", ".join(k.name for k in right_keys)
        windowed = sqlglot.parse_one(
            f"SELECT *, lead({behind.name}) OVER (PARTITION BY {partition} ORDER BY {behind.name}) AS __asof_next "
            f"FROM (x) AS __asof", read="duckdb")
        windowed.args["from_"].this.set("this", source)
        join.set("this", exp.Subquery(this=windowed, alias=exp.TableAlias(this=exp.to_identifier(alias))))
        next_column = exp.column("__asof_next", table=alias)
        join.set("on", exp.and_(join.args["on"], exp.or_(exp.Is(this=next_column, expression=exp.Null()),
                                                         exp.LT(this=ahead.copy(), expression=next_column))))
        join.set("method", None)
    return tree


def _union_by_name(tree: exp.Expr, columns: Columns) -> exp.Expr:
    """`q1 UNION ALL BY NAME q2`: Spark SQL has no BY NAME. Each side is projected on the columns of the union
    in DuckDB's order (the first side's, then new ones in order of appearance), a missing one as NULL, and joined
    by position. Needs the columns of each side: asked of Spark, with the WITH clauses before it."""
    with_ = tree.args.get("with_")
    ctes = list(with_.expressions) if with_ else []

    def rewrite(unions: list[exp.Union], before: list[exp.CTE]) -> exp.Expr | None:
        prefix = ("WITH " + ", ".join(_render(c) for c in before) + " ") if before else ""
        root = None
        for union in unions:
            sides = _union_sides(union)
            names = [columns(f"{prefix}SELECT * FROM ({_render(side)})") for side in sides]
            order = list(dict.fromkeys(n for side in names for n in side))
            projected = [exp.select(*[exp.column(n) if n in have else exp.alias_(exp.Null(), n) for n in order])
                         .from_(exp.Subquery(this=side.copy(), alias=exp.TableAlias(this=exp.to_identifier("__side"))))
                         for side, have in zip(sides, names, strict=True)]
            combined = projected[0]
            for side in projected[1:]:
                combined = exp.Union(this=combined, expression=side, distinct=False)
            for clause in ("order", "limit", "offset", "with_"):
                if union.args.get(clause) is not None:
                    combined.set(clause, union.args[clause])
            if union is tree:
                root = combined
            else:
                union.replace(combined)
        return root

    def by_name(node: exp.Expr, outside_ctes: bool) -> list[exp.Union]:
        # the outermost of a chain `a BY NAME b BY NAME c` (its inner unions are its sides)
        return [u for u in node.find_all(exp.Union) if u.args.get("by_name")
                and not (isinstance(u.parent, exp.Union) and u.parent.args.get("by_name"))
                and not (outside_ctes and u.find_ancestor(exp.CTE))]

    for n, cte in enumerate(ctes):
        rewrite(by_name(cte, False), ctes[:n])
    return rewrite(by_name(tree, True), ctes) or tree


def _union_sides(union: exp.Union) -> list[exp.Expr]:
    left = union.this
    sides = _union_sides(left) if isinstance(left, exp.Union) and left.args.get("by_name") else [left]
    return sides + [union.expression]


def _render(node: exp.Expr) -> str:
    return node.sql(dialect=SparkDialect)


def _update_from(tree: exp.Update, columns: Columns) -> exp.Expr:
    """`UPDATE t SET c = v … FROM (q) alias WHERE cond`: Spark SQL updates no plain table. The same table as a
    SELECT: each column of `t`, replaced by its new value on rows `cond` matches (a LEFT JOIN on `cond`; the
    project's updates match at most one row of `q` per row of `t`)."""
    table = tree.this.name
    source = tree.args["from_"].this
    alias = source.alias_or_name
    marked = exp.select("*", exp.alias_(exp.true(), "__matched")).from_(source.this.copy().subquery("__q"))
    assignments = {a.this.name: a.expression for a in tree.expressions}
    matched = exp.column("__matched", table=alias)
    projections = [exp.alias_(exp.Case(ifs=[]).when(matched, assignments[c].copy()).else_(exp.column(c, table=table)), c)
                   if c in assignments else exp.column(c, table=table) for c in columns(f"SELECT * FROM {table}")]
    return (exp.select(*projections).from_(table)
            .join(exp.Subquery(this=marked, alias=exp.TableAlias(this=exp.to_identifier(alias))),
                  on=tree.args["where"].this, join_type="left"))


def to_spark(sql: str, params: dict | None = None, *, columns: Columns | None = None) -> SparkStatement:
    """`sql` (a statement of the project, DuckDB dialect) for Spark, with `params` bound. `columns` resolves the
    columns of a query (needed by UNION ALL BY NAME and UPDATE)."""
    tree = bind(parse(sql), params or {})
    target = None
    if isinstance(tree, exp.Create):
        target, tree = tree.this.name, tree.expression
    elif isinstance(tree, exp.Update):
        if columns is None:
            raise ValueError("UPDATE needs the table's columns")
        target, tree = tree.this.name, _update_from(tree, columns)
    tree = _asof_join(tree)
    for rule in rules.RULES:
        tree = rule(tree)
    if any(u.args.get("by_name") for u in tree.find_all(exp.Union)):
        if columns is None:
            raise ValueError("UNION ALL BY NAME needs the columns of each side")
        tree = _union_by_name(tree, columns)
    return SparkStatement(_render(tree), target)
