"""Routing layer: the wrong next step, or the same steps over and over."""

from __future__ import annotations

from audit.rules.base import Rule
from audit.rules.sqlparts import error_rule


class RO01(Rule):
    """One step ran over and over in a single run (a loop).

    Why: a step run $loop_min_runs times or more with the same input (the same tool with
    the same arguments), or a model giving the same answer again and again, burns tokens
    and time and means the router never reached its stop condition. Retries after errors
    do not count, and neither do runs with distinct inputs: a long conversation or a
    fan-out over distinct queries is not a loop, whatever its length.
    Remedy: bound iterations explicitly (LangGraph recursion_limit, max_iterations),
    detect repeated state, and route to a fallback or a human when the bound is hit.
    Fails: lookup_order called 6 times with {"order_id": "A-17"}; an assistant sending the same reply 5 times.
    Passes: search runs 4 times; 12 searches with 12 different queries; a chat with 30 assistant turns.
    """

    name = "routing.step_loop"
    layer = "routing"
    mode = "loop"
    severity = "medium"
    shape = True
    sql = """
WITH repeats AS (  -- the same input, or the same model output, over and over
    SELECT trace_id, step_key, input_key AS k, 'input' AS what, count(*) AS n
    FROM span_facts WHERE NOT is_retry AND input_key IS NOT NULL GROUP BY trace_id, step_key, input_key
    HAVING count(*) >= $loop_min_runs
    UNION ALL
    SELECT trace_id, step_key, output_key AS k, 'output' AS what, count(*) AS n
    FROM span_facts WHERE NOT is_retry AND output_key IS NOT NULL GROUP BY trace_id, step_key, output_key
    HAVING count(*) >= $loop_min_runs
), loops AS (
    SELECT trace_id, step_key, arg_max(k, n) AS k, arg_max(what, n) AS what, max(n) AS n
    FROM repeats GROUP BY trace_id, step_key
), runs AS (
    SELECT f.trace_id, f.span_id, f.parent_span_id, f.name, l.n, l.what, f.react_call,
           row_number() OVER (PARTITION BY f.trace_id, f.step_key ORDER BY f.start_time, f.span_id) AS k
    FROM span_facts f
    JOIN loops l ON l.trace_id = f.trace_id AND l.step_key = f.step_key
        AND l.k = CASE WHEN l.what = 'input' THEN f.input_key ELSE f.output_key END
    WHERE NOT f.is_retry
)
SELECT r.trace_id, r.span_id, FALSE AS recovered,
       'step ' || r.name || ' ran ' || CAST(r.n AS VARCHAR) || ' times with the same '
       || CASE WHEN r.what = 'input' AND r.react_call IS NOT NULL
               THEN 'tool call (' || left(r.react_call, 120) || ')' ELSE r.what END
       || ' in one run (threshold ' || CAST($loop_min_runs AS VARCHAR) || ')'
       || CASE WHEN t.failed THEN '; the run failed' ELSE '' END AS evidence
FROM runs r
JOIN trace_facts t ON t.trace_id = r.trace_id
WHERE r.k = $loop_min_runs
  AND NOT EXISTS (  -- a call inside a looping step repeats because its parent does
      SELECT 1 FROM span_facts p
      WHERE p.trace_id = r.trace_id AND p.span_id = r.parent_span_id AND p.same_input_runs >= $loop_min_runs)
"""


class RO02(Rule):
    """A cycle of two or three steps repeated (A → B → A → B → ...).

    Why: plan/act or critic/writer cycles that repeat $cycle_min_repeats times or more
    without converging are loops spread over several steps. As with single-step loops,
    a cycle counts only when a step of it repeats an input exactly: a ReAct agent calling
    tools with new arguments each round is making progress, however many rounds.
    Remedy: cap the number of rounds, carry a "done" criterion in state, and stop when
    the state stops changing.
    Fails: draft, critique, draft, critique, draft, critique in a run judged wrong.
    Passes: draft, critique, draft (one revision round).
    """

    name = "routing.step_cycle"
    layer = "routing"
    mode = "loop"
    severity = "medium"
    shape = True
    sql = """
WITH candidates AS (  -- every step of a cycle repeats under one parent: skip parents where none does
    SELECT DISTINCT trace_id, coalesce(parent_span_id, '') AS parent_key
    FROM span_facts WHERE NOT is_root
    GROUP BY trace_id, coalesce(parent_span_id, ''), step_key
    HAVING count(*) >= $cycle_min_repeats
), seq AS (
    SELECT f.trace_id, f.span_id, c.parent_key, f.name, f.same_input_runs, f.step_key AS step,
           row_number() OVER (PARTITION BY f.trace_id, c.parent_key ORDER BY f.start_time, f.span_id) AS pos
    FROM span_facts f
    JOIN candidates c ON c.trace_id = f.trace_id AND c.parent_key = coalesce(f.parent_span_id, '')
    WHERE NOT f.is_root
), marked AS (
    SELECT *,
           lag(step, 1) OVER (PARTITION BY trace_id, parent_key ORDER BY pos) AS s1,
           lag(step, 2) OVER (PARTITION BY trace_id, parent_key ORDER BY pos) AS s2,
           lag(step, 3) OVER (PARTITION BY trace_id, parent_key ORDER BY pos) AS s3
    FROM seq
), periodic AS (
    SELECT trace_id, parent_key, pos, same_input_runs, 2 AS period FROM marked WHERE step = s2 AND step <> s1
    UNION ALL
    SELECT trace_id, parent_key, pos, same_input_runs, 3 AS period FROM marked
    WHERE step = s3 AND step <> s1 AND step <> s2 AND s1 <> s2
), islands AS (
    SELECT *, pos - row_number() OVER (PARTITION BY trace_id, parent_key, period ORDER BY pos) AS grp
    FROM periodic
), cycles AS (
    SELECT trace_id, parent_key, period, min(pos) - period AS first_pos,
           -- an integer on both engines (DuckDB floors a double to a double: "3.0 times")
           CAST(floor((count(*) + period) / period) AS BIGINT) AS repeats, max(same_input_runs) AS max_same_input
    FROM islands GROUP BY trace_id, parent_key, period, grp
    HAVING count(*) + period >= $cycle_min_repeats * period
)
SELECT c.trace_id, s.span_id, FALSE AS recovered,
       CAST(c.period AS VARCHAR) || '-step cycle starting at ' || s.name || ' repeated '
       || CAST(c.repeats AS VARCHAR) || ' times (threshold ' || CAST($cycle_min_repeats AS VARCHAR) || ')'
       || CASE WHEN t.failed THEN '; the run failed' ELSE '' END AS evidence
FROM cycles c
JOIN seq s ON s.trace_id = c.trace_id AND s.parent_key = c.parent_key AND s.pos = c.first_pos
JOIN trace_facts t ON t.trace_id = c.trace_id
WHERE c.max_same_input > 1
"""


class RO03(Rule):
    """The run hit a recursion or iteration limit.

    Why: the framework stopped the run because it never reached a stop condition
    (LangGraph GraphRecursionError, OpenAI Agents MaxTurnsExceeded, LangChain "Agent
    stopped due to iteration limit"); the limit worked, the routing did not.
    Remedy: find the cycle in the trace, add a termination check the router can reach,
    and handle the limit with a graceful fallback answer.
    Fails: a graph span with "Recursion limit of 25 reached without hitting a stop condition".
    Passes: a run that finished below its limit.
    """

    name = "routing.iteration_limit"
    layer = "routing"
    mode = "loop"
    severity = "high"
    sql = error_rule("error_family = 'recursion_limit'") + """
UNION ALL
SELECT f.trace_id, f.span_id, FALSE AS recovered,
       'output reports a stopped run: ' || left(s.output, 200) AS evidence
FROM span_facts f JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
WHERE f.limit_in_output
"""


class RO04(Rule):
    """A step asked for a tool, agent or route that does not exist.

    Why: the model or router named a tool or agent that is not registered ("X is not a
    valid tool, try one of [...]", "Tool X not found", "unknown agent"); the run was sent
    nowhere.
    Remedy: constrain tool choice to registered names (enum in the tool schema), validate
    router output against the graph's nodes, and fall back to a default route.
    Fails: a tool span with "search_web is not a valid tool, try one of [search_docs]".
    Passes: a tool span naming a registered tool.
    """

    name = "routing.unknown_target"
    layer = "routing"
    mode = "unknown_tool"
    severity = "high"
    sql = error_rule("error_family = 'unknown_tool'")


class RO05(Rule):
    """Two agents handed the work back and forth (ping-pong delegation).

    Why: $pingpong_min_handoffs or more consecutive hand-offs between the same two agents
    (agent runs in start order: peers transferring the work, nested hand-offs, or one
    delegator bouncing it between two delegates) mean neither owns the task; each bounce
    costs a full model call. So does a delegator sending the work to the same agent
    $pingpong_min_handoffs times in a row (a delegation call whose argument names the agent,
    as a tool call or written as a ReAct step): each time the work came back to it undone.
    A delegator calling the same helper twice is not a bounce.
    Remedy: give each agent a clear contract of what it accepts, have the supervisor
    track who already handled the task, and cap delegation depth.
    Fails: triage → billing → triage → billing; triage delegating to billing three times in a row.
    Passes: triage → billing (one hand-off), or triage → billing → triage (delegate and return);
    triage delegating to billing twice.
    """

    name = "routing.ping_pong"
    layer = "routing"
    mode = "ping_pong"
    severity = "medium"
    shape = True
    sql = """
WITH seq AS (  -- agent runs in start order: peers handing over, or delegations (nested or not)
    SELECT trace_id, span_id, agent, start_time, end_time,
           lag(agent) OVER (PARTITION BY trace_id ORDER BY start_time, end_time DESC, span_id) AS prev_agent
    FROM span_facts WHERE agent_run
), changes AS (
    SELECT *, row_number() OVER (PARTITION BY trace_id ORDER BY start_time, end_time DESC, span_id) AS pos
    FROM seq WHERE prev_agent IS NULL OR agent <> prev_agent
), marked AS (
    SELECT *, lag(agent, 2) OVER (PARTITION BY trace_id ORDER BY pos) AS agent2
    FROM changes
), hits AS (
    SELECT *, pos - row_number() OVER (PARTITION BY trace_id ORDER BY pos) AS grp
    FROM marked WHERE agent = agent2
), bounces AS (
    SELECT trace_id, grp, count(*) + 1 AS handoffs, min(pos) - 2 AS first_pos
    FROM hits GROUP BY trace_id, grp
    HAVING count(*) + 1 >= $pingpong_min_handoffs
), delegations AS (  -- one delegator's delegations that worked, in start order: its tool spans,
                     -- else (an agent writing ReAct steps with no tool spans) its model calls
    SELECT trace_id, span_id, coalesce(delegator, '') AS delegator, delegate_to, start_time,
           row_number() OVER (PARTITION BY trace_id, delegator ORDER BY start_time, span_id)
           - row_number() OVER (PARTITION BY trace_id, delegator, delegate_to ORDER BY start_time, span_id) AS grp
    FROM span_facts d
    WHERE delegate_to IS NOT NULL AND status = 'ok' AND delegate_to IS DISTINCT FROM delegator
      AND (kind = 'tool' OR NOT EXISTS (
          SELECT 1 FROM span_facts t WHERE t.trace_id = d.trace_id AND t.kind = 'tool'
             AND t.delegate_to IS NOT NULL AND t.delegator IS NOT DISTINCT FROM d.delegator))
), resent AS (  -- ... to the same agent again and again, none to another between
    SELECT trace_id, delegator, delegate_to, count(*) AS n, arg_min(span_id, start_time) AS span_id
    FROM delegations GROUP BY trace_id, delegator, delegate_to, grp
    HAVING count(*) >= $pingpong_min_handoffs
)
SELECT m.trace_id, m.span_id, FALSE AS recovered,
       'agents ' || m.agent || ' and ' || n.agent || ' handed off ' || CAST(b.handoffs AS VARCHAR)
       || ' times in a row (threshold ' || CAST($pingpong_min_handoffs AS VARCHAR) || ')' AS evidence
FROM bounces b
JOIN marked m ON m.trace_id = b.trace_id AND m.pos = b.first_pos
JOIN marked n ON n.trace_id = b.trace_id AND n.pos = b.first_pos + 1
UNION ALL
SELECT trace_id, span_id, FALSE AS recovered,
       'agent ' || CASE WHEN delegator = '' THEN '(top level)' ELSE delegator END || ' sent the work to '
       || delegate_to || ' ' || CAST(n AS VARCHAR) || ' times in a row and got it back each time (threshold '
       || CAST($pingpong_min_handoffs AS VARCHAR) || ')' AS evidence
FROM resent
"""


RULES = [RO01, RO02, RO03, RO04, RO05]
