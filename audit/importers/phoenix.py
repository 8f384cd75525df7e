"""Phoenix ``get_spans_dataframe()`` exports (CSV or Parquet), flattened ``attributes.*``."""

from __future__ import annotations

from audit.importers.common import Columns, exception_message, exception_type, subgraph_agent, type_prefix
from audit.importers.conventions import LANGGRAPH_NAMESPACE_KEY, TOOL_SCHEMA_ATTRIBUTES, TOOL_SCHEMA_KEY


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
           coalesce({attr('agent.name')}, {attr('graph.node.id')},
                    {subgraph_agent(f"coalesce({attr('metadata.' + LANGGRAPH_NAMESPACE_KEY)}, json_extract_string("
                                    f"TRY_CAST({attr('metadata')} AS JSON), '$.{LANGGRAPH_NAMESPACE_KEY}'))")}) AS agent,
           {c.col('start_time')} AS start_time, {c.col('end_time')} AS end_time,
           {status} AS status,
           CASE WHEN upper({status}) = 'ERROR'
                THEN coalesce({exception_type(events)}, {type_prefix(c.col('status_message'))}, 'Error') END
               AS error_type,
           CASE WHEN upper({status}) = 'ERROR'
                THEN coalesce({exception_message(events)}, {c.col('status_message')}) END AS error_message,
           {attr('llm.model_name')} AS model, {attr('llm.provider')} AS provider,
           {attr('llm.token_count.prompt')} AS input_tokens, {attr('llm.token_count.completion')} AS output_tokens,
           {attr('input.value')} AS input, {attr('output.value')} AS output,
           {attr('retry.attempt', 'attempt')} AS attempt,
           {attr(*TOOL_SCHEMA_ATTRIBUTES)} AS {TOOL_SCHEMA_KEY},  -- not canonical: kept in `extra`
           __audit_row
    FROM __raw"""


