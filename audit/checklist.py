"""The audit checklist: good practices across the four layers (plus observability), each
scored pass / warn / fail / unknown from the evidence, with the numbers behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audit.backend import Backend, Connection, as_backend, fetchone
from audit.models import ChecklistItem, Score
from audit.settings import Settings

Metrics = dict[str, float]
Scorer = Callable[[Metrics], tuple[Score, str]]

METRICS_SQL = """
SELECT
    (SELECT count(*) FROM trace_facts) AS traces,
    (SELECT count(*) FROM trace_facts WHERE failed) AS failed_traces,
    (SELECT count(*) FROM trace_facts WHERE silent) AS silent_traces,
    (SELECT count(*) FROM trace_facts WHERE eval_passed IS NOT NULL) AS evaluated_traces,
    count(*) AS spans,
    count(CASE WHEN kind = 'llm' THEN 1 END) AS llm_spans,
    count(CASE WHEN kind = 'llm' AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL) THEN 1 END)
        AS llm_spans_with_tokens,
    count(CASE WHEN kind = 'llm' AND model IS NOT NULL THEN 1 END) AS llm_spans_with_model,
    count(CASE WHEN kind = 'tool' THEN 1 END) AS tool_spans,
    count(CASE WHEN kind IN ('validator', 'guardrail') THEN 1 END) AS validator_spans,
    count(CASE WHEN status = 'error' THEN 1 END) AS error_spans,
    count(CASE WHEN status = 'error' AND error_type IS NOT NULL THEN 1 END) AS typed_error_spans,
    count(CASE WHEN transient_error AND NOT propagated THEN 1 END) AS transient_errors,
    count(CASE WHEN transient_error AND NOT propagated AND later_runs > 0 THEN 1 END) AS transient_retried,
    count(CASE WHEN is_retry AND prev_status = 'error' THEN 1 END) AS retries,
    count(CASE WHEN is_retry AND prev_status = 'error' AND gap_ms >= $backoff_min_ms THEN 1 END)
        AS retries_with_backoff,
    count(CASE WHEN is_retry AND prev_status = 'error' AND run_index >= 3 THEN 1 END) AS later_retries
FROM span_facts
"""


# Rule groups an item judges by; a trace counts once per group however many rules it trips.
RULE_GROUPS: dict[str, tuple[str, ...]] = {
    **{r: (r,) for r in ("HO01", "HO02", "HO03", "ST01", "ST02", "ST03", "RO03", "RO04", "RO05", "RC01", "RC05")},
    "RO01+RO02": ("RO01", "RO02"),
    "ST02+ST03": ("ST02", "ST03"),
}


def _metrics(db: Backend, settings: Settings) -> Metrics:
    params = {"backoff_min_ms": settings.backoff_min_ms}
    names = db.columns(METRICS_SQL, params)
    values = fetchone(db, METRICS_SQL, params) or ()
    metrics: Metrics = {n: float(v or 0) for n, v in zip(names, values, strict=False)}
    db.create_table("rule_groups", [("key", "VARCHAR"), ("rule_id", "VARCHAR")],
                    [[key, rule] for key, rules in RULE_GROUPS.items() for rule in rules], temp=True)
    for key, traces, unrecovered in db.fetchall(
        """SELECT g.key, count(DISTINCT f.trace_id), count(DISTINCT CASE WHEN NOT f.recovered THEN f.trace_id END)
           FROM rule_groups g
           LEFT JOIN findings f ON f.rule_id = g.rule_id AND NOT f.silenced
           GROUP BY g.key"""):
        # distinct traces per group: a trace with two of a group's rules counts once
        metrics[f"{key}_traces"] = float(traces)
        metrics[f"{key}_unrecovered_traces"] = float(unrecovered)
    metrics["fail_share"] = settings.checklist_fail_share
    growing = fetchone(
        db, """SELECT count(*), count(CASE WHEN gap_ms > prev_gap THEN 1 END) FROM (
               SELECT gap_ms, is_retry, prev_status,
                      lag(gap_ms) OVER (PARTITION BY trace_id, step_key ORDER BY start_time, span_id) AS prev_gap,
                      lag(is_retry) OVER (PARTITION BY trace_id, step_key ORDER BY start_time, span_id) AS prev_retry
               FROM span_facts) WHERE is_retry AND prev_retry""") or (0, 0)
    metrics["second_retries"], metrics["growing_backoff"] = float(growing[0]), float(growing[1])
    return metrics


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _by_trace_rate(m: Metrics, group: str, what: str, fail_factor: float = 1.0) -> tuple[Score, str]:
    """Proportional: pass when no trace shows the problem, fail from the settings' share of
    traces (times ``fail_factor``), a warning in between, so 1 trace in 10,000 is a warning."""
    hits = m.get(f"{group}_traces", 0.0)
    unrecovered = m.get(f"{group}_unrecovered_traces", 0.0)
    traces = m["traces"]
    if not traces:
        return "unknown", "no traces"
    evidence = f"{int(hits)} of {int(traces)} traces ({_pct(hits, traces)}) show {what}"
    if hits:
        evidence += f"; in {int(unrecovered)} of them the run did not recover"
    if hits == 0:
        return "pass", evidence
    return ("fail" if hits / traces >= m["fail_share"] * fail_factor else "warn"), evidence


def _share(part: float, whole: float, what: str, pass_at: float, warn_at: float) -> tuple[Score, str]:
    if not whole:
        return "unknown", f"no {what.split(' ')[-1]} to judge from"
    share = part / whole
    score: Score = "pass" if share >= pass_at else "warn" if share >= warn_at else "fail"
    return score, f"{int(part)} of {int(whole)} {what} ({share:.1%})"


@dataclass(frozen=True)
class Item:
    id: str
    layer: str
    title: str
    remedy: str
    score: Scorer


def _schema_validated(m: Metrics) -> tuple[Score, str]:
    score, evidence = _by_trace_rate(m, "HO02", "schema failures at a handoff")
    validators = int(m["validator_spans"])
    evidence += f"; {validators} validator/guardrail spans"
    if score == "pass" and validators == 0:
        return "warn", evidence + " (no validation step is traced, so bad payloads may pass unseen)"
    return score, evidence


def _transient_retried(m: Metrics) -> tuple[Score, str]:
    if not m["transient_errors"]:
        return "unknown", "no transient errors (timeouts, rate limits, 5xx, connection) in these traces"
    return _share(m["transient_retried"], m["transient_errors"], "transient errors were retried", 0.95, 0.7)


def _backoff(m: Metrics) -> tuple[Score, str]:
    if not m["retries"]:
        return "unknown", "no retries in these traces"
    score, evidence = _share(m["retries_with_backoff"], m["retries"], "retries waited before trying again", 0.95, 0.7)
    if m["second_retries"]:
        evidence += f"; waits grew on {int(m['growing_backoff'])} of {int(m['second_retries'])} repeated retries"
        if score == "pass" and m["growing_backoff"] < m["second_retries"]:
            score = "warn"
    return score, evidence


def _loops_bounded(m: Metrics) -> tuple[Score, str]:
    score, evidence = _by_trace_rate(m, "RO01+RO02", "repeating steps or cycles")
    limits = int(m.get("RO03_traces", 0))
    evidence += f"; {limits} traces hit an iteration limit"
    if score == "pass" and limits:
        return "warn", evidence + " (a bound exists and is being hit)"
    return score, evidence


def _fail_loud(m: Metrics) -> tuple[Score, str]:
    failed, silent, traces = m["failed_traces"], m["silent_traces"], m["traces"]
    if not failed:
        return "pass", "no failed traces"
    evidence = (f"{int(silent)} of {int(failed)} failed traces reported success at the root "
                f"({_pct(silent, traces)} of all {int(traces)} traces)")
    return ("pass" if silent == 0 else "fail" if silent / traces >= m["fail_share"] else "warn"), evidence


def _evaluated(m: Metrics) -> tuple[Score, str]:
    return _share(m["evaluated_traces"], m["traces"], "traces carry an evaluator verdict (eval_passed)", 0.5, 0.05)


def _tokens_recorded(m: Metrics) -> tuple[Score, str]:
    if not m["llm_spans"]:
        return "unknown", "no llm spans are typed as such (kind=llm), so token coverage cannot be judged"
    return _share(m["llm_spans_with_tokens"], m["llm_spans"], "llm spans record tokens", 0.95, 0.5)


def _errors_typed(m: Metrics) -> tuple[Score, str]:
    if not m["error_spans"]:
        return "unknown", "no error spans"
    return _share(m["typed_error_spans"], m["error_spans"], "error spans name an error type", 0.95, 0.6)


def _checkpointed(m: Metrics) -> tuple[Score, str]:
    score, evidence = _by_trace_rate(m, "ST02+ST03", "lost state or redone work", fail_factor=2.0)
    return score, evidence + f" (lost state: {int(m.get('ST02_traces', 0))}; redone work: {int(m.get('ST03_traces', 0))})"


ITEMS: tuple[Item, ...] = (
    Item("H1", "handoff", "Model outputs are structured (no parse failures)",
         "Use native structured outputs or tool calling; re-ask once on a parse failure.",
         lambda m: _by_trace_rate(m, "HO01", "unparseable model output")),
    Item("H2", "handoff", "Handoffs are validated against a schema",
         "Validate every payload with the receiver's pydantic model or JSON Schema before handing it on.",
         _schema_validated),
    Item("H3", "handoff", "Tool arguments are validated before execution",
         "Strict argument schemas on every tool; return validation errors to the model once.",
         lambda m: _by_trace_rate(m, "HO03", "invalid tool arguments")),
    Item("S1", "state", "Context window is budgeted",
         "Trim or summarise history, cap retrieved chunks, count tokens before each call.",
         lambda m: _by_trace_rate(m, "ST01", "context-window overflow", fail_factor=0.5)),
    Item("S2", "state", "State is checkpointed and carried between steps",
         "Declare the state schema and checkpoint it (e.g. a LangGraph checkpointer); memoise finished steps.",
         _checkpointed),
    Item("S3", "state", "Finished work is not redone",
         "Memoise step results by input in the run's state.",
         lambda m: _by_trace_rate(m, "ST03", "the same step re-run with identical input", fail_factor=5.0)),
    Item("R1", "routing", "Loops are bounded",
         "Set recursion/iteration limits, detect repeated state, route to a fallback when the bound is hit.",
         _loops_bounded),
    Item("R2", "routing", "Tool and agent names are validated",
         "Constrain tool choice to registered names and validate router output against the graph.",
         lambda m: _by_trace_rate(m, "RO04", "calls to unknown tools or agents")),
    Item("R3", "routing", "Delegation settles (no ping-pong)",
         "Give agents clear contracts and track who already handled a task; cap delegation depth.",
         lambda m: _by_trace_rate(m, "RO05", "ping-pong between agents")),
    Item("C1", "recovery", "Transient errors are retried",
         "Retry timeouts, 429s, 5xx and connection errors (SDK max_retries, tenacity).",
         _transient_retried),
    Item("C2", "recovery", "Retries use exponential back-off",
         "Wait before each retry, doubling the wait with jitter; honour Retry-After.",
         _backoff),
    Item("C3", "recovery", "Retry budgets end in a fallback, not a dead end",
         "After the last retry, fall back (another model, cached answer, a human) and fail loud.",
         lambda m: _by_trace_rate(m, "RC01", "retries exhausted")),
    Item("C4", "recovery", "Errors fail loud",
         "Propagate unrecovered errors to the run's status and alert; never return a confident wrong answer.",
         _fail_loud),
    Item("C5", "recovery", "Unexpected errors are caught at step boundaries",
         "Catch and classify errors per step: retry transient, re-ask on format, fail fast on bugs.",
         lambda m: _by_trace_rate(m, "RC05", "unhandled errors ending the run")),
    Item("O1", "observability", "Final answers are evaluated",
         "Score final answers with an evaluator or user feedback and record eval_passed on the root.",
         _evaluated),
    Item("O2", "observability", "Tracing records tokens and timings",
         "Record model, input/output tokens and start/end on every model call (OTel GenAI conventions).",
         _tokens_recorded),
    Item("O3", "observability", "Errors are recorded with their type",
         "Record the exception type and message on error spans (OTel exception events).",
         _errors_typed),
)


def score_checklist(con: Connection, settings: Settings) -> list[ChecklistItem]:
    """Score every checklist item from the audit's tables."""
    m = _metrics(as_backend(con), settings)
    items = []
    for item in ITEMS:
        score, evidence = item.score(m)
        items.append(
            ChecklistItem(id=item.id, layer=item.layer, title=item.title, score=score,  # type: ignore[arg-type]
                          evidence=evidence, remedy=item.remedy)
        )
    return items
