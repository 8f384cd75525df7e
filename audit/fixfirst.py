"""What to fix first: the root-cause failure modes ranked by what they cost.

Each (layer, mode) of the primary findings is one item: its failed runs, the tokens they
burnt plus the business cost per failure, the end-to-end success gained if it were fixed
(its failed traces would succeed, the what-if math of ``reliability``), its remedy and
example traces. SQL gathers the counts; re-ranking for other cost settings is arithmetic.
"""

from __future__ import annotations

from audit.backend import Connection, as_backend
from audit.models import Cost, FixFirstItem

EXAMPLES = 3

# Needs the connection's ``span_costs`` (``cost.compute_cost`` creates it).
FIX_FIRST_SQL = f"""
WITH trace_cost AS (
    SELECT trace_id, sum(counted_cost) AS cost FROM span_costs GROUP BY trace_id
), primary_findings AS (
    SELECT DISTINCT ON (f.trace_id) f.trace_id, f.layer, f.mode, f.rule_id, f.remedy
    FROM findings f JOIN trace_facts t ON t.trace_id = f.trace_id AND t.failed
    WHERE f."primary" AND NOT f.silenced
    ORDER BY f.trace_id, f.start_time
)
SELECT p.layer, p.mode, list_sort(list(DISTINCT p.rule_id)) AS rules, count(*) AS failed_traces,
       coalesce(sum(c.cost), 0) AS failed_cost_usd, mode(p.remedy) AS remedy,
       array_slice(list_sort(list(p.trace_id)), 1, {EXAMPLES}) AS example_traces
FROM primary_findings p LEFT JOIN trace_cost c USING (trace_id)
GROUP BY p.layer, p.mode
"""


def fix_first(con: Connection, cost: Cost) -> list[FixFirstItem]:
    """The ranked list for this connection's audit and cost picture."""
    items = [
        FixFirstItem(layer=layer, mode=mode, rules=rules, failed_traces=n, failed_cost_usd=float(spent),
                     remedy=remedy or "", example_traces=examples)
        for layer, mode, rules, n, spent, remedy, examples in as_backend(con).fetchall(FIX_FIRST_SQL)
    ]
    return rank_fix_first(items, cost)


def rank_fix_first(items: list[FixFirstItem], cost: Cost) -> list[FixFirstItem]:
    """Price each item with the cost settings and order by money lost, then failed runs."""
    scale = cost.monthly_runs / cost.traces if cost.traces else 0.0
    priced = []
    for item in items:
        business = item.failed_traces * cost.business_cost_per_failure_usd
        lost = item.failed_cost_usd + business
        priced.append(item.model_copy(update={
            "business_cost_usd": business, "money_lost_usd": lost, "monthly_loss_usd": lost * scale,
            "success_gain": item.failed_traces / cost.traces if cost.traces else 0.0,
        }))
    return sorted(priced, key=lambda i: (-i.money_lost_usd, -i.failed_traces, i.layer, i.mode))
