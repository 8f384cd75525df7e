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
WHERE status = 'error' AND NOT propagated AND later_runs = 0
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
WHERE status = 'error' AND transient_error AND NOT propagated AND later_runs = 0
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
"""


class RC04(Rule):
    """The run reported success but failed silently.

    Why: the root span says ok while an error below it was never recovered, or an
    evaluator judged the final answer wrong; users get a confident wrong answer and
    nobody is alerted.
    Remedy: propagate unrecovered errors to the run's status, evaluate final answers,
    and alert on disagreement between reported and judged outcome.
    Fails: a root ok with eval_passed=false; a root ok over a tool error nobody retried.
    Passes: a root ok whose errors were all retried successfully and whose answer passed.
    """

    name = "recovery.silent_failure"
    layer = "recovery"
    mode = "silent_failure"
    severity = "high"
    generic = True
    sql = """
WITH first_error AS (
    SELECT trace_id, span_id, error_type, error_message,
           row_number() OVER (PARTITION BY trace_id ORDER BY start_time, span_id) AS k
    FROM span_facts WHERE unrecovered_error AND NOT propagated AND NOT is_root
)
SELECT t.trace_id, coalesce(e.span_id, t.root_span_id) AS span_id, FALSE AS recovered,
       CASE WHEN e.span_id IS NOT NULL
            THEN 'root reported ok, but ' || coalesce(e.error_type, 'an error')
                 || CASE WHEN coalesce(e.error_message, '') <> '' THEN ' (' || left(e.error_message, 160) || ')'
                         ELSE '' END
                 || ' on span ' || e.span_id || ' was never recovered'
            ELSE 'root reported ok, but the final answer was judged wrong (eval_passed=false)' END
       || CASE WHEN t.eval_passed = false AND e.span_id IS NOT NULL THEN '; eval_passed=false' ELSE '' END
       AS evidence
FROM trace_facts t
LEFT JOIN first_error e ON e.trace_id = t.trace_id AND e.k = 1
WHERE t.silent
"""


class RC05(Rule):
    """An unhandled error ended the run.

    Why: an error of no recognised family escaped every handler and failed the run; at
    least it failed loud, but nothing caught, retried or degraded gracefully.
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
WITH origin AS (
    SELECT f.*, row_number() OVER (PARTITION BY f.trace_id ORDER BY f.start_time, f.span_id) AS k
    FROM span_facts f
    JOIN trace_facts t ON t.trace_id = f.trace_id AND t.root_status = 'error'
    WHERE f.unrecovered_error AND NOT f.propagated
)
SELECT trace_id, span_id, FALSE AS recovered, {ERROR_EVIDENCE} AS evidence
FROM origin WHERE k = 1 AND error_family = 'other'
"""


RULES = [RC01, RC02, RC03, RC04, RC05]
