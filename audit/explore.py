"""Read-only views the dashboard explores: shared filters, one trace as a span tree, and
cost / latency breakdowns by model and by step. Each is one SQL query with bound values
over the audit's tables; pass a cursor per use (a DuckDB connection is not thread-safe).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from audit.cost import SPAN_COSTS_SQL, PriceTable, register_prices

if TYPE_CHECKING:
    import pandas as pd

MAX_DEPTH = 64  # a span tree deeper than this is shown flat below it (and parent cycles end)


class Filters(BaseModel):
    """The sidebar's filters, shared by every page; empty means everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime | None = None
    end: datetime | None = None
    agents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    steps: tuple[str, ...] = Field((), description="Span names")

    @property
    def active(self) -> bool:
        return bool(self.start or self.end or self.agents or self.models or self.steps)


class FilterOptions(BaseModel):
    first: datetime | None
    last: datetime | None
    agents: list[str]
    models: list[str]
    steps: list[str]


def filter_options(con: duckdb.DuckDBPyConnection, spans: bool = True) -> FilterOptions:
    """What the filters can choose from (no time range when the spans carry no timestamps).
    Without ``spans`` (a report-only saved audit), the findings' own steps, agents and times."""
    source = ("span_facts", "name", "model") if spans else ("findings", "step", "NULL::VARCHAR")
    first, last, agents, models, steps = con.execute(
        "SELECT min(start_time), max(start_time), list(DISTINCT agent ORDER BY agent) FILTER (agent IS NOT NULL), "
        "list(DISTINCT {2} ORDER BY {2}) FILTER ({2} IS NOT NULL), "
        "list(DISTINCT {1} ORDER BY {1}) FILTER ({1} IS NOT NULL) FROM {0}".format(*source)
    ).fetchone() or (None, None, [], [], [])
    return FilterOptions(first=first, last=last, agents=agents or [], models=models or [], steps=steps or [])


def span_condition(filters: Filters, alias: str = "f", step: str = "name") -> tuple[str, dict[str, Any]]:
    """A WHERE condition over ``span_facts`` (as ``alias``; the step is column ``step``) with its bound parameters."""
    parts: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    for column, values, name in (("agent", filters.agents, "agents"), ("model", filters.models, "models"),
                                 (step, filters.steps, "steps")):
        if values:
            parts.append(f"list_contains(${name}, {alias}.{column})")
            params[name] = list(values)
    if filters.start:
        parts.append(f"{alias}.start_time >= $start")
        params["start"] = filters.start
    if filters.end:
        parts.append(f"{alias}.start_time <= $end")
        params["end"] = filters.end
    return " AND ".join(parts), params


def filtered_findings(con: duckdb.DuckDBPyConnection, filters: Filters, spans: bool = True) -> pd.DataFrame:
    """Findings whose span passes the filters, root causes and the worst first. Without
    ``spans`` (a report-only saved audit) the findings' own step, agent and time are filtered."""
    if not spans:
        where, params = span_condition(filters.model_copy(update={"models": ()}), "fi", step="step")
        return con.execute(
            f"""SELECT fi.*, NULL::VARCHAR AS model FROM findings fi WHERE {where}
                ORDER BY fi."primary" DESC, CASE fi.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
                         fi.trace_id, fi.start_time""", params).df()
    where, params = span_condition(filters)
    return con.execute(
        f"""SELECT fi.*, f.model FROM findings fi
            LEFT JOIN span_facts f ON f.trace_id = fi.trace_id AND f.span_id = fi.span_id
            WHERE {where}
            ORDER BY fi."primary" DESC, CASE fi.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
                     fi.trace_id, fi.start_time""",
        params,
    ).df()


class FindingsQuery(BaseModel):
    """The Failures page's question: the sidebar filters and the page's own controls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: Filters = Filters()
    layers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    primary_only: bool = False
    fingerprints: tuple[str, ...] = Field((), description="Only findings with one of these error fingerprints")


LISTING_ORDER = ('fi."primary" DESC, CASE fi.severity WHEN \'high\' THEN 0 WHEN \'medium\' THEN 1 ELSE 2 END, '
                 "fi.trace_id, fi.start_time, fi.span_id, fi.rule_id")


LISTING_COLUMNS = ", ".join(f'fi."{c}"' for c in ("trace_id", "span_id", "rule_id", "layer", "mode", "severity",
                                                   "primary", "recovered", "silenced", "step", "evidence"))
"""What a listing shows (the wide title and remedy are read for the open trace only)."""


def findings_condition(query: FindingsQuery, spans: bool = True) -> tuple[str, dict[str, Any]]:
    """A WHERE condition over ``findings`` (as ``fi``) with its bound parameters. A finding
    carries its span's step, agent and start, so only the model filter looks at the spans
    (and without ``spans``, a report-only audit, it cannot: there is no model to choose)."""
    f = query.filters
    where, params = span_condition(f.model_copy(update={"models": ()}), "fi", step="step")
    parts = [where]
    if f.models and spans:
        parts.append("(fi.trace_id, fi.span_id) IN (SELECT trace_id, span_id FROM span_facts "
                     "WHERE list_contains($models, model))")
        params["models"] = list(f.models)
    for column, values in (("layer", query.layers), ("mode", query.modes), ("severity", query.severities)):
        if values:
            parts.append(f"list_contains(${column}s, fi.{column})")
            params[f"{column}s"] = list(values)
    if query.primary_only:
        parts.append('fi."primary"')
    if query.fingerprints:
        parts.append("EXISTS (SELECT 1 FROM finding_fingerprints x WHERE x.trace_id = fi.trace_id "
                     "AND x.span_id = fi.span_id AND x.rule_id = fi.rule_id AND list_contains($fps, x.fingerprint))")
        params["fps"] = list(query.fingerprints)
    return " AND ".join(parts), params


class FindingsListing(BaseModel):
    """One screen of findings: the first ``limit`` rows and how many there are in all."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    rows: Any = Field(description="pandas DataFrame of the listed findings, root causes and the worst first")
    total: int
    traces: int


def findings_listing(con: duckdb.DuckDBPyConnection, query: FindingsQuery, limit: int,
                     spans: bool = True) -> FindingsListing:
    """The findings that answer ``query``, counted over all of them and listed up to ``limit``,
    in SQL: a control on the Failures page never brings every finding into Python."""
    where, params = findings_condition(query, spans)
    total, traces = con.execute(f"SELECT count(*), count(DISTINCT trace_id) FROM findings fi WHERE {where}",
                                params).fetchone() or (0, 0)
    rows = con.execute(f"SELECT {LISTING_COLUMNS} FROM findings fi WHERE {where} ORDER BY {LISTING_ORDER} "
                       "LIMIT $limit", {**params, "limit": limit}).df()
    return FindingsListing(rows=rows, total=int(total), traces=int(traces))


def finding_choices(con: duckdb.DuckDBPyConnection, filters: Filters, spans: bool = True) -> tuple[list[str], list[str]]:
    """The layers and failure modes among the findings under the sidebar filters."""
    where, params = findings_condition(FindingsQuery(filters=filters), spans)
    layers, modes = con.execute(
        f"SELECT list(DISTINCT layer ORDER BY layer), list(DISTINCT mode ORDER BY mode) FROM findings fi WHERE {where}",
        params).fetchone() or ([], [])
    return layers or [], modes or []


def trace_findings(con: duckdb.DuckDBPyConnection, trace_id: str, filters: Filters,
                   spans: bool = True) -> pd.DataFrame:
    """One trace's findings under the sidebar filters, in the listing's order."""
    where, params = findings_condition(FindingsQuery(filters=filters), spans)
    return con.execute(f"SELECT fi.* FROM findings fi WHERE fi.trace_id = $trace_id AND {where} "
                       f"ORDER BY {LISTING_ORDER}", {**params, "trace_id": trace_id}).df()


def price_spans(con: duckdb.DuckDBPyConnection, table: PriceTable) -> None:
    """This connection's ``span_costs`` under a price table (temporary, connection-local)."""
    register_prices(con, table)
    con.execute(SPAN_COSTS_SQL)


def breakdown(con: duckdb.DuckDBPyConnection, table: PriceTable, by: Literal["model", "step"],
              filters: Filters, priced: bool = False) -> pd.DataFrame:
    """Spans, errors, tokens, cost and latency per model or per step (span name), as the
    tracing tools show them; costs as counted in the audit (a roll-up parent is not counted twice).
    ``priced``: ``con`` already has ``span_costs`` under ``table`` (``price_spans``), e.g. for the other grouping."""
    if not priced:
        price_spans(con, table)
    where, params = span_condition(filters)
    key = "coalesce(f.model, '(no model)')" if by == "model" else "f.name"
    return con.execute(
        f"""SELECT {key} AS {by}, count(*) AS spans, count(CASE WHEN f.status = 'error' THEN 1 END) AS errors,
                   count(CASE WHEN f.status = 'error' THEN 1 END) / count(*) AS error_rate,
                   coalesce(sum(f.input_tokens), 0) AS input_tokens, coalesce(sum(f.output_tokens), 0) AS output_tokens,
                   sum(c.counted_cost) AS cost_usd, count(CASE WHEN c.unpriced THEN 1 END) AS unpriced_spans,
                   quantile_cont(f.duration_ms, 0.5) AS p50_ms, quantile_cont(f.duration_ms, 0.95) AS p95_ms,
                   sum(f.duration_ms) AS total_ms
            FROM span_facts f JOIN span_costs c ON c.trace_id = f.trace_id AND c.span_id = f.span_id
            WHERE {where}
            GROUP BY 1 ORDER BY cost_usd DESC NULLS LAST, spans DESC""",
        params,
    ).df()


ROLLUP_TABLE = "span_rollup"
DURATION_BINS_PER_DOUBLING = 16  # a latency bin is 2^(1/16) wide: a percentile read from it is within 2.2%

ROLLUP_SQL = f"""
SELECT f.model, f.name, f.agent,
       CAST(floor(log2(1 + greatest(f.duration_ms, 0)) * {DURATION_BINS_PER_DOUBLING}) AS INTEGER) AS dbin,
       count(*) AS spans, count(CASE WHEN f.status = 'error' THEN 1 END) AS errors,
       coalesce(sum(f.input_tokens), 0) AS input_tokens, coalesce(sum(f.output_tokens), 0) AS output_tokens,
       sum(c.counted_cost) AS cost_usd, count(CASE WHEN c.unpriced THEN 1 END) AS unpriced_spans,
       coalesce(sum(f.duration_ms), 0) AS total_ms
FROM span_facts f JOIN span_costs c ON c.trace_id = f.trace_id AND c.span_id = f.span_id
GROUP BY ALL
"""
"""The spans summed by model, step, agent and latency bin under one price table: the Costs page's
breakdowns under any agent, model or step filter come from these few thousand rows, never from
the spans again (at 10M spans, pricing and joining them takes half a minute)."""


def span_rollup(con: duckdb.DuckDBPyConnection, table: PriceTable | None = None) -> pd.DataFrame:
    """The rollup under ``table`` (None: the ``span_costs`` this connection already has, e.g. the audit's)."""
    if table is not None:
        price_spans(con, table)
    return con.execute(ROLLUP_SQL).df()


def save_rollup(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the rollup under the audit's prices in the database (after ``Audit.run``, whose
    ``span_costs`` it reads), so a saved audit's Costs page opens without touching the spans."""
    con.execute(f"CREATE OR REPLACE TABLE {ROLLUP_TABLE} AS {ROLLUP_SQL}")


def rollup_breakdown(con: duckdb.DuckDBPyConnection, rollup: str | pd.DataFrame, by: Literal["model", "step"],
                     filters: Filters) -> pd.DataFrame:
    """``breakdown`` from a rollup (a table name, or a frame DuckDB reads in place) under the
    agent, model and step filters; p50 and p95 are read from the latency bins (within 2.2%).

    Raises:
        ValueError: a time window: the rollup has no times (use ``breakdown``).
    """
    if filters.start or filters.end:
        raise ValueError("the rollup has no times; a time window needs breakdown()")
    where, params = span_condition(filters, "r")
    key = "coalesce(r.model, '(no model)')" if by == "model" else "r.name"
    source = rollup if isinstance(rollup, str) else "__rollup"
    if not isinstance(rollup, str):
        con.register("__rollup", rollup)
    q = DURATION_BINS_PER_DOUBLING
    try:
        return con.execute(
            f"""WITH r AS (SELECT {key} AS k, * FROM {source} r WHERE {where}),
            bins AS (SELECT k, dbin, sum(spans) AS n FROM r WHERE dbin IS NOT NULL GROUP BY k, dbin),
            cum AS (SELECT k, dbin, sum(n) OVER (PARTITION BY k ORDER BY dbin) AS below,
                           sum(n) OVER (PARTITION BY k) AS total FROM bins),
            pct AS (SELECT k, min(dbin) FILTER (WHERE below >= 0.5 * total) AS b50,
                           min(dbin) FILTER (WHERE below >= 0.95 * total) AS b95 FROM cum GROUP BY k)
            SELECT r.k AS {by}, sum(spans) AS spans, sum(errors) AS errors, sum(errors) / sum(spans) AS error_rate,
                   sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd,
                   sum(unpriced_spans) AS unpriced_spans,
                   any_value(pow(2, (p.b50 + 0.5) / {q}) - 1) AS p50_ms,
                   any_value(pow(2, (p.b95 + 0.5) / {q}) - 1) AS p95_ms, sum(total_ms) AS total_ms
            FROM r LEFT JOIN pct p ON p.k = r.k GROUP BY r.k ORDER BY cost_usd DESC NULLS LAST, spans DESC, r.k""",
            params,
        ).df()
    finally:
        if not isinstance(rollup, str):
            con.unregister("__rollup")


TRACE_TREE_SQL = f"""
WITH RECURSIVE t AS (
    SELECT f.*, s.input, s.output, s.metadata, s.extra, s.cost_usd AS recorded_cost
    FROM span_facts f JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
    WHERE f.trace_id = $trace_id {{indexed}}
), numbered AS (  -- attempt n of an invocation: a first run and the retries that follow it
    SELECT *, row_number() OVER (PARTITION BY step_key, invocation ORDER BY start_time, span_id) AS attempt_no
    FROM (SELECT *, sum(CASE WHEN is_retry THEN 0 ELSE 1 END) OVER (
              PARTITION BY step_key ORDER BY start_time, span_id) AS invocation FROM t)
), tree(span_id, depth, path) AS (
    SELECT span_id, 0, [strftime(coalesce(start_time, TIMESTAMP '1970-01-01'), '%Y%m%d%H%M%S.%f') || span_id]
    FROM numbered WHERE parent_span_id IS NULL OR parent_span_id NOT IN (SELECT span_id FROM numbered)
    UNION ALL
    SELECT c.span_id, p.depth + 1,
           list_append(p.path, strftime(coalesce(c.start_time, TIMESTAMP '1970-01-01'), '%Y%m%d%H%M%S.%f') || c.span_id)
    FROM numbered c JOIN tree p ON c.parent_span_id = p.span_id
    WHERE p.depth < {MAX_DEPTH}
), placed AS (
    SELECT span_id, min(depth) AS depth, min(path) AS path FROM tree GROUP BY span_id
)
SELECT n.span_id, n.parent_span_id, coalesce(p.depth, 0) AS depth, n.name, n.kind, n.agent, n.status,
       n.attempt_no, n.is_retry, n.start_time, n.end_time, n.duration_ms,
       date_diff('microsecond', min(n.start_time) OVER (), n.start_time) / 1000.0 AS offset_ms,
       n.error_type, n.error_message, n.error_family, n.unrecovered_error, n.inband OR n.limit_in_output AS in_band_error,
       n.model, n.provider, n.input_tokens, n.output_tokens, n.recorded_cost, n.input, n.output, n.metadata, n.extra
FROM numbered n LEFT JOIN placed p USING (span_id)
ORDER BY p.path NULLS LAST, n.start_time, n.span_id
"""


TRACE_INDEX = "trace_index"
INDEXED = f"AND f.rowid IN (SELECT rid FROM {TRACE_INDEX} WHERE trace_id = $trace_id)"


def save_trace_index(con: duckdb.DuckDBPyConnection) -> None:
    """Where each trace's rows of ``span_facts`` are: the facts are not stored in trace order,
    so finding one trace reads every row (0.4 s at 10M spans); this narrow table, sorted by
    trace, is found through its zone maps and leads to the rows by ``rowid`` (20 ms). Made
    after the audit, valid while ``span_facts`` is not rebuilt (a saved or uploaded audit)."""
    con.execute(f"CREATE OR REPLACE TABLE {TRACE_INDEX} AS SELECT trace_id, rowid AS rid FROM span_facts "
                "ORDER BY trace_id")


def trace_tree(con: duckdb.DuckDBPyConnection, trace_id: str, indexed: bool = False) -> pd.DataFrame:
    """One trace's spans in tree order (a parent, then its children by start), with depth,
    numbered attempts and everything the span detail shows. ``indexed``: look the trace up
    through ``trace_index`` (``save_trace_index``)."""
    return con.execute(TRACE_TREE_SQL.replace("{indexed}", INDEXED if indexed else ""), {"trace_id": trace_id}).df()


def trace_exists(con: duckdb.DuckDBPyConnection, trace_id: str, spans: bool = True) -> bool:
    """Whether the audit has this trace (without ``spans``: whether a finding names it)."""
    table = "trace_facts" if spans else "findings"
    return bool(con.execute(f"SELECT count(*) FROM {table} WHERE trace_id = ?", [trace_id]).fetchone()[0])  # type: ignore[index]


def present(value: object) -> bool:
    """A value a DataFrame row really carries (not None, NaN, NaT, pandas NA or blank)."""
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    try:
        return bool(value == value)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):  # pandas NA refuses to be a truth value
        return False


def span_cost(recorded: object, model: object, input_tokens: object, output_tokens: object,
              table: PriceTable) -> float | None:
    """One span's cost for its detail: the recorded cost, else tokens x the first matching
    price (the glob rule of the audit), else None (unpriced). Values may be NaN (DataFrame rows)."""
    from fnmatch import fnmatchcase

    if present(recorded):
        return float(recorded)  # type: ignore[arg-type]
    if not present(model):
        return None
    price = next((p for p in table.prices if fnmatchcase(str(model).lower(), p.pattern.lower())), None)
    if price is None:
        return None
    tokens_in = float(input_tokens) if present(input_tokens) else 0.0  # type: ignore[arg-type]
    tokens_out = float(output_tokens) if present(output_tokens) else 0.0  # type: ignore[arg-type]
    return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6


def visible_rows(tree: pd.DataFrame, collapsed: set[str]) -> pd.DataFrame:
    """The tree without the descendants of collapsed spans, with how many each hides."""
    parent = dict(zip(tree["span_id"], tree["parent_span_id"], strict=False))

    def hidden(span_id: str) -> bool:
        seen, cur = {span_id}, parent.get(span_id)
        while cur is not None and cur in parent and cur not in seen:
            if cur in collapsed:
                return True
            seen.add(cur)
            cur = parent.get(cur)
        return False

    keep = [not hidden(s) for s in tree["span_id"]]
    shown = tree[keep].copy()
    children = tree["parent_span_id"].value_counts()
    shown["children"] = shown["span_id"].map(children).fillna(0).astype(int)
    return shown
