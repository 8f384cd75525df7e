"""Engine pieces behind the dashboard: time buckets, checklist counts and proportional
scores, payback wording, unpriced spans, the fix-first list, the span tree and breakdowns."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import audit_rows, root, span
from test_math import six_step_rows, transient_rows

from audit import explore
from audit.charts import compounding, report_figures
from audit.cost import apply_cost, load_prices, payback_text, project
from audit.engine import timeline_unit
from audit.exports import render
from audit.reliability import per_step_rate

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("seconds", "unit"), [(0, "second"), (4 * 60, "minute"), (90, "second"),
                                               (5 * 3600, "hour"), (10 * 86400, "day"), (800 * 86400, "week")])
def test_time_buckets_follow_the_span_of_the_data(seconds: float, unit: str) -> None:
    assert timeline_unit(seconds) == unit


def test_four_minutes_of_traces_are_many_points_not_one(tmp_path: Path) -> None:
    rows = []
    for t in range(8):  # one trace every 30 s
        rows += [span("root", "pipeline", trace=f"t{t}", parent=None, at=30_000 * t, ms=1000, kind="agent"),
                 span("a", "step", trace=f"t{t}", at=30_000 * t + 1)]
    _, report = audit_rows(tmp_path, rows)
    assert len(report.summary.timeline) >= 4
    assert report.summary.timeline[0].unit == "minute"


def test_without_timestamps_there_is_no_time_chart(tmp_path: Path) -> None:
    _, report = audit_rows(tmp_path, six_step_rows(10, 1))
    assert "failure_rate_over_time" not in report_figures(report)  # all within one second: no trend
    spread = report.summary.timeline[0]
    three = report.model_copy(update={"summary": report.summary.model_copy(update={"timeline": [spread] * 3})})
    assert "failure_rate_over_time" in report_figures(three)
    empty = report.model_copy(update={"summary": report.summary.model_copy(update={"timeline": []})})
    assert "failure_rate_over_time" not in report_figures(empty)


def test_checklist_counts_a_trace_once_and_never_above_the_traces(tmp_path: Path) -> None:
    rows = []
    for t in range(3):  # each trace loops (RO01) and cycles (RO02): the same plan, again and again
        tid = f"t{t}"
        rows.append(root(tid, ms=60_000))
        at = 1
        for k in range(8):
            for name in ("plan", "act"):
                rows.append(span(f"{name}{k}", name, trace=tid, at=at, input=f"{name}: the same step"))
                at += 200
    _, report = audit_rows(tmp_path, rows)
    [loops] = [i for i in report.checklist if i.id == "R1"]
    assert loops.evidence.startswith("3 of 3 traces"), loops.evidence


def test_one_occurrence_in_many_runs_is_a_warning_not_a_fail(tmp_path: Path) -> None:
    rows = []
    for t in range(200):
        rows.append(root(f"t{t:03d}", status="error" if t == 0 else "ok"))
        rows.append(span("a", "parse", trace=f"t{t:03d}", at=1, status="error" if t == 0 else "ok",
                         error_type="OutputParserException" if t == 0 else "",
                         error_message="Could not parse LLM output" if t == 0 else ""))
    _, report = audit_rows(tmp_path, rows)
    [h1] = [i for i in report.checklist if i.id == "H1"]
    assert h1.score == "warn", h1.evidence  # 1 of 200 = 0.5% < the 1% fail share
    _, strict = audit_rows(tmp_path, rows, checklist_fail_share=0.004)
    assert next(i for i in strict.checklist if i.id == "H1").score == "fail"


def test_payback_wording() -> None:
    assert payback_text(None, 24) == "no loss measured"
    assert payback_text(3.25, 24) == "3.2 months"
    assert payback_text(9137, 24) == "not worth it at this volume (9,137 months)"


def test_one_cost_picture_feeds_summary_fix_first_and_exports(tmp_path: Path) -> None:
    _, report = audit_rows(tmp_path, six_step_rows())
    assert report.summary.money_lost_usd == 0
    cost = project(report.cost, 50_000, 10.0, 6500.0)
    shown = apply_cost(report, cost)
    assert shown.summary.money_lost_usd == pytest.approx(18 * 10.0)
    assert shown.fix_first[0].money_lost_usd == pytest.approx(18 * 10.0)
    assert shown.fix_first[0].success_gain == pytest.approx(0.18)
    md = render(shown, "md")
    assert "$180.00" in md and "## Fix first" in md
    assert "None" not in md


def test_unpriced_spans_are_said_next_to_the_money(tmp_path: Path) -> None:
    rows = [root("t1"), span("a", "call", trace="t1", kind="llm", model="house-model-7", input_tokens="100",
                             output_tokens="20")]
    _, report = audit_rows(tmp_path, rows)
    assert report.summary.unpriced_spans == 1
    for fmt in ("md", "html"):
        assert "unpriced" in render(report, fmt).lower()


def test_fix_first_ranks_by_money_lost_then_failed_runs(tmp_path: Path) -> None:
    _, report = audit_rows(tmp_path, transient_rows(40))
    items = report.fix_first
    assert items, "failed traces give a fix-first list"
    assert [i.failed_traces for i in items] == sorted((i.failed_traces for i in items), reverse=True)
    assert sum(i.failed_traces for i in items) == report.summary.failed_traces
    assert all(i.remedy and i.example_traces for i in items)


def test_trace_tree_numbers_attempts_and_nests(tmp_path: Path) -> None:
    audit, _ = audit_rows(tmp_path, transient_rows())
    tree = explore.trace_tree(audit.con.cursor(), "t04")  # three attempts, all timed out
    fetch = tree[tree["name"] == "fetch"]
    assert fetch["attempt_no"].tolist() == [1, 2, 3]
    assert tree.iloc[0]["name"] == "pipeline" and tree.iloc[0]["depth"] == 0
    assert set(fetch["depth"]) == {1}
    assert (fetch["status"] == "error").all()


def test_breakdown_by_model_and_step_with_filters(tmp_path: Path) -> None:
    rows = [root("t1"),
            span("a", "draft", trace="t1", kind="llm", model="gpt-4o", input_tokens="1000000", output_tokens="0"),
            span("b", "review", trace="t1", kind="llm", model="gpt-4o-mini", input_tokens="1000000",
                 output_tokens="0", at=200)]
    audit, _ = audit_rows(tmp_path, rows)
    by_model = explore.breakdown(audit.con.cursor(), load_prices(), "model", explore.Filters()).set_index("model")
    assert by_model.loc["gpt-4o", "cost_usd"] > by_model.loc["gpt-4o-mini", "cost_usd"] > 0
    by_step = explore.breakdown(audit.con.cursor(), load_prices(), "step", explore.Filters(models=("gpt-4o",)))
    assert by_step["step"].tolist() == ["draft"]


def test_compounding_label_names_the_chain_length() -> None:
    fig = compounding(0.95, 4)
    texts = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("0.97⁴ ≈ 88.5%") for t in texts), texts
    assert not any("0.97⁶" in t for t in texts)


def test_app_and_html_use_the_same_per_step_rate(tmp_path: Path) -> None:
    _, report = audit_rows(tmp_path, six_step_rows())
    fig = report_figures(report)["compounding"]
    assert f"{per_step_rate(report.reliability):.1%}" in fig.data[1].name


def test_span_detail_cost_copes_with_missing_values_from_a_frame() -> None:
    nan = float("nan")
    prices = load_prices()
    assert explore.span_cost(nan, nan, nan, nan, prices) is None
    assert explore.span_cost(None, None, None, None, prices) is None
    import pandas as pd

    assert not explore.present(pd.NA) and not explore.present(pd.NaT) and explore.present(0)
    assert explore.span_cost(0.5, nan, nan, nan, prices) == 0.5
    assert explore.span_cost(nan, "gpt-4o", 1_000_000, nan, prices) > 0
    assert explore.span_cost(nan, "house-model", 10, 10, prices) is None


def test_every_span_of_a_real_export_has_a_detail(tmp_path: Path) -> None:
    """The detail the Failures page draws for each span of the LangGraph and OTLP fixtures."""
    from audit.engine import Audit
    from audit.ingest import SourceFile

    for name in ("langgraph_openinference.jsonl", "otlp_agent.json"):
        audit = Audit.open()
        audit.load([SourceFile.of(REPO / "tests" / "fixtures" / "formats" / name)])
        audit.run()
        for (trace_id,) in audit.con.execute("SELECT trace_id FROM trace_facts").fetchall():
            tree = explore.trace_tree(audit.con.cursor(), trace_id)
            for _, row in tree.iterrows():
                explore.span_cost(row["recorded_cost"], row["model"], row["input_tokens"],
                                  row["output_tokens"], load_prices())
                assert explore.present(row["span_id"])
