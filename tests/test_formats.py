"""Tracing tools' exports, with expectations written by hand from the fixture's content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.engine import Audit
from audit.errors import InputFileError
from audit.ingest import SourceFile

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def test_otlp_json_from_the_real_sdk() -> None:
    """tests/fixtures/formats/otlp_agent.json was written by opentelemetry-sdk (make_otlp.py)."""
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(FIXTURES / "otlp_agent.json")])
    assert (res.format, res.rows_loaded, res.rows_quarantined) == ("otlp", 4, 0)
    spans = audit.frame("SELECT name, kind, agent, status, error_type, error_message, model, provider, "
                        "input_tokens, output_tokens, input, parent_span_id IS NULL AS is_root FROM spans "
                        "ORDER BY name").to_dict(orient="records")
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"invoke_agent support", "chat gpt-4o", "lookup_order", "ChatAnthropic"}
    assert by_name["invoke_agent support"]["kind"] == "agent" and by_name["invoke_agent support"]["is_root"]
    chat = by_name["chat gpt-4o"]
    assert (chat["kind"], chat["model"], chat["provider"], chat["input_tokens"], chat["output_tokens"]) == (
        "llm", "gpt-4o-2024-08-06", "openai", 1200, 80)
    tool = by_name["lookup_order"]  # named after gen_ai.tool.name
    assert (tool["kind"], tool["status"], tool["error_type"], tool["error_message"], tool["input"]) == (
        "tool", "error", "TimeoutError", "The read operation timed out", '{"order": "A-17"}')
    anthropic = by_name["ChatAnthropic"]
    assert (anthropic["kind"], anthropic["model"], anthropic["input_tokens"]) == ("llm", "claude-sonnet-4-5", 900)
    report = audit.run()
    # the timeout was swallowed (no later step read it): a silent failure first of all
    assert sorted((f.rule_id, f.primary) for f in report.findings) == [("RC02", False), ("RC04", True)]
    assert report.summary.silent_failures == 1  # the root says ok over an unrecovered timeout
    assert report.cost.total_cost_usd == pytest.approx(1200 * 2.5e-6 + 80 * 10e-6 + 900 * 3e-6 + 60 * 15e-6)


def otlp_request(trace: str, spans: list[dict]) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}


def otlp_span(span_id: str, parent: str, name: str, start: int, end: int, *, error: bool = False,
              attrs: dict | None = None, trace: str = "0af7651916cd43dd8448eb211c80319c") -> dict:
    span = {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
                           for k, v in (attrs or {}).items()],
            "status": {"code": 2, "message": "boom"} if error else {}}
    if error:
        span["events"] = [{"name": "exception", "timeUnixNano": str(end), "attributes": [
            {"key": "exception.type", "value": {"stringValue": "RateLimitError"}},
            {"key": "exception.message", "value": {"stringValue": "Error code: 429 - rate limit"}}]}]
    return span


def test_otlp_json_lines_with_hex_ids_and_retries(tmp_path: Path) -> None:
    t0 = 1_767_225_600_000_000_000
    ms = 1_000_000
    lines = [
        otlp_request("t", [otlp_span("b7ad6b7169203331", "", "agent run", t0, t0 + 5000 * ms,
                                     attrs={"gen_ai.operation.name": "invoke_agent"})]),
        otlp_request("t", [
            otlp_span("00f067aa0ba902b7", "b7ad6b7169203331", "chat", t0 + ms, t0 + 100 * ms, error=True,
                      attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}),
            otlp_span("00f067aa0ba902b8", "b7ad6b7169203331", "chat", t0 + 101 * ms, t0 + 300 * ms,
                      attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                             "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}),
        ]),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(path)])
    assert (res.format, res.rows_loaded) == ("otlp", 3)
    assert audit.frame("SELECT DISTINCT trace_id FROM spans")["trace_id"].tolist() == ["0af7651916cd43dd8448eb211c80319c"]
    report = audit.run()
    # retried 1 ms after a 429: recovered, but without back-off
    assert [(f.rule_id, f.span_id, f.severity) for f in report.findings] == [("RC03", "00f067aa0ba902b8", "low")]
    assert report.summary.failed_traces == 0


def test_whole_file_otlp_larger_than_duckdb_default_object_size(tmp_path: Path) -> None:
    t0 = 1_767_225_600_000_000_000
    filler = "x" * 2000
    spans = [otlp_span(f"{i:016x}", "", f"step{i % 7}", t0 + i, t0 + i + 1000,
                       attrs={"input.value": filler}, trace=f"{i:032x}") for i in range(1, 9001)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(otlp_request("t", spans)))
    assert path.stat().st_size > 16 * 2**20
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(path)])
    assert res.rows_loaded == 9000


def test_input_format_override_and_truncated_export(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab"')
    with pytest.raises(InputFileError, match="could not be read as OpenTelemetry OTLP JSON"):
        Audit.open().load([SourceFile.of(path)])
    out = tmp_path / "r.json"
    assert main(["report", str(FIXTURES / "otlp_agent.json"), "--input-format", "otlp", "-o", str(out)]) == 0
    assert main(["report", str(FIXTURES / "otlp_agent.json"), "--input-format", "canonical", "-o", str(out)]) == 2


def load(name: str) -> Audit:
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(FIXTURES / name)])
    assert res.rows_quarantined == 0, audit.quarantine_frame().to_dict(orient="records")
    return audit


def spans_by_id(audit: Audit) -> dict[str, dict]:
    df = audit.frame("SELECT * EXCLUDE (extra) FROM spans")
    df = df.astype(object).where(df.notna(), None)
    return {r["span_id"]: r for r in df.to_dict(orient="records")}


def test_phoenix_spans_dataframe_csv() -> None:
    audit = load("phoenix_spans.csv")
    assert audit.sources()[0].format == "phoenix"
    spans = spans_by_id(audit)
    assert len(spans) == 4
    tool = spans["a1b2c3d4e5f60004"]
    assert (tool["kind"], tool["status"], tool["error_type"], tool["error_message"], tool["agent"]) == (
        "tool", "error", "KeyError", "'order_id'", "tools")
    llm = spans["a1b2c3d4e5f60003"]
    assert (llm["kind"], llm["model"], llm["provider"], llm["input_tokens"], llm["output_tokens"]) == (
        "llm", "gpt-4o-mini", "openai", 1500, 120)
    root = spans["a1b2c3d4e5f60001"]
    assert (root["parent_span_id"], root["error_type"], root["error_message"]) == (
        None, "ValueError", "ValueError: Missing some input keys: {'order_id'}")
    report = audit.run()
    assert [(f.rule_id, f.span_id, f.primary) for f in report.findings] == [("ST02", "a1b2c3d4e5f60004", True)]
    assert report.cost.total_cost_usd == pytest.approx(1500 * 0.15e-6 + 120 * 0.6e-6)


def test_langsmith_runs_jsonl() -> None:
    audit = load("langsmith_runs.jsonl")
    assert audit.sources()[0].format == "langsmith"
    spans = spans_by_id(audit)
    failed_call = spans["5f0c1e2a-0000-4000-8000-000000000002"]
    assert (failed_call["kind"], failed_call["status"], failed_call["error_type"], failed_call["model"],
            failed_call["agent"], failed_call["input_tokens"]) == ("llm", "error", "RateLimitError", "gpt-4o",
                                                                  None, 1100)  # a plain graph's node is no agent
    retry = spans["5f0c1e2a-0000-4000-8000-000000000003"]
    assert (retry["input_tokens"], retry["output_tokens"]) == (1100, 150)  # from outputs.usage_metadata
    assert spans["5f0c1e2a-0000-4000-8000-000000000001"]["input_tokens"] is None  # chains do not re-count tokens
    assert spans["5f0c1e2a-0000-4000-8000-000000000012"]["kind"] == "other"  # parser
    report = audit.run()
    # trace 1: a 429 retried 1.5 s later and recovered (quiet); trace 2: unparseable output ends the run
    assert [(f.rule_id, f.span_id, f.primary, f.severity) for f in report.findings] == [
        ("HO01", "5f0c1e2a-0000-4000-8000-000000000012", True, "high")]
    assert report.summary.failed_traces == 1
    # the root's total_cost already sums its children: counted once
    assert report.cost.total_cost_usd == pytest.approx(0.00275 + 0.00335 + 0.00265)


def test_langfuse_observations_json() -> None:
    audit = load("langfuse_observations.json")
    assert audit.sources()[0].format == "langfuse"
    spans = spans_by_id(audit)
    assert {k: v["kind"] for k, v in spans.items()} == {"obs-1": "chain", "obs-2": "llm", "obs-3": "other"}
    gen = spans["obs-2"]
    assert (gen["status"], gen["error_type"], gen["model"], gen["input_tokens"], gen["cost_usd"], gen["agent"]) == (
        "error", "BadRequestError", "claude-sonnet-4-5", 210000, 0.63, "researcher")
    assert spans["obs-3"]["duration_ms"] == 0
    report = audit.run()
    # the overflow was swallowed (the root says ok, nothing read or retried it): a silent failure first
    assert sorted((f.rule_id, f.span_id, f.primary) for f in report.findings) == [
        ("RC04", "obs-2", True), ("ST01", "obs-2", False)]
    assert report.summary.silent_failures == 1
    assert report.cost.total_cost_usd == pytest.approx(0.63)


def test_input_format_forced_and_unknown(tmp_path: Path) -> None:
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(FIXTURES / "langsmith_runs.jsonl")], input_format="langsmith")
    assert res.format == "langsmith" and res.notes[0].startswith("read as LangSmith runs")
    with pytest.raises(InputFileError, match="unknown input format"):
        Audit.open().load([SourceFile.of(FIXTURES / "langsmith_runs.jsonl")], input_format="zipkin")


def test_otlp_lines_malformed_line_is_quarantined(tmp_path: Path) -> None:
    t0 = 1_767_225_600_000_000_000
    good = otlp_request("t", [otlp_span("b7ad6b7169203331", "", "run", t0, t0 + 10**9)])
    other = otlp_request("t", [otlp_span("b7ad6b7169203332", "b7ad6b7169203331", "step", t0 + 1, t0 + 2)])
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(good) + '\n{"resourceSpans": [{"scopeSpans": \n' + json.dumps(other) + "\n")
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(path)])
    assert (res.format, res.rows_loaded, res.rows_quarantined) == ("otlp", 2, 1)
    assert audit.quarantine_frame()["reason"].tolist() == ["malformed JSON record on line 2: not valid JSON"]


def test_chat_transcripts_jsonl() -> None:
    audit = load("chat_transcripts.jsonl")
    assert audit.sources()[0].format == "chat"
    spans = spans_by_id(audit)
    assert len(spans) == 12  # 3 roots, 6 assistant turns, 3 tool calls
    timeout = spans["conv-1:call_1"]
    # the tool result reports the error as content: the span stays ok, the audit reads it in-band
    assert (timeout["kind"], timeout["name"], timeout["status"], timeout["input"]) == (
        "tool", "lookup_order", "ok", '{"order_id": "A-17"}')
    audit.classify()
    (status, error_type, inband, handled), = audit.con.execute(
        "SELECT status, error_type, inband, handled FROM span_facts WHERE span_id = 'conv-1:call_1'").fetchall()
    assert (status, error_type, inband, handled) == ("error", "TimeoutError", True, True)
    bad_args = spans["conv-2:call_a"]
    assert (bad_args["status"], bad_args["error_type"]) == ("error", "InvalidToolArguments")
    assert spans["conv-2:call_b"]["status"] == "ok"
    assert spans["conv-1:m2"]["model"] == "gpt-4o-mini" and spans["conv-1:m2"]["kind"] == "llm"
    # order kept without timestamps: the tool call sits between the turn that made it and the next
    assert spans["conv-1:m2"]["start_time"] < spans["conv-1:call_1"]["start_time"] < spans["conv-1:m4"]["start_time"]
    assert spans["conv-1:root"]["eval_passed"] is False
    report = audit.run()
    assert sorted((f.rule_id, f.span_id, f.primary, f.severity) for f in report.findings) == [
        ("HO03", "conv-2:call_a", False, "low"),  # re-asked with valid arguments: recovered
        ("RC02", "conv-1:call_1", True, "medium"),
        ("RC06", "conv-1:root", False, "high"),  # the agent read the timeout, then answered wrongly
    ]
    assert report.summary.failed_traces == 1


def test_langsmith_feedback_joins_by_run_id_with_score_name_and_threshold() -> None:
    audit = Audit.open(eval_score_name="correctness")
    audit.load([SourceFile.of(FIXTURES / "langsmith_runs.jsonl")])
    res = audit.load_evals(SourceFile.of(FIXTURES / "langsmith_feedback.csv"))
    assert (res.format, res.rows_loaded, res.rows_quarantined) == ("langsmith_feedback", 2, 0)
    assert "1 scores named other than 'correctness' were not used" in res.notes
    report = audit.run()
    # the trace that looked fine is judged wrong (score 0 < 0.5): a silent failure
    silent = [f for f in report.findings if f.rule_id == "RC06"]
    assert [(f.trace_id, f.primary) for f in silent] == [("5f0c1e2a-0000-4000-8000-000000000001", True)]
    assert report.summary.failed_traces == 2


def test_langfuse_scores_every_score_counts_by_default() -> None:
    audit = Audit.open()
    audit.load([SourceFile.of(FIXTURES / "langfuse_observations.json")])
    res = audit.load_evals(SourceFile.of(FIXTURES / "langfuse_scores.json"))
    assert (res.format, res.rows_loaded) == ("langfuse_scores", 2)
    assert audit.run().reliability.traces == 1
    (verdict,) = audit.con.execute("SELECT eval_passed FROM trace_facts").fetchone()
    assert verdict is False  # accuracy 0.9 passes, tone "fail" does not: all must pass
    passing = Audit.open(eval_score_name="accuracy")
    passing.load([SourceFile.of(FIXTURES / "langfuse_observations.json")])
    passing.load_evals(SourceFile.of(FIXTURES / "langfuse_scores.json"))
    passing.run()
    assert passing.con.execute("SELECT eval_passed FROM trace_facts").fetchone() == (True,)


def test_phoenix_span_annotations() -> None:
    audit = Audit.open(eval_score_name="correctness")
    audit.load([SourceFile.of(FIXTURES / "phoenix_spans.csv")])
    res = audit.load_evals(SourceFile.of(FIXTURES / "phoenix_annotations.csv"))
    assert (res.format, res.rows_loaded) == ("phoenix_annotations", 1)
    audit.run()
    assert audit.con.execute("SELECT eval_passed FROM trace_facts").fetchone() == (False,)


def test_verdict_rows_without_a_verdict_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "feedback.csv"
    path.write_text("run_id,key,score,value\nr1,correctness,,maybe\n,correctness,1,\n")
    audit = Audit.open()
    res = audit.load_evals(SourceFile.of(path))
    assert (res.rows_loaded, res.rows_quarantined) == (0, 2)
    reasons = audit.quarantine_frame()["reason"].tolist()
    assert reasons[0].startswith("no verdict") and reasons[1].startswith("missing trace_id")


def test_langgraph_agent_instrumented_by_openinference() -> None:
    """A real LangGraph agent (fake chat model, offline) traced by OpenInference: make_langgraph_otlp.py."""
    audit = Audit.open()
    [res] = audit.load([SourceFile.of(FIXTURES / "langgraph_openinference.jsonl")])
    assert (res.format, res.rows_quarantined) == ("otlp", 0)
    assert "attribute input.mime_type" in res.unmapped and "attribute llm.model_name" not in res.unmapped
    # the note counts every unmapped attribute and names them by prefix (a real export has hundreds)
    [note] = [n for n in res.notes if n.startswith("kept unmapped")]
    assert note.startswith(f"kept unmapped: {len(res.unmapped):,} attributes") and "llm.input_messages (" in note
    traces = audit.frame("SELECT trace_id, list(name ORDER BY start_time, span_id) AS names, "
                         "bool_or(status = 'error') AS has_error FROM spans GROUP BY 1 ORDER BY min(start_time)")
    assert len(traces) == 3
    ok, timeout, unknown = traces["trace_id"].tolist()
    assert not traces["has_error"].iloc[0] and traces["has_error"].iloc[1] and traces["has_error"].iloc[2]
    kinds = dict(audit.con.execute("SELECT name, any_value(kind) FROM spans GROUP BY 1").fetchall())
    assert kinds["GenericFakeChatModel"] == "llm" and kinds["lookup_order"] == "tool" and kinds["agent"] == "agent"
    report = audit.run()
    by_trace = {t: sorted((f.rule_id, f.primary) for f in report.findings if f.trace_id == t)
                for t in (ok, timeout, unknown)}
    assert by_trace[ok] == []  # agent -> tools -> agent -> done: one ReAct round, quiet
    assert by_trace[timeout] == [("RC02", True)]  # the tool timed out and nobody retried
    assert by_trace[unknown] == [("RO04", True)]  # the model asked for a tool that does not exist
    [timeout_finding] = [f for f in report.findings if f.trace_id == timeout]
    assert timeout_finding.step == "lookup_order"  # reported where the error began, not where it propagated


def test_same_exports_as_csv_json_array_and_parquet(tmp_path: Path) -> None:
    """LangSmith and Langfuse also export CSV / JSON arrays / Parquet; Phoenix saves Parquet."""
    import pandas as pd

    runs = [json.loads(line) for line in (FIXTURES / "langsmith_runs.jsonl").read_text().splitlines()]
    flat = pd.DataFrame([{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in runs])
    variants = {
        "runs.json": lambda p: p.write_text(json.dumps(runs)),
        "runs.csv": lambda p: flat.to_csv(p, index=False),
        "runs.parquet": lambda p: flat.to_parquet(p),
        "observations.csv": lambda p: pd.DataFrame([
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in o.items()}
            for o in json.loads((FIXTURES / "langfuse_observations.json").read_text())]).to_csv(p, index=False),
        "phoenix.parquet": lambda p: pd.read_csv(FIXTURES / "phoenix_spans.csv", dtype=str).to_parquet(p),
    }
    expected = {"runs.json": ("langsmith", 5, "HO01"), "runs.csv": ("langsmith", 5, "HO01"),
                "runs.parquet": ("langsmith", 5, "HO01"), "observations.csv": ("langfuse", 3, "RC04"),
                "phoenix.parquet": ("phoenix", 4, "ST02")}
    for name, write in variants.items():
        path = tmp_path / name
        write(path)
        audit = Audit.open()
        [res] = audit.load([SourceFile.of(path)])
        report = audit.run()
        primary = [f.rule_id for f in report.findings if f.primary]
        assert (res.format, res.rows_loaded, primary[0]) == expected[name], name


def test_otlp_older_genai_and_openllmetry_attributes(tmp_path: Path) -> None:
    t0 = 1_767_225_600_000_000_000
    spans = [
        otlp_span("b7ad6b7169203331", "", "workflow", t0, t0 + 10**9, attrs={"traceloop.span.kind": "workflow"}),
        otlp_span("b7ad6b7169203332", "b7ad6b7169203331", "openai.chat", t0 + 1, t0 + 2, attrs={
            "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 7}),
        otlp_span("b7ad6b7169203333", "b7ad6b7169203331", "lookup", t0 + 3, t0 + 4,
                  attrs={"traceloop.span.kind": "tool"}),
    ]
    path = tmp_path / "openllmetry.json"
    path.write_text(json.dumps(otlp_request("t", spans)))
    audit = Audit.open()
    audit.load([SourceFile.of(path)])
    rows = audit.con.execute("SELECT name, kind, provider, input_tokens, output_tokens FROM spans ORDER BY name").fetchall()
    assert rows == [("lookup", "tool", None, None, None), ("openai.chat", "llm", "openai", 100, 7),
                    ("workflow", "chain", None, None, None)]


def test_chat_transcript_message_timestamps_are_used(tmp_path: Path) -> None:
    conv = {"id": "c1", "messages": [
        {"role": "user", "content": "hi", "timestamp": "2026-03-01T10:00:00Z"},
        {"role": "assistant", "content": None, "timestamp": "2026-03-01T10:00:02Z", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "found", "timestamp": "2026-03-01T10:00:05Z"},
        {"role": "assistant", "content": "done", "timestamp": "2026-03-01T10:00:06Z"}]}
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(conv) + "\n")
    audit = Audit.open()
    audit.load([SourceFile.of(path)])
    rows = audit.con.execute("SELECT span_id, strftime(start_time, '%H:%M:%S'), strftime(end_time, '%H:%M:%S') "
                             "FROM spans ORDER BY start_time, span_id").fetchall()
    assert rows == [("c1:m1", "10:00:00", "10:00:02"), ("c1:root", "10:00:00", "10:00:06"),
                    ("c1:t1", "10:00:02", "10:00:05"), ("c1:m3", "10:00:05", "10:00:06")]


def test_langsmith_subgraph_namespace_names_the_agent(tmp_path: Path) -> None:
    """LangGraph runs each agent of a multi-agent graph as a subgraph node: its outer node is the agent."""
    rows = [
        {"id": "r1", "trace_id": "r1", "parent_run_id": None, "run_type": "chain", "name": "LangGraph",
         "start_time": "2026-01-01T00:00:00", "end_time": "2026-01-01T00:00:09", "status": "success",
         "extra": {"metadata": {}}},
        {"id": "r2", "trace_id": "r1", "parent_run_id": "r1", "run_type": "llm", "name": "ChatOpenAI",
         "start_time": "2026-01-01T00:00:01", "end_time": "2026-01-01T00:00:02", "status": "success",
         "extra": {"metadata": {"langgraph_node": "agent",
                                "langgraph_checkpoint_ns": "billing_agent:1f0|agent:2a1"}}},
        {"id": "r3", "trace_id": "r1", "parent_run_id": "r1", "run_type": "llm", "name": "ChatOpenAI",
         "start_time": "2026-01-01T00:00:03", "end_time": "2026-01-01T00:00:04", "status": "success",
         "extra": {"metadata": {"langgraph_node": "supervisor", "langgraph_checkpoint_ns": "supervisor:9c3"}}},
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    audit = Audit.open()
    audit.load([SourceFile.of(path)])
    spans = spans_by_id(audit)
    assert (spans["r2"]["agent"], spans["r3"]["agent"]) == ("billing_agent", None)


def test_otlp_tool_schema_reveals_a_redacted_argument_error(tmp_path: Path) -> None:
    """OpenInference tool spans carry their argument schema (`tool.parameters`): a call lacking a
    required key is a bad tool call even when the framework redacts its error (OpenAI Agents SDK),
    while a call that gives every required key (an optional one left out) stays quiet."""
    t0 = 1_767_225_600_000_000_000
    schema = json.dumps({"properties": {"order_id": {"type": "string"}, "amount": {"type": "number"},
                                        "reason": {"type": "string"}}, "required": ["order_id", "amount"]})
    tool = {"openinference.span.kind": "TOOL", "tool.name": "issue_refund", "tool.parameters": schema}
    spans = [
        otlp_span("b7ad6b7169203331", "", "Refunds", t0, t0 + 10**9, attrs={"openinference.span.kind": "AGENT"}),
        otlp_span("b7ad6b7169203332", "b7ad6b7169203331", "issue_refund", t0 + 1, t0 + 2,
                  attrs={**tool, "input.value": '{"order": "B-1", "amount": 12.0}',
                         "output.value": "An error occurred while running the tool. Please try again."}),
        otlp_span("b7ad6b7169203333", "b7ad6b7169203331", "issue_refund", t0 + 10**6, t0 + 2 * 10**6,
                  attrs={**tool, "input.value": '{"order_id": "B-1", "amount": 12.0}', "output.value": "queued"}),
        otlp_span("b7ad6b7169203334", "b7ad6b7169203331", "response", t0 + 3 * 10**6, t0 + 4 * 10**6,
                  attrs={"openinference.span.kind": "LLM", "output.value": "Refund queued."}),
    ]
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(otlp_request("t", spans)))
    audit = Audit.open()
    audit.load([SourceFile.of(path)])
    report = audit.run()
    [finding] = [f for f in report.findings if f.rule_id == "HO03"]
    assert finding.span_id == "b7ad6b7169203332" and "lacks order_id" in finding.evidence
    assert finding.severity == "low" and report.summary.failed_traces == 0  # the agent fixed the call
    no_schema = audit.con.execute("SELECT count(*) FROM spans WHERE extra IS NULL").fetchone()
    assert no_schema == (2,)  # spans without a schema keep no extra


def test_otlp_lines_in_small_batches_load_the_same_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real exports are parsed a batch of lines at a time (a whole file of real spans at once ran
    out of memory at 100k spans): any batch size gives the same spans, numbers and unmapped keys."""
    import audit.importers.otlp as otlp

    corpus = Path(__file__).parent / "frameworks" / "corpus" / "langgraph.otlp.jsonl.gz"
    columns = "trace_id, span_id, parent_span_id, name, kind, status, error_message, input, output, source_row"

    def load() -> tuple[list[tuple], list[str]]:
        audit = Audit.open()
        [res] = audit.load([SourceFile.of(corpus)])
        rows = audit.con.execute(f"SELECT {columns} FROM spans ORDER BY source_row").fetchall()
        return rows, res.unmapped

    whole = load()
    monkeypatch.setattr(otlp, "BATCH_BYTES", 300_000)  # a few lines per batch
    assert load() == whole
    assert len(whole[0]) == len({r[-1] for r in whole[0]}) > 1000  # every span numbered once


def test_long_messages_keep_head_and_tail(tmp_path: Path) -> None:
    """A fat span's messages are cut to max_message_chars: head and tail, where errors and the
    newest turns are, with a marker saying how much was cut."""
    middle = "history " * 5_000
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "chat", "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [{"key": "input.value", "value": {"stringValue": "FIRST " + middle + " LAST: ToolError"}},
                           {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}}]}
    path = tmp_path / "fat.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    audit = Audit.open(max_message_chars=1_000)
    audit.load([SourceFile.of(path)])
    [(text,)] = audit.con.execute("SELECT input FROM spans").fetchall()
    cut = len("FIRST " + middle + " LAST: ToolError") - 1_000
    assert text.startswith("FIRST history") and text.endswith(" LAST: ToolError")
    assert f" …[{cut} characters cut]… " in text and len(text) < 1_100


def test_forced_otlp_that_never_parses_is_one_clear_error(tmp_path: Path) -> None:
    """Nothing of a file forced as OTLP parses: one message naming the file, nothing loaded."""
    path = tmp_path / "broken.jsonl"
    path.write_text('{"resourceSpans": nope}\n{"resourceSpans": [}\n')
    audit = Audit.open()
    with pytest.raises(InputFileError, match=r"broken\.jsonl could not be read as OpenTelemetry OTLP JSON"):
        audit.load([SourceFile.of(path)], input_format="otlp")
    assert audit.con.execute("SELECT count(*) FROM spans").fetchone() == (0,)
