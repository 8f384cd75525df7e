"""What frameworks write, as data every importer reads: which attributes name a span's agent,
and what an error reported as content (in-band) looks like. Supporting the next framework
should be a row here, not a new code path."""

from __future__ import annotations

# OTLP attribute keys naming the agent that owns a span, first present wins: OTel GenAI,
# OpenInference, and graph frameworks' node ids.
AGENT_ATTRIBUTES = ("gen_ai.agent.name", "agent.name", "graph.node.id")

# A tool result that reports a failure: an "Error:" prefix, an error object, an exception text.
INBAND_ERROR_RX = (
    r"^[[:space:]]*(error|exception)\b|^[[:space:]]*[{].*\"error\"[[:space:]]*:|Traceback \(most recent call"
    r"|[A-Za-z]+(Error|Exception)[:(]"
)
