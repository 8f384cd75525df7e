"""Exports of tracing tools, mapped onto the canonical span columns with DuckDB's JSON
functions (no row loops). Each importer fills the ``__raw`` table with canonical column
names as text; the canonical ingest then types, checks and quarantines as usual.

Supported: OpenTelemetry OTLP JSON (a whole export request, or one per line) with the
OTel GenAI and OpenInference attribute conventions; Phoenix spans dataframes; LangSmith
runs; Langfuse observations; chat transcripts (OpenAI message format, one conversation
per line).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

FORMATS = ("canonical", "otlp", "phoenix", "langsmith", "langfuse", "chat")
LABELS = {"canonical": "the trace format", "otlp": "OpenTelemetry OTLP JSON", "phoenix": "Phoenix spans",
          "langsmith": "LangSmith runs", "langfuse": "Langfuse observations", "chat": "chat transcripts"}
MIN_JSON_OBJECT = 16 * 2**20  # DuckDB's buffer for one JSON value; a whole-file export is one value


def detect(path: Path, sniffed: str, head: bytes) -> str:
    """The export format from the file's structure (``otlp``, ``chat``), else ``canonical``;
    tables are told apart by their columns later (``detect_columns``)."""
    if sniffed != "json":
        return "canonical"
    if b'"resourceSpans"' in head:
        return "otlp"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except ValueError:
        return "canonical"
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        return "chat"
    return "canonical"


def _id(expr: str) -> str:
    """OTLP/JSON ids are hex; protobuf's JSON mapping writes them base64: accept both."""
    return (f"CASE WHEN {expr} IS NULL OR {expr} = '' THEN NULL "
            f"WHEN regexp_full_match({expr}, '[0-9a-fA-F]{{16}}|[0-9a-fA-F]{{32}}') THEN lower({expr}) "
            f"ELSE lower(hex(from_base64({expr}))) END")


_VALUE = '{"stringValue":"VARCHAR","intValue":"VARCHAR","doubleValue":"VARCHAR","boolValue":"VARCHAR"}'
_ATTRS = '[{"key":"VARCHAR","value":' + _VALUE + '}]'
# The OTLP JSON export request as one typed structure: parsed once, then navigated natively.
OTLP_STRUCTURE = (
    '{"resourceSpans":[{"resource":{"attributes":' + _ATTRS + '},"scopeSpans":[{"spans":[{'
    '"traceId":"VARCHAR","spanId":"VARCHAR","parentSpanId":"VARCHAR","name":"VARCHAR","kind":"VARCHAR",'
    '"startTimeUnixNano":"VARCHAR","endTimeUnixNano":"VARCHAR","attributes":' + _ATTRS + ','
    '"events":[{"name":"VARCHAR","attributes":' + _ATTRS + '}],"status":{"code":"VARCHAR","message":"VARCHAR"}'
    '}]}]}]}'
)


def _kv(attrs: str) -> str:
    """A list of OTLP attributes as (k, v) text pairs."""
    return (f"list_transform({attrs}, lambda a: {{'k': a.key, 'v': coalesce(a.value.stringValue, a.value.intValue, "
            f"a.value.doubleValue, a.value.boolValue)}})")


OTLP_MAPPED_KEYS: set[str] = set()  # every attribute key the importer reads, filled by _attr


def _attr(*keys: str, source: str = "kv") -> str:
    """The first of these attribute keys present on the span (keys are constants of this module)."""
    if source == "kv":
        OTLP_MAPPED_KEYS.update(keys)
    parts = [f"list_filter({source}, lambda a: a.k = '{k}')[1].v" for k in keys]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


OTLP_SQL = f"""
CREATE OR REPLACE TEMP TABLE __raw AS
WITH req AS ({{requests}}
), spans AS (
    SELECT row_number() OVER () AS sid, s, {_kv('s.attributes')} AS kv,
           {_kv("list_filter(s.events, lambda e: e.name = 'exception')[1].attributes")} AS exc,
           CAST(to_json(r.resource) AS VARCHAR) AS resource
    FROM (SELECT r, unnest(ss.spans) AS s
          FROM (SELECT r, unnest(r.scopeSpans) AS ss
                FROM (SELECT unnest(json_transform(j, '{OTLP_STRUCTURE}').resourceSpans) AS r FROM req)))
), a AS (
    SELECT sid, s, resource,
        {_attr('openinference.span.kind')} AS oi_kind, {_attr('gen_ai.operation.name')} AS op,
        {_attr('traceloop.span.kind')} AS tl_kind, {_attr('llm.request.type')} AS request_type,
        {_attr('gen_ai.tool.name', 'tool.name')} AS tool_name,
        {_attr('gen_ai.agent.name', 'agent.name', 'graph.node.id')} AS agent,
        {_attr('gen_ai.response.model', 'gen_ai.request.model', 'llm.model_name')} AS model,
        {_attr('gen_ai.provider.name', 'gen_ai.system', 'llm.provider')} AS provider,
        {_attr('gen_ai.usage.input_tokens', 'llm.token_count.prompt', 'gen_ai.usage.prompt_tokens',
               'llm.usage.prompt_tokens')} AS input_tokens,
        {_attr('gen_ai.usage.output_tokens', 'llm.token_count.completion', 'gen_ai.usage.completion_tokens',
               'llm.usage.completion_tokens')} AS output_tokens,
        {_attr('input.value', 'gen_ai.tool.call.arguments')} AS input,
        {_attr('output.value', 'gen_ai.tool.call.result')} AS output,
        {_attr('error.type')} AS error_type_attr,
        coalesce({_attr('retry.attempt', 'gen_ai.request.attempt', 'attempt')},
                 CAST(TRY_CAST({_attr('http.request.resend_count')} AS BIGINT) + 1 AS VARCHAR)) AS attempt,
        {_attr('exception.type', source='exc')} AS exc_type,
        {_attr('exception.message', source='exc')} AS exc_message,
        s.status.code IN ('2', 'STATUS_CODE_ERROR') AS failed,
        list_transform(kv, lambda p: p.k) AS attribute_keys
    FROM spans
)
SELECT
    {_id("s.traceId")} AS trace_id, {_id("s.spanId")} AS span_id, {_id("s.parentSpanId")} AS parent_span_id,
    s.name AS name,
    coalesce(lower(oi_kind),
             CASE WHEN op IN ('chat', 'text_completion', 'generate_content') THEN 'llm'
                  WHEN op = 'execute_tool' OR tool_name IS NOT NULL THEN 'tool'
                  WHEN op IN ('invoke_agent', 'create_agent') THEN 'agent'
                  WHEN op = 'embeddings' THEN 'embedding'
                  WHEN request_type IN ('chat', 'completion') THEN 'llm'
                  WHEN request_type = 'embedding' THEN 'embedding'
                  WHEN tl_kind IN ('workflow', 'task') THEN 'chain'
                  WHEN tl_kind IN ('agent', 'tool') THEN tl_kind END,
             'other') AS kind,
    agent, s.startTimeUnixNano AS start_time, s.endTimeUnixNano AS end_time,
    CASE WHEN failed THEN 'error' ELSE 'ok' END AS status,
    coalesce(exc_type, error_type_attr, CASE WHEN failed THEN 'Error' END) AS error_type,
    coalesce(exc_message, NULLIF(s.status.message, '')) AS error_message,
    model, provider, input_tokens, output_tokens, input, output, attempt,
    resource AS metadata, sid AS __audit_row, attribute_keys AS __audit_keys
FROM a
ORDER BY sid
"""


def unmapped_otlp_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Span attribute keys of the loaded OTLP export that the importer does not read."""
    keys = con.execute("SELECT DISTINCT unnest(__audit_keys) AS k FROM __raw ORDER BY k").fetchall()
    return [k for (k,) in keys if k not in OTLP_MAPPED_KEYS]


def read_lines(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A JSON Lines file as ``__lines`` (n, line, is_object); lines that are not JSON objects
    go to ``__rejected_lines`` with their line number and the reason."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __lines AS SELECT n, line, "
        "  left(ltrim(line), 1) = '{' AND json_valid(line) AS is_object "
        "FROM (SELECT row_number() OVER () AS n, line FROM read_csv(?, header = false, "
        "  columns = {'line': 'VARCHAR'}, delim = chr(31), quote = '', escape = '', auto_detect = false, "
        "  strict_mode = false))",
        [path],
    )
    con.execute(
        "INSERT INTO __rejected_lines SELECT n, left(line, 2000), 'malformed JSON record on line ' || n "
        "|| ': ' || CASE WHEN json_valid(line) THEN 'not a JSON object' ELSE 'not valid JSON' END "
        "FROM __lines WHERE trim(line) <> '' AND NOT is_object"
    )


def read_otlp(con: duckdb.DuckDBPyConnection, path: str, lines: bool) -> None:
    """OTLP JSON into ``__raw`` with canonical columns: a whole export request (of any size),
    or one request per line, where a malformed line is quarantined and the rest still loads."""
    if lines:
        read_lines(con, path)
        sql = OTLP_SQL.replace("{requests}", "SELECT CAST(line AS JSON) AS j FROM __lines WHERE is_object")
        con.execute(sql)
        return
    size = max(MIN_JSON_OBJECT, Path(path).stat().st_size + 1)
    sql = OTLP_SQL.replace("{requests}", "SELECT json AS j FROM read_json_objects($path, format = 'auto', "
                                         "maximum_object_size = $max_object)")
    con.execute(sql, {"path": path, "max_object": size})


# -- tabular exports: Phoenix spans dataframe, LangSmith runs, Langfuse observations ----------

def detect_columns(headers: list[str]) -> str:
    """The export format from a table's columns; ``canonical`` when it is none of the tools'."""
    cols = {h.strip().lower() for h in headers}
    if {"context.trace_id", "context.span_id"} <= cols:
        return "phoenix"
    if "traceid" in cols and "id" in cols and cols & {"type", "parentobservationid", "starttime"}:
        return "langfuse"
    if {"id", "trace_id"} <= cols and cols & {"run_type", "parent_run_id"}:
        return "langsmith"
    return "canonical"


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Columns:
    """SQL for a source table's columns that may or may not exist in a given export."""

    def __init__(self, headers: list[str]) -> None:
        self.by_lower = {h.strip().lower(): h for h in headers}
        self.used: set[str] = set()

    def col(self, *names: str) -> str:
        """The first present column as text, or NULL."""
        found = [self.by_lower[n.lower()] for n in names if n.lower() in self.by_lower]
        self.used.update(found)
        if not found:
            return "CAST(NULL AS VARCHAR)"
        parts = [f"NULLIF(TRIM({quote(h)}), '')" for h in found]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def json(self, column: str, *paths: str) -> str:
        """A field inside a JSON-text column (first path that has a value), or NULL."""
        if column.lower() not in self.by_lower:
            return "CAST(NULL AS VARCHAR)"
        self.used.add(self.by_lower[column.lower()])
        doc = f"TRY_CAST({quote(self.by_lower[column.lower()])} AS JSON)"
        parts = [f"NULLIF(json_extract_string({doc}, {sql_str(p)}), '')" for p in paths]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Exceptions as Phoenix writes them in `events`: a Python-literal list of dicts (or JSON).
EXCEPTION_TYPE_RX = r"""['"]exception[.]type['"]: *['"]([^'"]*)['"]"""
EXCEPTION_MSG_RX = (r"""['"]exception[.]message['"]: *'((?:[^'\\]|\\.)*)'""",
                    r"""['"]exception[.]message['"]: *"((?:[^"\\]|\\.)*)\"""")
ERROR_TYPE_PREFIX_RX = r"^([A-Za-z_][A-Za-z0-9_.]*)[(:]"


def _exception_type(events: str) -> str:
    return f"NULLIF(regexp_extract({events}, {sql_str(EXCEPTION_TYPE_RX)}, 1), '')"


def _exception_message(events: str) -> str:
    a, b = (f"NULLIF(regexp_extract({events}, {sql_str(rx)}, 1), '')" for rx in EXCEPTION_MSG_RX)
    return f"coalesce({a}, {b})"


def _type_prefix(text: str) -> str:
    return f"NULLIF(regexp_extract({text}, {sql_str(ERROR_TYPE_PREFIX_RX)}, 1), '')"


def phoenix_sql(c: Columns) -> str:
    """Phoenix ``get_spans_dataframe()`` saved as CSV/Parquet, flattened ``attributes.*`` columns."""
    def attr(*keys: str) -> str:
        flat = c.col(*(f"attributes.{k}" for k in keys))
        nested = c.json("attributes", *(f"$.{k}" for k in keys), *(f'$."{k}"' for k in keys))
        return f"coalesce({flat}, {nested})"

    events = c.col("events")
    status = c.col("status_code")
    return f"""
    SELECT {c.col('context.trace_id')} AS trace_id, {c.col('context.span_id')} AS span_id,
           {c.col('parent_id')} AS parent_span_id, {c.col('name')} AS name,
           coalesce({c.col('span_kind')}, {attr('openinference.span.kind')}) AS kind,
           coalesce({attr('agent.name')}, {attr('graph.node.id')}) AS agent,
           {c.col('start_time')} AS start_time, {c.col('end_time')} AS end_time,
           {status} AS status,
           CASE WHEN upper({status}) = 'ERROR'
                THEN coalesce({_exception_type(events)}, {_type_prefix(c.col('status_message'))}, 'Error') END
               AS error_type,
           CASE WHEN upper({status}) = 'ERROR'
                THEN coalesce({_exception_message(events)}, {c.col('status_message')}) END AS error_message,
           {attr('llm.model_name')} AS model, {attr('llm.provider')} AS provider,
           {attr('llm.token_count.prompt')} AS input_tokens, {attr('llm.token_count.completion')} AS output_tokens,
           {attr('input.value')} AS input, {attr('output.value')} AS output,
           {attr('retry.attempt', 'attempt')} AS attempt,
           __audit_row
    FROM __raw"""


def langsmith_sql(c: Columns) -> str:
    """LangSmith runs (CSV, JSONL, JSON array or Parquet bulk export)."""
    error = c.col("error")
    run_type = c.col("run_type")
    is_llm = f"lower({run_type}) = 'llm'"
    outputs_usage_in = c.json("outputs", "$.llm_output.token_usage.prompt_tokens", "$.usage_metadata.input_tokens",
                              "$.generations[0][0].message.kwargs.usage_metadata.input_tokens",
                              "$.llm_output.usage.input_tokens")
    outputs_usage_out = c.json("outputs", "$.llm_output.token_usage.completion_tokens",
                               "$.usage_metadata.output_tokens",
                               "$.generations[0][0].message.kwargs.usage_metadata.output_tokens",
                               "$.llm_output.usage.output_tokens")
    model = f"coalesce({c.col('extra.metadata.ls_model_name', 'ls_model_name')}, " \
            f"{c.json('extra', '$.metadata.ls_model_name', '$.invocation_params.model', '$.invocation_params.model_name')})"
    return f"""
    SELECT {c.col('trace_id')} AS trace_id, {c.col('id')} AS span_id, {c.col('parent_run_id')} AS parent_span_id,
           {c.col('name')} AS name, CASE WHEN lower({run_type}) = 'parser' THEN 'other' ELSE {run_type} END AS kind,
           coalesce({c.col('extra.metadata.langgraph_node')}, {c.json('extra', '$.metadata.langgraph_node')}) AS agent,
           {c.col('start_time')} AS start_time, {c.col('end_time')} AS end_time,
           CASE WHEN {error} IS NOT NULL AND lower(coalesce({c.col('status')}, 'error')) <> 'success' THEN 'error'
                ELSE coalesce({c.col('status')}, 'success') END AS status,
           CASE WHEN {error} IS NOT NULL THEN coalesce({_type_prefix(error)}, 'Error') END AS error_type,
           left({error}, 4000) AS error_message,
           CASE WHEN {is_llm} THEN {model} END AS model,
           coalesce({c.col('extra.metadata.ls_provider')}, {c.json('extra', '$.metadata.ls_provider')}) AS provider,
           CASE WHEN {is_llm} THEN coalesce({c.col('prompt_tokens')}, {outputs_usage_in}) END AS input_tokens,
           CASE WHEN {is_llm} THEN coalesce({c.col('completion_tokens')}, {outputs_usage_out}) END AS output_tokens,
           {c.col('total_cost')} AS cost_usd,
           {c.col('inputs')} AS input, {c.col('outputs')} AS output,
           __audit_row
    FROM __raw"""


def langfuse_sql(c: Columns) -> str:
    """Langfuse observations (CSV or JSON export)."""
    level = c.col("level")
    message = c.col("statusMessage", "status_message")
    tokens_in = f"coalesce({c.json('usageDetails', '$.input')}, {c.json('usage', '$.input', '$.promptTokens')}, " \
                f"{c.col('promptTokens', 'inputUsage', 'usageDetails.input', 'usage.input')})"
    tokens_out = f"coalesce({c.json('usageDetails', '$.output')}, {c.json('usage', '$.output', '$.completionTokens')}, " \
                 f"{c.col('completionTokens', 'outputUsage', 'usageDetails.output', 'usage.output')})"
    cost = f"coalesce({c.col('calculatedTotalCost', 'totalCost')}, {c.json('costDetails', '$.total')}, " \
           f"{c.col('costDetails.total')})"
    return f"""
    SELECT {c.col('traceId')} AS trace_id, {c.col('id')} AS span_id, {c.col('parentObservationId')} AS parent_span_id,
           {c.col('name')} AS name, {c.col('type')} AS kind,
           coalesce({c.json('metadata', '$.agent', '$.langgraph_node')}, {c.col('metadata.agent')}) AS agent,
           {c.col('startTime', 'start_time')} AS start_time,
           coalesce({c.col('endTime', 'end_time')}, {c.col('startTime', 'start_time')}) AS end_time,
           CASE WHEN upper({level}) = 'ERROR' THEN 'error' ELSE 'ok' END AS status,
           CASE WHEN upper({level}) = 'ERROR' THEN coalesce({_type_prefix(message)}, 'Error') END AS error_type,
           CASE WHEN upper({level}) = 'ERROR' THEN {message} END AS error_message,
           {c.col('model', 'providedModelName')} AS model, {tokens_in} AS input_tokens,
           {tokens_out} AS output_tokens, {cost} AS cost_usd,
           {c.col('input')} AS input, {c.col('output')} AS output, {c.col('metadata')} AS metadata,
           __audit_row
    FROM __raw"""


TABULAR = {"phoenix": phoenix_sql, "langsmith": langsmith_sql, "langfuse": langfuse_sql}


def transform_tabular(con: duckdb.DuckDBPyConnection, fmt: str, headers: list[str]) -> list[str]:
    """Replace ``__raw`` (the export as read) by its canonical columns; returns the export's
    columns that were not used, so the user can see what was left unmapped."""
    columns = Columns(headers)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __mapped AS {TABULAR[fmt](columns)}")
    con.execute("DROP TABLE __raw")
    con.execute("ALTER TABLE __mapped RENAME TO __raw")
    return [h for h in headers if h not in columns.used]


# -- chat transcripts: one conversation per line, OpenAI message format -----------------------

# A tool result that reports a failure: an "Error:" prefix, an error object, an exception text.
TOOL_ERROR_RX = r"^[[:space:]]*(error|exception)\b|^[[:space:]]*[{].*\"error\"[[:space:]]*:|Traceback \(most recent call|[A-Za-z]+(Error|Exception)[:(]"

CHAT_SQL = f"""
CREATE OR REPLACE TEMP TABLE __raw AS
WITH conv AS (
    SELECT n, CAST(line AS JSON) AS j,
           coalesce(json_extract_string(CAST(line AS JSON), '$.id'),
                    json_extract_string(CAST(line AS JSON), '$.conversation_id'),
                    json_extract_string(CAST(line AS JSON), '$.trace_id'), 'conversation-' || n) AS trace_id
    FROM __lines WHERE is_object
), indexed AS (
    SELECT n, trace_id, i, json_extract(j, '$.messages[' || i || ']') AS m, j
    FROM (SELECT n, trace_id, j, unnest(range(CAST(coalesce(json_array_length(j, '$.messages'), 0) AS BIGINT))) AS i FROM conv)
), msgs AS (  -- a message's own time when the transcript has one (ISO or epoch), else none
    SELECT *, lag(ts) OVER (PARTITION BY trace_id ORDER BY i) AS prev_ts
    FROM (SELECT *, coalesce(json_extract_string(m, '$.timestamp'), json_extract_string(m, '$.created_at'),
                             json_extract_string(m, '$.created')) AS ts FROM indexed)
), times AS (
    SELECT trace_id, min(ts) AS first_ts, max(ts) AS last_ts FROM msgs GROUP BY trace_id
), calls AS (
    SELECT n, trace_id, i, k, ts, json_extract(m, '$.tool_calls[' || k || ']') AS call
    FROM (SELECT n, trace_id, i, m, ts,
                 unnest(range(CAST(coalesce(json_array_length(m, '$.tool_calls'), 0) AS BIGINT))) AS k
          FROM msgs WHERE json_extract_string(m, '$.role') = 'assistant')
), results AS (
    SELECT trace_id, json_extract_string(m, '$.tool_call_id') AS call_id, min(i) AS i, any_value(ts) AS ts,
           any_value(coalesce(json_extract_string(m, '$.content'), '')) AS content
    FROM msgs WHERE json_extract_string(m, '$.role') = 'tool' GROUP BY 1, 2
), roots AS (
    SELECT c.trace_id, c.trace_id || ':root' AS span_id, NULL AS parent_span_id, 'conversation' AS name,
           'agent' AS kind, NULL AS agent,
           coalesce(t.first_ts, CAST(c.n * 86400 AS VARCHAR)) AS start_time,
           coalesce(t.last_ts, CAST(c.n * 86400 + coalesce(json_array_length(c.j, '$.messages'), 0) + 1 AS VARCHAR))
               AS end_time,
           'ok' AS status, NULL AS error_type, NULL AS error_message, NULL AS model,
           NULL AS input_tokens, NULL AS output_tokens,
           json_extract_string(c.j, '$.messages[0].content') AS input, NULL AS output,
           coalesce(json_extract_string(c.j, '$.eval_passed'), json_extract_string(c.j, '$.metadata.eval_passed'))
               AS eval_passed,
           c.n AS __audit_row, 0 AS ord
    FROM conv c LEFT JOIN times t ON t.trace_id = c.trace_id
), turns AS (
    SELECT m.trace_id, m.trace_id || ':m' || m.i, m.trace_id || ':root',
           coalesce(json_extract_string(m.m, '$.name'), 'assistant'), 'llm', json_extract_string(m.m, '$.name'),
           coalesce(m.prev_ts, m.ts, CAST(m.n * 86400 + m.i AS VARCHAR)),
           coalesce(m.ts, CAST(m.n * 86400 + m.i + 0.5 AS VARCHAR)),
           'ok', NULL, NULL,
           coalesce(json_extract_string(m.m, '$.model'), json_extract_string(m.j, '$.model')),
           json_extract_string(m.m, '$.usage.prompt_tokens'), json_extract_string(m.m, '$.usage.completion_tokens'),
           NULL, json_extract_string(m.m, '$.content'), NULL, m.n, 1 + m.i * 100
    FROM msgs m WHERE json_extract_string(m.m, '$.role') = 'assistant'
), tools AS (
    SELECT c.trace_id, c.trace_id || ':' || coalesce(json_extract_string(c.call, '$.id'), 'call' || c.i || '.' || c.k),
           c.trace_id || ':root', json_extract_string(c.call, '$.function.name'), 'tool', NULL,
           coalesce(c.ts, CAST(c.n * 86400 + c.i + 0.5 + 0.01 * (c.k + 1) AS VARCHAR)),
           coalesce(r.ts, CAST(c.n * 86400 + coalesce(r.i, c.i + 1) - 0.01 AS VARCHAR)),
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{{}}'))
                  OR regexp_matches(coalesce(r.content, ''), {sql_str(TOOL_ERROR_RX)}, 'i') THEN 'error' ELSE 'ok' END,
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{{}}'))
                THEN 'InvalidToolArguments'
                WHEN regexp_matches(coalesce(r.content, ''), {sql_str(TOOL_ERROR_RX)}, 'i')
                THEN coalesce(NULLIF(regexp_extract(r.content, '([A-Za-z]+(Error|Exception))', 1), ''), 'ToolError')
           END,
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{{}}'))
                THEN 'Invalid tool call arguments: not valid JSON: '
                     || left(json_extract_string(c.call, '$.function.arguments'), 200)
                WHEN regexp_matches(coalesce(r.content, ''), {sql_str(TOOL_ERROR_RX)}, 'i') THEN left(r.content, 2000)
           END,
           NULL, NULL, NULL, json_extract_string(c.call, '$.function.arguments'), r.content, NULL, c.n,
           2 + c.i * 100 + c.k
    FROM calls c LEFT JOIN results r
        ON r.trace_id = c.trace_id AND r.call_id = json_extract_string(c.call, '$.id')
)
SELECT trace_id, span_id, parent_span_id, name, kind, agent, start_time, end_time, status, error_type,
       error_message, model, input_tokens, output_tokens, input, output, eval_passed, __audit_row
FROM (SELECT * FROM roots UNION ALL SELECT * FROM turns UNION ALL SELECT * FROM tools)
ORDER BY __audit_row, ord
"""


def read_chat(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Chat transcripts (JSONL): each assistant turn an ``llm`` span, each tool call a ``tool``
    span whose status comes from its result. Messages' own times (``timestamp``, ``created_at``)
    are used when present; otherwise synthetic times keep the message order."""
    read_lines(con, path)
    con.execute(CHAT_SQL)
