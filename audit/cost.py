"""Cost model: tokens x list prices (a recorded ``cost_usd`` wins), money burnt on failed
runs and retried attempts by layer, monthly projection and payback of a fix.

Parents whose recorded cost already sums their children (LangSmith chains do this)
count only what they add beyond the children, so nothing is counted twice.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.backend import Connection, as_backend, fetchone
from audit.errors import SettingsError
from audit.facts import MAX_DEPTH
from audit.models import AuditReport, Cost, LayerCost, PriceRow
from audit.reliability import LAYER_ORDER
from audit.settings import Settings, describe_validation_error, read_config_file


class PriceTable(BaseModel):
    """A price file: ``as_of`` plus ``[[prices]]`` rows (first matching glob wins)."""

    model_config = ConfigDict(extra="forbid")

    as_of: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    prices: list[PriceRowIn] = Field(min_length=1)


class PriceRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1, description="Glob over the model name, case-insensitive")
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    provider: str | None = None
    as_of: str | None = None
    source: str = "user price file"


PriceTable.model_rebuild()


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The bundled price table, or a user's file (TOML or YAML) in its place.

    Raises:
        SettingsError: the file does not validate (the message names the row and field).
    """
    if path is None:
        text = resources.files("audit").joinpath("prices.toml").read_text(encoding="utf-8")
        import tomllib

        data = tomllib.loads(text)
        label = "bundled prices.toml"
    else:
        data = read_config_file(path)
        label = str(path)
    try:
        return PriceTable.model_validate(data)
    except ValidationError as e:
        raise SettingsError(f"price table {label}: {describe_validation_error(e)}") from e


def price_rows(table: PriceTable) -> list[PriceRow]:
    return [
        PriceRow(
            pattern=p.pattern, input_per_mtok=p.input_per_mtok, output_per_mtok=p.output_per_mtok,
            cached_input_per_mtok=p.cached_input_per_mtok, provider=p.provider,
            as_of=p.as_of or table.as_of, source=p.source,
        )
        for p in table.prices
    ]


SPAN_COSTS_SQL = """
CREATE OR REPLACE TEMP TABLE span_costs AS
WITH model_price AS (
    SELECT model, input_per_mtok, output_per_mtok FROM (
        SELECT m.model, p.input_per_mtok, p.output_per_mtok,
               row_number() OVER (PARTITION BY m.model ORDER BY p.priority) AS k
        FROM (SELECT DISTINCT model FROM span_facts WHERE model IS NOT NULL) m
        JOIN prices p ON regexp_matches(lower(m.model), p.pattern_rx)
    ) WHERE k = 1
), own AS (
    SELECT f.trace_id, f.span_id, f.parent_span_id, f.status, f.later_runs, f.error_family,
           f.cost_usd IS NOT NULL AS recorded,
           CASE WHEN f.cost_usd IS NOT NULL THEN f.cost_usd
                WHEN mp.model IS NOT NULL THEN (coalesce(f.input_tokens, 0) * mp.input_per_mtok
                                                + coalesce(f.output_tokens, 0) * mp.output_per_mtok) / 1e6
           END AS own_cost,
           -- unpriced: tokens of a model the price table lacks, or a model call that recorded
           -- neither tokens nor cost (its cost is unknown, never $0.00)
           f.cost_usd IS NULL AND (
               (mp.model IS NULL AND (coalesce(f.input_tokens, 0) + coalesce(f.output_tokens, 0)) > 0)
               OR (f.kind IN ('llm', 'embedding') AND f.input_tokens IS NULL AND f.output_tokens IS NULL)) AS unpriced,
           coalesce(f.input_tokens, 0) + coalesce(f.output_tokens, 0) AS tokens, f.model
    FROM span_facts f LEFT JOIN model_price mp ON mp.model = f.model
), children AS (
    SELECT trace_id, parent_span_id AS span_id, sum(own_cost) AS children_cost
    FROM own WHERE parent_span_id IS NOT NULL GROUP BY 1, 2
)
SELECT o.*,
       CASE WHEN coalesce(c.children_cost, 0) > 0 AND coalesce(o.own_cost, 0) >= 0.99 * c.children_cost
            THEN greatest(o.own_cost - c.children_cost, 0)  -- a roll-up of its children
            ELSE coalesce(o.own_cost, 0) END AS counted_cost
FROM own o LEFT JOIN children c ON c.trace_id = o.trace_id AND c.span_id = o.span_id
"""

# Retried attempts (an error followed by another run of the step) and everything under them,
# in runs that succeeded in the end: what failed runs burnt is counted as failed spend.
RETRY_WASTE_SQL = f"""
CREATE OR REPLACE TEMP TABLE retry_waste AS
WITH RECURSIVE wasted(trace_id, span_id, family, depth) AS (
    -- UNION ALL with a depth bound, not UNION (Spark's recursive CTEs lack it): a parent
    -- cycle stops at the bound, and the GROUP BY below keeps each span once
    SELECT f.trace_id, f.span_id, f.error_family, 0
    FROM span_facts f JOIN trace_facts t ON t.trace_id = f.trace_id AND NOT t.failed
    WHERE f.status = 'error' AND f.later_runs > 0
    UNION ALL
    SELECT c.trace_id, c.span_id, w.family, w.depth + 1
    FROM span_facts c JOIN wasted w ON c.trace_id = w.trace_id AND c.parent_span_id = w.span_id
    WHERE w.depth < {MAX_DEPTH}
)
SELECT w.trace_id, w.span_id,
       CASE WHEN w.family IN ('parse', 'schema', 'tool_args') THEN 'handoff'
            WHEN w.family IN ('context_overflow', 'state_key') THEN 'state'
            WHEN w.family IN ('recursion_limit', 'unknown_tool') THEN 'routing'
            ELSE 'recovery' END AS layer,
       min(sc.counted_cost) AS cost
FROM wasted w
JOIN span_costs sc ON sc.trace_id = w.trace_id AND sc.span_id = w.span_id
GROUP BY 1, 2, 3
"""


def glob_regex(pattern: str) -> str:
    """A case-insensitive glob (``*``, ``?``, ``[...]``) as an anchored regex that RE2 (DuckDB) and
    Java (Spark) read alike, so one SQL prices models on both engines (Spark has no GLOB)."""
    out, i, text = [], 0, pattern.lower()
    while i < len(text):
        c = text[i]
        close = text.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif close > 0:
            body = text[i + 1:close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + "".join("\\" + ch if ch in "\\[]^&" else ch
                                                            for ch in body) + "]")
            i = close
        else:
            out.append(c if c.isalnum() or c in " _-" else "\\" + c)
        i += 1
    return "(?s)^(" + "".join(out) + ")\\z"


def register_prices(con: Connection, table: PriceTable) -> None:
    """The ``prices`` table ``SPAN_COSTS_SQL`` joins. Temporary: it belongs to this connection
    (cursor), so sessions sharing one read-only audit can price it differently at the same time."""
    as_backend(con).create_table(
        "prices", [("priority", "INTEGER"), ("pattern_rx", "VARCHAR"), ("input_per_mtok", "DOUBLE"),
                   ("output_per_mtok", "DOUBLE")],
        [[i, glob_regex(p.pattern), p.input_per_mtok, p.output_per_mtok] for i, p in enumerate(table.prices)],
        temp=True)


def compute_cost(con: Connection, table: PriceTable, settings: Settings) -> Cost:
    """Price every span and split the spend by outcome and layer."""
    db = as_backend(con)
    register_prices(db, table)
    db.execute(SPAN_COSTS_SQL)
    db.execute(RETRY_WASTE_SQL)
    total, recorded, computed, unpriced, unpriced_tokens = fetchone(
        db, "SELECT coalesce(sum(counted_cost), 0), coalesce(sum(CASE WHEN recorded THEN counted_cost END), 0), "
        "coalesce(sum(CASE WHEN NOT recorded THEN counted_cost END), 0), count(CASE WHEN unpriced THEN 1 END), "
        "coalesce(sum(CASE WHEN unpriced THEN tokens END), 0) FROM span_costs"
    ) or (0.0, 0.0, 0.0, 0, 0)
    models = [r[0] for r in db.fetchall(
        "SELECT DISTINCT model FROM span_costs WHERE unpriced AND model IS NOT NULL ORDER BY 1")]
    n_traces, n_failed = fetchone(
        db, "SELECT count(*), count(CASE WHEN failed THEN 1 END) FROM trace_facts") or (0, 0)
    failed_by_layer = {
        layer: (n, cost)
        for layer, n, cost in db.fetchall(
            """SELECT coalesce(f.layer, 'unclassified'), count(DISTINCT t.trace_id), coalesce(sum(c.cost), 0)
               FROM trace_facts t
               LEFT JOIN findings f ON f.trace_id = t.trace_id AND f."primary"
               LEFT JOIN (SELECT trace_id, sum(counted_cost) AS cost FROM span_costs GROUP BY 1) c
                      ON c.trace_id = t.trace_id
               WHERE t.failed GROUP BY 1""")
    }
    retry_by_layer: dict[str, float] = dict(db.fetchall("SELECT layer, coalesce(sum(cost), 0) FROM retry_waste GROUP BY 1"))
    failed_cost = sum(c for _, c in failed_by_layer.values())
    retry_cost = float(sum(retry_by_layer.values()))
    by_layer = {
        layer: LayerCost(
            failed_traces=failed_by_layer.get(layer, (0, 0.0))[0],
            failed_cost_usd=failed_by_layer.get(layer, (0, 0.0))[1],
            business_cost_usd=0.0, retry_cost_usd=float(retry_by_layer.get(layer, 0.0)),
            monthly_loss_usd=0.0, payback_months=None,
        )
        for layer in LAYER_ORDER
    }
    successes = n_traces - n_failed
    cost = Cost(
        traces=n_traces, failed_traces=n_failed,
        total_cost_usd=total, recorded_cost_usd=recorded, computed_cost_usd=computed,
        cost_per_trace_usd=total / n_traces if n_traces else 0.0,
        cost_per_successful_run_usd=total / successes if successes else None,
        failed_cost_usd=failed_cost, retry_cost_usd=retry_cost,
        useful_cost_usd=max(total - failed_cost - retry_cost, 0.0),
        business_cost_per_failure_usd=0.0, monthly_runs=0, monthly_cost_usd=0.0, monthly_failure_loss_usd=0.0,
        engineering_cost_usd=0.0, by_layer=by_layer,
        unpriced_spans=unpriced, unpriced_tokens=int(unpriced_tokens), unpriced_models=models,
        price_table_as_of=table.as_of, prices=price_rows(table),
    )
    return project(cost, settings.monthly_runs, settings.business_cost_per_failure_usd, settings.engineering_cost_usd,
                   settings.payback_horizon_months)


def project(cost: Cost, monthly_runs: int, business_cost_per_failure: float, engineering_cost: float,
            payback_horizon_months: float | None = None) -> Cost:
    """Monthly figures and payback for a run volume and business assumptions.

    Pure arithmetic over the audited spend, so the app's what-if inputs answer at once.
    """
    scale = monthly_runs / cost.traces if cost.traces else 0.0
    horizon = cost.payback_horizon_months if payback_horizon_months is None else payback_horizon_months
    by_layer = {}
    for layer, lc in cost.by_layer.items():
        business = lc.failed_traces * business_cost_per_failure
        monthly = (lc.failed_cost_usd + lc.retry_cost_usd + business) * scale
        payback = engineering_cost / monthly if monthly > 0 else None
        by_layer[layer] = lc.model_copy(update={
            "business_cost_usd": business, "monthly_loss_usd": monthly,
            "payback_months": payback, "payback": payback_text(payback, horizon),
        })
    waste = cost.failed_cost_usd + cost.retry_cost_usd + cost.failed_traces * business_cost_per_failure
    return cost.model_copy(update={
        "business_cost_per_failure_usd": business_cost_per_failure, "monthly_runs": monthly_runs,
        "monthly_cost_usd": cost.total_cost_usd * scale, "monthly_failure_loss_usd": waste * scale,
        "engineering_cost_usd": engineering_cost, "by_layer": by_layer, "payback_horizon_months": horizon,
    })


def payback_text(months: float | None, horizon_months: float) -> str:
    """Payback for people: never "None", and a long payback says it is not worth it."""
    if months is None:
        return "no loss measured"
    if months > horizon_months:
        return f"not worth it at this volume ({months:,.0f} months)"
    return f"{months:,.1f} months"


def unpriced_note(cost: Cost) -> str:
    """What the money figures leave out, said next to them (empty when every span is priced)."""
    if not cost.unpriced_spans:
        return ""
    models = ", ".join(cost.unpriced_models[:5]) or "no model name"
    more = f" and {len(cost.unpriced_models) - 5} more" if len(cost.unpriced_models) > 5 else ""
    counted = f"{cost.unpriced_tokens:,} tokens" if cost.unpriced_tokens else "no tokens or cost recorded"
    return f"{cost.unpriced_spans:,} spans unpriced ({counted}; {models}{more}): not in these figures"


def apply_cost(report: AuditReport, cost: Cost) -> AuditReport:
    """The report with another cost picture (prices, volume, business cost), its summary and
    fix-first list following, so every page and export shows the same figures."""
    from audit.fixfirst import rank_fix_first  # fixfirst imports this module's models too

    s = report.summary
    summary = s.model_copy(update={
        "total_cost_usd": cost.total_cost_usd,
        "cost_per_successful_run_usd": cost.cost_per_successful_run_usd,
        "money_lost_usd": money_lost(cost),
        "unpriced_spans": cost.unpriced_spans,
    })
    updated = report.model_copy(update={"cost": cost, "summary": summary})
    return updated.model_copy(update={"fix_first": rank_fix_first(report.fix_first, cost)})


def money_lost(cost: Cost) -> float:
    """Failed runs + retried attempts + the business cost of the failed runs."""
    return cost.failed_cost_usd + cost.retry_cost_usd + cost.failed_traces * cost.business_cost_per_failure_usd
