"""The fix rules: each rewrites one DuckDB construct that sqlglot (pinned) turns into wrong or invalid Spark SQL.

A rule is a function over the parsed statement (DuckDB's syntax tree, parameters already bound as literals) that
returns the tree with its construct replaced by a form with the same result on Spark. Each docstring says what
sqlglot does with the construct and why the replacement is exact. `RULES` is the order they run in;
`transpile.to_spark` runs them, `transpile.unported` lints for constructs none of them (nor sqlglot) covers.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def _spark(text: str) -> exp.Expr:
    """A Spark SQL expression, parsed (for forms DuckDB's parser has no node for: lambdas over structs)."""
    return sqlglot.parse_one(text, read="spark")


def _text(node: exp.Expr) -> str:
    from ingest.spark.transpile import SparkDialect

    return node.sql(dialect=SparkDialect)


def _ntz(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))


def arg_min_skips_nulls(tree: exp.Expr) -> exp.Expr:
    """`arg_min(x, (a, b))` / `arg_max`: sqlglot writes MIN_BY(x, (a, b)); Spark has no row tuple, and its structs
    put a NULL field first where DuckDB's rows put it last: the key becomes `struct(a IS NULL, a, b IS NULL, b)`.
    And DuckDB returns the non-NULL `x` of the least key
    while Spark's MIN_BY returns the least key's `x` even when NULL: the rows where `x` is NULL are filtered out,
    added to the aggregate's own FILTER."""

    def fix(node: exp.Expr) -> exp.Expr:
        target = node.this if isinstance(node, exp.Filter) else node
        if not isinstance(target, (exp.ArgMin, exp.ArgMax)) or isinstance(node.parent, exp.Filter):
            return node
        key = target.expression
        if isinstance(key, exp.Tuple):  # (a, b): NULL parts last, as DuckDB orders rows
            parts = []
            for part in key.expressions:
                parts += [exp.Is(this=part.copy(), expression=exp.Null()), part]
            target.set("expression", exp.Struct(expressions=parts))
        not_null = exp.Not(this=exp.Is(this=target.this.copy(), expression=exp.Null()))
        if isinstance(node, exp.Filter):
            node.set("expression", exp.Where(this=exp.and_(node.expression.this, not_null)))
            return node
        return exp.Filter(this=target, expression=exp.Where(this=not_null))

    return tree.transform(fix)


def sort_key_struct(tree: exp.Expr) -> exp.Expr:
    """`create_sort_key(a, 'ASC NULLS LAST', b, 'ASC NULLS LAST')` (ingest.derive.sort_key): one value ordering
    like the row `(a, b)`. sqlglot passes it through as an unknown function, which Spark does not have; Spark
    compares structs field by field, its NULLs first: the key becomes `struct(a IS NULL, a, b IS NULL, b)`, as
    `arg_min_skips_nulls` writes a row key."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Anonymous) and node.name.lower() == "create_sort_key"):
            return node
        columns, orders = node.expressions[::2], node.expressions[1::2]
        if any(not (o.is_string and o.name.upper() == "ASC NULLS LAST") for o in orders):
            raise ValueError(f"only ascending sort keys with NULLs last are ported: {node.sql('duckdb')}")
        parts = []
        for column in columns:
            parts += [exp.Is(this=column.copy(), expression=exp.Null()), column.copy()]
        return exp.Struct(expressions=parts)

    return tree.transform(fix)


def _comparator(keys: list[exp.Ordered]) -> str:
    """A Spark array_sort comparator over structs `k0, k1, …` ordering like DuckDB's ORDER BY (NULLS LAST by
    default, in both directions)."""
    parts = []
    for n, key in enumerate(keys):
        desc = bool(key.args.get("desc"))
        nulls_first = bool(key.args.get("nulls_first"))
        lo, hi = ("1", "-1") if desc else ("-1", "1")
        parts.append(f"WHEN l.k{n} IS NULL AND r.k{n} IS NULL THEN 0 "
                     f"WHEN l.k{n} IS NULL THEN {'-1' if nulls_first else '1'} "
                     f"WHEN r.k{n} IS NULL THEN {'1' if nulls_first else '-1'} "
                     f"WHEN l.k{n} < r.k{n} THEN {lo} WHEN l.k{n} > r.k{n} THEN {hi}")
    # Keys compared one after another: each CASE falls through (0) to the next key.
    expr = "0"
    for part in reversed(parts):
        expr = f"CASE {part} ELSE {expr} END"
    return f"(l, r) -> {expr}"


def ordered_list_aggregate(tree: exp.Expr) -> exp.Expr:
    """`list(x ORDER BY k …) [FILTER (…)]`: sqlglot writes COLLECT_LIST(x) and drops the order, and COLLECT_LIST
    skips NULL values and gives `[]` over no rows where DuckDB's list keeps NULLs and gives NULL. Each value is
    collected inside a struct with its sort keys (never NULL itself, so NULL values stay), sorted by a comparator
    that orders like DuckDB's ORDER BY, unwrapped, and NULL when no row was collected (all in Spark SQL). `DISTINCT` collects a set
    of the structs (the value and its keys, which are the value in DuckDB's `list(DISTINCT x ORDER BY x)`)."""

    def fix(node: exp.Expr) -> exp.Expr:
        target, where = (node.this, node.expression) if isinstance(node, exp.Filter) else (node, None)
        if not isinstance(target, exp.ArrayAgg):
            return node
        inner, keys = target.this, []
        if isinstance(inner, exp.Order):
            keys = list(inner.expressions)
            inner = inner.this
        distinct = isinstance(inner, exp.Distinct)
        value = inner.expressions[0] if distinct else inner
        fields = [f"{_text(k.this)} AS k{n}" for n, k in enumerate(keys)] + [f"{_text(value)} AS v"]
        collect = f"{'COLLECT_SET' if distinct else 'COLLECT_LIST'}(STRUCT({', '.join(fields)}))"
        condition = f" FILTER (WHERE {_text(where.this)})" if where is not None else ""
        collected = f"{collect}{condition}"
        if keys:
            collected = f"ARRAY_SORT({collected}, {_comparator(keys)})"
        return _spark(f"CASE WHEN COUNT(1){condition} > 0 THEN TRANSFORM({collected}, s -> s.v) END")

    return tree.transform(fix)


def list_slice(tree: exp.Expr) -> exp.Expr:
    """`list[a:b]` (1-based, both ends included): sqlglot leaves the slice, which Spark cannot parse; Spark's
    `slice(list, start, length)` takes the same elements."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Bracket) and len(node.expressions) == 1
                and isinstance(node.expressions[0], exp.Slice)):
            return node
        bounds = node.expressions[0]
        start, end = int(bounds.this.name), int(bounds.expression.name)
        return exp.Anonymous(this="SLICE", expressions=[node.this, exp.Literal.number(start),
                                                        exp.Literal.number(end - start + 1)])

    return tree.transform(fix)


def millisecond_interval(tree: exp.Expr) -> exp.Expr:
    """`to_milliseconds(n)` (a bound number): sqlglot passes the DuckDB function through; Spark's interval
    literal `INTERVAL n MILLISECONDS` is the same duration."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Anonymous) and node.name.lower() == "to_milliseconds":
            (value,) = node.expressions
            if not isinstance(value, exp.Literal) or value.is_string:
                raise ValueError("to_milliseconds takes a bound number on Spark")
            return exp.Interval(this=exp.Literal.number(int(value.name)), unit=exp.var("MILLISECONDS"))
        return node

    return tree.transform(fix)


def utc_to_local(tree: exp.Expr) -> exp.Expr:
    """`timezone(tz, timezone('UTC', x))` (a UTC wall time as the wall time in `tz`): no Spark form from sqlglot.
    Spark's `from_utc_timestamp(x, tz)` computes it (the session's time zone is UTC, so a TIMESTAMP_NTZ reads as
    UTC) and returns a TIMESTAMP, cast back to a wall time without zone like DuckDB's."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Anonymous) and node.name.lower() == "timezone"):
            return node
        tz, inner = node.expressions
        if not (isinstance(inner, exp.Anonymous) and inner.name.lower() == "timezone"
                and inner.expressions[0].name.upper() == "UTC"):
            raise ValueError("timezone() is portable only as timezone(tz, timezone('UTC', x))")
        return _ntz(exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[inner.expressions[1], tz]))

    return tree.transform(fix)


def date_trunc_wall_time(tree: exp.Expr) -> exp.Expr:
    """`date_trunc(unit, x)`: sqlglot writes DATE_TRUNC, which on Spark returns a TIMESTAMP (with the session's zone, UTC) for a
    TIMESTAMP_NTZ; cast back to the wall time DuckDB returns."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimestampTrunc) and not isinstance(node.parent, exp.Cast):
            return _ntz(node)
        return node

    return tree.transform(fix)


def time_bucket_minutes(tree: exp.Expr) -> exp.Expr:
    """`time_bucket(INTERVAL n MINUTES, x)`: sqlglot writes DATE_BIN, which Spark lacks. DuckDB's buckets of
    minutes start at 2000-01-03 00:00 UTC, a whole number of such buckets after the epoch for n dividing a day,
    so flooring the epoch microseconds to n minutes gives the same buckets."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.DateBin):
            return node
        interval = node.this
        unit = interval.text("unit").upper()
        if not unit.startswith("MINUTE") or (24 * 60) % int(interval.this.name):
            raise ValueError("time_bucket is portable for buckets of minutes that divide a day")
        micros = int(interval.this.name) * 60_000_000
        x = _text(node.expression)
        return _spark(f"CAST(TIMESTAMP_MICROS(FLOOR(UNIX_MICROS(CAST({x} AS TIMESTAMP_LTZ)) / {micros}) * {micros}) "
                      f"AS TIMESTAMP_NTZ)")

    return tree.transform(fix)


def _let(name: str, bindings: dict[str, str], body: str) -> str:
    """`body` with `name.key` bound to each expression of `bindings` (Spark SQL has no LET: a one-element
    AGGREGATE whose start is the struct of the values)."""
    values = ", ".join(f"'{key}', {value}" for key, value in bindings.items())
    return f"AGGREGATE(ARRAY(0), NAMED_STRUCT({values}), ({name}_acc, {name}_x) -> {name}_acc, {name} -> {body})"


# DuckDB interpolates a quantile of doubles as `lo * (1 - d) + hi * d`, which its build contracts into one fused
# multiply-add, fma(lo, 1 - d, hi * d): the product lo * (1 - d) is never rounded. Spark has no fma, so the exact
# product is carried as two doubles (Dekker's split and two-product) and added with an error-free two-sum.
_SPLIT = "134217729.0"  # 2^27 + 1
_FMA = _let("f", {"ah": f"{_SPLIT} * q.lo - ({_SPLIT} * q.lo - q.lo)", "bh": f"{_SPLIT} * q.w - ({_SPLIT} * q.w - q.w)",
                  "ph": "q.lo * q.w", "lo": "q.lo", "w": "q.w", "c": "q.c"},
            _let("g", {"pl": "((f.ah * f.bh - f.ph) + f.ah * (f.w - f.bh) + (f.lo - f.ah) * f.bh) + "
                             "(f.lo - f.ah) * (f.w - f.bh)", "s": "f.ph + f.c", "ph": "f.ph", "c": "f.c"},
                 _let("h", {"bb": "g.s - g.ph", "s": "g.s", "ph": "g.ph", "c": "g.c", "pl": "g.pl"},
                      "h.s + (((h.ph - (h.s - h.bb)) + (h.c - h.bb)) + h.pl)")))


def continuous_quantile(tree: exp.Expr) -> exp.Expr:
    """`quantile_cont(x, q)` and `median(x)`: sqlglot writes the 2-argument PERCENTILE_CONT Spark rejects, and
    Spark's own `percentile` interpolates as `(pos - lower) * hi + (upper - pos) * lo`, which differs from DuckDB
    in the last bits. DuckDB's computation over the sorted non-NULL values, in doubles: position
    `(n - 1) * q`, `d` its fraction, `fma(lo, 1 - d, hi * d)` (_FMA); NULL over no values."""

    def fix(node: exp.Expr) -> exp.Expr:
        target, where = (node.this, node.expression) if isinstance(node, exp.Filter) else (node, None)
        if isinstance(target, exp.PercentileCont) and target.expression is not None:
            x, q = target.this, target.expression
        elif isinstance(target, exp.Median):
            x, q = target.this, exp.Literal.number("0.5")
        else:
            return node
        if target is node and isinstance(node.parent, exp.Filter):
            return node
        condition = f" FILTER (WHERE {_text(where.this)})" if where is not None else ""
        values = f"ARRAY_SORT(COLLECT_LIST(CAST({_text(x)} AS DOUBLE)){condition})"
        position = _let("p", {"v": values, "rn": f"CAST(SIZE({values}) - 1 AS DOUBLE) * CAST({_text(q)} AS DOUBLE)"},
                        _let("q", {"lo": "ELEMENT_AT(p.v, CAST(FLOOR(p.rn) AS INT) + 1)",
                                   "hi": "ELEMENT_AT(p.v, CAST(CEIL(p.rn) AS INT) + 1)",
                                   "w": "1.0D - (p.rn - FLOOR(p.rn))",
                                   "c": "ELEMENT_AT(p.v, CAST(CEIL(p.rn) AS INT) + 1) * (p.rn - FLOOR(p.rn))",
                                   "same": "FLOOR(p.rn) = CEIL(p.rn)"},
                             f"CASE WHEN q.same THEN q.lo ELSE {_FMA} END"))
        return _spark(f"CASE WHEN SIZE({values}) > 0 THEN {position} END")

    return tree.transform(fix)


def grouping_of_source_column(tree: exp.Expr) -> exp.Expr:
    """`ORDER BY grouping(c)` where the SELECT also names an output `c`: sqlglot keeps it as is; DuckDB reads the
    grouped column, Spark the output alias (and fails: not a grouping column). The column is qualified with its source, which no alias
    shadows."""
    for select in tree.find_all(exp.Select):
        order, source = select.args.get("order"), select.args.get("from_")
        if order is None or source is None or select.args.get("joins"):
            continue
        aliases = {e.alias for e in select.expressions if e.alias}
        for grouping in order.find_all(exp.Grouping):
            for column in grouping.find_all(exp.Column):
                if not column.table and column.name in aliases:
                    column.set("table", exp.to_identifier(source.this.alias_or_name))
    return tree


def any_value_non_null(tree: exp.Expr) -> exp.Expr:
    """`any_value(x)` (DuckDB: a non-NULL value when there is one): sqlglot writes ANY_VALUE(x) IGNORE NULLS,
    which Spark cannot parse with a FILTER; Spark's `any_value(x, true)` ignores NULLs."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
            return exp.Anonymous(this="ANY_VALUE", expressions=[node.this.this, exp.true()])
        if isinstance(node, exp.AnyValue) and not isinstance(node.parent, exp.IgnoreNulls):
            return exp.Anonymous(this="ANY_VALUE", expressions=[node.this, exp.true()])
        return node

    return tree.transform(fix)


def regexp_full_match(tree: exp.Expr) -> exp.Expr:
    """`regexp_full_match(s, p)`: sqlglot passes it through; Spark has RLIKE, which finds the pattern anywhere,
    so it is anchored at both ends (`\\z`: the very end, not before a final newline)."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.RegexpFullMatch):
            pattern = node.expression
            if not (isinstance(pattern, exp.Literal) and pattern.is_string):
                raise ValueError("regexp_full_match takes a literal pattern on Spark")
            return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern.name})\\z"))
        return node

    return tree.transform(fix)


def infinite_timestamp(tree: exp.Expr) -> exp.Expr:
    """`'infinity'::TIMESTAMP` (later than every timestamp): sqlglot writes CAST('infinity' AS TIMESTAMP_NTZ),
    which Spark refuses. The project only compares with it, so Spark's latest timestamp stands in."""

    def fix(node: exp.Expr) -> exp.Expr:
        if (isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string
                and node.this.name.lower() == "infinity" and node.to.is_type(*exp.DataType.TEMPORAL_TYPES)):
            return exp.Cast(this=exp.Literal.string("9999-12-31 23:59:59.999999"), to=node.to)
        return node

    return tree.transform(fix)


# In the order they run: the ones that read a sub-expression's Spark text run after those that fix it, and
# continuous_quantile after ordered_list_aggregate (its COLLECT_LIST must stay one that skips NULLs).
RULES = (infinite_timestamp, millisecond_interval, utc_to_local, time_bucket_minutes, regexp_full_match,
         grouping_of_source_column, any_value_non_null, sort_key_struct, arg_min_skips_nulls, list_slice,
         date_trunc_wall_time, ordered_list_aggregate, continuous_quantile)
# The constructs each rule covers, for the lint (`transpile.unported`): node classes and DuckDB function names.
COVERED = {
    "Cast": infinite_timestamp,
    "to_milliseconds": millisecond_interval, "timezone": utc_to_local, "DateBin": time_bucket_minutes,
    "RegexpFullMatch": regexp_full_match, "PercentileCont": continuous_quantile, "Median": continuous_quantile,
    "Grouping": grouping_of_source_column,
    "AnyValue": any_value_non_null, "IgnoreNulls": any_value_non_null, "ArgMin": arg_min_skips_nulls,
    "ArgMax": arg_min_skips_nulls, "Slice": list_slice, "TimestampTrunc": date_trunc_wall_time,
    "ArrayAgg": ordered_list_aggregate, "create_sort_key": sort_key_struct,
}
