"""Derived facts every rule and metric reads: per span (retries, gaps, recovery, error
family) and per trace (root, outcome). Computed once per audit as set-based SQL.

The error families are the one place where wording of real frameworks is recognised
(pydantic, LangChain/LangGraph, OpenAI, Anthropic, Google, httpx/requests). Patterns
avoid backslashes so the SQL stays portable to Spark (``[0-9]`` rather than ``\\d``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from audit.backend import Backend, Connection, as_backend
from audit.importers.conventions import (
    ACKNOWLEDGEMENT_RX,
    DELEGATE_ARGUMENTS,
    FEEDBACK_HINTS,
    FEEDBACK_PATTERNS,
    HANDOFF_TOOL_RX,
    INBAND_ERROR_PATTERNS,
    INBAND_EXCEPTION_RX,
    LIMIT_PROMPT_HINTS,
    LIMIT_PROMPTS,
    OTHER_MESSAGES_RX,
    REACT_ACTION_RX,
    REACT_CALL_RX,
    ROUTE_TARGET_PATHS,
    TOOL_RESULTS_RX,
    TOOL_SCHEMA_KEY,
)
from audit.progress import Progress, no_progress

# (family, case-insensitive regex over "error_type: error_message"), first match wins.
ERROR_FAMILIES: tuple[tuple[str, str], ...] = (
    (
        "recursion_limit",
        "GraphRecursionError|recursion limit|RecursionError|maximum recursion depth|MaxTurnsExceeded"
        "|max(imum)?[ _]?(turns|iterations|steps|rounds)[^a-z]{0,12}(exceeded|reached)|iteration limit"
        "|stopped due to (iteration|max)|too many (iterations|steps|turns|rounds)"
        "|reached max(imum)? (number of )?(steps|turns|iterations|rounds)"
        "|max(imum)? number of (turns|rounds|iterations|consecutive)"
        "|UsageLimitExceeded|would exceed the [a-z_ ]*(request|tool_calls|turn|step)s?_?limit",
    ),
    (
        "unknown_tool",
        "is not a valid (tool|function|node|agent)|unknown (tool|function|agent|node|route|destination|handoff)"
        "|no such (tool|function|agent|node)|(tool|function|agent|node|handoff)( named)? ?[^ ]{0,60} (was )?not found"
        "|ToolNotFound|unrecognized (tool|function)|invalid tool name|not a registered tool|no tool named"
        "|tool_not_found|unknown_tool|unsupported tool|(action|tool)[^.]{0,60}(don't|does not|doesn't) exist"
        "|no handoff|Method not found|-32601|is not among the (explicitly )?allowed tools"
        "|coworker mentioned not found|unknown (coworker|team member|assistant)",
    ),
    (
        "context_overflow",
        "context_length_exceeded|maximum context length|context window|prompt is too long|too many tokens"
        "|exceeds? the (maximum|max)[a-z ]{0,30}tokens|input is too long|ContextWindowExceeded"
        "|reduce the length of the (messages|prompt|input)|input token count.{0,40}exceeds|max_tokens_exceeded"
        "|context length",
    ),
    (
        "rate_limit",
        "RateLimit|rate[ _-]limit|Too Many Requests|(error code|status( code)?|http)[: =]*429|^429"
        "|quota|ResourceExhausted|RESOURCE_EXHAUSTED|resource has been exhausted|throttl",
    ),
    (
        "timeout",
        "timeout|timed out|time out|deadline exceeded|DeadlineExceeded|DEADLINE_EXCEEDED"
        "|(error code|status( code)?|http)[: =]*504"
        "|Gateway Time",
    ),
    (
        "server_error",
        "overloaded|InternalServerError|Internal Server Error|ServiceUnavailable|Service Unavailable|Bad Gateway"
        "|(error code|status( code)?|http)[: =]*5[0-9][0-9]|^5[0-9][0-9]|server error|api_error"
        "|(^|[^a-z_])UNAVAILABLE([^a-z_]|$)",  # gRPC's code, not a business code like FARE_UNAVAILABLE
    ),
    (
        "connection",
        "ConnectionError|APIConnectionError|ConnectError|Connection (refused|reset|aborted|error|closed)"
        "|RemoteProtocolError|ECONNRESET|ECONNREFUSED|NetworkError|network error|name resolution"
        "|ServerDisconnected|socket hang up|BrokenPipe|IncompleteRead|ProtocolError",
    ),
    (
        "tool_args",
        "invalid (tool |function )?(call )?arguments|with kwargs|ToolInputValidationError|arguments validation failed"
        "|args_schema|unexpected keyword argument|missing [0-9]+ required (positional|keyword)"
        "|takes [0-9]+ positional|parse tool call arguments|invalid_function_arguments|InvalidToolCall"
        "|invalid_tool_call|bad (tool )?arguments|tool input|arguments? (is|are) (not valid|invalid)"
        "|function[.]arguments|Invalid params|-32602|JSON input for tool|Action Input is not a valid"
        "|AgentToolCallError|Argument [A-Za-z_0-9]+ (is required|has type)|Invalid call to tool",
    ),
    (
        # syntax errors of the output itself win over the "validation error" wrapper around them
        "parse",
        "json_invalid|Invalid JSON|JSONDecodeError|Expecting value|Unterminated string|EOF while parsing"
        "|Expecting property name|Expecting ',' delimiter|not valid JSON",
    ),
    (
        "schema",
        "ValidationError|validation error|Field required|Input should be|Extra inputs are not permitted"
        "|is a required property|is not of type|does not match (the )?schema|SchemaError|schema (mismatch|validation)"
        "|missing required field|value_error|type_error|String should|Additional properties are not allowed"
        "|OutputValidation|invalid schema|failed validation|maximum output retries|retries [(][0-9]+[)] for output validation",
    ),
    (
        "parse",
        "OutputParser|JSONDecodeError|json_invalid|Invalid JSON|Could not parse|Failed to parse|Unable to parse"
        "|Unterminated string|Expecting value|Expecting property name|Expecting ',' delimiter|Extra data: line"
        "|not valid JSON|malformed|ParseError|ParsingError|LengthFinishReasonError|parse error|YAMLError"
        "|no JSON|invalid format|extract json|EmptyOutput|empty (model )?(output|response|completion)",
    ),
    (
        "state_key",
        "KeyError|missing variables|Missing some input keys|missing (required )?(input |state )?key"
        "|InvalidUpdateError|EmptyChannelError|is undefined|not found in (state|context|memory|store|session)"
        "|(state|context|memory)( key)? (missing|lost|was lost)|lost (context|state)|checkpoint not found"
        "|no checkpoint|object is not subscriptable|undefined variable|UndefinedError"
        "|missing (required )?(template )?variable|checkpointer requires|thread_id"
        "|tool_use ids were found without|must be followed by tool messages"
        # a KeyError's message is the bare quoted key: "'customer_tier'", "Error running tool x: 'outline'"
        "|(^|: |\"|[(])'[A-Za-z_][A-Za-z0-9_]*'([\"})]|$|\n)",
    ),
)
TRANSIENT = ("rate_limit", "timeout", "server_error", "connection")
CLIENT_RETRIES_EXHAUSTED = (
    "Max retries exceeded|RetryError|RetryException|retries exhausted|after [0-9]+ (retries|attempts)|retry limit"
    "|gave up after|exceeded maximum retries|max_retries"
)
# Prompts frameworks send for a last answer once an agent ran out of steps (smolagents).
LIMIT_IN_INPUT = "|".join(LIMIT_PROMPTS)
LIMIT_IN_OUTPUT = (
    "stopped due to (iteration|max)|iteration limit|recursion limit|max(imum)? (turns|iterations)"
    "|need more steps to process|reached max(imum)? steps"
)


def regex_match(column: str, pattern: str) -> str:
    """Case-insensitive regex test written as DuckDB SQL that sqlglot transpiles to Spark."""
    return f"regexp_matches({column}, '(?i)({pattern.replace(chr(39), chr(39) * 2)})')"


def inband_condition(alias: str) -> str:
    """A tool span (or a graph node returning only tool results) whose output is an error
    reported as content (see ``conventions``)."""
    text = f"left({alias}.output, 4000)"
    case_insensitive = "|".join(INBAND_ERROR_PATTERNS)
    tool_results = (f"({alias}.kind = 'chain' AND regexp_matches({text}, '{TOOL_RESULTS_RX}') "
                    f"AND NOT regexp_matches({alias}.output, '{OTHER_MESSAGES_RX}'))")
    return (f"CASE WHEN {alias}.kind IN ('tool', 'chain') AND {alias}.output <> '' THEN "
            f"coalesce(({alias}.kind = 'tool' OR {tool_results}) AND ({regex_match(text, case_insensitive)} "
            f"OR regexp_matches({text}, '{INBAND_EXCEPTION_RX}')), false) ELSE false END")


def numbered(name: str) -> str:
    """A step name with a trailing iteration number masked ("Step 3" -> "Step #")."""
    return f"CASE WHEN {name} LIKE '% %' THEN regexp_replace({name}, ' [0-9]+$', ' #') ELSE {name} END"


def probe(text: str) -> str:
    """What a later model call's input must contain to have read ``text``: its start, up to
    the first character a JSON encoder would escape."""
    return f"NULLIF(left(trim(regexp_extract(coalesce({text}, ''), '^[^\"\\\\\\n\\r]*')), 60), '')"


def inband_type(output: str) -> str:
    """The exception class an in-band error names, else ``ToolError``."""
    return f"coalesce(NULLIF(regexp_extract({output}, '([A-Z][A-Za-z]*(Error|Exception))', 1), ''), 'ToolError')"


def family_case(column: str) -> str:
    whens = " ".join(f"WHEN {regex_match(column, p)} THEN '{f}'" for f, p in ERROR_FAMILIES)
    return f"CASE {whens} ELSE 'other' END"


# What rule authors can query, beside the canonical columns of `spans`.
SPAN_FACT_COLUMNS = {
    "step_key": "hash of (name, agent, parent step name): the step's identity within a trace",
    "parent_name": "name of the parent span ('' for the root)",
    "run_index": "1-based run of this step in its trace, in start order",
    "step_runs": "runs of this step in the trace",
    "later_runs": "runs of this step after this one",
    "later_ok_runs": "successful runs of this step after this one",
    "is_retry": "this run follows a failed run of the step (or has a higher attempt)",
    "gap_ms": "milliseconds from the end of the previous run of the step to this start (back-off)",
    "prev_status": "status of the previous run of the step",
    "prev_error_family": "error family of the previous run, when it failed",
    "error_family": "error family of this span's error (see ERROR_FAMILIES; 'other' when none matches; tool_args for "
                    "arguments the tool's schema requires missing, unknown_tool for a route never taken)",
    "transient_error": "error family is rate_limit, timeout, server_error or connection",
    "unrecovered_error": "this span failed and no later run of the step succeeded",
    "propagated": "this error only passes on a child's error (the finding belongs to the child)",
    "client_retries_exhausted": "the error text says a client gave up retrying (Max retries exceeded, RetryError)",
    "limit_in_output": "an ok span whose output reports a step or iteration limit (or a model call prompted for a "
                       "last answer after one)",
    "input_key": "hash of the input (null when empty); for a model call writing a ReAct step, of the tool call it "
                 "writes (Action and Action Input), so a ReAct agent's tool calls repeat like tool spans",
    "same_input_runs": "runs of this step in the trace with identical input",
    "prior_ok_same_input": "earlier successful runs of this step with identical input",
    "inband": "the span said ok but its output is an error reported as content, its call lacks an argument the "
              "tool's schema requires, or it routed the run to a node that never ran (counted as an error)",
    "react_call": "the tool call a model call wrote as a ReAct step (\"<tool> <arguments>\"), else null",
    "delegate_to": "the agent a delegation names in its arguments (a delegation tool, or a ReAct step writing one)",
    "delegator": "the agent that delegates (the owner of a delegation tool, the agent of a model call)",
    "output_key": "hash of an llm span's output (null otherwise): the assistant repeating itself",
    "same_output_runs": "runs of this step in the trace with identical output (llm spans)",
    "inner_retry_window_ms": "a failed attempt inside a model call that succeeded: ms from its end to the call's end",
    "handled": "this error's text reached a later model call in the trace: the agent read it",
    "agent_run": "the span starts an agent's run: its agent differs from its parent's (hand-off, delegation)",
    "owner_agent": "the agent of the parent span: who handed the work to this agent ('' at the top)",
    "is_root": "the trace's root span",
    "top_level": "a pipeline stage: a child of the root (or a parentless span beside it)",
    "has_parent": "the parent span exists in the trace",
}
TRACE_FACT_COLUMNS = {
    "root_span_id": "the root span", "root_name": "its name", "root_status": "its status",
    "eval_passed": "evaluator verdict (evals file, else the root's)", "n_spans": "spans in the trace",
    "n_errors": "error spans", "n_unrecovered_below_root": "errors below the root never recovered",
    "n_swallowed": "errors below the root never recovered and never read by a later model call",
    "root_missing": "the export lost the run's root: the earliest top span names a parent that is not there",
    "first_limit_at": "when the run first hit its step limit (what follows is its consequence)",
    "n_limit_messages": "ok spans whose output says the run hit its step or iteration limit",
    "n_ignored": "tool errors the agent read and never fixed, whose next reply admits no problem",
    "ignored_span_id": "the first such error", "ignored_reply": "the reply that acted as if it had worked",
    "loud": "the run reported its failure: root error, an unrecovered error ended it, or a limit message",
    "failed": "loud; else the evaluator's verdict where given; else a swallowed error below the root",
    "silent": "failed, and the run did not report it (not loud)", "started_at": "first start", "ended_at": "last end",
}


def build_facts(con: Connection, progress: Progress = no_progress) -> None:
    """(Re)create ``span_facts`` and ``trace_facts`` from ``spans`` and ``evals``; ``progress``
    hears of each stage (the longest part of an audit: minutes at millions of spans)."""
    db = as_backend(con)
    steps = len(SPAN_FACTS_STATEMENTS) + 2
    progress("Deriving the span facts: agents and stages", 0.0)
    for statement in SPAN_WALK_STATEMENTS:
        db.execute(statement)
    drop(db, WALK_TABLES[1:3])  # the links and the walk are read only by __span_agents
    for i, statement in enumerate(SPAN_FACTS_STATEMENTS, start=1):
        progress(f"Deriving the span facts: stage {i} of {len(SPAN_FACTS_STATEMENTS)}", i / steps)
        db.execute(statement)
        if i > 1:  # each stage reads only the stage before it (``staged``)
            drop(db, [f"__facts_{STAGES[i - 2]}"])
    db.execute(STAGE_FAILURES_SQL)
    drop(db, WALK_TABLES)
    progress("Deriving the trace facts", (steps - 1) / steps)
    db.execute(TRACE_FACTS_SQL.replace("ACKNOWLEDGEMENT", ACKNOWLEDGEMENT_RX.replace("'", "''")))



def drop(db: Backend, tables: Iterable[str]) -> None:
    """Drop scratch tables as soon as nothing reads them any more: at 10M spans each stage is
    gigabytes past the memory limit, and a table kept to the end is spilled (written to the
    temporary directory) while the next stages fill memory; one dropped in time is freed."""
    for table in tables:
        db.drop(table)


# SPAN_FACTS_SQL is read as one query, but run in stages: each of these CTEs becomes a
# temporary table, since a table spills to disk past the memory limit while a materialised
# CTE's rows stay in memory (1M spans at a 150 MB limit, 10M at 1.2 GB, ran out of it).
STAGES = ("narrow", "base", "steps", "classified")
# A CTE read twice is materialised by DuckDB: an in-memory copy of the whole stage table. So
# the next stage reads a stage table in place (NOT MATERIALIZED; 1M spans: facts CPU -23%),
# except `steps`: the four reads of it in `classified`, inlined, ran out of memory at 1M spans
# under a 150 MB limit (its joins then build hash tables over the whole stage).
COPIED_STAGES = ("steps",)
WALK_TABLES = ("__span_ids", "__span_links", "__span_walk", "__span_agents")


def staged(sql: str, stages: tuple[str, ...]) -> list[str]:
    """``CREATE TABLE t AS WITH a AS (...), ..., z AS (...) SELECT ...`` as one ``CREATE TEMP
    TABLE __facts_<stage>`` per stage (the CTEs up to it, reading the stage table before it
    through a CTE of the stage's name, not materialised unless in ``COPIED_STAGES``) and the
    final statement over the last stage's table."""
    create, rest = sql.strip().split("\n", 1)
    ctes, final = _split_ctes(rest.removeprefix("WITH "))
    statements, pending, previous = [], [], ""
    for head, body in ctes:
        name = head.split()[0]
        pending.append(f"{head}({body})" if name not in stages else f"{name} AS ({body})")
        if name in stages:
            statements.append(f"CREATE OR REPLACE TEMP TABLE __facts_{name} AS WITH {previous}"
                              + ",\n".join(pending) + f"\nSELECT * FROM {name}")
            hint = "" if name in COPIED_STAGES else "NOT MATERIALIZED "
            previous, pending = f"{name} AS {hint}(SELECT * FROM __facts_{name}),\n", []
    statements.append(f"{create}\nWITH {previous}" + ",\n".join(pending) + "\n" + final)
    return statements


def _split_ctes(text: str) -> tuple[list[tuple[str, str]], str]:
    """The ("name AS [MATERIALIZED] ", body) of each CTE of ``name AS [MATERIALIZED] (body), ...`` and the SELECT after
    them: a body ends where its parenthesis closes, outside string literals and comments."""
    ctes: list[tuple[str, str]] = []
    i = 0
    while True:
        m = _CTE_START.match(text, i)
        if not m:
            return ctes, text[i:].strip()
        depth, j = 1, m.end()
        while depth:
            if text.startswith("--", j):
                j = text.index("\n", j)
            elif text[j] == "'":
                j = text.index("'", j + 1)  # '' (an escaped quote) is two literals back to back
            else:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        ctes.append((m.group(1), text[m.end():j - 1]))  # ("name AS [MATERIALIZED] ", body)
        i = j


_CTE_START = re.compile(r"\s*,?\s*(\w+ AS (?:MATERIALIZED )?)\(")

FEEDBACK_RX = "|".join(f"(?:{p})" for p in FEEDBACK_PATTERNS).replace("'", "''")
FEEDBACK_HINT = "(" + " OR ".join(f"s.input LIKE '%{h.replace(chr(39), chr(39) * 2)}%'" for h in FEEDBACK_HINTS) + ")"
# A span's own agent: its agent attribute, an agent span's name, or the agent a delegation
# tool hands the work to (the argument naming it, see conventions.DELEGATE_ARGUMENTS).
LIMIT_HINT = " OR ".join(f"s.input LIKE '%{h}%'" for h in LIMIT_PROMPT_HINTS)
REACT_BROKEN = (f"CASE WHEN s.kind = 'llm' AND s.output LIKE '%Action:%' AND s.output NOT LIKE '%Action Input:%' "
                f"THEN regexp_matches(right(s.output, 2000), '{REACT_ACTION_RX}') ELSE false END")
OWN_AGENT = ("coalesce(s.agent, CASE WHEN s.kind = 'agent' AND NOT regexp_matches(s.name, '" + HANDOFF_TOOL_RX
             + "') THEN s.name END, CASE WHEN s.kind = 'tool' "
             "AND s.input LIKE '{%' THEN coalesce(" + ", ".join(
                 f"json_extract_string(TRY_CAST(s.input AS JSON), '$.{k}')" for k in DELEGATE_ARGUMENTS) + ") END)")
# What a span's error says, in-band errors included: the text the framework reported, else
# what the audit read (a malformed ReAct step, missing arguments, a route never taken).
ERROR_MESSAGE = """CASE
    WHEN s.react_broken THEN 'malformed ReAct step, an Action with no Action Input: ' || right(s.output, 200)
    WHEN s.missing_arguments IS NOT NULL
        THEN 'arguments validation failed: the call lacks ' || s.missing_arguments
             || ', required by the tool''s argument schema' || coalesce('; ' || s.error_message, '')
    WHEN s.lost_route IS NOT NULL AND s.status = 'error'
        THEN s.error_message || ': the route ' || s.lost_route || ' that a child step returned is not among the '
             || 'routes this step maps (unknown route)'
    WHEN s.lost_route IS NOT NULL
        THEN 'routed to ' || s.lost_route || ', but no step of that name ran after it and the run ended '
             || 'without an error (unknown route)'
    WHEN s.inband THEN coalesce(s.error_message, s.feedback, left(s.output, 2000))
    ELSE s.error_message END"""
MAX_DEPTH = 256


def react_part(group: int) -> str:
    """Group ``group`` of a ReAct step's tool call in a model call's output (REACT_CALL_RX):
    1 the tool, 2 its arguments; NULL when the output holds none."""
    return (f"CASE WHEN s.kind = 'llm' AND s.output LIKE '%Action%Input%' THEN NULLIF(trim(regexp_extract("
            f"right(s.output, 4000), '{REACT_CALL_RX}', {group})), '') END")


def delegate_argument(args: str) -> str:
    """The agent a delegation call's JSON arguments name (conventions.DELEGATE_ARGUMENTS)."""
    return ("CASE WHEN " + args + " LIKE '{%' THEN coalesce(" + ", ".join(
        f"json_extract_string(TRY_CAST({args} AS JSON), '$.{k}')" for k in DELEGATE_ARGUMENTS) + ") END")


# The required arguments a tool span's call left out, by the JSON Schema of its arguments
# that the span carries (conventions.TOOL_SCHEMA_KEY in `extra`); NULL when it names none.
TOOL_SCHEMA = f"json_extract_string(s.extra, '$.{TOOL_SCHEMA_KEY}')"
MISSING_ARGUMENTS = (
    f"CASE WHEN s.kind = 'tool' AND s.extra LIKE '%{TOOL_SCHEMA_KEY}%' AND s.input LIKE '{{%' "
    f"AND json_valid(s.input) AND json_valid({TOOL_SCHEMA}) THEN NULLIF(array_to_string(list_filter("
    f"CAST(json_extract({TOOL_SCHEMA}, '$.required') AS VARCHAR[]), "
    f"lambda k: NOT list_contains(json_keys(s.input), k)), ', '), '') END")
# The nodes a graph node's output routes to (conventions.ROUTE_TARGET_PATHS): a name, or a
# list of names and Send objects ({"node": ...}). The list is read as text (a name as itself,
# a Send as its JSON), which Spark's from_json reads alike.
ROUTE_TARGETS = "list_concat(" + ", ".join(
    f"CASE json_type(s.output, '{p}') WHEN 'VARCHAR' THEN [json_extract_string(s.output, '{p}')] "
    f"WHEN 'ARRAY' THEN list_transform(CAST(json_extract(s.output, '{p}') AS VARCHAR[]), "
    f"lambda g: coalesce(json_extract_string(TRY_CAST(g AS JSON), '$.node'), g)) END"
    for p in ROUTE_TARGET_PATHS) + ", [])"

# A step is its name, agent and parent step: frameworks name every model call after its
# client class (ChatOpenAI), so calls under different steps must not count as retries.
# Keys are hashed so the window sorts compare integers, not strings.
STEP = "PARTITION BY trace_id, step_key ORDER BY start_time, attempt, span_id"
TRANSIENT_LIST = ", ".join(f"'{f}'" for f in TRANSIENT)

# Who the agents are, and under which pipeline stage each span runs: one walk down each
# trace's span tree from its top spans, over integer keys. A recursive CTE keeps all its rows
# in memory (with the 32-character ids of 10M spans it ran out at 1.2 GB), so the walk carries
# only numbers, and the ids and agents' names are joined back once, as tables that spill.
SPAN_WALK_STATEMENTS = [
    # each span's own agent, read once into narrow rows numbered 1..n
    f"""CREATE OR REPLACE TEMP TABLE __span_ids AS
SELECT CAST(row_number() OVER () AS INTEGER) AS sid, s.trace_id, s.span_id, s.parent_span_id,
       {OWN_AGENT} AS agent
FROM spans s""",
    """CREATE OR REPLACE TEMP TABLE __span_links AS
SELECT c.sid, p.sid AS parent_sid, c.agent IS NOT NULL AS has_agent
FROM __span_ids c LEFT JOIN __span_ids p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id""",
    # A span's agent is its own (an agent attribute, or an agent span's name), else that of
    # its nearest agent ancestor; its stage candidate is its ancestor just below the top span.
    # Walked down from the top spans; depth-bounded, so a parent cycle cannot recurse for ever
    # (its spans keep their own agent).
    f"""CREATE OR REPLACE TEMP TABLE __span_walk AS
WITH RECURSIVE tree AS (
    -- the NULL keys are typed as the key (CASE WHEN false): Spark numbers spans in BIGINT
    SELECT sid, CASE WHEN has_agent THEN sid END AS agent_sid, CASE WHEN false THEN sid END AS parent_agent_sid,
           sid AS top_sid, CASE WHEN false THEN sid END AS below_top_sid, 0 AS depth
    FROM __span_links WHERE parent_sid IS NULL
    UNION ALL
    SELECT l.sid, CASE WHEN l.has_agent THEN l.sid ELSE t.agent_sid END, t.agent_sid,
           t.top_sid, coalesce(t.below_top_sid, l.sid), t.depth + 1
    FROM __span_links l JOIN tree t ON l.parent_sid = t.sid
    WHERE t.depth < {MAX_DEPTH}
)
SELECT * FROM tree""",
    """CREATE OR REPLACE TEMP TABLE __span_agents AS
SELECT i.trace_id, i.span_id, a.agent, p.agent AS parent_agent, w.top_sid, w.below_top_sid, w.depth
FROM __span_walk w JOIN __span_ids i ON i.sid = w.sid
LEFT JOIN (SELECT sid, agent FROM __span_ids WHERE agent IS NOT NULL) a ON a.sid = w.agent_sid
LEFT JOIN (SELECT sid, agent FROM __span_ids WHERE agent IS NOT NULL) p ON p.sid = w.parent_agent_sid""",
]

# A pipeline stage (a top-level span: a child of the root, or a parentless span beside it)
# whose own span says ok failed all the same when something inside it failed and nothing
# recovered or read the error: frameworks keep an agent's span ok while its tool or model
# call fails, and the chain of stages multiplies their real success. Read from the walk
# above, for the few unrecovered errors only.
STAGE_FAILURES_SQL = """
CREATE OR REPLACE TABLE stage_failures AS
WITH errors AS (
    SELECT f.trace_id, a.top_sid, a.below_top_sid, a.depth
    FROM span_facts f JOIN __span_agents a ON a.trace_id = f.trace_id AND a.span_id = f.span_id
    WHERE f.unrecovered_error AND NOT f.handled AND a.depth > 0
), placed AS (
    SELECT e.trace_id, e.depth, top.span_id AS top_span_id, below.span_id AS below_top_span_id
    FROM errors e JOIN __span_ids top ON top.sid = e.top_sid JOIN __span_ids below ON below.sid = e.below_top_sid
)
SELECT DISTINCT p.trace_id,
       CASE WHEN p.top_span_id = r.span_id THEN p.below_top_span_id ELSE p.top_span_id END AS span_id
FROM placed p JOIN span_facts r ON r.trace_id = p.trace_id AND r.is_root
-- under the root, a stage is the root's child and fails for what runs below it
WHERE p.top_span_id <> r.span_id OR p.depth >= 2
"""

SPAN_FACTS_SQL = f"""
CREATE OR REPLACE TABLE span_facts AS
WITH tree AS (SELECT trace_id, span_id, agent, parent_agent FROM __span_agents), calls AS MATERIALIZED (
    -- A framework's retry prompt in a model call's input (see conventions.FEEDBACK_PATTERNS),
    -- read once per call into narrow columns: the window below must not carry the inputs
    -- (whole conversations in real spans) through its sort, which ran out of memory.
    SELECT s.trace_id, s.span_id, s.start_time, coalesce(t.agent, '') AS agent,
           CASE WHEN {FEEDBACK_HINT} THEN len(regexp_extract_all(s.input, '{FEEDBACK_RX}')) ELSE 0 END
               AS n_feedback,
           CASE WHEN {FEEDBACK_HINT} THEN list_extract(regexp_extract_all(s.input, '{FEEDBACK_RX}'), -1) END
               AS last_feedback
    FROM spans s LEFT JOIN tree t ON t.trace_id = s.trace_id AND t.span_id = s.span_id
    WHERE s.kind = 'llm'
), feedback AS (
    -- the agent's previous model call made that error. Counted per call, so feedback that
    -- stays in the history is not counted again.
    SELECT trace_id, span_id, start_time, n_feedback, last_feedback,
           lag(span_id) OVER (w) AS previous_call, coalesce(lag(n_feedback) OVER (w), 0) AS previous_feedback
    FROM calls
    -- only traces with feedback at all (few): the window then sorts a handful of calls, not all
    WHERE trace_id IN (SELECT trace_id FROM calls WHERE n_feedback > 0)
    WINDOW w AS (PARTITION BY trace_id, agent ORDER BY start_time, span_id)
), fed_back AS (
    SELECT trace_id, coalesce(previous_call, span_id) AS span_id, arg_max(last_feedback, start_time) AS feedback
    FROM feedback WHERE n_feedback > previous_feedback
    GROUP BY 1, 2
), goto AS (
    -- A graph node that routed the run to a node that never ran after it, in a run that then
    -- ended without an error (an error would explain why it did not): the run was sent nowhere
    -- (conventions.ROUTE_TARGET_PATHS).
    SELECT r.trace_id, r.span_id, string_agg(DISTINCT r.target, ', ' ORDER BY r.target) AS target
    FROM (SELECT s.trace_id, s.span_id, s.start_time, s.end_time, unnest({ROUTE_TARGETS}) AS target
          FROM spans s WHERE s.status = 'ok' AND s.output LIKE '%"goto"%' AND json_valid(s.output)) r
    WHERE r.target IS NOT NULL AND r.target <> '' AND left(r.target, 2) <> '__'
      AND NOT EXISTS (SELECT 1 FROM spans n WHERE n.trace_id = r.trace_id AND n.name = r.target
                      AND n.start_time >= r.start_time AND n.span_id <> r.span_id)
      AND NOT EXISTS (SELECT 1 FROM spans e WHERE e.trace_id = r.trace_id AND e.status = 'error'
                      AND e.end_time >= r.end_time)
    GROUP BY r.trace_id, r.span_id
), unmapped AS (
    -- A step that failed on a bare key (KeyError 'x') that one of its children had just
    -- returned as its whole output: a router chose a route its map of routes lacks (a
    -- conditional edge's path map), not state that was lost.
    SELECT k.trace_id, k.span_id, any_value(k.route) AS target
    FROM (SELECT trace_id, span_id, trim(trim(error_message), '''"') AS route
          FROM spans WHERE status = 'error' AND length(error_message) <= 82
                       AND (left(error_message, 1) = chr(39) OR error_type LIKE '%KeyError')) k
    JOIN spans c ON c.trace_id = k.trace_id AND c.parent_span_id = k.span_id AND c.status = 'ok'
    WHERE k.route <> '' AND trim(trim(c.output), '"') = k.route
    GROUP BY k.trace_id, k.span_id
), src AS (
    -- An error reported as content (in-band): the span said ok, but its output is an error
    -- the framework hands back to the model, or the next model call was told its reply failed,
    -- or its call lacks an argument the tool's schema requires, or it routed the run to a node
    -- that never ran. It counts as an error of that span.
    SELECT s.* REPLACE (coalesce(t.agent, {OWN_AGENT}) AS agent),
           t.parent_agent, fb.feedback, coalesce(g.target, u.target) AS lost_route,
           s.status = 'ok' AND ({inband_condition("s")} OR fb.span_id IS NOT NULL OR {REACT_BROKEN}
                                OR s.missing_arguments IS NOT NULL OR g.span_id IS NOT NULL) AS inband,
           s.status = 'ok' AND {REACT_BROKEN} AS react_broken
    FROM (SELECT s.*, {MISSING_ARGUMENTS} AS missing_arguments, {react_part(1)} AS react_tool,
                 {react_part(2)} AS react_arguments
          FROM spans s) s
    LEFT JOIN tree t ON t.trace_id = s.trace_id AND t.span_id = s.span_id
    LEFT JOIN fed_back fb ON fb.trace_id = s.trace_id AND fb.span_id = s.span_id
    LEFT JOIN goto g ON g.trace_id = s.trace_id AND g.span_id = s.span_id
    LEFT JOIN unmapped u ON u.trace_id = s.trace_id AND u.span_id = s.span_id
), narrow AS MATERIALIZED (
    -- narrow on purpose: what the audit reads of the wide text (input, output, metadata) is
    -- read here, once per span, and the text stays in `spans`, so the joins and window sorts
    -- below move keys, not payloads (carrying real spans' messages through them ran out of
    -- memory); rules join `spans` for text they quote
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.agent, s.start_time, s.end_time,
           s.status AS reported_status,
           -- an agent run: where the work passes to another agent (a hand-off or a delegation)
           s.agent IS NOT NULL AND s.agent IS DISTINCT FROM s.parent_agent AS agent_run,
           coalesce(s.parent_agent, '') AS owner_agent,
           -- the agent a delegation hands the work to, by the argument naming it (a delegation
           -- tool, or a ReAct step writing that call as text), and the agent delegating
           CASE WHEN s.kind = 'tool' THEN {delegate_argument("s.input")}
                WHEN s.react_tool IS NOT NULL THEN {delegate_argument("s.react_arguments")} END AS delegate_to,
           CASE WHEN s.kind = 'tool' THEN s.parent_agent ELSE s.agent END AS delegator,
           CASE WHEN s.react_tool IS NOT NULL THEN s.react_tool || ' ' || left(s.react_arguments, 300) END
               AS react_call,
           s.duration_ms, CASE WHEN s.inband THEN 'error' ELSE s.status END AS status,
           CASE WHEN s.missing_arguments IS NOT NULL THEN coalesce(s.error_type, 'InvalidToolArguments')
                WHEN s.lost_route IS NOT NULL THEN coalesce(s.error_type, 'UnknownRoute')
                WHEN s.inband THEN coalesce(s.error_type, {inband_type("coalesce(s.feedback, s.output)")})
                ELSE s.error_type END AS error_type,
           {ERROR_MESSAGE} AS error_message,
           CASE WHEN s.missing_arguments IS NOT NULL THEN 'tool_args'
                WHEN s.lost_route IS NOT NULL THEN 'unknown_tool' END AS known_family,
           s.inband, s.attempt, s.model, s.provider,
           s.input_tokens, s.output_tokens, s.cost_usd, s.eval_passed,
           CASE WHEN s.status = 'ok' AND s.kind <> 'tool' AND s.output IS NOT NULL THEN
               ((s.output ILIKE '%limit%' OR s.output ILIKE '%steps%' OR s.output ILIKE '%max%')
                AND coalesce({regex_match("left(s.output, 2000)", LIMIT_IN_OUTPUT)}, false))
               -- or the framework's own prompt for an answer after the agent ran out of steps
               OR (s.kind = 'llm' AND ({LIMIT_HINT})
                   AND coalesce({regex_match("s.input", LIMIT_IN_INPUT)}, false))
               ELSE false END AS limit_in_output,
           -- a ReAct step's identity is the tool call it writes, not its (ever longer) prompt
           CASE WHEN s.react_tool IS NOT NULL
                THEN hash('react', s.react_tool, CASE WHEN json_valid(s.react_arguments)
                                                      THEN CAST(json(s.react_arguments) AS VARCHAR)
                                                      ELSE s.react_arguments END)
                WHEN s.input IS NOT NULL AND s.input <> '' THEN hash(s.input) END AS input_key,
           CASE WHEN s.kind = 'llm' AND s.output IS NOT NULL AND s.output <> '' THEN hash(s.output) END AS output_key,
           -- a failed tool's own output is what the model reads back
           CASE WHEN s.status = 'error' AND s.kind = 'tool' THEN {probe("s.output")} END AS output_probe,
           CASE WHEN s.status = 'error' OR s.inband
                THEN coalesce(s.error_type, CASE WHEN s.inband THEN {inband_type("coalesce(s.feedback, s.output)")} END,
                              '') || ': '
                     || CASE WHEN s.react_broken THEN 'malformed ReAct step, an Action with no Action Input'
                             ELSE coalesce({ERROR_MESSAGE}, '') END END
               AS error_text
    FROM src s
), base AS (
    SELECT s.* EXCLUDE (reported_status),
           coalesce(p.name, '') AS parent_name, p.span_id IS NOT NULL AS has_parent,
           -- a failed attempt inside a model call that succeeded (a client's retry or fallback)
           p.kind = 'llm' AND p.status = 'ok' AS recovered_by_parent,
           -- ... and how long that call went on after it: the most a retry could have waited
           CASE WHEN s.reported_status = 'error' AND p.kind = 'llm' AND p.status = 'ok'
                THEN date_diff('millisecond', s.end_time, p.end_time) END AS inner_retry_window_ms,
           -- numbered iterations of an agent loop ("Step 1", "Step 2") are one step
           hash({numbered("s.name")}, coalesce(s.agent, ''), {numbered("coalesce(p.name, '')")}) AS step_key
    FROM narrow s
    LEFT JOIN spans p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
), positions AS (
    -- the step window sorts narrow rows (keys and what the lags read), not a span's ~30
    -- columns: carrying them all through the sort took most of the facts' time and memory
    SELECT trace_id, span_id,
        row_number() OVER (w) AS run_index,
        count(*) OVER (PARTITION BY trace_id, step_key) AS step_runs,
        lag(status) OVER (w) AS prev_status,
        lag(error_text) OVER (w) AS prev_error_text,
        lag(attempt) OVER (w) AS prev_attempt,
        date_diff('millisecond', lag(end_time) OVER (w), start_time) AS gap_ms,
        sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) OVER (PARTITION BY trace_id, step_key) AS step_ok_runs,
        sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) OVER (w) AS ok_runs_so_far
    FROM base
    WINDOW w AS ({STEP})
), steps AS MATERIALIZED (
    SELECT b.*, p.run_index, p.step_runs, p.prev_status, p.prev_error_text, p.prev_attempt, p.gap_ms,
           p.step_ok_runs, p.ok_runs_so_far
    FROM base b JOIN positions p ON p.trace_id = b.trace_id AND p.span_id = b.span_id
), same_input AS (
    SELECT trace_id, step_key, input_key, count(*) AS n FROM steps WHERE input_key IS NOT NULL GROUP BY ALL
), repeated AS (
    -- earlier successful runs with the same input, windowed only where an input repeats
    -- (a run whose input is its step's only one has none)
    SELECT s.trace_id, s.span_id,
           sum(CASE WHEN s.status = 'ok' THEN 1 ELSE 0 END) OVER (
               PARTITION BY s.trace_id, s.step_key, s.input_key ORDER BY s.start_time, s.attempt, s.span_id)
           - CASE WHEN s.status = 'ok' THEN 1 ELSE 0 END AS prior_ok_same_input
    FROM steps s JOIN same_input si
         ON si.trace_id = s.trace_id AND si.step_key = s.step_key AND si.input_key = s.input_key AND si.n > 1
), inputs AS (
    SELECT steps.*,
        coalesce(r.prior_ok_same_input, 0) AS prior_ok_same_input,
        coalesce(si.n, 1) AS same_input_runs, coalesce(so.n, 1) AS same_output_runs
    FROM steps
    LEFT JOIN repeated r ON r.trace_id = steps.trace_id AND r.span_id = steps.span_id
    LEFT JOIN same_input si
         ON si.trace_id = steps.trace_id AND si.step_key = steps.step_key AND si.input_key = steps.input_key
    LEFT JOIN (SELECT trace_id, step_key, output_key, count(*) AS n FROM steps WHERE output_key IS NOT NULL
               GROUP BY ALL) so
         ON so.trace_id = steps.trace_id AND so.step_key = steps.step_key AND so.output_key = steps.output_key
), classified AS MATERIALIZED (
    SELECT * EXCLUDE (step_ok_runs, ok_runs_so_far),
        step_runs - run_index AS later_runs,
        step_ok_runs - ok_runs_so_far AS later_ok_runs,
        coalesce((prev_status = 'error' AND gap_ms >= 0) OR attempt > prev_attempt, false) AS is_retry,
        CASE WHEN error_text IS NOT NULL THEN coalesce(known_family, {family_case("error_text")}) END AS error_family,
        CASE WHEN prev_error_text IS NOT NULL THEN {family_case("prev_error_text")} END AS prev_error_family,
        status = 'error' AND step_ok_runs - ok_runs_so_far = 0 AND NOT coalesce(recovered_by_parent, false)
            AS unrecovered_error,
        coalesce({regex_match("error_text", CLIENT_RETRIES_EXHAUSTED)}, false) AS client_retries_exhausted,
        -- what a later model call must contain to have read this error (text up to the
        -- first character a JSON encoder would escape)
        CASE WHEN status = 'error' THEN NULLIF(left(trim(regexp_extract(
                 coalesce(error_message, ''), '^[^"\\\\\\n\\r]*')), 60), '') END AS error_probe
    FROM inputs
), handled AS (
    -- An error a later model call in the same trace received (the agent read the tool
    -- result and answered) was handled by the agent, not swallowed.
    SELECT e.trace_id, e.span_id
    FROM classified e
    JOIN spans m ON m.trace_id = e.trace_id AND m.kind = 'llm' AND m.start_time >= e.start_time
                 AND m.span_id <> e.span_id
    WHERE e.status = 'error'
      AND ((length(e.error_probe) >= 12 AND instr(m.input, e.error_probe) > 0)
           OR (length(e.output_probe) >= 12 AND instr(m.input, e.output_probe) > 0)
           OR (e.inband AND m.start_time >= e.end_time))
    GROUP BY e.trace_id, e.span_id
), origins AS (
    -- An error is where it originates: a parent failing with its child's error, or over a
    -- child error nobody recovered, only propagates it.
    SELECT c.trace_id, c.parent_span_id AS span_id
    FROM classified c
    JOIN classified p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id AND p.status = 'error'
    WHERE c.status = 'error' AND (c.unrecovered_error OR c.error_text = p.error_text)
    GROUP BY c.trace_id, c.parent_span_id
), roots AS (
    -- the earliest parentless span; a trace whose parents form a cycle has none, and its
    -- earliest span stands in
    SELECT trace_id, coalesce(arg_min(CASE WHEN NOT has_parent THEN span_id END,
                                      CASE WHEN NOT has_parent THEN start_time END),
                              arg_min(span_id, start_time)) AS root_span_id
    FROM classified GROUP BY trace_id
)
SELECT c.* EXCLUDE (error_probe, output_probe, recovered_by_parent, known_family),
    c.span_id = r.root_span_id AS is_root,
    -- a pipeline stage: a child of the root, or a parentless span beside it (flat traces)
    c.span_id <> r.root_span_id AND (NOT c.has_parent OR c.parent_span_id = r.root_span_id) AS top_level,
    o.span_id IS NOT NULL AS propagated,
    h.span_id IS NOT NULL AS handled,
    coalesce(c.error_family IN ({TRANSIENT_LIST}), false) AS transient_error
FROM classified c
JOIN roots r USING (trace_id)
LEFT JOIN origins o ON o.trace_id = c.trace_id AND o.span_id = c.span_id
LEFT JOIN handled h ON h.trace_id = c.trace_id AND h.span_id = c.span_id
"""

TRACE_FACTS_SQL = """
CREATE OR REPLACE TABLE trace_facts AS
WITH verdicts AS (  -- a verdict names its trace, or a span (run, observation) inside it
    SELECT coalesce(e.trace_id, s.trace_id) AS trace_id, bool_and(e.eval_passed) AS eval_passed
    FROM evals e LEFT JOIN spans s ON e.trace_id IS NULL AND s.span_id = e.span_id
    GROUP BY 1
), per_trace AS (
    SELECT trace_id,
        count(*) AS n_spans,
        min(start_time) AS started_at,
        max(end_time) AS ended_at,
        max(start_time) AS last_start,
        count(CASE WHEN status = 'error' THEN 1 END) AS n_errors,
        count(CASE WHEN unrecovered_error AND NOT is_root THEN 1 END) AS n_unrecovered_below_root,
        count(CASE WHEN unrecovered_error AND NOT handled AND NOT is_root THEN 1 END) AS n_swallowed,
        count(CASE WHEN limit_in_output THEN 1 END) AS n_limit_messages,
        min(CASE WHEN limit_in_output THEN start_time END) AS first_limit_at
    FROM span_facts GROUP BY trace_id
), candidates AS (
    -- a tool error the agent read, that no later call fixed, after which the agent did no
    -- other successful tool work: its next reply is what it made of the error
    SELECT e.trace_id, e.span_id, e.end_time FROM span_facts e
    WHERE e.kind = 'tool' AND e.status = 'error' AND e.handled AND e.unrecovered_error
      AND NOT EXISTS (SELECT 1 FROM span_facts o WHERE o.trace_id = e.trace_id AND o.kind = 'tool'
                      AND o.status = 'ok' AND o.start_time >= e.end_time)
), replies AS (
    SELECT c.trace_id, c.span_id, arg_min(s.output, s.start_time) AS reply
    FROM candidates c
    JOIN spans s ON s.trace_id = c.trace_id AND s.kind = 'llm' AND s.start_time >= c.end_time
                 AND s.output IS NOT NULL AND s.output <> ''
    GROUP BY c.trace_id, c.span_id
), ignored AS (
    -- ... and that reply never admits a problem: the agent answered as if the call had
    -- worked (see conventions.ACKNOWLEDGEMENT_RX)
    SELECT trace_id, count(*) AS n_ignored, arg_min(span_id, span_id) AS ignored_span_id,
           arg_min(left(reply, 200), span_id) AS ignored_reply
    FROM replies
    WHERE NOT regexp_matches(reply, '(?i)(ACKNOWLEDGEMENT)')
    GROUP BY trace_id
), roots AS (
    SELECT t.*, r.span_id AS root_span_id, r.name AS root_name, r.status AS root_status,
           r.parent_span_id IS NOT NULL AS root_missing, r.eval_passed AS root_eval, r.duration_ms AS root_duration_ms
    FROM per_trace t JOIN span_facts r ON r.trace_id = t.trace_id AND r.is_root
), loud AS (
    -- Some instrumentations report a run's failure only below the root (the root always
    -- says ok), or lose the root of a run that raised: an error nobody recovered or read,
    -- after which nothing else started, ended the run (a swallowed error is one the run
    -- carried on after).
    SELECT DISTINCT f.trace_id
    FROM span_facts f JOIN roots t ON t.trace_id = f.trace_id
    WHERE f.unrecovered_error AND NOT f.handled AND f.end_time >= t.last_start
)
SELECT *, failed AND NOT loud AS silent
FROM (
    SELECT t.* EXCLUDE (last_start, root_eval),
        coalesce(v.eval_passed, t.root_eval) AS eval_passed,
        t.root_status = 'error' OR l.trace_id IS NOT NULL OR t.n_limit_messages > 0 AS loud,
        -- a run that failed loud failed (an error ended it, or it answered that it hit its step
        -- limit); otherwise an evaluator's verdict, where given, decides over what the spans
        -- suggest (a swallowed error)
        t.root_status = 'error' OR l.trace_id IS NOT NULL OR t.n_limit_messages > 0
            OR coalesce(NOT coalesce(v.eval_passed, t.root_eval), t.n_swallowed > 0 OR coalesce(i.n_ignored, 0) > 0) AS failed,
        coalesce(i.n_ignored, 0) AS n_ignored, i.ignored_span_id, i.ignored_reply
    FROM roots t
    LEFT JOIN verdicts v ON v.trace_id = t.trace_id
    LEFT JOIN loud l ON l.trace_id = t.trace_id
    LEFT JOIN ignored i ON i.trace_id = t.trace_id
)
"""

# split once, at import: every audit runs the same statements
SPAN_FACTS_STATEMENTS = staged(SPAN_FACTS_SQL, STAGES)
