"""Error wording of real libraries maps onto the right error family (audit/facts.py)."""

from __future__ import annotations

import pytest

from audit.db import connect
from audit.facts import family_case

CASES = {
    # pydantic / LangChain / LangGraph
    "OutputParserException: Invalid json output: Sure! Here is the JSON": "parse",
    "JSONDecodeError: Expecting value: line 1 column 1 (char 0)": "parse",
    "ValidationError: 1 validation error for Plan\n  Invalid JSON: EOF while parsing a value [type=json_invalid": "parse",
    "ValidationError: 1 validation error for Plan\nitems\n  Field required [type=missing": "schema",
    "OutputParserException: Failed to parse Plan from completion {}. Got: 1 validation error for Plan": "schema",
    "ToolException: Error invoking tool 'lookup' with kwargs {'x': 1} with error: Please fix your mistakes.": "tool_args",
    "KeyError: \"Input to ChatPromptTemplate is missing variables {'context'}\"": "state_key",
    "InvalidUpdateError: At key 'messages': Can receive only one value per step.": "state_key",
    "ValueError: Checkpointer requires one or more of the following 'configurable' keys: ['thread_id']": "state_key",
    "GraphRecursionError: Recursion limit of 25 reached without hitting a stop condition.": "recursion_limit",
    "ToolException: Error: search is not a valid tool, try one of [lookup].": "unknown_tool",
    # wording of the framework corpus (tests/frameworks/)
    "UsageLimitExceeded: The next request would exceed the request_limit of 6. Consider raising the limit": "recursion_limit",
    "UsageLimitExceeded: The next tool call(s) would exceed the tool_calls_limit of 5 (tool_calls=6).": "recursion_limit",
    "UnexpectedModelBehavior: Exceeded maximum output retries (1)": "schema",
    "Error: Error in agent run: {'error': \"'customer_tier'\"}": "state_key",
    "Error: Error running tool read_outline: 'outline'": "state_key",
    "AttributeError: 'NoneType' object has no attribute 'prompt_tokens'": "other",
    "AgentExecutionError: Forbidden function evaluation: 'translate_text' is not among the explicitly allowed tools": "unknown_tool",
    "AgentToolCallError: Argument amount has type 'string' but should be 'number'": "tool_args",
    "ToolError: Error executing tool. coworker mentioned not found, it must be one of the following options": "unknown_tool",
    "ToolError: Arguments validation failed: 2 validation errors for Summarise_Text": "tool_args",
    'ToolError: {"error": "FARE_CLASS_UNAVAILABLE", "detail": "sold out"}': "other",
    "UNAVAILABLE: failed to connect to all addresses": "server_error",
    "EmptyOutput: empty model output: an assistant turn with no content and no tool calls": "parse",
    # OpenAI / OpenAI Agents SDK
    "BadRequestError: Error code: 400 - {'error': {'code': 'context_length_exceeded'}}": "context_overflow",
    "BadRequestError: Error code: 400 - Invalid 'messages[2].tool_calls[0].function.arguments'": "tool_args",
    "RateLimitError: Error code: 429 - {'error': {'code': 'rate_limit_exceeded'}}": "rate_limit",
    "APITimeoutError: Request timed out.": "timeout",
    "APIConnectionError: Connection error.": "connection",
    "InternalServerError: Error code: 503 - The server is overloaded": "server_error",
    "MaxTurnsExceeded: Max turns (10) exceeded": "recursion_limit",
    "ModelBehaviorError: Tool lookup_v2 not found in agent Support": "unknown_tool",
    # Anthropic
    "BadRequestError: prompt is too long: 214013 tokens > 200000 maximum": "context_overflow",
    "OverloadedError: Error code: 529 - {'type': 'overloaded_error'}": "server_error",
    "APIStatusError: {'type': 'error', 'error': {'type': 'api_error', 'message': 'Internal server error'}}":
        "server_error",
    # Google
    "ResourceExhausted: 429 Resource has been exhausted (e.g. check quota).": "rate_limit",
    "DeadlineExceeded: 504 Deadline Exceeded": "timeout",
    "InvalidArgument: 400 The input token count (1100000) exceeds the maximum number of tokens allowed": "context_overflow",
    # httpx / requests / MCP / other frameworks
    "ReadTimeout: The read operation timed out": "timeout",
    "ConnectError: [Errno 111] Connection refused": "connection",
    "HTTPStatusError: Server error '502 Bad Gateway' for url 'https://x'": "server_error",
    "McpError: Invalid params: missing field 'query'": "tool_args",
    "Action 'search the web' don't exist, these are the only available Actions: [Search]": "unknown_tool",
    "AgentMaxStepsError: Reached max steps.": "recursion_limit",
    "ModelBehaviorError: Invalid JSON input for tool lookup: {'order'": "tool_args",
    "ValueError: Could not extract json string from output: Sure!": "parse",
    "BadRequestError: tool_use ids were found without tool_result blocks immediately after": "state_key",
    "BadRequestError: An assistant message with 'tool_calls' must be followed by tool messages responding": "state_key",
    # look-alikes that are none of the families
    "HTTPStatusError: Client error '404 Not Found' for url 'https://x/orders/1'": "other",
    "ZeroDivisionError: division by zero": "other",
    "ValueError: amount must be positive, got 500": "other",
}


@pytest.mark.parametrize(("text", "family"), list(CASES.items()), ids=[t[:40] for t in CASES])
def test_error_family(text: str, family: str) -> None:
    sql = "SELECT " + family_case("CAST($t AS VARCHAR)")
    assert connect().execute(sql, {"t": text}).fetchone()[0] == family
