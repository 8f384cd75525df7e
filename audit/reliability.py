"""Reliability math: per-step rates with Wilson intervals, end-to-end observed vs
predicted (the coordination gap), compounding and what-ifs."""

from __future__ import annotations

import math
from collections.abc import Iterable

from audit.backend import Connection, as_backend, fetchone
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


def per_step_rate(rel: Reliability, end_to_end: float | None = None) -> float:
    """Per-step rate equivalent to an end-to-end success over today's pipeline (observed by default).

    The app, the HTML report and the what-ifs all use this one figure, so they agree.
    """
    n = len(rel.pipeline_steps)
    e2e = rel.observed_success if end_to_end is None else end_to_end
    return e2e ** (1 / n) if n and e2e > 0 else e2e if n else 1.0


def project_end_to_end(rel: Reliability, attempts: int = 1, chain_length: int | None = None,
                       fixed_layer: str | None = None) -> float:
    """What-if: end-to-end success with k attempts per step, a chain length, and one layer fixed.

    Today is the observed success; the what-ifs start from it. Fixing a layer turns the
    failed traces rooted in it into successes. Extra attempts only rescue failures a retry
    can fix (a transient error that was not retried): exhausted retries and errors that are
    not transient stay failed. Each extra attempt succeeds at the observed retry success
    rate. A different chain length scales today's per-step equivalent rate.
    """
    w = rel.what_if
    traces = rel.traces
    success = rel.observed_success
    if not traces:
        return success
    if fixed_layer:
        success = w.success_if_layer_fixed.get(fixed_layer, success)
    retryable = sum(n for layer, n in w.retryable_failed_traces.items() if layer != fixed_layer)
    if attempts > 1 and retryable:
        rescued = 1 - (1 - w.retry_success_rate) ** (attempts - 1)
        success += retryable / traces * rescued
    success = min(success, 1.0)
    steps = len(rel.pipeline_steps)
    if chain_length is None or not steps or chain_length == steps:
        return success
    return chain_reliability(per_step_rate(rel, success), chain_length)


def product(values: Iterable[float]) -> float:
    return math.prod(values)


# `stage_failures`: pipeline stages that failed inside while their own span said ok (facts.py).
STEP_SQL = """
WITH failed_inside AS (SELECT * FROM stage_failures), chained AS (  -- an invocation is a first attempt plus the retries that follow it
    SELECT f.name, coalesce(f.agent, '') AS agent, f.trace_id,
           CASE WHEN i.span_id IS NOT NULL THEN 'error' ELSE f.status END AS status, f.is_retry,
           sum(CASE WHEN f.is_retry THEN 0 ELSE 1 END) OVER (
               PARTITION BY f.trace_id, f.step_key ORDER BY f.start_time, f.span_id) AS invocation
    FROM span_facts f LEFT JOIN failed_inside i ON i.trace_id = f.trace_id AND i.span_id = f.span_id
), invocations AS (
    SELECT name, agent, trace_id, bool_or(status = 'ok') AS passed,
           bool_or(status = 'ok' AND NOT is_retry) AS first_passed
    FROM chained GROUP BY name, agent, trace_id, invocation
), effective AS (
    SELECT name, agent, count(DISTINCT trace_id) AS traces, count(*) AS invocations,
           count(CASE WHEN passed THEN 1 END) AS invocations_passed
    FROM invocations GROUP BY 1, 2
), runs AS (
    SELECT f.name, coalesce(f.agent, '') AS agent, count(*) AS runs,
           count(CASE WHEN NOT f.is_retry THEN 1 END) AS first_attempts,
           count(CASE WHEN NOT f.is_retry AND f.status = 'ok' AND i.span_id IS NULL THEN 1 END) AS first_ok,
           count(CASE WHEN is_retry THEN 1 END) AS retries,
           quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
           sum(duration_ms) AS total_ms,
           avg(CASE WHEN top_level THEN 1.0 ELSE 0.0 END) AS top_share,
           min(kind) AS kind
    FROM span_facts f LEFT JOIN failed_inside i ON i.trace_id = f.trace_id AND i.span_id = f.span_id
    GROUP BY 1, 2
)
SELECT r.name, r.agent, r.kind, r.runs, r.first_attempts, r.first_ok, r.retries, e.traces, e.invocations,
       e.invocations_passed,
       r.p50_ms, r.p95_ms, r.total_ms, r.top_share
FROM runs r JOIN effective e ON e.name = r.name AND e.agent = r.agent
ORDER BY e.traces DESC, r.name, r.agent
"""


# Failed traces whose root cause another attempt could fix: a transient error that was not
# retried (or whose retries were not exhausted). Exhausted retries and other errors are not.
RETRYABLE_SQL = """
SELECT f.layer, count(DISTINCT f.trace_id)
FROM findings f
JOIN span_facts s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
WHERE f."primary" AND NOT f.silenced AND s.transient_error AND NOT s.is_retry AND NOT s.client_retries_exhausted
  AND f.mode <> 'retries_exhausted'
GROUP BY f.layer
"""


def per_step_rate_of(steps: list[StepReliability], first_attempt: bool) -> float:
    """Geometric mean of the steps' first-attempt (or effective) rates; 1 without steps."""
    if not steps:
        return 1.0
    rates = [s.first_attempt_rate if first_attempt else s.effective_rate for s in steps]
    return product(rates) ** (1 / len(rates))


def compute_reliability(con: Connection, settings: Settings) -> Reliability:
    """Per-step and end-to-end reliability from ``span_facts``/``trace_facts``/``findings``."""
    db = as_backend(con)
    (n_traces, n_failed, root_ms) = fetchone(
        db, "SELECT count(*), count(CASE WHEN failed THEN 1 END), coalesce(sum(root_duration_ms), 0) FROM trace_facts"
    ) or (0, 0, 0.0)
    steps = []
    for row in db.fetchall(STEP_SQL):
        (name, agent, kind, runs, first_n, first_ok, retries, traces, invocations, passed, p50, p95, total_ms,
         top) = row
        share = traces / n_traces if n_traces else 0.0
        steps.append(
            StepReliability(
                name=name, agent=agent or None, kind=kind, runs=runs, retries=retries, traces=traces,
                trace_share=share, first_attempt_rate=first_ok / first_n if first_n else 0.0,
                first_attempt_ci=wilson_interval(first_ok, first_n),
                effective_rate=passed / invocations if invocations else 0.0,
                effective_ci=wilson_interval(passed, invocations),
                p50_ms=p50 or 0.0, p95_ms=p95 or 0.0,
                latency_share=(total_ms / root_ms) if root_ms else 0.0,
                in_pipeline=share >= settings.pipeline_min_trace_share and top >= 0.5,
            )
        )
    pipeline = [s for s in steps if s.in_pipeline]
    observed = (n_traces - n_failed) / n_traces if n_traces else 0.0
    # no step in enough traces (several pipelines in one file, or a free-form agent): there is
    # no chain to multiply, and a product of nothing (100%) would invent a coordination gap
    predicted = product(s.effective_rate for s in pipeline) if pipeline else None
    predicted_first = product(s.first_attempt_rate for s in pipeline) if pipeline else None
    fixed: dict[str, int] = dict(db.fetchall("SELECT layer, count(*) FROM findings WHERE \"primary\" GROUP BY layer"))
    retryable: dict[str, int] = dict(db.fetchall(RETRYABLE_SQL))
    retries_n, retries_ok = fetchone(
        db, "SELECT count(*), count(CASE WHEN status = 'ok' THEN 1 END) FROM span_facts "
        "WHERE is_retry AND prev_error_family IN (SELECT DISTINCT error_family FROM span_facts WHERE transient_error)"
    ) or (0, 0)
    first_rate = per_step_rate_of(pipeline, first_attempt=True)
    return Reliability(
        traces=n_traces, failed_traces=n_failed, observed_success=observed,
        observed_ci=wilson_interval(n_traces - n_failed, n_traces),
        predicted_success=predicted, predicted_first_attempt=predicted_first,
        coordination_gap=None if predicted is None else predicted - observed, pipeline_steps=[s.name for s in pipeline],
        steps=steps,
        what_if=WhatIf(
            success_if_layer_fixed={
                layer: (n_traces - n_failed + fixed.get(layer, 0)) / n_traces if n_traces else 0.0
                for layer in LAYER_ORDER
            },
            retryable_failed_traces={layer: int(retryable.get(layer, 0)) for layer in LAYER_ORDER},
            retry_success_rate=retries_ok / retries_n if retries_n else first_rate,
            predicted_with_attempts={
                k: product(with_retries(s.first_attempt_rate, k) for s in pipeline) for k in (1, 2, 3, 4)
            } if pipeline else {},
        ),
    )
