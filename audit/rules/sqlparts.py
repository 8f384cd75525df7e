"""SQL fragments shared by several rules, so each rule reads as one short query."""

from __future__ import annotations

ERROR_EVIDENCE = (
    "concat_ws('; ', 'error_type=' || coalesce(error_type, '(none)'),"
    " 'message=' || left(coalesce(error_message, ''), 240),"
    " 'run ' || CAST(run_index AS VARCHAR) || ' of ' || CAST(step_runs AS VARCHAR) || ' of step ' || name,"
    " CASE WHEN unrecovered_error THEN 'not recovered' ELSE 'recovered by a later retry' END,"
    " CASE WHEN inband THEN 'in-band: the span said ok, its output reported the error' END,"
    " CASE WHEN handled THEN 'handled: a later model call received the error' END)"
)


def error_rule(condition: str) -> str:
    """Error spans matching ``condition`` where the error originates, not where it propagates."""
    return f"""
SELECT trace_id, span_id, NOT unrecovered_error AS recovered, {ERROR_EVIDENCE} AS evidence
FROM span_facts
WHERE status = 'error' AND NOT propagated AND {condition}
"""
