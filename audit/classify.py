"""Run the rule catalog over the derived facts and build the ``findings`` table.

Each rule is one set-based query. Afterwards, in SQL: severities are lowered for
events the run recovered from, silences from the settings are applied (silenced
findings stay, marked), and every failed trace gets exactly one primary finding, its
root cause: the earliest error the run did not recover from (errors nobody read before
errors the agent read), then shape heuristics (loops, ping-pong), then a verdict alone. A failed trace no rule explains gets an ``unclassified`` primary finding.
"""

from __future__ import annotations

from audit.backend import Backend, Connection, as_backend, backend_errors
from audit.errors import RuleDefinitionError
from audit.facts import build_facts
from audit.progress import Progress, no_progress, scaled
from audit.rules.base import RuleSpec
from audit.settings import Settings

UNCLASSIFIED_RULE_ID = "UN00"


def classify(con: Connection, rules: list[RuleSpec], settings: Settings,
             progress: Progress = no_progress) -> None:
    """Build ``span_facts``, ``trace_facts`` and ``findings``; ``progress`` hears of the facts,
    then of each rule (the facts are about half the work).

    Raises:
        RuleDefinitionError: a rule's SQL does not run against the facts tables.
    """
    db = as_backend(con)
    build_facts(db, scaled(progress, 0.0, 0.5))
    db.create_table("raw_findings", [("rule_id", "VARCHAR"), ("trace_id", "VARCHAR"), ("span_id", "VARCHAR"),
                                     ("evidence", "VARCHAR"), ("recovered", "BOOLEAN")], [])
    for i, rule in enumerate(rules):
        progress(f"Running rule {rule.id} ({i + 1} of {len(rules)})", 0.5 + 0.45 * i / max(len(rules), 1))
        run_rule(db, rule, settings)
    progress("Ranking the findings", 0.95)
    _register_rules(db, rules)
    _register_silences(db, settings)
    db.execute(FINDINGS_SQL)


def rule_parameters(rule: RuleSpec, settings: Settings) -> dict[str, object]:
    """The settings a rule's SQL binds as ``$name``.

    Raises:
        RuleDefinitionError: the SQL names a parameter that is not a setting.
    """
    values = settings.model_dump()
    unknown = [p for p in rule.parameters() if p not in values or isinstance(values[p], list)]
    if unknown:
        raise RuleDefinitionError(
            f"rule {rule.id}: field sql uses unknown parameter(s) {', '.join('$' + u for u in unknown)}; "
            f"available: {', '.join('$' + k for k, v in values.items() if not isinstance(v, list))}"
        )
    return {p: values[p] for p in rule.parameters()}


def run_rule(db: Backend, rule: RuleSpec, settings: Settings) -> None:
    params = rule_parameters(rule, settings)
    try:
        columns = set(db.columns(rule.sql, params))
        missing = {"trace_id", "span_id", "evidence"} - columns
        if missing:
            raise RuleDefinitionError(
                f"rule {rule.id}: field sql must return columns trace_id, span_id, evidence "
                f"(and optionally recovered); missing {', '.join(sorted(missing))}"
            )
        recovered = "coalesce(CAST(recovered AS BOOLEAN), false)" if "recovered" in columns else "false"
        db.execute(
            f"INSERT INTO raw_findings SELECT '{rule.id}', CAST(trace_id AS VARCHAR), CAST(span_id AS VARCHAR), "
            f"CAST(evidence AS VARCHAR), {recovered} FROM ({rule.sql})",
            params,
        )
    except backend_errors(db) as e:
        first = str(e).strip().splitlines()[0]
        raise RuleDefinitionError(f"rule {rule.id} ({rule.source}): field sql fails to run: {first}") from e


RULE_META_COLUMNS = (("rule_id", "VARCHAR"), ("rule_order", "INTEGER"), ("layer", "VARCHAR"), ("mode", "VARCHAR"),
                     ("title", "VARCHAR"), ("remedy", "VARCHAR"), ("base_severity", "VARCHAR"),
                     ("generic", "BOOLEAN"), ("shape", "BOOLEAN"), ("precedence", "INTEGER"))


def _register_rules(db: Backend, rules: list[RuleSpec]) -> None:
    db.create_table("rule_meta", RULE_META_COLUMNS, [
        [r.id, i, r.layer, r.mode, r.title, r.remedy, r.severity, r.generic, r.shape, r.precedence]
        for i, r in enumerate(rules)])


def _register_silences(db: Backend, settings: Settings) -> None:
    db.create_table("silences", [("rule_id", "VARCHAR"), ("trace_id", "VARCHAR"), ("reason", "VARCHAR")],
                    [[s.rule_id, s.trace_id, s.reason or "silenced in settings"] for s in settings.silence])


FINDINGS_SQL = f"""
CREATE OR REPLACE TABLE findings AS
WITH f AS (
    SELECT r.rule_id, r.trace_id, r.span_id, r.evidence, r.recovered,
           m.layer, m.mode, m.title, m.remedy, m.rule_order, m.precedence,
           s.name AS step, s.agent, s.kind, s.start_time,
           t.failed AS trace_failed,
           -- an error the agent read and got past is low; one the run recovered from by retrying is one lower
           CASE WHEN coalesce(s.handled, false) AND NOT t.failed THEN 'low'
                WHEN r.recovered AND m.base_severity = 'high' THEN 'medium'
                WHEN r.recovered THEN 'low' ELSE m.base_severity END AS severity,
           -- root-cause tier: the run's own errors first (those the agent read, or that kept coming
           -- back until a limit stopped the run, after those nobody read), then shape heuristics and
           -- limit messages, then a verdict alone, then what the run recovered from
           CASE WHEN r.recovered AND NOT m.shape AND count(*) OVER (PARTITION BY r.trace_id, r.rule_id) >= 2
                THEN 2  -- an error that kept coming back
                WHEN coalesce(s.limit_in_output, false) THEN 2  -- the run hit its step limit here
                WHEN s.start_time > t.first_limit_at THEN 4  -- what followed the limit is its consequence
                WHEN r.recovered THEN 5
                WHEN m.shape THEN 3
                WHEN coalesce(s.handled, false) THEN 2
                WHEN m.generic AND coalesce(s.status, 'ok') = 'ok' THEN 4
                WHEN m.generic THEN 1
                WHEN coalesce(s.status, 'ok') = 'ok' THEN 3  -- evidence on a span that did not fail
                ELSE 0 END AS tier,
           (SELECT min(x.reason) FROM silences x
             WHERE x.rule_id = r.rule_id AND (x.trace_id IS NULL OR x.trace_id = r.trace_id)) AS silence_reason
    FROM (SELECT DISTINCT * FROM raw_findings) r
    JOIN rule_meta m ON m.rule_id = r.rule_id
    JOIN trace_facts t ON t.trace_id = r.trace_id
    LEFT JOIN span_facts s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
), ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY trace_id, trace_failed AND silence_reason IS NULL
        ORDER BY tier, start_time, precedence DESC, rule_order, span_id) AS rank_in_trace
    FROM f
), explained AS (
    SELECT DISTINCT trace_id FROM f WHERE silence_reason IS NULL
)
SELECT rule_id, trace_id, span_id, layer, mode, severity, title, evidence, remedy, recovered,
       trace_failed AND silence_reason IS NULL AND rank_in_trace = 1 AS "primary",
       silence_reason IS NOT NULL AS silenced, silence_reason, step, agent, kind, start_time
FROM ranked
UNION ALL
SELECT '{UNCLASSIFIED_RULE_ID}', t.trace_id, t.root_span_id, 'unclassified', 'unexplained_failure', 'medium',
       'The run failed and no rule explains why.',
       concat_ws('; ', 'root status=' || t.root_status,
                 CASE WHEN t.eval_passed = false THEN 'eval_passed=false' END,
                 CASE WHEN t.n_unrecovered_below_root > 0
                      THEN CAST(t.n_unrecovered_below_root AS VARCHAR) || ' unrecovered error span(s)' END),
       'Open the trace; if the failure has a recognisable signature, add a rule for it (--rules).',
       FALSE, TRUE, FALSE, NULL, r.name, r.agent, r.kind, r.start_time
FROM trace_facts t
JOIN span_facts r ON r.trace_id = t.trace_id AND r.span_id = t.root_span_id
WHERE t.failed AND t.trace_id NOT IN (SELECT trace_id FROM explained)
"""
