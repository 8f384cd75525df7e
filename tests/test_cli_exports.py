"""The CLI end to end, every export format, escaping, redaction and settings."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import audit_rows, root, span, write_csv

from audit.cli import main
from audit.exports import render
from audit.models import AuditReport

REPO = Path(__file__).resolve().parent.parent
HOSTILE = '</script><script>alert(1)</script>=HYPERLINK("http://x")'


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "traces.csv", [
        root("t1", status="error"),
        span("a", "draft", trace="t1", status="error", error_type="OutputParserException",
             error_message=f"Invalid json output: {HOSTILE} mail bob@example.com key sk-abcdefghijklmnopqrstuvwx "
                           "card 4111 1111 1111 1111 Authorization: Bearer abc.def.ghi"),
        root("t2"), span("a", "fetch", trace="t2"),
    ])


def test_help_lists_subcommands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for cmd in ("report", "sample", "rules", "schema"):
        assert cmd in out.stdout
    for cmd in ("report", "sample", "rules", "schema"):
        assert run_cli(cmd, "--help").returncode == 0


@pytest.mark.parametrize("fmt", ["json", "md", "html", "csv"])
def test_report_every_format(tmp_path: Path, traces: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(traces), "--format", fmt, "--output", str(out)]) == 0
    text = out.read_text()
    if fmt == "json":
        report = AuditReport.model_validate_json(text)
        assert set(json.loads(text)) == {"summary", "findings", "findings_omitted", "reliability", "cost",
                                          "fix_first", "checklist", "quarantine", "quarantine_omitted", "fingerprints"}
        assert report.summary.failed_traces == 1
        f = report.findings[0]
        assert (f.trace_id, f.span_id, f.rule_id, f.layer, f.mode, f.primary) == (
            "t1", "a", "HO01", "handoff", "output_parse_error", True)
        assert report.summary.provenance.inputs[0].name == "traces.csv"
        assert len(report.summary.provenance.inputs[0].sha256) == 64
    elif fmt == "html":
        assert "<script>alert(1)" not in text and "</script><script>alert" not in text
        assert "&lt;/script&gt;" in text
        assert text.count("</script>") == text.count("<script")  # nothing closes a script early
        assert "Plotly.newPlot" in text and "cdn" not in text.split("<script>")[0].lower()
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["rule_id"] == "HO01"
        for row in rows:
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@"))
    else:
        assert "# Coordination audit" in text and "| handoff | 1 |" in text
        assert "<script>" not in text


def test_csv_neutralises_formula_at_cell_start(tmp_path: Path) -> None:
    rows = [root("t1", status="error"), span("a", "=cmd|' /C calc'!A0", trace="t1", status="error",
                                             error_type="ZeroDivisionError", error_message="=1+2")]
    _, report = audit_rows(tmp_path, rows)
    text = render(report, "csv")
    assert "'=cmd|" in text and "\n=cmd" not in text and ",=cmd" not in text


def test_redact_masks_secrets_everywhere(tmp_path: Path, traces: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["report", str(traces), "--redact", "--output", str(out)]) == 0
    text = out.read_text()
    for secret in ("bob@example.com", "sk-abcdefghijklmnopqrstuvwx", "4111 1111 1111 1111", "abc.def.ghi"):
        assert secret not in text
    assert "[REDACTED-EMAIL]" in text and "[REDACTED-CARD]" in text and "[REDACTED-KEY]" in text


def test_fail_on_gates_ci(traces: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "r.json")
    assert main(["report", str(traces), "--fail-on", "high", "--output", out]) == 1
    clean = write_csv(tmp_path / "clean.csv", [root(), span("a", "x")])
    assert main(["report", str(clean), "--fail-on", "low", "--output", out]) == 0


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02")
    out = run_cli("report", str(bad), "--output", str(tmp_path / "r.json"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "binary" in out.stderr and not (tmp_path / "r.json").exists()
    missing = run_cli("report", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot open" in missing.stderr


def test_quarantined_rows_still_succeed(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", [root(), span("a", "x"), {**span("b", "y"), "status": "??"}])
    out = tmp_path / "r.json"
    assert main(["report", str(p), "--output", str(out)]) == 0
    report = AuditReport.model_validate_json(out.read_text())
    assert report.summary.quarantined_rows == 1
    assert report.quarantine[0].source_row == 3 and "unknown status" in report.quarantine[0].reason


def test_settings_file_thresholds_and_silences(tmp_path: Path, traces: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("silence:\n  - rule_id: HO01\n    trace_id: t1\n    reason: known flaky parser\n")
    out = tmp_path / "r.json"
    assert main(["report", str(traces), "--settings", str(settings), "--output", str(out)]) == 0
    report = AuditReport.model_validate_json(out.read_text())
    [f] = [f for f in report.findings if f.rule_id == "HO01"]
    assert f.silenced and f.silence_reason == "known flaky parser" and not f.primary
    assert report.summary.silenced_findings == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("loop_min_runs = 'many'\n")
    assert main(["report", str(traces), "--settings", str(bad)]) == 2


def test_threshold_flag_overrides(tmp_path: Path) -> None:
    rows = [root(eval_passed="false")] + [span(f"a{i}", "plan", at=i * 100, input="same") for i in range(3)]
    p = write_csv(tmp_path / "t.csv", rows)
    out = tmp_path / "r.json"
    assert main(["report", str(p), "--loop-min-runs", "3", "--output", str(out)]) == 0
    assert any(f.rule_id == "RO01" for f in AuditReport.model_validate_json(out.read_text()).findings)


def test_schema_and_rules_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["required"]) >= {"summary", "findings", "reliability", "cost", "checklist", "quarantine"}
    assert (REPO / "docs" / "report.schema.json").exists()
    assert json.loads((REPO / "docs" / "report.schema.json").read_text()) == schema
    assert main(["rules"]) == 0
    assert re.search(r"HO01\s+handoff", capsys.readouterr().out)


def test_sample_command_writes_labels(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    assert main(["sample", "--traces", "50", "--seed", "3", "--output", str(out)]) == 0
    assert (tmp_path / "s_labels.csv").read_text().count("\n") == 51
    again = tmp_path / "s2.csv"
    main(["sample", "--traces", "50", "--seed", "3", "--output", str(again)])
    assert out.read_bytes() == again.read_bytes()  # deterministic for a seed


def test_checklist_has_scored_items_with_evidence(tmp_path: Path, traces: Path) -> None:
    _, report = audit_rows(tmp_path, [root(), span("a", "x")])
    assert len(report.checklist) >= 12
    assert {i.layer for i in report.checklist} >= {"handoff", "state", "routing", "recovery"}
    assert all(i.evidence and i.remedy for i in report.checklist)
    overridden = render(report, "md", {"O1": {"score": "pass", "note": "evaluated offline"}})
    assert "overridden from" in overridden and "evaluated offline" in overridden


def test_findings_file_by_duckdb_as_parquet_and_csv_with_formulas_neutralised(tmp_path: Path) -> None:
    """--findings writes every finding (the report may carry fewer) straight from DuckDB."""
    import pandas as pd
    from helpers import root, span, write_csv

    from audit.cli import main

    traces = write_csv(tmp_path / "t.csv", [
        root("t1", status="error"),
        span("a", "=cmd|' /C calc'!A0", trace="t1", kind="tool", status="error", error_type="ZeroDivisionError",
             error_message="division by zero")])
    for name in ("all.parquet", "all.csv"):
        out = tmp_path / name
        assert main(["report", str(traces), "--output", str(tmp_path / "r.json"), "--findings", str(out)]) == 0
        frame = pd.read_parquet(out) if name.endswith(".parquet") else pd.read_csv(out)
        assert len(frame) >= 1 and {"trace_id", "rule_id", "evidence"} <= set(frame.columns)
        steps = set(frame["step"])
        assert steps == ({"=cmd|' /C calc'!A0"} if name.endswith(".parquet") else {"'=cmd|' /C calc'!A0"})
    assert main(["report", str(traces), "--findings", str(traces)]) == 2  # never over an input


def _many_failures(tmp_path: Path, n: int = 6) -> Path:
    """``n`` failed traces with a parser error each (one mode), one trace with a low-severity
    recovered retry (another mode), and three rows that are quarantined."""
    rows: list[dict[str, object]] = []
    for i in range(n):
        rows += [root(f"t{i}", status="error"),
                 span("a", "draft", trace=f"t{i}", status="error", error_type="OutputParserException",
                      error_message=f"Invalid json output {i}")]
    rows += [{**span(f"q{i}", "x", trace="tq"), "status": "??"} for i in range(3)]
    return write_csv(tmp_path / "many.csv", rows)


def test_report_lists_the_top_of_each_mode_and_counts_all(tmp_path: Path) -> None:
    """The report's lists are cut by settings; its counts, the CSV format and --findings cover every finding."""
    traces = _many_failures(tmp_path)
    out, every = tmp_path / "r.json", tmp_path / "all.csv"
    assert main(["report", str(traces), "--report-findings-per-mode", "2", "--report-quarantine-rows", "1",
                 "--output", str(out), "--findings", str(every)]) == 0
    report = AuditReport.model_validate_json(out.read_text())
    total = len(list(csv.DictReader(every.open())))
    assert total >= 6 and report.summary.findings + report.summary.silenced_findings == total
    assert report.summary.primary_by_layer["handoff"] == 6 == report.summary.failed_traces
    [parser_mode] = [m for m in report.summary.modes if m.mode == "output_parse_error"]
    assert (parser_mode.primary, parser_mode.listed, parser_mode.omitted) == (6, 2, parser_mode.findings - 2)
    listed = [f for f in report.findings if f.mode == "output_parse_error"]
    assert len(listed) == 2 and all(f.primary for f in listed)
    assert report.findings_omitted == sum(m.omitted for m in report.summary.modes) == total - len(report.findings)
    assert len(report.quarantine) == 1 and report.quarantine_omitted == 2 and report.summary.quarantined_rows == 3
    md = tmp_path / "r.md"
    assert main(["report", str(traces), "--report-findings-per-mode", "2", "--format", "md", "--output", str(md)]) == 0
    assert "first 2 of 6" in md.read_text() and "--findings FILE" in md.read_text()
    as_csv = tmp_path / "r.csv"
    assert main(["report", str(traces), "--report-findings-per-mode", "2", "--format", "csv",
                 "--output", str(as_csv)]) == 0
    assert len(list(csv.DictReader(as_csv.open()))) == total  # the CSV format is every finding


def test_fail_on_counts_findings_the_report_does_not_list(tmp_path: Path) -> None:
    traces = _many_failures(tmp_path)
    out = str(tmp_path / "r.json")
    assert main(["report", str(traces), "--report-findings-per-mode", "0", "--fail-on", "high", "--output", out]) == 1
    assert AuditReport.model_validate_json(Path(out).read_text()).findings == []


def test_findings_file_redacted_with_the_report(tmp_path: Path, traces: Path) -> None:
    every = tmp_path / "all.csv"
    assert main(["report", str(traces), "--redact", "--output", str(tmp_path / "r.json"), "--findings", str(every)]) == 0
    text = every.read_text()
    assert "[REDACTED-EMAIL]" in text and "bob@example.com" not in text and "sk-abcdefghijklmnopqrstuvwx" not in text
