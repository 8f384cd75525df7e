"""Handoff layer: one component's output does not fit the next one's contract."""

from __future__ import annotations

from audit.rules.base import Rule
from audit.rules.sqlparts import error_rule


class HO01(Rule):
    """Model output could not be parsed into the structure the next step expects.

    Why: the step handed on prose, truncated or malformed JSON where a structure was
    expected (LangChain OutputParserException, json.JSONDecodeError, pydantic json_invalid,
    OpenAI LengthFinishReasonError); every such failure costs at least a round trip.
    Remedy: use the provider's structured-output or tool-use mode and validate the reply
    with a schema before handing it on; keep a bounded re-ask on parse failure.
    Fails: an llm span with error_type OutputParserException, "Invalid json output: Sure! Here is".
    Passes: an llm span that returned valid JSON, or a timeout (that is a recovery matter).
    """

    name = "handoff.output_parse"
    layer = "handoff"
    mode = "output_parse_error"
    severity = "high"
    sql = error_rule("error_family = 'parse'")


class HO02(Rule):
    """A handoff payload failed schema validation.

    Why: the payload parsed but does not match the receiving step's contract (missing
    field, wrong type, extra field), so the next step cannot use it.
    Remedy: share one schema (pydantic model or JSON Schema) between producer and consumer,
    enforce it with structured outputs, and validate at every handoff.
    Fails: a span failing with "1 validation error for Order\\nrefund_amount Field required".
    Passes: a span whose output validated, or a schema error inside a tool's arguments (HO03).
    """

    name = "handoff.schema_validation"
    layer = "handoff"
    mode = "schema_mismatch"
    severity = "high"
    sql = error_rule("error_family = 'schema' AND kind <> 'tool'")


class HO03(Rule):
    """A tool was called with invalid arguments.

    Why: the model produced a tool call whose arguments do not fit the tool's signature
    or argument schema (LangGraph ToolNode "Error invoking tool ... with kwargs",
    TypeError "unexpected keyword argument", pydantic errors on a tool span).
    Remedy: give tools strict argument schemas (strict function calling), validate
    arguments before execution, and return the validation error to the model once.
    Fails: a tool span with "TypeError: lookup() got an unexpected keyword argument 'id'".
    Passes: a tool span that ran, or a tool that failed on a network timeout.
    """

    name = "handoff.tool_arguments"
    layer = "handoff"
    mode = "invalid_tool_args"
    severity = "medium"
    sql = error_rule("(error_family = 'tool_args' OR (kind = 'tool' AND error_family = 'schema'))")


RULES = [HO01, HO02, HO03]
