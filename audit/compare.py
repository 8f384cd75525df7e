"""Prove the fix: compare two audits (a baseline and a candidate) and say what changed and
whether the change is real.

Both sides are ordinary audits through the engine's ``Audit`` API, so every input format
works; the comparison itself is a pure function of two ``AuditReport``s. Differences of
two proportions get Newcombe's hybrid score interval (method 10 of Newcombe 1998, built
from the two Wilson intervals), a plain verdict, and the runs per side a two-sided 5%
test with 80% power would need to detect a change of the observed size. Error
fingerprints are joined on their stable id: new, resolved, persisting.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Literal

from pydantic import Field

from audit import __version__
from audit.engine import Audit
from audit.ingest import SourceFile
from audit.models import AuditReport, Fingerprint, SourceInfo, StepReliability, Strict
from audit.reliability import LAYER_ORDER, wilson_interval

Z_95 = 1.959964
Z_POWER_80 = 0.841621
Verdict = Literal["better", "worse", "no significant change"]
Presence = Literal["both", "added", "removed"]


class RateChange(Strict):
    """A proportion on each side, their difference (candidate - baseline) and its 95% interval."""

    higher_is_better: bool = Field(description="True for success rates, false for failure rates")
    baseline_count: int
    baseline_n: int
    baseline_rate: float
    candidate_count: int
    candidate_n: int
    candidate_rate: float
    difference: float = Field(description="candidate_rate - baseline_rate")
    ci: tuple[float, float] = Field(description="Newcombe hybrid score interval of the difference: 95%, "
                                                "Bonferroni-widened for the number of comparisons in its table")
    confidence: float = Field(description="The interval's confidence level (0.95 / comparisons in the table)")
    verdict: Verdict = Field(description="better or worse when the interval excludes 0, else no significant change")
    runs_needed: int | None = Field(description="Runs per side to detect a change this size (5% two-sided, 80% "
                                                "power); none when there is no change or no data")


class SideSummary(Strict):
    label: str
    traces: int
    spans: int
    failed_traces: int
    observed_success: float
    observed_ci: tuple[float, float] = Field(description="Wilson 95% interval")
    predicted_success: float | None
    first_seen: datetime | None
    last_seen: datetime | None
    inputs: list[SourceInfo]


class LayerChange(Strict):
    layer: str
    failures: RateChange = Field(description="Failed traces rooted in this layer over all traces")


class ModeChange(Strict):
    layer: str
    mode: str
    failures: RateChange


class StepChange(Strict):
    name: str
    agent: str | None
    presence: Presence
    first_attempt: RateChange | None = Field(description="First-attempt success of the step; none unless on both")
    effective: RateChange | None = Field(description="Share of its traces where some attempt passed")
    baseline_runs: int
    candidate_runs: int


class MoneyChange(Strict):
    baseline: float | None
    candidate: float | None
    difference: float | None


class CostChange(Strict):
    cost_per_successful_run_usd: MoneyChange
    money_lost_usd: MoneyChange = Field(description="Failed runs + retried attempts + business cost of failures")
    monthly_failure_loss_usd: MoneyChange
    monthly_cost_usd: MoneyChange
    total_cost_usd: MoneyChange


class FingerprintChange(Strict):
    fingerprint: str
    status: Literal["new", "resolved", "persisting"]
    layer: str
    mode: str
    step: str | None
    template: str
    severity: Literal["high", "medium", "low"] = Field(description="The side's worst (candidate unless resolved)")
    baseline_traces: int
    candidate_traces: int
    baseline_findings: int
    candidate_findings: int
    traces_change: RateChange = Field(description="Share of traces with this fingerprint on each side")
    chance_if_unchanged: float | None = Field(
        description="New fingerprints: the probability that all its traces fall on the candidate side if its rate "
                    "had not changed (exact conditional test: (candidate runs / all runs) ** traces)")
    example_trace_id: str = Field(description="An example trace on the candidate side (baseline when resolved)")
    example_side: Literal["baseline", "candidate"]
    remedy: str


class ChecklistChange(Strict):
    id: str
    title: str
    layer: str
    baseline_score: str
    candidate_score: str


class Comparison(Strict):
    """A baseline audit against a candidate audit; the JSON export is exactly this model."""

    tool: str = "coordination-audit"
    version: str
    generated_at: datetime
    split_at: datetime | None = Field(description="The cut time, when both sides came from one dataset")
    baseline: SideSummary
    candidate: SideSummary
    success: RateChange = Field(description="End-to-end observed success")
    verdict: Verdict
    layers: list[LayerChange]
    modes: list[ModeChange]
    steps: list[StepChange]
    steps_added: list[str]
    steps_removed: list[str]
    agents_added: list[str]
    agents_removed: list[str]
    cost: CostChange
    fingerprints: list[FingerprintChange] = Field(description="New first, then persisting, then resolved")
    checklist: list[ChecklistChange] = Field(description="Items whose (overridden) score changed")
    regression: bool = Field(description="Success dropped significantly, or a new high-severity fingerprint "
                                         "appeared in too many traces to be chance (see chance_if_unchanged)")
    regression_reasons: list[str]


# -- statistics ------------------------------------------------------------------------------


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float]:
    """95% interval of p1 - p2 (Newcombe's hybrid score method); (-1, 1) when a side is empty."""
    if n1 <= 0 or n2 <= 0:
        return -1.0, 1.0
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def runs_needed(p1: float, p2: float, z_alpha: float = Z_95, z_beta: float = Z_POWER_80) -> int | None:
    """Runs per side for a two-sided 5% test with 80% power to detect p1 vs p2 (normal approximation)."""
    if p1 == p2:
        return None
    mean = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(numerator**2 / (p1 - p2) ** 2)


def family_z(comparisons: int) -> float:
    """z of a two-sided 95% interval Bonferroni-widened for a table of ``comparisons`` changes.

    Fourteen failure modes at 95% each would show an arrow by chance in half the
    comparisons of two identical pipelines; widening keeps the table's error rate at 5%.
    """
    return NormalDist().inv_cdf(1 - 0.05 / (2 * max(1, comparisons)))


def rate_change(baseline: tuple[int, int], candidate: tuple[int, int], higher_is_better: bool,
                comparisons: int = 1) -> RateChange:
    """Compare (count, n) on each side; the verdict only when the interval excludes zero."""
    (xb, nb), (xc, nc) = baseline, candidate
    pb = xb / nb if nb else 0.0
    pc = xc / nc if nc else 0.0
    lower, upper = newcombe_interval(xc, nc, xb, nb, family_z(comparisons))
    verdict: Verdict = "no significant change"
    if nb and nc and (lower > 0 or upper < 0):
        verdict = "better" if (lower > 0) == higher_is_better else "worse"
    return RateChange(
        higher_is_better=higher_is_better, baseline_count=xb, baseline_n=nb, baseline_rate=pb,
        candidate_count=xc, candidate_n=nc, candidate_rate=pc, difference=pc - pb, ci=(lower, upper),
        confidence=1 - 0.05 / max(1, comparisons), verdict=verdict, runs_needed=runs_needed(pb, pc) if nb and nc else None,
    )


# -- the comparison --------------------------------------------------------------------------


def compare_reports(baseline: AuditReport, candidate: AuditReport, *, split_at: datetime | None = None,
                    labels: tuple[str, str] = ("baseline", "candidate")) -> Comparison:
    """Everything that changed from ``baseline`` to ``candidate``, with significance."""
    b, c = baseline.summary, candidate.summary
    success = rate_change((b.traces - b.failed_traces, b.traces), (c.traces - c.failed_traces, c.traces), True)
    steps = _step_changes(baseline.reliability.steps, candidate.reliability.steps)
    fingerprints = _fingerprint_changes(baseline.fingerprints, candidate.fingerprints, (b.traces, c.traces))
    reasons = []
    if success.verdict == "worse":
        reasons.append(f"end-to-end success dropped from {success.baseline_rate:.1%} to {success.candidate_rate:.1%} "
                       f"(95% interval of the change {success.ci[0] * 100:+.1f} to {success.ci[1] * 100:+.1f} points)")
    reasons += [f"new high-severity failure {f.fingerprint} ({f.layer} · {f.mode} at {f.step}) in "
                f"{f.candidate_traces} traces: {f.template[:120]}"
                for f in gating_fingerprints(fingerprints)]
    agents_b = {s.agent for s in baseline.reliability.steps if s.agent}
    agents_c = {s.agent for s in candidate.reliability.steps if s.agent}
    return Comparison(
        version=__version__, generated_at=datetime.now(UTC), split_at=split_at,
        baseline=_side(baseline, labels[0]), candidate=_side(candidate, labels[1]),
        success=success, verdict=success.verdict,
        layers=[LayerChange(layer=layer, failures=rate_change(
            (b.primary_by_layer.get(layer, 0), b.traces), (c.primary_by_layer.get(layer, 0), c.traces), False,
            len(LAYER_ORDER))) for layer in LAYER_ORDER],
        modes=_mode_changes(baseline, candidate),
        steps=steps,
        steps_added=[_step_label(s) for s in steps if s.presence == "added"],
        steps_removed=[_step_label(s) for s in steps if s.presence == "removed"],
        agents_added=sorted(agents_c - agents_b), agents_removed=sorted(agents_b - agents_c),
        cost=_cost_change(baseline, candidate),
        fingerprints=fingerprints,
        checklist=_checklist_changes(baseline, candidate),
        regression=bool(reasons), regression_reasons=reasons,
    )


def gating_fingerprints(changes: list[FingerprintChange]) -> list[FingerprintChange]:
    """New high-severity failures too frequent to be chance.

    A new fingerprint in k candidate traces and none of the baseline's would, if its rate
    had not changed, land all k on the candidate side with probability
    (candidate runs / all runs) ** k; it gates below 5% shared (Bonferroni) among the new
    high-severity fingerprints. One trace of a rare error the baseline happened not to
    show is not a regression; ten of two hundred runs that never showed it before is.
    """
    new_high = [f for f in changes if f.status == "new" and f.severity == "high" and f.chance_if_unchanged is not None]
    return [f for f in new_high if (f.chance_if_unchanged or 1.0) < 0.05 / len(new_high)]


def _side(report: AuditReport, label: str) -> SideSummary:
    s, r = report.summary, report.reliability
    return SideSummary(label=label, traces=s.traces, spans=s.spans, failed_traces=s.failed_traces,
                       observed_success=s.observed_success, observed_ci=r.observed_ci,
                       predicted_success=s.predicted_success, first_seen=s.first_seen, last_seen=s.last_seen,
                       inputs=s.provenance.inputs)


def _primary_modes(report: AuditReport) -> dict[tuple[str, str], int]:
    """Primary findings per (layer, mode), counted over all findings (the report's list is cut)."""
    return {(m.layer, m.mode): m.primary for m in report.summary.modes if m.primary}


def _mode_changes(baseline: AuditReport, candidate: AuditReport) -> list[ModeChange]:
    mb, mc = _primary_modes(baseline), _primary_modes(candidate)
    nb, nc = baseline.summary.traces, candidate.summary.traces
    keys = set(mb) | set(mc)
    changes = [ModeChange(layer=layer, mode=mode,
                          failures=rate_change((mb.get(k, 0), nb), (mc.get(k, 0), nc), False, len(keys)))
               for k in keys for layer, mode in [k]]
    order = {layer: i for i, layer in enumerate(LAYER_ORDER)}
    return sorted(changes, key=lambda m: (order.get(m.layer, 99), -abs(m.failures.difference), m.mode))


def _step_label(step: StepChange) -> str:
    return f"{step.name} ({step.agent})" if step.agent else step.name


def _step_counts(step: StepReliability) -> tuple[tuple[int, int], tuple[int, int]]:
    """(first-attempt passes, first attempts) and (traces passed, traces), recovered from the rates."""
    first = step.runs - step.retries
    return (round(step.first_attempt_rate * first), first), (round(step.effective_rate * step.traces), step.traces)


def _step_changes(baseline: list[StepReliability], candidate: list[StepReliability]) -> list[StepChange]:
    by_b = {(s.name, s.agent): s for s in baseline}
    by_c = {(s.name, s.agent): s for s in candidate}
    out = []
    shared = sum(1 for k in by_b if k in by_c)
    for key in list(by_b) + [k for k in by_c if k not in by_b]:
        sb, sc = by_b.get(key), by_c.get(key)
        first = effective = None
        if sb and sc:
            (fb, eb), (fc, ec) = _step_counts(sb), _step_counts(sc)
            first, effective = rate_change(fb, fc, True, shared), rate_change(eb, ec, True, shared)
        out.append(StepChange(name=key[0], agent=key[1], presence="both" if sb and sc else "removed" if sb else "added",
                              first_attempt=first, effective=effective,
                              baseline_runs=sb.runs if sb else 0, candidate_runs=sc.runs if sc else 0))
    return out


def _money(baseline: float | None, candidate: float | None) -> MoneyChange:
    diff = candidate - baseline if baseline is not None and candidate is not None else None
    return MoneyChange(baseline=baseline, candidate=candidate, difference=diff)


def _cost_change(baseline: AuditReport, candidate: AuditReport) -> CostChange:
    b, c = baseline, candidate
    return CostChange(
        cost_per_successful_run_usd=_money(b.summary.cost_per_successful_run_usd,
                                           c.summary.cost_per_successful_run_usd),
        money_lost_usd=_money(b.summary.money_lost_usd, c.summary.money_lost_usd),
        monthly_failure_loss_usd=_money(b.cost.monthly_failure_loss_usd, c.cost.monthly_failure_loss_usd),
        monthly_cost_usd=_money(b.cost.monthly_cost_usd, c.cost.monthly_cost_usd),
        total_cost_usd=_money(b.cost.total_cost_usd, c.cost.total_cost_usd),
    )


def _fingerprint_changes(baseline: list[Fingerprint], candidate: list[Fingerprint], traces: tuple[int, int]
                         ) -> list[FingerprintChange]:
    by_b = {f.fingerprint: f for f in baseline}
    by_c = {f.fingerprint: f for f in candidate}
    comparisons = len(set(by_b) | set(by_c))
    out = []
    for fid in list(by_c) + [k for k in by_b if k not in by_c]:
        fb, fc = by_b.get(fid), by_c.get(fid)
        shown = fc or fb
        assert shown is not None  # the id came from one of the two sides
        out.append(FingerprintChange(
            fingerprint=fid, status="persisting" if fb and fc else "new" if fc else "resolved",
            layer=shown.layer, mode=shown.mode, step=shown.step, template=shown.template, severity=shown.severity,
            baseline_traces=fb.traces if fb else 0, candidate_traces=fc.traces if fc else 0,
            baseline_findings=fb.findings if fb else 0, candidate_findings=fc.findings if fc else 0,
            traces_change=rate_change((fb.traces if fb else 0, traces[0]), (fc.traces if fc else 0, traces[1]),
                                      False, comparisons),
            chance_if_unchanged=(traces[1] / (traces[0] + traces[1])) ** fc.traces if fc and not fb else None,
            example_trace_id=shown.example_trace_id, example_side="candidate" if fc else "baseline",
            remedy=shown.remedy,
        ))
    status_order = {"new": 0, "persisting": 1, "resolved": 2}
    severity_order = {"high": 0, "medium": 1, "low": 2}
    return sorted(out, key=lambda f: (status_order[f.status], severity_order[f.severity],
                                      -max(f.candidate_traces, f.baseline_traces), f.fingerprint))


def _checklist_changes(baseline: AuditReport, candidate: AuditReport) -> list[ChecklistChange]:
    scores_b = {i.id: i.override or i.score for i in baseline.checklist}
    return [ChecklistChange(id=i.id, title=i.title, layer=i.layer, baseline_score=scores_b[i.id],
                            candidate_score=i.override or i.score)
            for i in candidate.checklist if i.id in scores_b and scores_b[i.id] != (i.override or i.score)]


# -- auditing the sides ----------------------------------------------------------------------


def keep_period(audit: Audit, *, before: datetime | None = None, after: datetime | None = None) -> int:
    """Keep only the traces that started before ``before`` / at or after ``after``; returns traces dropped.

    A trace belongs to the side where its first span started, so no run is cut in two.
    """
    con = audit.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __period_drop AS SELECT trace_id FROM spans GROUP BY trace_id "
        "HAVING ($before IS NOT NULL AND min(start_time) >= $before) OR ($after IS NOT NULL AND min(start_time) < $after)",
        {"before": _naive_utc(before), "after": _naive_utc(after)},
    )
    (dropped,) = con.execute("SELECT count(*) FROM __period_drop").fetchone() or (0,)
    con.execute("DELETE FROM evals WHERE trace_id IN (SELECT trace_id FROM __period_drop) OR span_id IN "
                "(SELECT span_id FROM spans WHERE trace_id IN (SELECT trace_id FROM __period_drop))")
    con.execute("DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM __period_drop)")
    con.execute("DROP TABLE __period_drop")
    return int(dropped)


def _naive_utc(t: datetime | None) -> datetime | None:
    """Spans are stored as naive UTC timestamps."""
    if t is None:
        return None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def audit_side(audit: Audit, files: list[SourceFile], *, input_format: str | None = None,
               evals: SourceFile | None = None, before: datetime | None = None,
               after: datetime | None = None) -> AuditReport:
    """Load one side's files into ``audit`` (optionally one period of them) and run it.

    Raises:
        AuditError: an unreadable file, or bad settings, rules or prices.
    """
    audit.load(files, input_format=input_format)
    if evals:
        audit.load_evals(evals)
    if before or after:
        keep_period(audit, before=before, after=after)
    return audit.run()


def time_range(audit: Audit) -> tuple[datetime | None, datetime | None]:
    """First and last trace start of the loaded spans (UTC), to offer a cut time between them."""
    first, last = audit.con.execute(
        "SELECT min(t), max(t) FROM (SELECT min(start_time) AS t FROM spans GROUP BY trace_id)").fetchone() or (None, None)
    return (first.replace(tzinfo=UTC) if first else None, last.replace(tzinfo=UTC) if last else None)
