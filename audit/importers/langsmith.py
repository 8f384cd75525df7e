"""LangSmith runs (CSV, JSONL, JSON array or Parquet bulk export)."""

from __future__ import annotations

from audit.importers.common import Columns, subgraph_agent, type_prefix
from audit.importers.conventions import LANGGRAPH_NAMESPACE_KEY


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
           {subgraph_agent(f"coalesce({c.col('extra.metadata.' + LANGGRAPH_NAMESPACE_KEY)}, "
                           f"{c.json('extra', '$.metadata.' + LANGGRAPH_NAMESPACE_KEY)})")} AS agent,
           {c.col('start_time')} AS start_time, {c.col('end_time')} AS end_time,
           CASE WHEN {error} IS NOT NULL AND lower(coalesce({c.col('status')}, 'error')) <> 'success' THEN 'error'
                ELSE coalesce({c.col('status')}, 'success') END AS status,
           CASE WHEN {error} IS NOT NULL THEN coalesce({type_prefix(error)}, 'Error') END AS error_type,
           left({error}, 4000) AS error_message,
           CASE WHEN {is_llm} THEN {model} END AS model,
           coalesce({c.col('extra.metadata.ls_provider')}, {c.json('extra', '$.metadata.ls_provider')}) AS provider,
           CASE WHEN {is_llm} THEN coalesce({c.col('prompt_tokens')}, {outputs_usage_in}) END AS input_tokens,
           CASE WHEN {is_llm} THEN coalesce({c.col('completion_tokens')}, {outputs_usage_out}) END AS output_tokens,
           {c.col('total_cost')} AS cost_usd,
           {c.col('inputs')} AS input, {c.col('outputs')} AS output,
           __audit_row
    FROM __raw"""


