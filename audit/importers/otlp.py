"""OpenTelemetry OTLP JSON (a whole export request, or one request per line) with the OTel
GenAI and OpenInference attribute conventions, parsed once per request into a typed
structure and navigated natively."""

from __future__ import annotations

from pathlib import Path

import duckdb

from audit.importers.common import MIN_JSON_OBJECT, read_lines, subgraph_agent
from audit.importers.conventions import (
    AGENT_ATTRIBUTES,
    ATTEMPT_ATTRIBUTES,
    INPUT_ATTRIBUTES,
    LANGGRAPH_NAMESPACE_KEY,
    OUTPUT_ATTRIBUTES,
    TOOL_NAME_ATTRIBUTES,
    TOOL_SCHEMA_ATTRIBUTES,
    TOOL_SCHEMA_KEY,
    ZERO_BASED_ATTEMPT_ATTRIBUTES,
)


def _id(expr: str) -> str:
    """OTLP/JSON ids are hex; protobuf's JSON mapping writes them base64: accept both."""
    return (f"CASE WHEN {expr} IS NULL OR {expr} = '' THEN NULL "
            f"WHEN regexp_full_match({expr}, '[0-9a-fA-F]{{16}}|[0-9a-fA-F]{{32}}') THEN lower({expr}) "
            f"ELSE lower(hex(try(from_base64({expr})))) END")  # undecodable: NULL, that span is quarantined


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


def _cut(text: str) -> str:
    """A message longer than the setting ``max_message_chars`` as its head (a quarter) and tail
    with a marker between: errors, retry prompts and the newest turns, which the audit reads,
    sit at the ends; the middle of a long conversation is what a real span is fat with."""
    limit = "coalesce(getvariable('audit_max_message'), 8000)"
    return (f"CASE WHEN length({text}) > {limit} THEN left({text}, {limit} // 4) || ' …[' "
            f"|| (length({text}) - {limit}) || ' characters cut]… ' || right({text}, {limit} - {limit} // 4) "
            f"ELSE {text} END")


# One batch of export requests into canonical columns; `sid` numbers the spans on from $offset.
OTLP_SQL = f"""
CREATE OR REPLACE TEMP TABLE __otlp_batch AS
WITH req AS ({{requests}}
), spans AS (
    SELECT row_number() OVER () + $offset AS sid, s, {_kv('s.attributes')} AS kv,
           {_kv("list_filter(s.events, lambda e: e.name = 'exception')[1].attributes")} AS exc,
           CAST(to_json(r.resource) AS VARCHAR) AS resource
    FROM (SELECT r, unnest(ss.spans) AS s
          FROM (SELECT r, unnest(r.scopeSpans) AS ss
                FROM (SELECT unnest(json_transform(j, '{OTLP_STRUCTURE}').resourceSpans) AS r FROM req)))
), a AS (
    SELECT sid, s, resource,
        {_attr('openinference.span.kind')} AS oi_kind, {_attr('gen_ai.operation.name')} AS op,
        {_attr('traceloop.span.kind')} AS tl_kind, {_attr('llm.request.type')} AS request_type,
        {_attr(*TOOL_NAME_ATTRIBUTES)} AS tool_name, {_attr(*TOOL_SCHEMA_ATTRIBUTES)} AS tool_schema,
        coalesce({_attr(*AGENT_ATTRIBUTES)},
                 {subgraph_agent("json_extract_string(TRY_CAST(" + _attr('metadata') + " AS JSON), '$." + LANGGRAPH_NAMESPACE_KEY + "')")})
            AS agent,
        {_attr('gen_ai.response.model', 'gen_ai.request.model', 'llm.model_name')} AS model,
        {_attr('gen_ai.provider.name', 'gen_ai.system', 'llm.provider')} AS provider,
        {_attr('gen_ai.usage.input_tokens', 'llm.token_count.prompt', 'gen_ai.usage.prompt_tokens',
               'llm.usage.prompt_tokens')} AS input_tokens,
        {_attr('gen_ai.usage.output_tokens', 'llm.token_count.completion', 'gen_ai.usage.completion_tokens',
               'llm.usage.completion_tokens')} AS output_tokens,
        {_attr(*INPUT_ATTRIBUTES)} AS input,
        {_attr(*OUTPUT_ATTRIBUTES)} AS output,
        {_attr('error.type')} AS error_type_attr,
        coalesce({_attr(*ATTEMPT_ATTRIBUTES)},
                 CAST(TRY_CAST({_attr(*ZERO_BASED_ATTEMPT_ATTRIBUTES)} AS BIGINT) + 1 AS VARCHAR)) AS attempt,
        {_attr('exception.type', source='exc')} AS exc_type,
        {_attr('exception.message', source='exc')} AS exc_message,
        s.status.code IN ('2', 'STATUS_CODE_ERROR') AS failed,
        list_transform(kv, lambda p: p.k) AS attribute_keys
    FROM spans
)
SELECT
    {_id("s.traceId")} AS trace_id, {_id("s.spanId")} AS span_id, {_id("s.parentSpanId")} AS parent_span_id,
    coalesce(tool_name, s.name) AS name,  -- a tool span is named after its tool, not its wrapper class
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
    model, provider, input_tokens, output_tokens, {_cut("input")} AS input, {_cut("output")} AS output, attempt,
    resource AS metadata, tool_schema AS {TOOL_SCHEMA_KEY},  -- not canonical: kept in `extra`
    sid AS __audit_row, attribute_keys AS __audit_keys
FROM a
ORDER BY sid
"""



BATCH_BYTES = 64 * 2**20  # export requests parsed at once: real lines run from 40 KB to 700 KB


def unmapped_otlp_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Span attribute keys of the loaded OTLP export that the importer does not read."""
    keys = con.execute("SELECT k FROM __otlp_keys ORDER BY k").fetchall()
    return [k for (k,) in keys if k not in OTLP_MAPPED_KEYS]


def read_otlp(con: duckdb.DuckDBPyConnection, path: str, lines: bool) -> None:
    """OTLP JSON into ``__raw`` with canonical columns: a whole export request (of any size),
    or one request per line, where a malformed line is quarantined and the rest still loads.

    Lines are parsed in batches of about ``BATCH_BYTES``: parsing a whole file of real spans at
    once (hundreds of MB of messages) ran out of memory, since a parse cannot spill."""
    con.execute("DROP TABLE IF EXISTS __raw")  # a previous file's rows must not be appended to
    con.execute("CREATE OR REPLACE TEMP TABLE __otlp_keys (k VARCHAR)")
    if not lines:
        size = max(MIN_JSON_OBJECT, Path(path).stat().st_size + 1)
        _transform(con, "SELECT json AS j FROM read_json_objects($path, format = 'auto', "
                        "maximum_object_size = $max_object)", {"path": path, "max_object": size})
        return
    read_lines(con, path)
    first, last, count, size = con.execute(
        "SELECT min(n), max(n), count(*), sum(length(line)) FROM __lines WHERE is_object").fetchone() or (None,) * 4
    if not count:
        _transform(con, "SELECT CAST(line AS JSON) AS j FROM __lines WHERE false", {})
        return
    step = max(1, int(BATCH_BYTES * count // max(size, 1)))
    for low in range(first, last + 1, step):
        _transform(con, "SELECT CAST(line AS JSON) AS j FROM __lines WHERE is_object AND n BETWEEN $low AND $high "
                        "ORDER BY n", {"low": low, "high": low + step - 1})


def _transform(con: duckdb.DuckDBPyConnection, requests: str, params: dict[str, object]) -> None:
    """One batch of requests appended to ``__raw`` (created by the first batch), spans numbered
    on from the rows already there; the batch's attribute keys kept once in ``__otlp_keys``."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '__raw' AND temporary"
                         ).fetchone() or (0,)
    offset = int((con.execute("SELECT count(*) FROM __raw").fetchone() or (0,))[0]) if exists[0] else 0
    con.execute(OTLP_SQL.replace("{requests}", requests), {**params, "offset": offset})
    con.execute("INSERT INTO __otlp_keys SELECT DISTINCT k FROM (SELECT unnest(__audit_keys) AS k FROM __otlp_batch) "
                "WHERE k NOT IN (SELECT k FROM __otlp_keys)")
    if exists[0]:
        con.execute("INSERT INTO __raw SELECT * EXCLUDE (__audit_keys) FROM __otlp_batch")
    else:
        con.execute("CREATE TEMP TABLE __raw AS SELECT * EXCLUDE (__audit_keys) FROM __otlp_batch")
    con.execute("DROP TABLE __otlp_batch")


