"""State layer: context lost, overflowing, or work redone."""

from __future__ import annotations

from audit.rules.base import Rule
from audit.rules.sqlparts import error_rule


class ST01(Rule):
    """The prompt overflowed the model's context window.

    Why: accumulated history, tool output or retrieved documents grew past the model's
    limit (OpenAI context_length_exceeded, Anthropic "prompt is too long", Gemini "input
    token count exceeds"), so the step cannot run at all.
    Remedy: budget tokens per step, trim or summarise history, cap retrieved chunks, and
    keep durable state in a store rather than in the prompt.
    Fails: an llm span with "This model's maximum context length is 128000 tokens".
    Passes: an llm span that completed, however long its prompt.
    """

    name = "state.context_overflow"
    layer = "state"
    mode = "context_overflow"
    severity = "high"
    sql = error_rule("error_family = 'context_overflow'")


class ST02(Rule):
    """A step needed state that was missing or lost.

    Why: a value an earlier step should have left in the shared state was not there
    (KeyError, LangChain "Missing some input keys", a prompt template "missing variables",
    LangGraph InvalidUpdateError or EmptyChannelError), so the step ran blind or failed.
    Remedy: declare the state schema, checkpoint it between steps (e.g. a LangGraph
    checkpointer) and validate required keys at each step's entry.
    Fails: a chain span with "KeyError: 'order_id'".
    Passes: a step whose inputs were all present.
    """

    name = "state.missing_state"
    layer = "state"
    mode = "lost_state"
    severity = "high"
    sql = error_rule("error_family = 'state_key'")


class ST03(Rule):
    """The same step was re-run with identical input after it had already succeeded.

    Why: without shared state a pipeline forgets what it did and pays for the same work
    again (and may contradict its earlier result). A retry after an error is not this.
    Remedy: memoise step results by input in the run's state and check it before calling
    a model or tool again.
    A ReAct step's input is the tool call it writes (Action and Action Input), so an agent
    that writes its tool calls as text is judged the same way.
    Fails: search_orders ok with input {"q": "A-17"}, then search_orders again with {"q": "A-17"};
    a ReAct agent writing "Action: web_search" with the same Action Input twice.
    Passes: a retry after an error; a second call with a different input (a revision round);
    a ReAct agent searching twice with two different queries.
    """

    name = "state.redundant_work"
    layer = "state"
    mode = "redundant_work"
    severity = "low"
    shape = True
    sql = """
SELECT f.trace_id, f.span_id, TRUE AS recovered,
       concat_ws('; ', 'step ' || f.name || ' ran ' || CAST(f.same_input_runs AS VARCHAR)
                 || ' times with identical input',
                 coalesce('tool call written by the model: ' || left(f.react_call, 160),
                          'input=' || left(s.input, 160))) AS evidence
FROM span_facts f
JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
WHERE f.input_key IS NOT NULL AND NOT f.is_retry AND f.prior_ok_same_input = 1
  AND NOT EXISTS (  -- report the re-run where it starts, not again in each of its children
      SELECT 1 FROM span_facts p
      WHERE p.trace_id = f.trace_id AND p.span_id = f.parent_span_id
        AND p.prior_ok_same_input >= 1 AND NOT p.is_retry)
"""


RULES = [ST01, ST02, ST03]
