"""The same audit on Apache Spark, for trace lakes past one machine.

Every statement the stages run is the one written for DuckDB, transpiled by sqlglot
(``read="duckdb"``, ``write="spark"``) at run time; there is no second copy of a rule or a
fact. What sqlglot leaves to the engine is translated here, as dialect, not as logic:

- ``SELECT * EXCLUDE/REPLACE`` is expanded from the tables' schemas (OSS Spark lacks both);
- ``hash()`` becomes ``xxhash64`` (64 bits like DuckDB's, so keys do not collide at scale);
- RE2 patterns become Java patterns with RE2's meaning: ``.`` and ``$`` see only ``\\n``
  as a line end (``(?d)``, ``$`` -> ``\\z``), POSIX classes become ``\\p{...}``, ``(?i)``
  folds case as RE2 does (``(?iu)``), and replacement groups ``\\1`` become ``$1``;
- ``arg_min(x, (a, b))`` orders by ``struct(a, b)``; ``quantile_cont`` is ``percentile``;
  ``len`` of a list is ``size``; ``list_extract`` is ``element_at``; ``json_extract_string``
  of ``TRY_CAST(x AS JSON)`` reads ``x`` with ``get_json_object``;
- ``CREATE TABLE ... AS`` becomes a cached temporary view, ``INSERT INTO ... SELECT`` a union.

Parameters are settings values, bound as literals by sqlglot (quoted by the generator,
never concatenated). pyspark is imported only here, and only when Spark is asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from audit.backend import Params, Row
from audit.cost import PriceTable
from audit.errors import AuditError
from audit.models import AuditReport, SourceInfo
from audit.progress import Progress, no_progress, scaled
from audit.rules.base import RuleSpec
from audit.saved import FINDINGS_COLUMNS, save_report_only
from audit.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {"VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "BOOLEAN": "boolean", "DOUBLE": "double"}
WITH_KEY = "with_" if "with_" in exp.Select.arg_types else "with"  # renamed in sqlglot 28
POSIX_CLASSES = {"alpha": "Alpha", "digit": "Digit", "alnum": "Alnum", "space": "Space", "upper": "Upper",
                 "lower": "Lower", "punct": "Punct", "xdigit": "XDigit", "blank": "Blank", "cntrl": "Cntrl",
                 "print": "Print", "graph": "Graph"}


class SparkError(AuditError):
    """Spark could not run the audit (no Java, a bad master URL, unreadable input)."""

    title = "Spark could not run the audit"


# -- RE2 -> Java patterns ------------------------------------------------------------------

def java_pattern(pattern: str) -> str:
    """An RE2 pattern as a Java pattern that matches the same strings.

    RE2 sees only ``\\n`` as a line end and its ``$`` (without ``m``) is the end of text;
    Java's ``$`` also matches before a final line terminator. RE2's ``(?i)`` folds Unicode case.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            posix = re.match(r"\[:([a-z]+):\]", pattern[i:])
            if posix and posix.group(1) in POSIX_CLASSES:
                out.append("\\p{" + POSIX_CLASSES[posix.group(1)] + "}")
                i += len(posix.group(0))
                continue
            if c == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "^":
                out.append("[^")
                i += 2
                continue
            out.append(c)
        elif c == "$":
            out.append("\\z")
        elif pattern.startswith("(?i)", i):
            out.append("(?iu)")
            i += 4
            continue
        else:
            out.append(c)
        i += 1
    return "(?d)" + "".join(out)


def java_replacement(replacement: str) -> str:
    """An RE2 replacement (``\\1`` groups) as a Java one (``$1``; a literal ``$`` escaped)."""
    out, i = [], 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement):
            nxt = replacement[i + 1]
            out.append("$" + nxt if nxt.isdigit() else "\\" + nxt)
            i += 2
            continue
        out.append("\\$" if c == "$" else c)
        i += 1
    return "".join(out)


def _literal_text(node: exp.Expression | None) -> str | None:
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _translate_regexes(tree: exp.Expression) -> None:
    for node in tree.find_all(exp.RegexpLike, exp.RegexpExtract, exp.RegexpExtractAll, exp.RegexpReplace):
        pattern = _literal_text(node.expression)
        if pattern is not None:
            node.set("expression", exp.Literal.string(java_pattern(pattern)))
        if isinstance(node, exp.RegexpReplace):
            modifiers = _literal_text(node.args.get("modifiers"))
            if "g" not in (modifiers or "") and not (pattern or "").endswith("$"):
                # DuckDB replaces the first match only; Spark has no such form
                raise sqlglot.errors.UnsupportedError(f"regexp_replace without 'g' over {pattern!r}")
            node.set("modifiers", None)
            replacement = _literal_text(node.args.get("replacement"))
            if replacement is not None:
                node.set("replacement", exp.Literal.string(java_replacement(replacement)))


# -- the other dialect gaps ------------------------------------------------------------------

def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _json_type(node: exp.JSONType) -> exp.Expression:
    """DuckDB's ``json_type(text, path)`` names ('VARCHAR', 'ARRAY', 'OBJECT', ...) from the
    schema Spark gives the value at the path of the text read as a VARIANT."""
    value = _call("variant_get", _call("try_parse_json", node.this), node.expression or exp.Literal.string("$"))
    schema = _call("schema_of_variant", value)
    names = (("STRING", "VARCHAR"), ("BOOLEAN", "BOOLEAN"), ("BIGINT", "BIGINT"), ("DOUBLE", "DOUBLE"),
             ("VOID", "NULL"))
    case = exp.Case()
    for spark_name, duckdb_name in names:
        case = case.when(exp.EQ(this=schema.copy(), expression=exp.Literal.string(spark_name)),
                         exp.Literal.string(duckdb_name))
    for prefix, duckdb_name in (("ARRAY", "ARRAY"), ("OBJECT", "OBJECT"), ("DECIMAL", "DOUBLE")):
        case = case.when(exp.Like(this=schema.copy(), expression=exp.Literal.string(prefix + "%")),
                         exp.Literal.string(duckdb_name))
    return case


def _is_bare_row_number(node: exp.Expression) -> bool:
    """``row_number() OVER ()``: a numbering with no order, only unique keys are asked of it."""
    return (isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber)
            and not node.args.get("partition_by") and not node.args.get("order"))


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name == "hash":
            return exp.Anonymous(this="xxhash64", expressions=node.expressions)
        if name == "list_extract":
            return exp.Anonymous(this="element_at", expressions=node.expressions)
        if name == "json_valid":  # duplicate keys are allowed (SESSION_CONF), as DuckDB's reader does
            return exp.Paren(this=exp.Not(this=exp.Is(this=_call("try_parse_json", *node.expressions),
                                                      expression=exp.Null())))
    if isinstance(node, exp.ParseJSON):
        # json(x): the JSON minified; Spark's VARIANT also sorts an object's keys, so two texts
        # that differ only in key order are one value there (documented in docs/SCALE.md)
        return _call("try_parse_json", node.this)
    if isinstance(node, exp.JSONType):
        return _json_type(node)
    if isinstance(node, exp.Cast) and _is_bare_row_number(node.this):
        # an unordered numbering would move every row to one partition; unique ids need not
        return _call("monotonically_increasing_id")
    if isinstance(node, exp.ArgMin | exp.ArgMax) and isinstance(node.expression, exp.Tuple):
        node.set("expression", exp.Anonymous(this="struct", expressions=node.expression.expressions))
    if isinstance(node, exp.PercentileCont):
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.Length) and isinstance(node.this, exp.RegexpExtractAll | exp.Array | exp.ArrayAgg):
        return exp.ArraySize(this=node.this)
    if isinstance(node, exp.JSONExtractScalar | exp.JSONExtract):
        inner = node.this
        if isinstance(inner, exp.Cast) and inner.to.is_type("json"):
            node.set("this", inner.this)
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def rewrite(tree: exp.Expression) -> exp.Expression:
    """``_rewrite`` applied bottom-up: a node's arguments are Spark's before the node is, so a
    rewrite nested in another (``json_valid`` inside ``hash``) is never skipped."""
    for child in list(tree.iter_expressions()):
        new = rewrite(child)
        if new is not child:
            child.replace(new)
    return _rewrite(tree)


def bind(tree: exp.Expression, params: Params) -> exp.Expression:
    """Replace ``?`` and ``$name`` placeholders with literals (sqlglot quotes them)."""
    positional = list(params) if isinstance(params, list | tuple) else []
    named = params if isinstance(params, dict) else {}
    index = 0
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        name = node.name if isinstance(node, exp.Placeholder) else node.this.name
        if name and name != "?":
            if name not in named:
                raise sqlglot.errors.UnsupportedError(f"no value for parameter ${name}")
            value = named[name]
        else:
            if index >= len(positional):
                raise sqlglot.errors.UnsupportedError("more ? placeholders than parameters")
            value, index = positional[index], index + 1
        node.replace(exp.convert(value))
    return tree


# -- the backend ------------------------------------------------------------------------------

class SparkBackend:
    """Runs the audit's DuckDB-dialect SQL on a SparkSession."""

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        from pyspark.errors import PySparkException

        self.spark = spark
        self.error: tuple[type[Exception], ...] = (PySparkException, sqlglot.errors.SqlglotError)
        self.views: dict[str, DataFrame] = {}
        self._statement = 0

    # the interface

    def execute(self, sql: str, params: Params = None) -> None:
        tree = self._parse(sql, params)
        if isinstance(tree, exp.Create):
            # the Spark UI names each job after the table it makes (where an audit's time goes)
            self.spark.sparkContext.setJobDescription(f"audit: {_table_name(tree.this)}")
            query, steps = self._split_ctes(tree.expression)
            self.register(_table_name(tree.this), self._frame(query), cache=True)
            self._drop(steps)
        elif isinstance(tree, exp.Insert):
            name = _table_name(tree.this)
            target = self.views[name]
            rows = self._frame(tree.expression).toDF(*target.columns)
            self.register(name, target.unionByName(rows.select(*[rows[c].cast(target.schema[c].dataType)
                                                                 for c in target.columns])), cache=False)
        else:
            raise sqlglot.errors.UnsupportedError(f"the Spark backend runs CREATE ... AS and INSERT, not {tree.key}")

    def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        self.spark.sparkContext.setJobDescription("audit: an aggregate for the report")
        return [tuple(_plain(v) for v in row) for row in self.frame(sql, params).collect()]

    def columns(self, sql: str, params: Params = None) -> list[str]:
        return list(self.frame(sql, params).columns)

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
                     temp: bool = False) -> None:
        schema = ", ".join(f"`{c}` {SPARK_TYPES[t.upper()]}" for c, t in columns)
        self.register(name, self.spark.createDataFrame([tuple(r) for r in rows], schema=schema), cache=False)

    def drop(self, name: str) -> None:
        self._drop([name])

    # helpers

    def frame(self, sql: str, params: Params = None) -> DataFrame:
        """A query as a lazy DataFrame (nothing comes back to the driver until asked)."""
        tree = self._parse(sql, params)
        return self._frame(tree)

    def register(self, name: str, frame: DataFrame, cache: bool) -> None:
        """``name`` as a temporary view; cached ones are computed now and cut from their
        lineage (a local checkpoint), so later plans read a table, not the whole audit's plan."""
        old = self.views.get(name)
        if cache:
            frame = frame.localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        self.views[name] = frame
        if old is not None and cache:
            old.unpersist()

    def to_spark_sql(self, sql: str, params: Params = None) -> str:
        return self._parse(sql, params).sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)

    def _drop(self, views: list[str]) -> None:
        """Forget a statement's CTE views once its table is computed; their checkpoints are
        freed by Spark's cleaner when the JVM next collects garbage (asked for here)."""
        for view in views:
            self.views.pop(view, None)
            self.spark.catalog.dropTempView(view)
        if views:
            self.spark.sparkContext._jvm.System.gc()  # type: ignore[union-attr]

    def _split_ctes(self, query: exp.Expression) -> tuple[exp.Expression, list[str]]:
        """A table's WITH clause as views, each cached when read more than once: Spark inlines
        a CTE at every reference, so a chain of CTEs each read twice is planned exponentially
        (DuckDB materialises them). A recursive CTE is evaluated by a WITH RECURSIVE of its own."""
        with_ = query.args.get(WITH_KEY)
        if not isinstance(with_, exp.With):
            return query, []
        self._statement += 1
        renamed: dict[str, str] = {}
        for cte in with_.expressions:
            name, body = cte.alias_or_name, cte.this
            _rename_tables(body, renamed)
            view = f"_cte{self._statement}_{name}"
            uses = sum(1 for t in query.find_all(exp.Table) if t.name == name and not t.db)
            if any(t.name == name and not t.db for t in body.find_all(exp.Table)):  # recursive
                select = exp.select("*").from_(name)
                select.set(WITH_KEY, exp.With(expressions=[cte.copy()], recursive=True))
                frame = self._frame(select)
            else:
                frame = self._frame(body)
            self.register(view, frame, cache=uses > 1)
            renamed[name] = view
        query = query.copy()
        query.set(WITH_KEY, None)
        _rename_tables(query, renamed)
        return query, list(renamed.values())

    def _frame(self, tree: exp.Expression) -> DataFrame:
        return self.spark.sql(tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE))

    def _parse(self, sql: str, params: Params) -> exp.Expression:
        tree = bind(exp.maybe_parse(sql, dialect="duckdb"), params)
        if any(isinstance(s, exp.Star) and any(s.args.get(k) for k in ("except_", "except", "replace"))
               for s in tree.find_all(exp.Star)):
            tree = qualify(tree, schema=self._schema(), dialect="duckdb", validate_qualify_columns=False,
                           quote_identifiers=False, identify=False)
        _translate_regexes(tree)
        return rewrite(tree)

    def _schema(self) -> dict[str, object]:
        return {name: {f.name: f.dataType.simpleString() for f in frame.schema.fields}
                for name, frame in self.views.items()}


def _rename_tables(tree: exp.Expression, renamed: dict[str, str]) -> None:
    """Point references to earlier CTEs at their views, keeping the CTE's name as the alias."""
    for table in list(tree.find_all(exp.Table)):
        if table.name in renamed and not table.db:
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(renamed[table.name]))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))


def _table_name(node: exp.Expression) -> str:
    table = node.this if isinstance(node, exp.Schema) else node
    return str(table.name)


def _plain(value: Any) -> Any:
    """Spark's decimals (``avg`` of ``1.0``) as the floats DuckDB returns."""
    return float(value) if isinstance(value, Decimal) else value


# -- the session ---------------------------------------------------------------------------------

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # the span tree and the retried sub-trees are walked by recursive CTEs, bounded by
    # facts.MAX_DEPTH levels; their row count grows with the spans, so it is not capped
    "spark.sql.cteRecursionLevelLimit": "300",
    "spark.sql.cteRecursionRowLimit": "-1",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # DuckDB's JSON reader keeps an object with a repeated key (json_valid is true)
    "spark.sql.variant.allowDuplicateKeys": "true",
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession for the audit (the active one when a cluster's spark-submit made it).

    Raises:
        SparkError: pyspark is not installed, or Spark cannot start (no Java runtime).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SparkError("the Spark engine needs pyspark: pip install pyspark (and a Java 17+ runtime)") from e
    builder = SparkSession.builder.appName("coordination-audit")
    if master or not os.environ.get("PYSPARK_GATEWAY_PORT"):  # spark-submit gives its own master
        builder = builder.master(master or "local[*]")
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j raises a bare Exception when the JVM cannot start
        raise SparkError(f"cannot start Spark{f' at {master}' if master else ''}: {str(e).splitlines()[0]}") from e
    for key, value in SESSION_CONF.items():  # a session spark-submit made keeps its own UI settings
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# -- the audit ----------------------------------------------------------------------------------

CANONICAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "string"), ("span_id", "string"), ("parent_span_id", "string"), ("name", "string"),
    ("kind", "string"), ("agent", "string"), ("start_time", "timestamp_ntz"), ("end_time", "timestamp_ntz"),
    ("duration_ms", "double"), ("status", "string"), ("error_type", "string"), ("error_message", "string"),
    ("attempt", "int"), ("model", "string"), ("provider", "string"), ("input_tokens", "bigint"),
    ("output_tokens", "bigint"), ("cost_usd", "double"), ("input", "string"), ("output", "string"),
    ("eval_passed", "boolean"), ("metadata", "string"), ("extra", "string"), ("source_file", "string"),
    ("source_row", "bigint"),
)
REQUIRED = ("trace_id", "span_id", "name", "kind", "start_time", "end_time", "duration_ms", "status", "attempt")
EVALS_COLUMNS = (("trace_id", "VARCHAR"), ("span_id", "VARCHAR"), ("eval_passed", "BOOLEAN"), ("source_file", "VARCHAR"))


def load_spans(db: SparkBackend, paths: Sequence[str]) -> None:
    """The ``spans`` view over Parquet files in the canonical span schema (local paths, globs,
    or ``s3a://``, ``hdfs://``, ``abfss://`` URIs: Spark's reader takes them as they are).

    Raises:
        SparkError: a path cannot be read, or the files lack canonical columns.
    """
    from pyspark.sql import functions as F

    try:
        frame = db.spark.read.parquet(*paths)
    except db.error as e:
        raise SparkError(f"cannot read {', '.join(paths)} as Parquet: {str(e).strip().splitlines()[0]}") from e
    present = set(frame.columns)
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        raise SparkError(f"{', '.join(paths)}: not the canonical span schema (docs/TRACE_FORMAT.md); missing "
                         f"column(s) {', '.join(missing)}. Write it with `python -m audit report ... --export-spans`")
    frame = frame.select(*[(F.col(c) if c in present else F.lit(None)).cast(t).alias(c) for c, t in CANONICAL_COLUMNS])
    db.register("spans", frame, cache=False)
    db.create_table("evals", EVALS_COLUMNS, [])


def run_report(paths: Sequence[str], *, master: str | None, conf: dict[str, str] | None, settings: Settings,
               rules: list[RuleSpec], prices: PriceTable, findings_file: str | None = None,
               db_file: str | None = None) -> AuditReport:
    """The whole audit on Spark: only aggregates and the report's top findings reach the driver
    (and, for ``db_file``, every finding, streamed into the report-only DuckDB file)."""
    db = SparkBackend(spark_session(master, conf))
    load_spans(db, paths)
    return audit_report(db, settings, rules, prices, findings_file, db_file=db_file)


def audit_report(db: SparkBackend, settings: Settings, rules: list[RuleSpec], prices: PriceTable,
                 findings_file: str | None = None, progress: Progress = no_progress,
                 db_file: str | None = None) -> AuditReport:
    """The DuckDB engine's report, built by the same code over the same statements on Spark
    (``engine.build_report``); every finding goes to ``findings_file`` by Spark's writer."""
    from audit.classify import classify
    from audit.engine import ReportInputs, build_report
    from audit.fingerprints import build_fingerprints

    classify(db, rules, settings, scaled(progress, 0.0, 0.7))
    progress("Fingerprinting the errors", 0.72)
    build_fingerprints(db)
    sources = [SourceInfo(name=name or "", role="traces", format="parquet", sha256="", rows_loaded=n,
                          rows_quarantined=0)
               for name, n in db.fetchall("SELECT source_file, count(*) FROM spans GROUP BY source_file ORDER BY 1")]
    report = build_report(db, settings, rules, prices, ReportInputs(sources=sources), progress)
    if findings_file:
        progress("Writing the findings", 0.98)
        write_findings(db, findings_file)
    if db_file:
        progress("Saving the audit for the app", 0.99)
        save_report_only(db_file, report, findings_chunks(db))
    return report


def findings_chunks(db: SparkBackend, size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """Every finding, in the DuckDB engine's column order, a partition at a time (Spark's
    ``toLocalIterator``): the driver holds one chunk, never the whole list."""
    columns = ", ".join(f'"{c}"' for c, _ in FINDINGS_COLUMNS)
    from audit.engine import FINDINGS_ORDER

    rows = db.frame(f"SELECT {columns} FROM findings ORDER BY {FINDINGS_ORDER}, span_id, rule_id").toLocalIterator(
        prefetchPartitions=True)
    while chunk := [tuple(r) for r in islice(rows, size)]:
        yield chunk


def write_findings(db: SparkBackend, target: str) -> None:
    """Every finding to ``target`` by Spark's own writer: a Parquet dataset (a folder of part
    files) when it ends in ``.parquet``, else CSV with formulas neutralised as the DuckDB path does.

    Raises:
        SparkError: the folder cannot be written.
    """
    from audit.engine import FINDINGS_ORDER, _findings_column
    from audit.exports import FINDING_COLUMNS

    parquet = target.lower().endswith(".parquet")
    columns = ", ".join(_findings_column(c, csv=not parquet) for c in FINDING_COLUMNS)
    frame = db.frame(f"SELECT {columns} FROM findings ORDER BY {FINDINGS_ORDER}")
    try:
        writer = frame.write.mode("overwrite")
        if parquet:
            writer.parquet(target)
        else:
            writer.option("header", True).option("escape", '"').csv(target)
    except db.error as e:
        raise SparkError(f"cannot write findings to {target}: {str(e).strip().splitlines()[0]}") from e
