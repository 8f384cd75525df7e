"""Langfuse observations (CSV or JSON export)."""

from __future__ import annotations

from audit.importers.common import Columns, type_prefix


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
           CASE WHEN upper({level}) = 'ERROR' THEN coalesce({type_prefix(message)}, 'Error') END AS error_type,
           CASE WHEN upper({level}) = 'ERROR' THEN {message} END AS error_message,
           {c.col('model', 'providedModelName')} AS model, {tokens_in} AS input_tokens,
           {tokens_out} AS output_tokens, {cost} AS cost_usd,
           {c.col('input')} AS input, {c.col('output')} AS output, {c.col('metadata')} AS metadata,
           __audit_row
    FROM __raw"""


