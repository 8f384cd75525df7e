"""Chat transcripts: one conversation per line in the OpenAI message format."""

from __future__ import annotations

import duckdb

from audit.importers.common import read_lines

CHAT_SQL = """
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
           -- a conversation that crashed says so on the record: {"status": "error", "error": {...}}
           coalesce(json_extract_string(c.j, '$.status'), 'ok') AS status,
           coalesce(json_extract_string(c.j, '$.error.type'), json_extract_string(c.j, '$.error.code'),
                    CASE WHEN json_extract_string(c.j, '$.error') IS NOT NULL THEN 'Error' END) AS error_type,
           coalesce(json_extract_string(c.j, '$.error.message'),
                    CASE WHEN json_type(c.j, '$.error') = 'VARCHAR' THEN json_extract_string(c.j, '$.error') END)
               AS error_message, NULL AS model,
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
           -- an assistant turn with neither content nor tool calls: the model's reply was lost
           -- (an invalid tool call the exporter dropped, or an empty completion)
           CASE WHEN coalesce(json_extract_string(m.m, '$.content'), '') = '' AND coalesce(json_array_length(m.m, '$.tool_calls'), 0) = 0 THEN 'error' ELSE 'ok' END,
           CASE WHEN coalesce(json_extract_string(m.m, '$.content'), '') = '' AND coalesce(json_array_length(m.m, '$.tool_calls'), 0) = 0 THEN 'EmptyOutput' END,
           CASE WHEN coalesce(json_extract_string(m.m, '$.content'), '') = '' AND coalesce(json_array_length(m.m, '$.tool_calls'), 0) = 0 THEN 'empty model output: an assistant turn with no content and no tool calls' END,
           coalesce(json_extract_string(m.m, '$.model'), json_extract_string(m.j, '$.model')),
           json_extract_string(m.m, '$.usage.prompt_tokens'), json_extract_string(m.m, '$.usage.completion_tokens'),
           NULL, json_extract_string(m.m, '$.content'), NULL, m.n, 1 + m.i * 100
    FROM msgs m WHERE json_extract_string(m.m, '$.role') = 'assistant'
), tools AS (
    SELECT c.trace_id, c.trace_id || ':' || coalesce(json_extract_string(c.call, '$.id'), 'call' || c.i || '.' || c.k),
           c.trace_id || ':root', json_extract_string(c.call, '$.function.name'), 'tool', NULL,
           coalesce(c.ts, CAST(c.n * 86400 + c.i + 0.5 + 0.01 * (c.k + 1) AS VARCHAR)),
           -- a call nobody answered ends where it started (the conversation stopped there)
           CASE WHEN r.call_id IS NULL THEN coalesce(c.ts, CAST(c.n * 86400 + c.i + 0.5 + 0.01 * (c.k + 1) AS VARCHAR))
                ELSE coalesce(r.ts, CAST(c.n * 86400 + coalesce(r.i, c.i + 1) - 0.01 AS VARCHAR)) END,
           -- a result that reports an error stays ok here: the audit reads it as an in-band error;
           -- an unanswered call in a conversation that crashed is where it crashed
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{}'))
                  OR (r.call_id IS NULL AND v.status = 'error') THEN 'error' ELSE 'ok' END,
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{}'))
                THEN 'InvalidToolArguments'
                WHEN r.call_id IS NULL AND v.status = 'error' THEN v.error_type END,
           CASE WHEN NOT json_valid(coalesce(json_extract_string(c.call, '$.function.arguments'), '{}'))
                THEN 'Invalid tool call arguments: not valid JSON: '
                     || left(json_extract_string(c.call, '$.function.arguments'), 200)
                WHEN r.call_id IS NULL AND v.status = 'error' THEN v.error_message END,
           NULL, NULL, NULL, json_extract_string(c.call, '$.function.arguments'), r.content, NULL, c.n,
           2 + c.i * 100 + c.k
    FROM calls c LEFT JOIN results r
        ON r.trace_id = c.trace_id AND r.call_id = json_extract_string(c.call, '$.id')
    LEFT JOIN roots v ON v.trace_id = c.trace_id
)
SELECT u.trace_id, span_id, parent_span_id, name, kind, agent, start_time, end_time, status, error_type,
       error_message, model, input_tokens, output_tokens, input, output, eval_passed,
       -- a transcript without message times gets times that only keep the order: say so
       CASE WHEN t.first_ts IS NULL THEN '{"synthetic_times": true}' END AS metadata, __audit_row
FROM (SELECT * FROM roots UNION ALL SELECT * FROM turns UNION ALL SELECT * FROM tools) u
LEFT JOIN times t ON t.trace_id = u.trace_id
ORDER BY __audit_row, ord
"""


def read_chat(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Chat transcripts (JSONL): each assistant turn an ``llm`` span, each tool call a ``tool``
    span whose status comes from its result. Messages' own times (``timestamp``, ``created_at``)
    are used when present; otherwise synthetic times keep the message order."""
    read_lines(con, path)
    con.execute(CHAT_SQL)
