"""Realistic synthetic multi-agent traces with failure modes injected at known rates.

Three pipelines with their own step and agent names (a support desk, a research
assistant, an invoice processor) so that nothing in the audit can key on one
vocabulary. Error texts follow what real libraries write (pydantic, LangChain /
LangGraph, OpenAI, Anthropic, httpx). Clean traces include benign look-alikes that must
stay quiet: a transient error retried with back-off, one hand-off, one revision round.

Writes the spans as CSV and a labels CSV (trace_id, layer, mode, failed) with the
ground truth. This is a generator, not the engine: it builds rows in Python.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "agent", "start_time", "end_time", "status",
    "error_type", "error_message", "attempt", "model", "provider", "input_tokens", "output_tokens",
    "input", "output", "eval_passed",
)

# (layer, mode, share of all traces)
INJECTED: tuple[tuple[str, str, float], ...] = (
    ("handoff", "output_parse_error", 0.035),
    ("handoff", "schema_mismatch", 0.03),
    ("handoff", "invalid_tool_args", 0.03),
    ("state", "context_overflow", 0.02),
    ("state", "lost_state", 0.02),
    ("state", "redundant_work", 0.025),
    ("routing", "loop", 0.03),
    ("routing", "unknown_tool", 0.02),
    ("routing", "ping_pong", 0.02),
    ("recovery", "retries_exhausted", 0.025),
    ("recovery", "no_retry", 0.03),
    ("recovery", "no_backoff", 0.025),
    ("recovery", "silent_failure", 0.03),
    ("recovery", "unhandled_error", 0.02),
)
BENIGN = ("retry_with_backoff", "revision_round", "single_handoff")

MODELS = (("gpt-4o", "openai", "ChatOpenAI"), ("claude-sonnet-4-5", "anthropic", "ChatAnthropic"),
          ("gemini-2.5-flash", "google", "ChatGoogleGenerativeAI"), ("gpt-4o-mini", "openai", "ChatOpenAI"))


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # llm steps are chain spans with a model call inside
    agent: str


@dataclass(frozen=True)
class Pipeline:
    root: str
    steps: tuple[Step, ...]
    tool: str  # the tool step used for tool failures
    tools_offered: tuple[str, ...]


PIPELINES = (
    Pipeline("handle_ticket", (
        Step("classify_intent", "llm", "triage"), Step("search_kb", "retriever", "triage"),
        Step("lookup_order", "tool", "billing"), Step("draft_reply", "llm", "writer"),
        Step("check_reply", "validator", "writer"), Step("send_reply", "tool", "writer"),
    ), "lookup_order", ("lookup_order", "issue_refund", "search_kb")),
    Pipeline("research_question", (
        Step("plan_research", "llm", "planner"), Step("web_search", "tool", "researcher"),
        Step("read_sources", "retriever", "researcher"), Step("summarise_findings", "llm", "researcher"),
        Step("write_report", "llm", "editor"), Step("verify_citations", "guardrail", "editor"),
    ), "web_search", ("web_search", "fetch_url")),
    Pipeline("process_invoice", (
        Step("ocr_document", "tool", "intake"), Step("extract_fields", "llm", "intake"),
        Step("validate_invoice", "validator", "intake"), Step("match_purchase_order", "tool", "ledger"),
        Step("post_to_ledger", "tool", "ledger"),
    ), "match_purchase_order", ("match_purchase_order", "post_to_ledger")),
)


def _errors(rng: random.Random, mode: str, tool: str, offered: tuple[str, ...]) -> tuple[str, str]:
    """A realistic (error_type, error_message) for a failure mode."""
    field_name = rng.choice(["order_id", "amount", "customer_email", "due_date", "sources"])
    options: dict[str, list[tuple[str, str]]] = {
        "output_parse_error": [
            ("OutputParserException", "Invalid json output: Sure! Here is the summary you asked for:\n- ..."),
            ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)"),
            ("OutputParserException", "Failed to parse Reply from completion Here you go. Got: Expecting ',' delimiter"),
            ("ValueError", "Could not parse LLM output: `I think the answer is 42`"),
        ],
        "schema_mismatch": [
            ("ValidationError", f"1 validation error for Handoff\n{field_name}\n  Field required [type=missing, "
                                "input_value={'status': 'ok'}, input_type=dict]"),
            ("ValidationError", f"2 validation errors for Invoice\n{field_name}\n  Input should be a valid number, "
                                "unable to parse string as a number [type=float_parsing]"),
            ("jsonschema.ValidationError", f"'{field_name}' is a required property"),
        ],
        "invalid_tool_args": [
            ("ToolException", f"Error invoking tool '{tool}' with kwargs {{'id': 'A-17'}} with error:\n "
                              f"{field_name}: Field required\n Please fix your mistakes."),
            ("TypeError", f"{tool}() got an unexpected keyword argument 'query_text'"),
            ("BadRequestError", "Error code: 400 - Invalid tool call arguments: arguments are not valid JSON"),
        ],
        "context_overflow": [
            ("BadRequestError", "Error code: 400 - {'error': {'message': \"This model's maximum context length is "
                                "128000 tokens. However, your messages resulted in 131072 tokens.\", "
                                "'code': 'context_length_exceeded'}}"),
            ("BadRequestError", "Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', "
                                "'message': 'prompt is too long: 214013 tokens > 200000 maximum'}}"),
            ("InvalidArgument", "400 The input token count (1100000) exceeds the maximum number of tokens allowed"),
        ],
        "lost_state": [
            ("KeyError", f"'{field_name}'"),
            ("ValueError", f"Missing some input keys: {{'{field_name}'}}"),
            ("KeyError", f"Input to ChatPromptTemplate is missing variables {{'{field_name}'}}"),
        ],
        "unknown_tool": [
            ("ToolException", f"Error: {tool}_v2 is not a valid tool, try one of [{', '.join(offered)}]."),
            ("ModelBehaviorError", f"Tool {tool}_lookup not found in agent"),
        ],
        "timeout": [
            ("ReadTimeout", "The read operation timed out"),
            ("APITimeoutError", "Request timed out."),
        ],
        "rate_limit": [
            ("RateLimitError", "Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o on tokens "
                               "per min (TPM): Limit 30000, Used 29000, Requested 2400.', 'code': 'rate_limit_exceeded'}}"),
            ("OverloadedError", "Error code: 529 - {'type': 'error', 'error': {'type': 'overloaded_error', "
                                "'message': 'Overloaded'}}"),
            ("APIConnectionError", "Connection error."),
        ],
        "unhandled_error": [
            ("ZeroDivisionError", "division by zero"),
            ("AttributeError", "'NoneType' object has no attribute 'get'"),
            ("RuntimeError", "unexpected response from ledger service"),
        ],
        "swallowed": [
            ("ToolException", "upstream returned an empty body"),
            ("HTTPStatusError", "Client error '404 Not Found' for url 'https://api.internal/orders/A-17'"),
        ],
    }
    return rng.choice(options[mode])


@dataclass
class TraceBuilder:
    """Builds one trace's spans on a running clock."""

    trace_id: str
    clock: datetime
    rng: random.Random
    rows: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0

    def span(self, name: str, kind: str, agent: str | None, parent: str | None, ms: float, **cols: Any) -> dict[str, Any]:
        self.counter += 1
        start = self.clock
        end = start + timedelta(milliseconds=ms)
        row = {"trace_id": self.trace_id, "span_id": f"{self.trace_id}-{self.counter:03d}",
               "parent_span_id": parent or "", "name": name, "kind": kind, "agent": agent or "",
               "start_time": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "end_time": end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "status": "ok", "attempt": 1, **cols}
        self.rows.append(row)
        return row

    def wait(self, ms: float) -> None:
        self.clock += timedelta(milliseconds=ms)


def _run_step(b: TraceBuilder, step: Step, root: str, query: str, *, error: tuple[str, str] | None = None,
              attempt: int = 1, input_text: str | None = None, model_idx: int = 0) -> dict[str, Any]:
    """One run of a step; llm steps get a model call inside that carries tokens (and errors)."""
    rng = b.rng
    inp = input_text or json.dumps({"step": step.name, "query": query})
    err_cols = {"status": "error", "error_type": error[0], "error_message": error[1]} if error else {}
    if step.kind != "llm":
        ms = rng.uniform(40, 600) if step.kind != "validator" else rng.uniform(2, 20)
        row = b.span(step.name, step.kind, step.agent, root, ms, input=inp,
                     output="" if error else json.dumps({"result": f"{step.name} done"}), attempt=attempt, **err_cols)
        b.wait(ms + rng.uniform(1, 15))
        return row
    model, provider, cls = MODELS[model_idx % len(MODELS)]
    total = rng.uniform(700, 4000)
    chain = b.span(step.name, "chain", step.agent, root, total, input=inp, attempt=attempt,
                   output="" if error else json.dumps({"text": f"{step.name} output"}), **err_cols)
    b.wait(rng.uniform(2, 10))
    in_tok, out_tok = rng.randint(400, 6000), rng.randint(50, 900)
    b.span(cls, "llm", step.agent, chain["span_id"], total - 20, model=model, provider=provider,
           input_tokens=in_tok, output_tokens=0 if error else out_tok, input=inp, attempt=attempt, **err_cols)
    b.clock = datetime.fromisoformat(chain["end_time"].replace("Z", "+00:00"))
    b.wait(rng.uniform(1, 15))
    return chain


def build_trace(trace_id: str, start: datetime, rng: random.Random, mode: str | None, benign: str | None
                ) -> tuple[list[dict[str, Any]], bool]:
    """Spans of one trace, and whether the run failed (ground truth)."""
    pipe = rng.choices(PIPELINES, weights=(0.7, 0.2, 0.1))[0]
    b = TraceBuilder(trace_id, start, rng)
    query = rng.choice(["refund for A-17", "where is my parcel", "compare vendors", "invoice 9921", "Q3 summary"])
    root = b.span(pipe.root, "agent", "orchestrator", None, 0, input=json.dumps({"request": query}))
    b.wait(rng.uniform(1, 5))
    rid = root["span_id"]
    model_idx = rng.randrange(len(MODELS))
    steps = list(pipe.steps)
    llm_steps = [s for s in steps if s.kind == "llm"]
    target_llm = rng.choice(llm_steps)
    tool = next(s for s in steps if s.name == pipe.tool)
    failed = False
    root_error: tuple[str, str] | None = None
    eval_passed: bool | None = True
    handled_target = False

    def fail_root(err: tuple[str, str]) -> None:
        nonlocal failed, root_error
        failed, root_error = True, err

    for step in steps:
        if failed and root_error:
            break
        if mode and not handled_target and _is_target(mode, step, target_llm, tool, b):
            handled_target = True
            outcome = _inject(b, mode, step, rid, query, pipe, model_idx)
            if outcome == "root_error":
                fail_root(_last_error(b))
            elif outcome == "silent" or outcome == "eval_false":
                failed, eval_passed = True, False
            continue
        if benign == "retry_with_backoff" and step is tool:
            _run_step(b, step, rid, query, error=_errors(rng, rng.choice(["timeout", "rate_limit"]), tool.name,
                                                         pipe.tools_offered), model_idx=model_idx)
            b.wait(rng.uniform(400, 3000))
            _run_step(b, step, rid, query, attempt=2, model_idx=model_idx)
            continue
        if benign == "revision_round" and step is target_llm:
            _run_step(b, step, rid, query, model_idx=model_idx)
            _run_step(b, Step("critique", "llm", step.agent), rid, query, model_idx=model_idx)
            _run_step(b, step, rid, query, input_text=json.dumps({"step": step.name, "query": query,
                                                                  "feedback": "tighten the tone"}), model_idx=model_idx)
            continue
        _run_step(b, step, rid, query, model_idx=model_idx)
    if mode == "unhandled_error" and not failed:
        fail_root(_last_error(b))
    end = b.clock + timedelta(milliseconds=rng.uniform(1, 10))
    root["end_time"] = end.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if root_error:
        root.update(status="error", error_type=root_error[0], error_message=root_error[1], output="")
    else:
        root["output"] = json.dumps({"answer": f"resolved: {query}"})
    root["eval_passed"] = "" if eval_passed is None else str(eval_passed).lower()
    return b.rows, failed


def _last_error(b: TraceBuilder) -> tuple[str, str]:
    err = next(r for r in reversed(b.rows) if r.get("status") == "error")
    return err["error_type"], err["error_message"]


def _is_target(mode: str, step: Step, target_llm: Step, tool: Step, b: TraceBuilder) -> bool:
    if mode in ("output_parse_error", "context_overflow", "loop", "schema_mismatch"):
        return step is target_llm
    if mode in ("invalid_tool_args", "unknown_tool", "retries_exhausted", "no_retry", "no_backoff",
                "silent_failure", "redundant_work"):
        return step is tool
    if mode == "lost_state":
        return (step.kind != "llm" and step is not tool) or step is target_llm
    return step is target_llm  # ping_pong, unhandled_error


def _inject(b: TraceBuilder, mode: str, step: Step, rid: str, query: str, pipe: Pipeline, model_idx: int) -> str:
    """Play one failure mode at this step; returns 'ok', 'root_error', 'silent' or 'eval_false'."""
    rng = b.rng

    def err(m: str) -> tuple[str, str]:
        return _errors(rng, m, pipe.tool, pipe.tools_offered)

    if mode in ("output_parse_error", "invalid_tool_args"):
        _run_step(b, step, rid, query, error=err(mode), model_idx=model_idx)
        if rng.random() < 0.5:  # re-asked and recovered: still a finding (a wasted round trip)
            _run_step(b, step, rid, query, attempt=2, model_idx=model_idx)
            return "ok"
        return "root_error"
    if mode == "schema_mismatch":
        _run_step(b, step, rid, query, model_idx=model_idx)
        _run_step(b, Step("validate_handoff", "validator", step.agent), rid, query, error=err(mode))
        return "root_error"
    if mode in ("context_overflow", "lost_state", "unknown_tool"):
        _run_step(b, step, rid, query, error=err(mode), model_idx=model_idx)
        return "root_error"
    if mode == "redundant_work":
        _run_step(b, step, rid, query, model_idx=model_idx)
        _run_step(b, Step("summarise_progress", "llm", step.agent), rid, query, model_idx=model_idx)
        _run_step(b, step, rid, query, model_idx=model_idx)
        return "ok"
    if mode == "loop":
        same = json.dumps({"step": step.name, "query": query, "plan": "retry same approach"})
        if rng.random() < 0.4:  # a plan/act cycle over two steps instead of one step repeating
            act = Step(rng.choice(["reflect", "execute_plan", "critique"]), "tool", step.agent)
            for _ in range(rng.randint(3, 4)):
                _run_step(b, step, rid, query, input_text=same, model_idx=model_idx)
                _run_step(b, act, rid, query, input_text=same)
        else:
            for _ in range(rng.randint(5, 8)):
                _run_step(b, step, rid, query, input_text=same, model_idx=model_idx)
        if rng.random() < 0.5:
            b.span("graph", "chain", None, rid, 1, status="error", error_type="GraphRecursionError",
                   error_message="Recursion limit of 25 reached without hitting a stop condition. You can increase "
                                 "the limit by setting the `recursion_limit` config key.")
            b.wait(2)
            return "root_error"
        return "eval_false"
    if mode == "ping_pong":
        a, c = step.agent, rng.choice(["billing", "escalations", "specialist"])
        for i in range(rng.randint(4, 6)):
            who = a if i % 2 == 0 else c
            b.span(f"delegate_to_{who}", "agent", who, rid, rng.uniform(300, 900),
                   input=json.dumps({"task": query, "hop": i}))
            b.wait(rng.uniform(310, 910))
        return "eval_false"
    if mode == "retries_exhausted":
        for attempt in range(1, 4):
            _run_step(b, step, rid, query, error=err("timeout"), attempt=attempt)
            if attempt < 3:
                b.wait(rng.uniform(500, 2000) * attempt)
        return "root_error"
    if mode == "no_retry":
        _run_step(b, step, rid, query, error=err(rng.choice(["timeout", "rate_limit"])))
        return "root_error"
    if mode == "no_backoff":
        e = err(rng.choice(["timeout", "rate_limit"]))
        _run_step(b, step, rid, query, error=e)
        b.clock -= timedelta(milliseconds=rng.uniform(0, 12))  # retried at once
        if rng.random() < 0.5:
            _run_step(b, step, rid, query, attempt=2)
            return "ok"
        _run_step(b, step, rid, query, error=e, attempt=2)
        return "root_error"
    if mode == "silent_failure":
        if rng.random() < 0.5:
            _run_step(b, step, rid, query, error=err("swallowed"))
        else:
            _run_step(b, step, rid, query)
        return "silent"
    if mode == "unhandled_error":
        _run_step(b, step, rid, query, error=err("unhandled_error"), model_idx=model_idx)
        return "root_error"
    raise ValueError(f"unknown mode {mode}")


def generate(traces: int, seed: int, shares: dict[str, float] | None = None,
             start: datetime = datetime(2026, 10, 1, tzinfo=UTC)) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Yield (spans, label) per trace, deterministically for a seed.

    ``shares`` overrides the share of traces of some failure modes (``INJECTED`` names
    them), e.g. ``{"output_parse_error": 0}`` for a pipeline whose parsing was fixed:
    datasets with known changes for comparisons.
    """
    unknown = set(shares or {}) - {mode for _, mode, _ in INJECTED}
    if unknown:
        raise ValueError(f"unknown failure mode(s) {', '.join(sorted(unknown))}")
    rng = random.Random(seed)
    cumulative, acc = [], 0.0
    for layer, mode, default in INJECTED:
        share = (shares or {}).get(mode, default)
        acc += share
        cumulative.append((acc, layer, mode))
    for i in range(traces):
        draw = rng.random()
        picked = next(((layer, mode) for cut, layer, mode in cumulative if draw < cut), None)
        benign = rng.choice(BENIGN) if picked is None and rng.random() < 0.3 else None
        trace_id = f"tr-{seed:x}-{i:07d}"
        t0 = start + timedelta(seconds=i * (30 * 24 * 3600 / max(traces, 1)))
        rows, failed = build_trace(trace_id, t0, rng, picked[1] if picked else None, benign)
        label = {"trace_id": trace_id, "layer": picked[0] if picked else "none",
                 "mode": picked[1] if picked else (benign or "clean"), "failed": str(failed).lower()}
        yield rows, label


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return path.open("w", encoding="utf-8", newline="")


def labels_path_for(output: Path) -> Path:
    base = output.name.removesuffix(".gz").removesuffix(".csv")
    return output.with_name(f"{base}_labels.csv")


def write_sample(output: str | Path, traces: int, seed: int = 7, shares: dict[str, float] | None = None,
                 start: datetime = datetime(2026, 10, 1, tzinfo=UTC)) -> tuple[int, Path]:
    """Write spans CSV (``.csv`` or ``.csv.gz``) and its labels file; returns (spans, labels path).

    ``shares`` and ``start`` as in ``generate``.
    """
    out = Path(output)
    labels = labels_path_for(out)
    n = 0
    with _open(out) as fh, labels.open("w", encoding="utf-8", newline="") as lf:
        spans = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        labs = csv.DictWriter(lf, fieldnames=("trace_id", "layer", "mode", "failed"))
        spans.writeheader()
        labs.writeheader()
        for rows, label in generate(traces, seed, shares, start):
            spans.writerows(rows)
            labs.writerow(label)
            n += len(rows)
    return n, labels
