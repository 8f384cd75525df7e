"""What frameworks write, as data every importer reads: which attributes name a span's agent,
and what an error reported as content (in-band) looks like. Supporting the next framework
should be a row here, not a new code path."""

from __future__ import annotations

# OTLP attribute keys naming the agent that owns a span, first present wins: OTel GenAI,
# OpenInference, and graph frameworks' node ids.
AGENT_ATTRIBUTES = ("gen_ai.agent.name", "agent.name", "graph.node.id")
# LangGraph names no agent attribute: a multi-agent graph runs each agent as a subgraph node,
# and its spans carry metadata.langgraph_checkpoint_ns = "<node>:<id>|<inner node>:<id>". The
# outer node of a span inside a subgraph is its agent (a plain graph's nodes are not agents).
LANGGRAPH_NAMESPACE_KEY = "langgraph_checkpoint_ns"
# Tools that hand the work to another agent (LangGraph supervisor and swarm, OpenAI Agents SDK):
# they run inside the agent that hands over, so their name is not an agent's.
HANDOFF_TOOL_RX = r"^(transfer|handoff|hand_off)_(back_)?to_"
# Arguments of a delegation tool that name the agent the work goes to (CrewAI's "Delegate work
# to coworker", supervisors' assign tools).
DELEGATE_ARGUMENTS = ("coworker", "agent_name", "assignee")
# The tool a tool span ran (frameworks often name the span after a wrapper class: SimpleTool).
TOOL_NAME_ATTRIBUTES = ("gen_ai.tool.name", "tool.name")
# What a span received and produced: OpenInference values, GenAI tool calls and messages.
INPUT_ATTRIBUTES = ("input.value", "gen_ai.tool.call.arguments", "gen_ai.input.messages", "gen_ai.prompt")
OUTPUT_ATTRIBUTES = ("llm.output_messages.0.message.content", "output.value", "gen_ai.tool.call.result", "gen_ai.output.messages", "gen_ai.completion")
# The attempt number of a retried call: 1-based, and 0-based counters of re-sends.
ATTEMPT_ATTRIBUTES = ("retry.attempt", "gen_ai.request.attempt", "attempt")
ZERO_BASED_ATTEMPT_ATTRIBUTES = ("http.request.resend_count", "pydantic_ai.model_request.attempt")

# A tool result that reports a failure instead of raising (in-band): the span says ok, the
# framework hands this text back to the model. Matched on tool spans' output.
INBAND_ERROR_PATTERNS: tuple[str, ...] = (
    r"^[[:space:]]*(error|exception|failed|failure)\b",  # "Error: ...", ToolNode / chat tools
    r"^[[:space:]]*[{].*\"(error|exception)\"[[:space:]]*:[[:space:]]*[\"{]",  # {"error": "..."}
    r"\"isError\"[[:space:]]*:[[:space:]]*true",  # MCP CallToolResult
    r"\"status\"[[:space:]]*:[[:space:]]*\"error\"",  # LangChain ToolMessage(status="error")
    r"Traceback \(most recent call",
    r"An error occurred while running the tool",  # OpenAI Agents SDK default tool error
    r"is not a valid tool|Unknown tool name|Fix the errors and try again",  # LangGraph, PydanticAI retry prompts
)
# Prompts a framework sends for a last answer once an agent ran out of steps or repeated
# itself: the run hit its limit there (a regex each, and a plain word each to find them fast).
LIMIT_PROMPTS = (
    "got stuck and failed to do so",  # smolagents after max_steps
    "you MUST give your absolute best final answer",  # CrewAI after max_iter
)
LIMIT_PROMPT_HINTS = ("stuck", "absolute best final answer")
# (CrewAI's repeat guard, "I tried reusing the same input, I must stop using this action
# input", is no limit: the run goes on. The repeated call it answers is read as a ReAct tool
# call, REACT_CALL_RX: redundant work, or a loop when it goes on.)
# A ReAct step (LangChain, CrewAI) that names an Action but gives no Action Input: the
# framework's parser should have rejected it. Matched on model output.
REACT_ACTION_RX = r"(^|\n)Action:[^\n]*[[:space:]]*$"
# A ReAct step's tool call, written only as text in the model output (CrewAI, LangChain ReAct,
# smolagents text agents): "Action: <tool>" then "Action Input: <arguments>" (up to an
# Observation the model wrote itself). Groups: the tool, the arguments. It is read as the
# model call's tool call: the same tool with the same arguments again is repeated work, and
# a delegation action's argument names the agent the work goes to (DELEGATE_ARGUMENTS).
REACT_CALL_RX = (r"Action[ ]*[0-9]*[ ]*:[ ]*([^\n]+?)[ ]*\n+[ ]*Action[ ]*[0-9]*[ ]*Input[ ]*[0-9]*[ ]*:[ ]*"
                 r"((?s:.*?))[ ]*(\nObservation|$)")
# Where a tool span names the JSON Schema of its arguments (OpenInference `tool.parameters`).
# Importers keep it in the span's `extra` JSON under this key; the arguments (the span's
# input) that lack a key the schema requires are a bad tool call even when the framework
# redacts its validation error (OpenAI Agents SDK).
TOOL_SCHEMA_ATTRIBUTES = ("tool.parameters",)
TOOL_SCHEMA_KEY = "tool_parameters"
# Where a graph node's output names the node it routes to (a LangGraph Command serialised by
# the OpenInference LangChain instrumentor: {"update": ..., "goto": "node" | ["node", Send]}).
# A destination that no later span in the trace is, in a run that then ends without error,
# was never reached: the router sent the run nowhere. Names starting "__" are the graph's own
# ends (__end__).
ROUTE_TARGET_PATHS = ("$.goto",)
# A graph node's output that holds only tool results (LangGraph's ToolNode): it reports tool
# errors as content too, while a node that also carries model or user messages only repeats them.
TOOL_RESULTS_RX = r"\"type\": ?\"tool\""
OTHER_MESSAGES_RX = r"\"type\": ?\"(ai|human|system|AIMessage|HumanMessage|SystemMessage)\""
# Exception class names in the text are matched case-sensitively ("ValueError: ...").
INBAND_EXCEPTION_RX = r"(^|[^A-Za-z])[A-Z][A-Za-z]*(Error|Exception)(:|\()"

# Feedback a framework sends the model about its previous reply (a retry prompt): the error
# of that reply, reported only in the next model call's input. Each pattern matches one
# feedback message and what it says.
FEEDBACK_PATTERNS: tuple[str, ...] = (
    r"Unknown tool name: '[^']*'(?:[^\"\\]|\\.){0,120}",  # PydanticAI: a tool that does not exist
    r"Check [A-Za-z0-9_]+ failed with error: (?:[^\"\\]|\\.){0,200}",  # smolagents final_answer_checks
    r"<pyai:validation_errors>(?:[^\"\\]|\\.){0,300}",  # PydanticAI output validation retry
    r"Validation feedback:(?:[^\"\\]|\\.){0,200}",  # PydanticAI (older)
    r"Action '[^']*' don't exist(?:[^\"\\]|\\.){0,120}",  # CrewAI ReAct: a tool that does not exist
    r"the Action Input is not a valid key, value dictionary",  # CrewAI ReAct: bad tool arguments
    r"\"content\": ?\"Tool not found\"",  # CrewAI native calls: the result for an unknown tool
    # CrewAI ReAct: a tool that raised, as the observation the model gets back
    r"I encountered an error while trying to use the tool[.] This was the error: (?:[^\"\\]|\\.){0,200}",
)
# Cheap words that every feedback pattern contains, to skip model inputs without any.
FEEDBACK_HINTS = ("Unknown tool name", "failed with error", "validation_errors", "Validation feedback",
                  "don't exist", "not a valid key", "Tool not found", "I encountered an error")

# Words an answer uses when it admits that something did not work. An agent that read a
# tool's error and then answers without any of them acted as if the call had worked.
ACKNOWLEDGEMENT_RX = (
    r"\b(sorry|unfortunately|apologi[sz]e|unable|could ?n[o']?t|can ?n[o']?t|cannot|not able|fail(ed|s|ure)?"
    r"|errors?|issues?|problems?|went wrong|unavailable|no longer|declined|refused|denied|not eligible|ineligible"
    r"|escalat(e|ed|ing)|try again|retry|instead|however|human|specialist|support team|manually|look into"
    r"|check (on|with)|which (one|order|number)|could you|can you|please (confirm|provide|check|send))\b"
    r"|not (been |yet )?(processed|created|completed|found|available|possible|issued|confirmed)"
)
