"""Exports of tracing tools, mapped onto the canonical span columns with DuckDB's JSON
functions (no row loops). Each importer fills the ``__raw`` table with canonical column
names as text; the canonical ingest then types, checks and quarantines as usual.

Supported so far: OpenTelemetry OTLP JSON (a whole export request, or one per line),
with the OTel GenAI and OpenInference attribute conventions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

FORMATS = ("canonical", "otlp")
MIN_JSON_OBJECT = 16 * 2**20  # DuckDB's buffer for one JSON value; a whole-file export is one value


def detect(path: Path, sniffed: str, head: bytes) -> str:
    """The export format from the file's structure: ``otlp`` or ``canonical``."""
    if sniffed == "json" and b'"resourceSpans"' in head:
        return "otlp"
    return "canonical"


def _attr(key: str) -> str:
    return f"max(CASE WHEN k = '{key}' THEN v END)"  # keys are constants of this module


def _id(expr: str) -> str:
    """OTLP/JSON ids are hex; protobuf's JSON mapping writes them base64: accept both."""
    return (f"CASE WHEN {expr} IS NULL OR {expr} = '' THEN NULL "
            f"WHEN regexp_full_match({expr}, '[0-9a-fA-F]{{16}}|[0-9a-fA-F]{{32}}') THEN lower({expr}) "
            f"ELSE lower(hex(from_base64({expr}))) END")


OTLP_SQL = f"""
CREATE OR REPLACE TEMP TABLE __raw AS
WITH req AS (
    SELECT json AS j FROM read_json_objects(?, format = 'auto', maximum_object_size = $max_object)
), spans AS (
    SELECT row_number() OVER () AS sid, s AS j, json_extract_string(rs, '$.resource') AS resource
    FROM (SELECT rs, unnest(json_extract(ss, '$.spans[*]')) AS s
          FROM (SELECT rs, unnest(json_extract(rs, '$.scopeSpans[*]')) AS ss
                FROM (SELECT unnest(json_extract(j, '$.resourceSpans[*]')) AS rs FROM req)))
), attrs AS (
    SELECT sid, json_extract_string(a, '$.key') AS k,
           coalesce(json_extract_string(a, '$.value.stringValue'), json_extract_string(a, '$.value.intValue'),
                    json_extract_string(a, '$.value.doubleValue'), json_extract_string(a, '$.value.boolValue'))
               AS v
    FROM (SELECT sid, unnest(json_extract(j, '$.attributes[*]')) AS a FROM spans)
), exceptions AS (
    SELECT sid, k, v FROM (
        SELECT sid, json_extract_string(a, '$.key') AS k,
               coalesce(json_extract_string(a, '$.value.stringValue'), '') AS v
        FROM (SELECT sid, unnest(json_extract(e, '$.attributes[*]')) AS a
              FROM (SELECT sid, unnest(json_extract(j, '$.events[*]')) AS e FROM spans)
              WHERE json_extract_string(e, '$.name') = 'exception'))
), a AS (
    SELECT sid,
        {_attr('openinference.span.kind')} AS oi_kind, {_attr('gen_ai.operation.name')} AS op,
        {_attr('gen_ai.tool.name')} AS tool_name, {_attr('tool.name')} AS oi_tool,
        coalesce({_attr('gen_ai.agent.name')}, {_attr('agent.name')}, {_attr('graph.node.id')}) AS agent,
        coalesce({_attr('gen_ai.response.model')}, {_attr('gen_ai.request.model')}, {_attr('llm.model_name')}) AS model,
        coalesce({_attr('gen_ai.provider.name')}, {_attr('gen_ai.system')}, {_attr('llm.provider')}) AS provider,
        coalesce({_attr('gen_ai.usage.input_tokens')}, {_attr('llm.token_count.prompt')}) AS input_tokens,
        coalesce({_attr('gen_ai.usage.output_tokens')}, {_attr('llm.token_count.completion')}) AS output_tokens,
        coalesce({_attr('input.value')}, {_attr('gen_ai.tool.call.arguments')}) AS input,
        coalesce({_attr('output.value')}, {_attr('gen_ai.tool.call.result')}) AS output,
        {_attr('error.type')} AS error_type_attr
    FROM attrs GROUP BY sid
), e AS (
    SELECT sid, {_attr('exception.type')} AS exc_type, {_attr('exception.message')} AS exc_message
    FROM exceptions GROUP BY sid
)
SELECT
    {_id("json_extract_string(s.j, '$.traceId')")} AS trace_id,
    {_id("json_extract_string(s.j, '$.spanId')")} AS span_id,
    {_id("json_extract_string(s.j, '$.parentSpanId')")} AS parent_span_id,
    json_extract_string(s.j, '$.name') AS name,
    coalesce(lower(a.oi_kind),
             CASE WHEN a.op IN ('chat', 'text_completion', 'generate_content') THEN 'llm'
                  WHEN a.op = 'execute_tool' OR a.tool_name IS NOT NULL OR a.oi_tool IS NOT NULL THEN 'tool'
                  WHEN a.op IN ('invoke_agent', 'create_agent') THEN 'agent'
                  WHEN a.op = 'embeddings' THEN 'embedding' END,
             'other') AS kind,
    a.agent AS agent,
    json_extract_string(s.j, '$.startTimeUnixNano') AS start_time,
    json_extract_string(s.j, '$.endTimeUnixNano') AS end_time,
    CASE WHEN json_extract_string(s.j, '$.status.code') IN ('2', 'STATUS_CODE_ERROR') THEN 'error' ELSE 'ok' END
        AS status,
    coalesce(e.exc_type, a.error_type_attr,
             CASE WHEN json_extract_string(s.j, '$.status.code') IN ('2', 'STATUS_CODE_ERROR') THEN 'Error' END)
        AS error_type,
    coalesce(e.exc_message, json_extract_string(s.j, '$.status.message')) AS error_message,
    a.model AS model, a.provider AS provider, a.input_tokens AS input_tokens, a.output_tokens AS output_tokens,
    a.input AS input, a.output AS output,
    s.resource AS metadata,
    s.sid AS __audit_row
FROM spans s LEFT JOIN a USING (sid) LEFT JOIN e USING (sid)
ORDER BY s.sid
"""


def read_otlp(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """OTLP JSON (whole request or one per line) into ``__raw`` with canonical columns."""
    size = max(MIN_JSON_OBJECT, Path(path).stat().st_size + 1)
    con.execute(OTLP_SQL.replace("?", "$path", 1), {"path": path, "max_object": size})
