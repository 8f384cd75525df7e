"""Reliability arithmetic, checked against figures known independently."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import audit_rows, span

from audit.exports import render
from audit.reliability import chain_reliability, wilson_interval, with_retries


def test_compounding_reference() -> None:
    assert chain_reliability(0.97, 6) == pytest.approx(0.8330, abs=5e-5)
    assert chain_reliability(1.0, 10) == 1.0


def test_retries() -> None:
    assert with_retries(0.9, 1) == pytest.approx(0.9)
    assert with_retries(0.9, 3) == pytest.approx(0.999)
    assert with_retries(0.5, 0) == pytest.approx(0.5)  # at least one attempt


def test_wilson_known_values() -> None:
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and lo == pytest.approx(0.963, abs=1e-3)


def six_step_rows(n_traces: int = 100, failures_per_step: int = 3) -> list[dict]:
    """Six top-level steps; step k fails (unrecovered) in its own `failures_per_step` traces."""
    rows = []
    for t in range(n_traces):
        tid = f"t{t:03d}"
        failing_step = t // failures_per_step if t < 6 * failures_per_step else None
        rows.append(span("root", "pipeline", trace=tid, parent=None, ms=10_000, kind="agent",
                         status="error" if failing_step is not None else "ok"))
        for k in range(6):
            bad = k == failing_step
            rows.append(span(f"s{k}", f"step_{k}", trace=tid, at=100 * k + 1, ms=90,
                             status="error" if bad else "ok",
                             error_type="ValueError" if bad else "", error_message="boom" if bad else ""))
    return rows


def test_six_steps_at_97_percent_predict_83_3(tmp_path: Path) -> None:
    _, report = audit_rows(tmp_path, six_step_rows())
    r = report.reliability
    assert sorted(r.pipeline_steps) == [f"step_{k}" for k in range(6)]
    assert all(s.effective_rate == pytest.approx(0.97) for s in r.steps if s.in_pipeline)
    assert r.predicted_success == pytest.approx(0.97**6)
    assert round(r.predicted_success * 100, 1) == 83.3
    assert r.observed_success == pytest.approx(0.82)
    assert r.coordination_gap == pytest.approx(0.97**6 - 0.82)


def test_a_stage_fails_when_a_call_inside_it_failed_unread(tmp_path: Path) -> None:
    """Frameworks keep an agent's span ok while a tool inside it fails: the stage failed all the
    same, unless the agent read the error (handled) or a retry recovered it."""
    rows = []
    for t in range(10):
        tid = f"t{t}"
        rows.append(span("root", "run", trace=tid, parent=None, ms=10_000, kind="agent"))
        rows.append(span("plan", "planner", trace=tid, at=1, ms=500, kind="agent"))
        rows.append(span("act", "executor", trace=tid, at=600, ms=2_000, kind="agent"))
        failing = t < 3
        rows.append(span("tool", "lookup", trace=tid, parent="act", at=700, ms=100, kind="tool",
                         status="error" if failing else "ok", error_type="KeyError" if failing else "",
                         error_message="'order_id'" if failing else ""))
    _, report = audit_rows(tmp_path, rows)
    r = report.reliability
    assert sorted(r.pipeline_steps) == ["executor", "planner"]
    [executor] = [s for s in r.steps if s.name == "executor"]
    assert executor.effective_rate == pytest.approx(0.7) and executor.first_attempt_rate == pytest.approx(0.7)
    assert r.predicted_success == pytest.approx(0.7)


def test_no_prediction_without_a_step_in_half_the_traces(tmp_path: Path) -> None:
    """Several pipelines in one file: no step runs in half the traces, so nothing is multiplied
    (a product of no steps once claimed 100% and a coordination gap the size of the failures)."""
    rows = []
    for t in range(12):
        tid, app = f"t{t}", t % 3
        failing = t < 3
        rows.append(span("root", f"app_{app}", trace=tid, parent=None, ms=10_000, kind="agent",
                         status="error" if failing else "ok"))
        rows.append(span("s", f"stage_of_app_{app}", trace=tid, at=1, status="error" if failing else "ok",
                         error_type="ValueError" if failing else "", error_message="boom" if failing else ""))
    _, report = audit_rows(tmp_path, rows)
    r = report.reliability
    assert r.pipeline_steps == [] and r.observed_success == pytest.approx(0.75)
    assert r.predicted_success is None and r.predicted_first_attempt is None and r.coordination_gap is None
    assert report.summary.predicted_success is None and r.what_if.predicted_with_attempts == {}
    markdown = render(report, "md")
    assert "| predicted from steps | n/a |" in markdown and "| coordination gap | n/a |" in markdown
    assert "n/a" in render(report, "html")


def test_retries_raise_effective_over_first_attempt(tmp_path: Path) -> None:
    rows = []
    for t in range(10):
        tid = f"t{t}"
        rows.append(span("root", "pipeline", trace=tid, parent=None, ms=10_000, kind="agent"))
        if t < 4:  # first attempt fails, retry after back-off succeeds
            rows.append(span("a1", "fetch", trace=tid, at=1, status="error", error_type="ReadTimeout",
                             error_message="timed out"))
            rows.append(span("a2", "fetch", trace=tid, at=1500, attempt=2))
        else:
            rows.append(span("a1", "fetch", trace=tid, at=1))
    _, report = audit_rows(tmp_path, rows)
    [step] = [s for s in report.reliability.steps if s.name == "fetch"]
    assert step.first_attempt_rate == pytest.approx(0.6)
    assert step.effective_rate == 1.0
    assert step.retries == 4
    assert report.reliability.observed_success == 1.0
    assert report.findings == []  # retried with back-off and recovered: the recovery layer working
    assert report.reliability.what_if.predicted_with_attempts[2] == pytest.approx(1 - 0.4**2)


def test_what_if_layer_fixed(tmp_path: Path) -> None:
    rows = six_step_rows(20, 1)  # 6 failed traces, root cause: unhandled errors (recovery)
    _, report = audit_rows(tmp_path, rows)
    assert report.reliability.observed_success == pytest.approx(14 / 20)
    assert report.reliability.what_if.success_if_layer_fixed["recovery"] == pytest.approx(1.0)
    assert report.reliability.what_if.success_if_layer_fixed["handoff"] == pytest.approx(14 / 20)


def test_projection_what_ifs(tmp_path: Path) -> None:
    from audit.reliability import per_step_rate, project_end_to_end

    _, report = audit_rows(tmp_path, six_step_rows())
    r = report.reliability
    assert per_step_rate(r) == pytest.approx(0.82 ** (1 / 6))  # today's per-step equivalent of the observed 82%
    assert project_end_to_end(r) == pytest.approx(0.82)  # today is the observed success
    # "boom" is not transient: more attempts do not fix it
    assert project_end_to_end(r, attempts=3) == pytest.approx(0.82)
    assert project_end_to_end(r, chain_length=12) == pytest.approx(0.82**2)
    assert project_end_to_end(r, fixed_layer="recovery") == pytest.approx(1.0)  # every failure was unhandled
    assert project_end_to_end(r, fixed_layer="handoff") == pytest.approx(0.82)


def transient_rows(n: int = 20) -> list[dict]:
    """Traces 0-3: a timeout never retried (fails); 4-5: retried until exhausted (fails);
    6-9: a timeout retried once with back-off that then succeeds; the rest clean."""
    rows = []
    for t in range(n):
        tid = f"t{t:02d}"
        failed = t < 6
        rows.append(span("root", "pipeline", trace=tid, parent=None, ms=10_000, kind="agent",
                         status="error" if failed else "ok"))
        timeout = {"status": "error", "error_type": "ReadTimeout", "error_message": "timed out"}
        if t < 4:
            rows.append(span("a1", "fetch", trace=tid, at=1, **timeout))
        elif t < 6:
            rows += [span(f"a{k}", "fetch", trace=tid, at=1 + 1500 * k, attempt=k + 1, **timeout) for k in range(3)]
        elif t < 10:
            rows += [span("a1", "fetch", trace=tid, at=1, **timeout), span("a2", "fetch", trace=tid, at=1500, attempt=2)]
        else:
            rows.append(span("a1", "fetch", trace=tid, at=1))
    return rows


def test_more_attempts_rescue_only_transient_errors_not_retried(tmp_path: Path) -> None:
    from audit.reliability import project_end_to_end

    _, report = audit_rows(tmp_path, transient_rows())
    r = report.reliability
    assert r.observed_success == pytest.approx(14 / 20)
    assert sum(r.what_if.retryable_failed_traces.values()) == 4  # the exhausted retries are not counted
    q = r.what_if.retry_success_rate
    assert 0 < q < 1
    assert project_end_to_end(r, attempts=1) == pytest.approx(0.7)
    assert project_end_to_end(r, attempts=2) == pytest.approx(0.7 + 4 / 20 * q)
    assert project_end_to_end(r, attempts=5) < 0.9 + 1e-9  # never above: 2 exhausted traces stay failed
    [fetch] = [s for s in r.steps if s.name == "fetch"]
    assert fetch.effective_rate >= fetch.first_attempt_rate


def test_effective_rate_never_below_first_attempt_when_a_step_runs_many_times(tmp_path: Path) -> None:
    # trace A runs the step three times, all fine; trace B runs it once and it fails: per trace the
    # step passed in 1 of 2 traces (50%) while 3 of 4 first attempts passed (75%).
    rows = [span("root", "pipeline", trace="A", parent=None, ms=10_000, kind="agent")]
    rows += [span(f"s{k}", "lookup", trace="A", at=1 + 200 * k, input=f"q{k}") for k in range(3)]
    rows += [span("root", "pipeline", trace="B", parent=None, ms=10_000, kind="agent", status="error"),
             span("s0", "lookup", trace="B", at=1, status="error", error_type="ValueError", error_message="bad")]
    _, report = audit_rows(tmp_path, rows)
    [step] = [s for s in report.reliability.steps if s.name == "lookup"]
    assert step.first_attempt_rate == pytest.approx(0.75)
    assert step.effective_rate == pytest.approx(0.75)
