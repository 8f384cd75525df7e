"""The canonical trace columns (../shared/TRACE_FORMAT.md) and how file headers map onto them."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

REQUIRED = ("trace_id", "span_id", "name", "start_time", "status")
# One of these two gives the span's end.
END_COLUMNS = ("end_time", "duration_ms")

# canonical name -> accepted spellings (after normalise_header), canonical first.
ALIASES: dict[str, tuple[str, ...]] = {
    "trace_id": ("trace_id", "traceid", "context_trace_id", "trace"),
    "span_id": ("span_id", "spanid", "context_span_id", "run_id", "id", "span"),
    "parent_span_id": (
        "parent_span_id", "parentspanid", "parent_id", "parent_run_id", "parentobservationid",
        "parent_observation_id", "parent",
    ),
    "name": ("name", "span_name", "step", "step_name", "operation", "operation_name"),
    "kind": ("kind", "span_kind", "run_type", "openinference_span_kind", "type"),
    "agent": ("agent", "agent_name", "gen_ai_agent_name"),
    "start_time": ("start_time", "starttime", "start", "started_at", "start_ts", "timestamp"),
    "end_time": ("end_time", "endtime", "end", "ended_at", "end_ts"),
    "duration_ms": ("duration_ms", "latency_ms", "elapsed_ms", "duration_millis"),
    "status": ("status", "status_code", "outcome", "state"),
    "error_type": ("error_type", "exception_type", "error_code", "error_class", "exception_class"),
    "error_message": (
        "error_message", "exception_message", "status_message", "statusmessage", "error_msg", "error",
    ),
    "attempt": ("attempt", "attempt_number", "retry_attempt", "try", "retry"),
    "model": ("model", "model_name", "llm_model_name", "gen_ai_request_model"),
    "provider": ("provider", "llm_provider", "gen_ai_system", "gen_ai_provider_name", "vendor"),
    "input_tokens": (
        "input_tokens", "prompt_tokens", "tokens_in", "llm_token_count_prompt", "gen_ai_usage_input_tokens",
    ),
    "output_tokens": (
        "output_tokens", "completion_tokens", "tokens_out", "llm_token_count_completion",
        "gen_ai_usage_output_tokens",
    ),
    "cost_usd": ("cost_usd", "cost", "total_cost", "cost_total", "calculatedtotalcost"),
    "input": ("input", "inputs", "input_value", "prompt"),
    "output": ("output", "outputs", "output_value", "completion", "response"),
    "eval_passed": ("eval_passed", "eval", "passed", "correct", "eval_pass", "judged_correct"),
    "metadata": ("metadata", "meta", "attributes"),
}

CANONICAL = tuple(ALIASES)


def normalise_header(header: str) -> str:
    """Case- and punctuation-insensitive form of a column header."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column feeds each canonical column, and what was left over."""

    mapped: dict[str, str]  # canonical -> original header
    extra: tuple[str, ...]  # original headers kept as extra columns

    def missing_required(self) -> list[str]:
        missing = [c for c in REQUIRED if c not in self.mapped]
        if not any(c in self.mapped for c in END_COLUMNS):
            missing.append("end_time or duration_ms")
        return missing


def map_columns(headers: list[str], overrides: dict[str, str] | None = None) -> ColumnMapping:
    """Match headers to canonical columns: explicit overrides, exact names, then aliases.

    Args:
        headers: the file's column names as read.
        overrides: canonical -> header chosen by the user (the app's mapping form).
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v in headers}
    used = set(overrides.values())
    mapped = dict(overrides)
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise_header(h), h)
    for rank in range(max(len(a) for a in ALIASES.values())):
        for canonical, aliases in ALIASES.items():
            if canonical in mapped or rank >= len(aliases):
                continue
            header = by_norm.get(aliases[rank])
            if header is not None and header not in used:
                mapped[canonical] = header
                used.add(header)
    extra = tuple(h for h in headers if h not in used and not h.startswith("__audit"))
    return ColumnMapping(mapped=mapped, extra=extra)


def suggest(missing: str, headers: list[str]) -> str:
    """' (did you mean `x`?)' for a missing column, or ''."""
    target = missing.split(" or ")[0]
    normalised = {normalise_header(h): h for h in headers}
    close = difflib.get_close_matches(target, list(normalised), n=1, cutoff=0.6)
    return f" (did you mean `{normalised[close[0]]}`?)" if close else ""
