"""The portable subset: which DuckDB constructs the project's SQL may use and still mean the same on Spark.

A construct is a node of sqlglot's tree of the DuckDB statement (its class name, e.g. `Median`) or, for a function
sqlglot does not know, the function's name (`to_milliseconds`). It is portable when sqlglot's plain translation is
exact on Spark 4 (`PORTABLE`: each proved by tests/test_spark_parity.py on the statements that use it), when a rule
of `rules.py` fixes it (`rules.COVERED`), or in the one form the binding or a statement-level rule handles
(`CONDITIONAL`). `unported(sql)` lists the rest: a new statement using one fails tests/test_transpile_lint.py
until a rule covers it (and a parity test proves the rule).
"""

from __future__ import annotations

from sqlglot import exp

from ingest.spark import rules
from ingest.spark.transpile import PARAM_PREFIX, parse

PORTABLE = frozenset({
    # statements, clauses, references
    "Select", "With", "CTE", "From", "Where", "Group", "GroupingSets", "Order", "Ordered", "Limit", "Qualify",
    "Subquery", "Table", "TableAlias", "Alias", "Column", "Identifier", "Star", "Var", "Paren", "Literal", "Null",
    "Boolean", "DataType", "Cast", "Interval", "Window", "WindowSpec", "Filter", "Distinct", "Struct", "PropertyEQ",
    "Array",
    # operators
    "And", "Or", "Not", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Is", "In", "NullSafeEQ", "Like", "Add", "Sub", "Neg",
    "Div", "DPipe",
    # functions whose Spark form sqlglot writes with the same result
    "Case", "If", "Coalesce", "Nullif", "Greatest", "Least", "Count", "Sum", "Min", "Max", "LogicalOr", "Grouping",
    "DateDiff", "Lower", "Upper", "Contains", "StartsWith", "RegexpExtract", "RegexpReplace", "ArrayContains",
    "ArraySort", "ArrayToString", "Explode", "JSONExtractScalar", "JSONPath", "JSONPathKey", "JSONPathRoot",
})


def _is_parameter(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and not node.table and node.name.startswith(PARAM_PREFIX)


def _list_lookup(node: exp.Expr) -> bool:
    """`$values[list_position($keys, x)]`: the binding writes a CASE."""
    bracket = node if isinstance(node, exp.Bracket) else node.parent
    return (isinstance(bracket, exp.Bracket) and _is_parameter(bracket.this) and len(bracket.expressions) == 1
            and isinstance(bracket.expressions[0], exp.Anonymous)
            and bracket.expressions[0].name.lower() == "list_position"
            and _is_parameter(bracket.expressions[0].expressions[0]))


CONDITIONAL = {
    # len($list): the binding writes the list's length (len() of a list column would become LENGTH of a string).
    "Length": lambda node: _is_parameter(node.this),
    # list[a:b] (rules.list_slice) or the bound lookup; an index into a list column is 0-based on Spark.
    "Bracket": lambda node: (len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice))
    or _list_lookup(node),
    "list_position": _list_lookup,
    # a row: counted distinct (a struct on Spark too, NULL parts counted) or an arg_min key (rules.arg_min_skips_nulls)
    # or a grouping set (`GROUPING SETS ((portal), ())`)
    "Tuple": lambda node: isinstance(node.parent, (exp.Distinct, exp.ArgMin, exp.ArgMax, exp.GroupingSets)),
    # ASOF JOIN and JOIN … USING: transpile._asof_join; USING is Spark's too.
    "Join": lambda node: True,
    # UNION ALL BY NAME: transpile._union_by_name; plain UNION [ALL] is Spark's too.
    "Union": lambda node: True,
    # CREATE OR REPLACE TABLE t AS q: the query, run and stored by the caller; UPDATE … FROM: transpile._update_from.
    "Create": lambda node: node.expression is not None,
    "Update": lambda node: node.args.get("from_") is not None,
}


def construct(node: exp.Expr) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else type(node).__name__


def unported(sql: str) -> list[str]:
    """The constructs of `sql` (a DuckDB statement of the project) that no rule covers, each with its text."""
    found = []
    for node in parse(sql).walk():
        name = construct(node)
        if name in PORTABLE or name in rules.COVERED:
            continue
        check = CONDITIONAL.get(name)
        if check is None or not check(node):
            found.append(f"{name}: {node.sql(dialect='duckdb')[:100]}")
    return found
