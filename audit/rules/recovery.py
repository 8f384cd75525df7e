"""Recovery layer: what happens after a step fails."""

from __future__ import annotations

from audit.rules.base import Rule
from audit.rules.sqlparts import ERROR_EVIDENCE

TRANSIENT = "('rate_limit', 'timeout', 'server_error', 'connection')"


class RC01(Rule):
    """A step was retried until the retries ran out, and the run failed there.

    Why: the last attempt of a retried step still failed (or the client gave up: "Max
    retries exceeded", tenacity RetryError), so retrying was not enough.
    Remedy: find why every attempt fails (it is rarely transient after several tries),
    add a fallback (another model, a cached answer, a human) and fail loud when it runs out.
    Fails: fetch_invoice fails on attempts 1, 2 and 3 and is not tried again.
    Passes: fetch_invoice fails once and succeeds on attempt 2.
    """

    name = "recovery.retries_exhausted"
    layer = "recovery"
    mode = "retries_exhausted"
    severity = "high"
    sql = f"""
SELECT trace_id, span_id, FALSE AS recovered,
       'gave up after ' || CAST(run_index AS VARCHAR) || ' attempt(s); ' || {ERROR_EVIDENCE} AS evidence
FROM span_facts
WHERE status = 'error' AND NOT propagated AND later_runs = 0 AND unrecovered_error
  AND ((is_retry AND run_index >= 2) OR client_retries_exhausted)
"""


class RC02(Rule):
    """A transient error (timeout, rate limit, 5xx, connection) was not retried.

    Why: transient failures are expected at scale and usually pass on a second try; a
    step that gives up at once turns a blip into a failed run.
    Remedy: retry transient errors with exponential back-off and jitter (e.g. tenacity,
    the SDK's max_retries) and respect Retry-After.
    Fails: an llm span with RateLimitError, error code 429, and no later attempt.
    Passes: the same error followed by a successful retry 2 s later.
    """

    name = "recovery.transient_not_retried"
    layer = "recovery"
    mode = "no_retry"
    severity = "medium"
    sql = f"""
SELECT trace_id, span_id, FALSE AS recovered,
       'transient ' || error_family || ' error with no retry; ' || {ERROR_EVIDENCE} AS evidence
FROM span_facts
WHERE status = 'error' AND transient_error AND NOT propagated AND later_runs = 0 AND unrecovered_error
  AND NOT is_retry AND NOT client_retries_exhausted
"""


class RC03(Rule):
    """A failed step was retried without back-off.

    Why: retrying a rate limit or an overloaded service immediately ($backoff_min_ms ms
    or less) usually fails again and adds load; it also burns the retry budget in
    milliseconds. Re-asking a model at once after a parse error is fine and not flagged.
    Remedy: wait before retrying, growing the wait exponentially with jitter.
    Fails: RateLimitError, then a retry 5 ms later.
    Passes: RateLimitError, then a retry 1.5 s later.
    """

    name = "recovery.no_backoff"
    layer = "recovery"
    mode = "no_backoff"
    severity = "medium"
    sql = f"""
SELECT trace_id, span_id, status = 'ok' OR later_ok_runs > 0 AS recovered,
       'retry ' || CAST(gap_ms AS VARCHAR) || ' ms after a failed attempt (' || prev_error_family
       || ': ' || left(prev_error_text, 160) || '); back-off threshold ' || CAST($backoff_min_ms AS VARCHAR)
       || ' ms' AS evidence
FROM span_facts
WHERE is_retry AND prev_status = 'error' AND gap_ms < $backoff_min_ms
  AND (prev_error_family IN {TRANSIENT} OR prev_error_family = 'other')
UNION ALL  -- a client's retry inside one model call: the call succeeded too soon after the failure to have waited
SELECT trace_id, span_id, TRUE AS recovered,
       'failed attempt (' || error_family || ': ' || left(error_message, 160) || ') inside a model call that '
       || 'succeeded ' || CAST(inner_retry_window_ms AS VARCHAR) || ' ms later; back-off threshold '
       || CAST($backoff_min_ms AS VARCHAR) || ' ms' AS evidence
FROM span_facts
WHERE inner_retry_window_ms < $backoff_min_ms AND (transient_error OR error_family = 'other')
"""


class RC04(Rule):
    """The run reported success, but an error inside it was swallowed.

    Why: the root span says ok while an error below it was never retried and never read
    by a later model call: the run carried on as if nothing happened, so users get a
    confident wrong answer and nobody is alerted.
    Remedy: propagate unrecovered errors to the run's status (or hand them to the model
    as a tool result), evaluate final answers, and alert on errors under a successful run.
    Fails: a root ok over a tool error nobody retried and no model call saw.
    Passes: a root ok whose errors were retried successfully, or read and answered by the agent.
    """

    name = "recovery.silent_failure"
    layer = "recovery"
    mode = "silent_failure"
    severity = "high"
    precedence = 1  # a swallowed timeout is first of all a silent failure
    sql = """
WITH swallowed AS (  -- never recovered, never read by a later model call
    SELECT trace_id, span_id, error_type, error_message,
           row_number() OVER (PARTITION BY trace_id ORDER BY start_time, span_id) AS k
    FROM span_facts WHERE unrecovered_error AND NOT handled AND NOT propagated AND NOT is_root
)
SELECT t.trace_id, e.span_id, FALSE AS recovered,
       'root reported ok, but ' || coalesce(e.error_type, 'an error')
       || CASE WHEN coalesce(e.error_message, '') <> '' THEN ' (' || left(e.error_message, 160) || ')' ELSE '' END
       || ' on span ' || e.span_id || ' was never recovered, and no later step read it'
       || CASE WHEN t.eval_passed = false THEN '; eval_passed=false' ELSE '' END AS evidence
FROM trace_facts t
JOIN swallowed e ON e.trace_id = t.trace_id AND e.k = 1
WHERE t.silent
"""


class RC06(Rule):
    """The run reported success, but its final answer was judged wrong.

    Why: an evaluator (or a user) judged the answer wrong while every span said ok, or
    the only errors were read by the agent, which then answered anyway; nothing in the
    run's status tells anyone.
    Remedy: evaluate final answers continuously, have the agent say when a tool failed
    instead of guessing, and alert on disagreement between reported and judged outcome.
    Fails: a root ok with eval_passed=false.
    Passes: a root ok whose answer passed evaluation.
    """

    name = "recovery.judged_wrong"
    layer = "recovery"
    mode = "silent_failure"
    severity = "high"
    generic = True
    sql = """
SELECT t.trace_id, t.root_span_id AS span_id, FALSE AS recovered,
       'root reported ok, but the final answer was judged wrong (eval_passed=false)'
       || CASE WHEN t.n_unrecovered_below_root > 0
               THEN '; ' || CAST(t.n_unrecovered_below_root AS VARCHAR) || ' error(s) the agent read and answered'
               ELSE '' END AS evidence
FROM trace_facts t
WHERE t.silent AND t.eval_passed = false AND t.n_swallowed = 0
"""


class RC05(Rule):
    """An unhandled error ended the run.

    Why: an error of no recognised family failed the run: it escaped every handler, or
    the agent read it and still could not finish; nothing retried or degraded gracefully.
    Remedy: catch errors at step boundaries, classify them (retry transient, re-ask on
    format, fail fast on bugs) and return a clear failure to the caller.
    Fails: a tool raises ZeroDivisionError and the root span ends in error.
    Passes: the same error caught and retried successfully.
    """

    name = "recovery.unhandled_error"
    layer = "recovery"
    mode = "unhandled_error"
    severity = "high"
    generic = True
    sql = f"""
WITH origin AS (  -- the run failed loud, or the agent read the error and still failed
    SELECT f.*, row_number() OVER (PARTITION BY f.trace_id ORDER BY f.start_time, f.span_id) AS k
    FROM span_facts f
    JOIN trace_facts t ON t.trace_id = f.trace_id AND t.failed
    WHERE f.unrecovered_error AND NOT f.propagated AND (t.loud OR f.handled)
)
SELECT trace_id, span_id, FALSE AS recovered, {ERROR_EVIDENCE} AS evidence
FROM origin WHERE k = 1 AND error_family = 'other'
"""


class RC07(Rule):
    """The agent read a tool's error, then answered as if the call had worked.

    Why: the framework handed the error back to the model, but no later call fixed it and
    the model's next reply admits no problem ("Your refund has been processed"): a confident
    wrong answer that every span reports as ok. Runs with an evaluator verdict are judged by
    the verdict instead.
    Remedy: make tools fail loudly for actions that must not be faked (raise, or return a
    structured error the agent must relay), instruct the agent to report failed actions,
    and evaluate answers against the actions that actually succeeded.
    Fails: issue_refund returns "Error: payment gateway timeout", then the reply says the
    refund was processed.
    Passes: the same error, then a reply that says the refund could not be made.
    """

    name = "recovery.error_ignored"
    layer = "recovery"
    mode = "silent_failure"
    severity = "high"
    precedence = 1  # what the agent did with the error is the failure
    sql = """
SELECT t.trace_id, t.ignored_span_id AS span_id, FALSE AS recovered,
       'the agent read the error of span ' || t.ignored_span_id || ' and replied as if it had worked: '
       || t.ignored_reply AS evidence
FROM trace_facts t
WHERE t.ignored_span_id IS NOT NULL AND t.failed AND t.eval_passed IS NULL
"""


RULES = [RC01, RC02, RC03, RC04, RC05, RC06, RC07]
