"""Reliability math: per-step rates with Wilson intervals, end-to-end observed vs
predicted (the coordination gap), compounding and what-ifs."""

from __future__ import annotations

import math
from collections.abc import Iterable

import duckdb

from audit.models import Reliability, StepReliability, WhatIf
from audit.settings import Settings

LAYER_ORDER = ("handoff", "state", "routing", "recovery", "unclassified")


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def chain_reliability(p: float, n: int) -> float:
    """End-to-end success of n independent steps at rate p (0.97 ** 6 ≈ 0.833)."""
    return p**n


def with_retries(p: float, attempts: int) -> float:
    """Success of one step given up to ``attempts`` independent tries: 1 - (1 - p) ** k."""
    return 1 - (1 - p) ** max(1, attempts)


def per_step_rate(rel: Reliability) -> float:
    """Geometric-mean first-attempt rate of the pipeline's steps."""
    n = len(rel.pipeline_steps)
    return rel.predicted_first_attempt ** (1 / n) if n else 1.0


def project_end_to_end(rel: Reliability, attempts: int = 1, chain_length: int | None = None,
                       fixed_layer: str | None = None) -> float:
    """What-if: end-to-end success with k attempts per step, a chain length, and one layer fixed.

    Fixing a layer removes the share of failures whose root cause is in it (from the
    audit's primary findings) from every step's failure rate; attempts then compound as
    independent tries, and the chain as independent steps.
    """
    p = per_step_rate(rel)
    if fixed_layer and rel.observed_success < 1:
        fixed = rel.what_if.success_if_layer_fixed.get(fixed_layer, rel.observed_success)
        removed = (fixed - rel.observed_success) / (1 - rel.observed_success)
        p = 1 - (1 - p) * (1 - removed)
    n = len(rel.pipeline_steps) if chain_length is None else chain_length
    return chain_reliability(with_retries(p, attempts), n)


def product(values: Iterable[float]) -> float:
    return math.prod(values)


STEP_SQL = """
WITH per_trace AS (
    SELECT name, coalesce(agent, '') AS agent, trace_id, bool_or(status = 'ok') AS passed
    FROM span_facts GROUP BY 1, 2, 3
), effective AS (
    SELECT name, agent, count(*) AS traces, count(CASE WHEN passed THEN 1 END) AS traces_passed
    FROM per_trace GROUP BY 1, 2
), runs AS (
    SELECT name, coalesce(agent, '') AS agent, count(*) AS runs,
           count(CASE WHEN NOT is_retry THEN 1 END) AS first_attempts,
           count(CASE WHEN NOT is_retry AND status = 'ok' THEN 1 END) AS first_ok,
           count(CASE WHEN is_retry THEN 1 END) AS retries,
           quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
           sum(duration_ms) AS total_ms,
           avg(CASE WHEN top_level THEN 1.0 ELSE 0.0 END) AS top_share,
           min(kind) AS kind
    FROM span_facts GROUP BY 1, 2
)
SELECT r.name, r.agent, r.kind, r.runs, r.first_attempts, r.first_ok, r.retries, e.traces, e.traces_passed,
       r.p50_ms, r.p95_ms, r.total_ms, r.top_share
FROM runs r JOIN effective e ON e.name = r.name AND e.agent = r.agent
ORDER BY e.traces DESC, r.name, r.agent
"""


def compute_reliability(con: duckdb.DuckDBPyConnection, settings: Settings) -> Reliability:
    """Per-step and end-to-end reliability from ``span_facts``/``trace_facts``/``findings``."""
    (n_traces, n_failed, root_ms) = con.execute(
        "SELECT count(*), count(CASE WHEN failed THEN 1 END), coalesce(sum(root_duration_ms), 0) FROM trace_facts"
    ).fetchone() or (0, 0, 0.0)
    steps = []
    for row in con.execute(STEP_SQL).fetchall():
        (name, agent, kind, runs, first_n, first_ok, retries, traces, passed, p50, p95, total_ms, top) = row
        share = traces / n_traces if n_traces else 0.0
        steps.append(
            StepReliability(
                name=name, agent=agent or None, kind=kind, runs=runs, retries=retries, traces=traces,
                trace_share=share, first_attempt_rate=first_ok / first_n if first_n else 0.0,
                first_attempt_ci=wilson_interval(first_ok, first_n),
                effective_rate=passed / traces if traces else 0.0,
                effective_ci=wilson_interval(passed, traces),
                p50_ms=p50 or 0.0, p95_ms=p95 or 0.0,
                latency_share=(total_ms / root_ms) if root_ms else 0.0,
                in_pipeline=share >= settings.pipeline_min_trace_share and top >= 0.5,
            )
        )
    pipeline = [s for s in steps if s.in_pipeline]
    observed = (n_traces - n_failed) / n_traces if n_traces else 0.0
    predicted = product(s.effective_rate for s in pipeline) if pipeline else 1.0
    predicted_first = product(s.first_attempt_rate for s in pipeline) if pipeline else 1.0
    fixed = dict(
        con.execute(
            "SELECT layer, count(*) FROM findings WHERE \"primary\" GROUP BY layer"
        ).fetchall()
    )
    return Reliability(
        traces=n_traces, failed_traces=n_failed, observed_success=observed,
        observed_ci=wilson_interval(n_traces - n_failed, n_traces),
        predicted_success=predicted, predicted_first_attempt=predicted_first,
        coordination_gap=predicted - observed, pipeline_steps=[s.name for s in pipeline],
        steps=steps,
        what_if=WhatIf(
            success_if_layer_fixed={
                layer: (n_traces - n_failed + fixed.get(layer, 0)) / n_traces if n_traces else 0.0
                for layer in LAYER_ORDER
            },
            predicted_with_attempts={
                k: product(with_retries(s.first_attempt_rate, k) for s in pipeline) if pipeline else 1.0
                for k in (1, 2, 3, 4)
            },
        ),
    )
