"""Compare two audits: the statistics, pairs of generated datasets with known changes,
the CLI (both sides, one dataset cut in two, the regression gate) and the exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.cli import main
from audit.compare import Comparison, audit_side, compare_reports, newcombe_interval, rate_change, runs_needed
from audit.compare_report import layer_change_chart, render_comparison
from audit.engine import Audit
from audit.ingest import SourceFile
from audit.models import AuditReport
from audit.sample import write_sample

REPO = Path(__file__).resolve().parent.parent
TRACES = 2000
HANDOFF_MODES = ("output_parse_error", "schema_mismatch", "invalid_tool_args")
# the baseline never hits an unknown tool; the candidate fixed the handoff layer and broke tool names
BASELINE_SHARES = {"unknown_tool": 0.0}
CANDIDATE_SHARES = {**{m: 0.0 for m in HANDOFF_MODES}, "unknown_tool": 0.05}


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10
    lower, upper = newcombe_interval(56, 70, 48, 80)
    assert (round(lower, 4), round(upper, 4)) == (0.0524, 0.3339)


def test_runs_needed_for_fifty_vs_sixty_percent() -> None:
    assert runs_needed(0.5, 0.6) == 388  # Fleiss without continuity correction, 5% two-sided, 80% power
    assert runs_needed(0.5, 0.5) is None


def test_twelve_runs_give_no_confident_arrow() -> None:
    change = rate_change((9, 12), (11, 12), higher_is_better=True)
    assert change.verdict == "no significant change"
    assert change.ci[0] < 0 < change.ci[1]
    assert change.runs_needed is not None and change.runs_needed > 12
    assert rate_change((300, 1000), (400, 1000), True).verdict == "better"
    assert rate_change((300, 1000), (400, 1000), False).verdict == "worse"


def test_wider_tables_need_stronger_evidence() -> None:
    one, fourteen = rate_change((30, 1000), (50, 1000), False), rate_change((30, 1000), (50, 1000), False, 14)
    assert one.verdict == "worse" and fourteen.verdict == "no significant change"
    assert fourteen.ci[0] < one.ci[0] and fourteen.confidence == pytest.approx(1 - 0.05 / 14)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pairs")
    files = {"baseline": d / "baseline.csv", "candidate": d / "candidate.csv", "same": d / "same.csv"}
    write_sample(files["baseline"], TRACES, seed=21, shares=BASELINE_SHARES)
    write_sample(files["candidate"], TRACES, seed=22, shares=CANDIDATE_SHARES,
                 start=datetime(2026, 11, 1, tzinfo=UTC))
    write_sample(files["same"], TRACES, seed=23, shares=BASELINE_SHARES)
    return files


@pytest.fixture(scope="module")
def reports(datasets: dict[str, Path]) -> dict[str, AuditReport]:
    return {name: audit_side(Audit.open(), [SourceFile.of(path)]) for name, path in datasets.items()}


def test_known_changes_give_exactly_those_verdicts(reports: dict[str, AuditReport]) -> None:
    c = compare_reports(reports["baseline"], reports["candidate"])
    layers = {lc.layer: lc.failures for lc in c.layers}
    assert layers["handoff"].verdict == "better" and layers["handoff"].candidate_count == 0
    assert layers["routing"].verdict == "worse"
    assert layers["recovery"].verdict == "no significant change"
    assert layers["state"].verdict == "no significant change"
    modes = {(m.layer, m.mode): m.failures.verdict for m in c.modes}
    assert {k for k, v in modes.items() if v == "better"} == {("handoff", m) for m in HANDOFF_MODES}
    assert {k for k, v in modes.items() if v == "worse"} == {("routing", "unknown_tool")}
    new = [f for f in c.fingerprints if f.status == "new" and f.traces_change.verdict == "worse"]
    assert new and {(f.layer, f.mode) for f in new} == {("routing", "unknown_tool")}
    resolved = {f.mode for f in c.fingerprints if f.status == "resolved" and f.traces_change.verdict == "better"}
    assert resolved and resolved <= set(HANDOFF_MODES)
    assert any(f.status == "persisting" and f.layer == "recovery" for f in c.fingerprints)
    assert c.regression and all("unknown_tool" in r for r in c.regression_reasons)
    assert any(s.startswith("validate_handoff") for s in c.steps_removed)  # the schema check is gone with its failures
    assert c.cost.money_lost_usd.difference is not None


def test_no_change_pair_gives_no_significant_change(reports: dict[str, AuditReport]) -> None:
    c = compare_reports(reports["baseline"], reports["same"])
    assert c.verdict == "no significant change"
    assert all(lc.failures.verdict == "no significant change" for lc in c.layers)
    assert all(m.failures.verdict == "no significant change" for m in c.modes)
    assert not c.regression and c.regression_reasons == []
    assert c.success.runs_needed is None or c.success.runs_needed > TRACES


def test_reversed_pair_reads_the_other_way(reports: dict[str, AuditReport]) -> None:
    c = compare_reports(reports["candidate"], reports["baseline"])
    layers = {lc.layer: lc.failures.verdict for lc in c.layers}
    assert (layers["handoff"], layers["routing"]) == ("worse", "better")
    assert not any("unknown_tool" in r for r in c.regression_reasons)


def test_exports_of_a_comparison(reports: dict[str, AuditReport]) -> None:
    c = compare_reports(reports["baseline"], reports["candidate"])
    again = Comparison.model_validate_json(render_comparison(c, "json"))
    assert again.layers == c.layers
    md = render_comparison(c, "md")
    assert "# Coordination audit: comparison" in md and "▼ worse" in md and "▲ better" in md
    assert "## New fingerprints" in md and "## Resolved fingerprints" in md
    page = render_comparison(c, "html")
    assert "<!DOCTYPE html>" in page and 'Plotly.newPlot("chart-layers"' in page
    assert "&lt;id&gt;" in page  # templates are escaped
    fig = layer_change_chart(c)
    bars = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))
    assert bars["handoff"] < 0 < bars["routing"]
    assert list(fig.data[0].error_y.array) and list(fig.data[0].error_y.arrayminus)


def test_hostile_template_is_escaped_in_html(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    c = compare_reports(reports["baseline"], reports["candidate"])
    hostile = c.fingerprints[0].model_copy(update={"template": "</script><script>alert(1)</script>"})
    c = c.model_copy(update={"fingerprints": [hostile, *c.fingerprints[1:]]})
    assert "<script>alert(1)" not in render_comparison(c, "html")
    assert "<script>alert(1)" not in render_comparison(c, "md")


def test_cli_gate_fails_on_regression_and_passes_without(datasets: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.json"
    args = ["compare", str(datasets["baseline"]), "--against", str(datasets["candidate"]), "--format", "json",
            "--output", str(out)]
    assert main([*args, "--fail-on-regression"]) == 1
    assert "regression: new high-severity failure" in capsys.readouterr().err
    assert Comparison.model_validate_json(out.read_text()).regression
    assert main(["compare", str(datasets["baseline"]), "--against", str(datasets["same"]),
                 "--fail-on-regression", "--output", str(tmp_path / "same.md")]) == 0


def test_cli_split_at_cuts_one_dataset_in_two(tmp_path: Path) -> None:
    small, both = 600, tmp_path / "both.csv"
    write_sample(tmp_path / "before.csv", small, seed=41, shares=BASELINE_SHARES)
    write_sample(tmp_path / "after.csv", small, seed=42, shares=CANDIDATE_SHARES,
                 start=datetime(2026, 11, 1, tzinfo=UTC))
    before, after = ((tmp_path / f).read_text().splitlines(keepends=True) for f in ("before.csv", "after.csv"))
    both.write_text("".join(before + after[1:]))
    out = tmp_path / "split.json"
    assert main(["compare", str(both), "--split-at", "2026-11-01T00:00Z", "--format", "json",
                 "--output", str(out)]) == 0
    c = Comparison.model_validate_json(out.read_text())
    assert (c.baseline.traces, c.candidate.traces) == (small, small)
    assert c.split_at == datetime(2026, 11, 1, tzinfo=UTC)
    layers = {lc.layer: lc.failures.verdict for lc in c.layers}
    assert (layers["handoff"], layers["routing"]) == ("better", "worse")


def test_cli_refuses_bad_arguments(datasets: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(datasets["baseline"])]) == 2
    assert "--against" in capsys.readouterr().err
    assert main(["compare", str(datasets["baseline"]), "--split-at", "2020-01-01"]) == 2
    assert "no traces started before" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", str(datasets["baseline"]), "--split-at", "yesterday"])


def test_compare_schema_is_published(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert json.loads((REPO / "docs" / "compare.schema.json").read_text()) == schema
    assert {"success", "layers", "fingerprints", "regression"} <= set(schema["required"])


def test_a_new_high_severity_error_gates_only_when_it_cannot_be_chance(reports: dict[str, AuditReport]) -> None:
    from audit.compare import gating_fingerprints

    c = compare_reports(reports["baseline"], reports["candidate"])
    new_high = [f for f in c.fingerprints if f.status == "new" and f.severity == "high"]
    assert len(new_high) >= 2
    rare, frequent = min(new_high, key=lambda f: f.candidate_traces), max(new_high, key=lambda f: f.candidate_traces)
    assert rare.chance_if_unchanged == pytest.approx(0.5 ** rare.candidate_traces)  # equal sides
    gating = gating_fingerprints(c.fingerprints)
    assert frequent in gating and (rare.candidate_traces > 3 or rare not in gating)
    assert all(f.chance_if_unchanged is None for f in c.fingerprints if f.status != "new")


def test_cli_redacts_both_sides(tmp_path: Path) -> None:
    from helpers import root, span, write_csv

    key = "sk-abcdefghijklmnopqrstuvwx"
    base = write_csv(tmp_path / "base.csv", [root("b1"), span("a", "call_api", trace="b1", kind="tool")])
    cand = write_csv(tmp_path / "cand.csv", [
        root("c1", status="error"),
        span("a", "call_api", trace="c1", kind="tool", status="error", error_type="AuthenticationError",
             error_message=f"auth failed for key {key}")])
    plain, redacted = tmp_path / "plain.md", tmp_path / "redacted.md"
    assert main(["compare", str(base), "--against", str(cand), "--output", str(plain)]) == 0
    assert main(["compare", str(base), "--against", str(cand), "--redact", "--output", str(redacted)]) == 0
    secret = key.removeprefix("sk-")  # Markdown escapes the dash
    assert secret in plain.read_text()
    assert secret not in redacted.read_text() and "REDACTED" in redacted.read_text()
