"""``python -m audit``: the whole audit headless. Exit 0 on success, 1 when ``--fail-on``
finds a finding that severe, 2 on bad input (one line on stderr, no traceback)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit import __version__
from audit.engine import Audit
from audit.errors import AuditError
from audit.explore import save_rollup, save_trace_index
from audit.exports import percent, render
from audit.importers import FORMATS
from audit.ingest import SourceFile
from audit.models import AuditReport
from audit.rules import catalog
from audit.sample import write_sample
from audit.saved import save_report
from audit.settings import Settings

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per scalar setting, with the setting's own description and default."""
    group = parser.add_argument_group("settings (override the settings file)")
    for name, field in Settings.model_fields.items():
        parse = {int: int, float: float, str | None: str}.get(field.annotation)  # type: ignore[arg-type]
        if parse is not None:
            group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=parse, default=None,
                               metavar=name.upper().split("_")[0],
                               help=f"{field.description} (default {field.default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audit", description=(
        "Coordination Audit: classify the failures in agent-pipeline traces into handoff, state, routing "
        "and recovery, with reliability math, costs and a checklist."))
    parser.add_argument("--version", action="version", version=f"coordination-audit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rep = sub.add_parser("report", help="audit trace files and export the report",
                         description="Load trace files (CSV, CSV.gz, Parquet, JSON Lines) and export the audit.")
    rep.add_argument("traces", nargs="+", help="trace files in the canonical format (with --engine spark: Parquet "
                     "files, globs or s3a://, hdfs://, abfss:// URIs)")
    rep.add_argument("--input-format", choices=["auto", *FORMATS], default="auto",
                     help="export format of the trace files (default: detected from each file)")
    rep.add_argument("--db", type=Path, help="DuckDB file to keep the audit in (default: in memory); with --engine "
                     "spark, a report-only file (the report and every finding) that the app opens")
    rep.add_argument("--evals", type=Path, help="evaluator verdicts: trace_id + eval_passed, LangSmith feedback, "
                     "Langfuse scores or Phoenix span annotations (see --eval-score-name)")
    rep.add_argument("--rules", type=Path, help="extra rules (TOML or YAML)")
    rep.add_argument("--prices", type=Path, help="price table replacing the bundled one (TOML or YAML)")
    rep.add_argument("--settings", type=Path, help="settings file (TOML or YAML): thresholds, silences, costs")
    rep.add_argument("--redact", action="store_true", help="mask e-mails, API keys, bearer tokens, card numbers")
    rep.add_argument("--fail-on", choices=list(SEVERITY_RANK), help="exit 1 if a finding this severe or worse exists")
    rep.add_argument("--format", choices=["json", "md", "html", "csv"], default="json", help="export format")
    rep.add_argument("--output", "-o", default="-", help="output file ('-' for stdout, the default)")
    rep.add_argument("--findings", type=Path, help="also write every finding to this file by DuckDB itself "
                     "(.parquet, else CSV): the full list for any size, beside the report")
    rep.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                     help="duckdb (default: embedded, one machine) or spark (the same SQL on Apache Spark, for "
                          "canonical Parquet past one machine; docs/SCALE.md)")
    rep.add_argument("--spark-master", metavar="URL", help="Spark master (local[4], spark://host:7077, yarn; "
                     "default: spark-submit's, else local[*])")
    rep.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                     help="a Spark setting, repeatable (e.g. spark.driver.memory=8g)")
    rep.add_argument("--export-spans", type=Path, metavar="FILE.parquet",
                     help="also write the loaded spans as canonical Parquet, the input of --engine spark")
    _settings_flags(rep)

    smp = sub.add_parser("sample", help="generate labelled synthetic traces",
                         description="Write realistic multi-agent traces with every failure mode injected, plus a "
                                     "<name>_labels.csv with the ground truth.")
    smp.add_argument("--traces", type=int, default=1000, help="number of traces (default 1000)")
    smp.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    smp.add_argument("--output", "-o", type=Path, required=True, help="spans file (.csv or .csv.gz)")

    rules = sub.add_parser("rules", help="list the rule catalog", description="List built-in (and user) rules.")
    rules.add_argument("--rules", type=Path, help="also list the rules of this file")
    rules.add_argument("--format", choices=["text", "json", "md"], default="text")

    sub.add_parser("schema", help="print the JSON Schema of the JSON report",
                   description="Print the JSON Schema that the JSON export follows.")
    _compare_parsers(sub)
    return parser


def _compare_parsers(sub: Any) -> None:
    """``compare`` (two audits, or one dataset cut in two) and ``compare-schema``."""
    cmp = sub.add_parser(
        "compare", help="compare a baseline audit with a candidate (prove a fix; gate CI on regressions)",
        description="Audit BASELINE files and CANDIDATE files (or one dataset cut at --split-at) and report what "
                    "changed, with 95%% intervals and verdicts. Exit 1 with --fail-on-regression when success drops "
                    "significantly or a new high-severity failure appears.")
    cmp.add_argument("baseline", nargs="+", type=Path, metavar="BASELINE", help="trace files of the baseline")
    cmp.add_argument("--against", nargs="+", type=Path, metavar="CANDIDATE", help="trace files of the candidate")
    cmp.add_argument("--split-at", type=_utc_time, metavar="TIME",
                     help="one dataset: traces that started before TIME are the baseline, the rest the candidate "
                          "(ISO 8601, e.g. 2026-11-20T00:00Z)")
    cmp.add_argument("--input-format", choices=["auto", *FORMATS], default="auto",
                     help="export format of the trace files (default: detected from each file)")
    cmp.add_argument("--evals", type=Path, help="evaluator verdicts of the baseline (of both sides with --split-at)")
    cmp.add_argument("--against-evals", type=Path, help="evaluator verdicts of the candidate")
    cmp.add_argument("--rules", type=Path, help="extra rules (TOML or YAML), for both sides")
    cmp.add_argument("--prices", type=Path, help="price table replacing the bundled one (TOML or YAML)")
    cmp.add_argument("--settings", type=Path, help="settings file (TOML or YAML), for both sides")
    cmp.add_argument("--redact", action="store_true", help="mask e-mails, API keys, bearer tokens, card numbers")
    cmp.add_argument("--fail-on-regression", action="store_true",
                     help="exit 1 when success drops significantly or a new high-severity fingerprint appears")
    cmp.add_argument("--format", choices=["json", "md", "html"], default="md", help="export format (default md)")
    cmp.add_argument("--output", "-o", default="-", help="output file ('-' for stdout, the default)")
    _settings_flags(cmp)
    sub.add_parser("compare-schema", help="print the JSON Schema of the JSON comparison",
                   description="Print the JSON Schema that `compare --format json` follows (docs/compare.schema.json).")


def _utc_time(text: str) -> datetime:
    """An ISO 8601 time; no offset means UTC."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-20T00:00Z)") from e
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"report": _report, "sample": _sample, "rules": _rules, "schema": _schema, "compare": _compare,
                "compare-schema": _compare_schema}[args.command](args)
    except AuditError as e:
        print(f"error: {terminal_safe(e.one_line())}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


# C0 controls except tab and newline, DEL and C1 controls: ANSI escape sequences start with them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Text from trace files made safe to print: control characters are dropped, so a header
    or attribute key cannot clear the screen, set the title or move the cursor."""
    return _CONTROL.sub("", text)


def check_output(output: str, inputs: list[Path]) -> None:
    """Refuse, before the audit runs, an output that would overwrite an input or cannot be written."""
    if output == "-":
        return
    target = Path(output)
    for p in inputs:
        if (p.exists() and target.exists() and os.path.samefile(p, target)) or p.resolve() == target.resolve():
            raise AuditError(f"--output {output} is one of the input files; refusing to overwrite it")
    if target.is_dir():
        raise AuditError(f"--output {output} is a directory; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise AuditError(f"cannot write {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise AuditError(f"cannot write {output}: permission denied")


def _report(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        return _report_spark(args)
    args.traces = [Path(t) for t in args.traces]
    inputs = [*args.traces, *([args.evals] if args.evals else [])]
    check_output(args.output, inputs)
    if args.findings:
        check_output(str(args.findings), inputs)
    if args.db is not None and any(p.exists() and p.resolve() == args.db.resolve() for p in inputs):
        raise AuditError(f"--db {args.db} is one of the input files; give another file name")
    overrides = {k: getattr(args, k) for k in Settings.model_fields if getattr(args, k, None) is not None}
    audit = Audit.open(args.db, settings_file=args.settings, rules_file=args.rules, prices_file=args.prices,
                       **overrides)
    results = audit.load([SourceFile.of(p) for p in args.traces],
                         input_format=None if args.input_format == "auto" else args.input_format)
    for r in results:
        canonical = r.format in ("csv", "parquet", "json")
        for note in r.notes:
            if not (canonical and note.startswith("column `")):
                print(terminal_safe(f"{r.name}: {note}"), file=sys.stderr)
    if args.evals:
        audit.load_evals(SourceFile.of(args.evals))
    if args.export_spans:
        check_output(str(args.export_spans), inputs)
        audit.export_spans(args.export_spans)
    report = audit.run(redact=args.redact)
    if args.db is not None:  # the app opens the file at once, without running the audit again
        save_report(audit.con, report)
        save_rollup(audit.con)
        save_trace_index(audit.con)
    if args.format == "csv":  # the findings themselves: every one, written by DuckDB
        _write_findings_csv(audit, args.output, args.redact)
    else:
        _write(render(report, args.format), args.output)
    if args.findings:
        written = audit.write_findings(args.findings, redact=args.redact)
        print(f"wrote {written:,} findings to {terminal_safe(str(args.findings))}", file=sys.stderr)
    _print_summary(report, results_quarantined=sum(r.rows_quarantined for r in results))
    return _exit_code(report, args.fail_on)


def _exit_code(report: AuditReport, fail_on: str | None) -> int:
    severities = report.summary.findings_by_severity  # over every finding, not the report's cut list
    if fail_on and any(n and SEVERITY_RANK[s] <= SEVERITY_RANK[fail_on] for s, n in severities.items()):
        print(f"failing: findings of severity {fail_on} or worse exist", file=sys.stderr)
        return 1
    return 0


def _write_findings_csv(audit: Audit, output: str, redact: bool) -> None:
    """``--format csv``: every finding as CSV, written by DuckDB (to stdout through a file)."""
    if output == "-":
        sys.stdout.write(terminal_safe(audit.findings_csv(redact).decode("utf-8")))
    else:
        audit.write_findings(output, redact=redact, fmt="csv")


def _report_spark(args: argparse.Namespace) -> int:
    """The audit of canonical Parquet on Spark (``audit.spark_engine``); pyspark loads only here."""
    from audit.cost import load_prices
    from audit.rules import load_rule_file
    from audit.settings import load_settings
    from audit.spark_engine import run_report

    unsupported = [flag for flag, value in (("--evals", args.evals), ("--redact", args.redact),
                                            ("--export-spans", args.export_spans)) if value]
    if unsupported:
        raise AuditError(f"{', '.join(unsupported)}: not available with --engine spark yet (docs/SCALE.md)")
    if args.input_format not in ("auto", "parquet"):
        raise AuditError("--engine spark reads canonical Parquet only; convert with --export-spans (docs/SCALE.md)")
    check_output(args.output, [])
    conf = dict(_key_value(c) for c in args.spark_conf)
    overrides = {k: getattr(args, k) for k in Settings.model_fields if getattr(args, k, None) is not None}
    settings = load_settings(args.settings, **overrides)
    rules = catalog(load_rule_file(args.rules) if args.rules else None)
    report = run_report(args.traces, master=args.spark_master, conf=conf, settings=settings, rules=rules,
                        prices=load_prices(args.prices), findings_file=str(args.findings) if args.findings else None,
                        db_file=str(args.db) if args.db else None)
    _write(render(report, args.format), args.output)
    if args.findings:
        print(f"wrote {report.summary.findings + report.summary.silenced_findings:,} findings to "
              f"{terminal_safe(str(args.findings))} (a Parquet or CSV folder written by Spark)", file=sys.stderr)
    _print_summary(report, results_quarantined=0)
    return _exit_code(report, args.fail_on)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise AuditError(f"--spark-conf {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def _write(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(terminal_safe(text))
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise AuditError(f"cannot write {output}: {e.strerror or e}") from e


def _print_summary(report: AuditReport, results_quarantined: int) -> None:
    s = report.summary
    layers = ", ".join(f"{k} {v}" for k, v in s.primary_by_layer.items() if v)
    print(
        f"{s.traces:,} traces, {s.spans:,} spans, {results_quarantined:,} rows quarantined; "
        f"success {percent(s.observed_success)} observed vs {percent(s.predicted_success)} predicted; "
        f"{s.failed_traces:,} failed ({layers or 'none'}); {s.findings:,} findings",
        file=sys.stderr,
    )


def _sample(args: argparse.Namespace) -> int:
    if args.traces < 1:
        raise AuditError("--traces must be at least 1")
    spans, labels = write_sample(args.output, args.traces, args.seed)
    print(f"wrote {spans:,} spans of {args.traces:,} traces to {args.output} and labels to {labels}", file=sys.stderr)
    return 0


def _rules(args: argparse.Namespace) -> int:
    from audit.rules import load_rule_file

    rules = catalog(load_rule_file(args.rules) if args.rules else None)
    if args.format == "json":
        print(json.dumps([r.model_dump() for r in rules], indent=2))
    elif args.format == "md":
        print(rules_markdown(rules))
    else:
        for r in rules:
            print(f"{r.id}  {r.layer:<9} {r.mode:<20} {r.severity:<6} {r.title}")
    return 0


def rules_markdown(rules: list[Any]) -> str:
    """The catalog page, generated from the rules' own docstrings."""
    from audit.facts import SPAN_FACT_COLUMNS, TRACE_FACT_COLUMNS

    out = ["# Rule catalog", "", "Generated by `python -m audit rules --format md` from the rules themselves.", "",
           "A rule is one SELECT over `span_facts` (every canonical column of `spans` except the wide text "
           "columns `input`, `output`, `metadata`, `extra`, which stay in `spans` and can be joined on trace_id and "
           "span_id) and `trace_facts`, returning `trace_id`, `span_id`, `evidence` and optionally "
           "`recovered`. Settings are bound as `$name` (e.g. `$loop_min_runs`).", "",
           "| span_facts column | meaning |", "|---|---|",
           *[f"| `{k}` | {v} |" for k, v in SPAN_FACT_COLUMNS.items()], "",
           "| trace_facts column | meaning |", "|---|---|",
           *[f"| `{k}` | {v} |" for k, v in TRACE_FACT_COLUMNS.items()], ""]
    for r in rules:
        out += [f"## {r.id} `{r.name}`: {r.title}", "",
                f"Layer **{r.layer}**, mode `{r.mode}`, severity **{r.severity}**"
                + (" (catch-all)" if r.generic else "") + f", from {r.source}.", "",
                f"- **Why**: {r.description}", f"- **Remedy**: {r.remedy}",
                f"- **Fails**: {r.fails}", f"- **Passes**: {r.passes}", ""]
    return "\n".join(out)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(AuditReport.model_json_schema(), indent=2))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from audit.compare import audit_side, compare_reports
    from audit.compare_report import headline, render_comparison
    from audit.redact import redact_report

    if bool(args.against) == bool(args.split_at):
        raise AuditError("give the candidate's files with --against, or one dataset and --split-at TIME (not both)")
    overrides = {k: getattr(args, k) for k in Settings.model_fields if getattr(args, k, None) is not None}
    input_format = None if args.input_format == "auto" else args.input_format

    def side(files: list[Path], evals: Path | None, **period: datetime) -> AuditReport:
        audit = Audit.open(None, settings_file=args.settings, rules_file=args.rules, prices_file=args.prices,
                           **overrides)
        try:
            report = audit_side(audit, [SourceFile.of(p) for p in files], input_format=input_format,
                                evals=SourceFile.of(evals) if evals else None, **period)
            return redact_report(report) if args.redact else report
        finally:
            audit.con.close()

    if args.split_at:
        baseline = _non_empty(side(args.baseline, args.evals, before=args.split_at), "before", args.split_at)
        candidate = _non_empty(side(args.baseline, args.evals, after=args.split_at), "at or after", args.split_at)
    else:
        baseline = side(args.baseline, args.evals)
        candidate = side(args.against, args.against_evals)
    comparison = compare_reports(baseline, candidate, split_at=args.split_at)
    _write(render_comparison(comparison, args.format), args.output)
    print(headline(comparison).replace("**", ""), file=sys.stderr)
    if args.fail_on_regression and comparison.regression:
        for reason in comparison.regression_reasons:
            print(f"regression: {reason}", file=sys.stderr)
        return 1
    return 0


def _non_empty(report: AuditReport, when: str, split_at: datetime) -> AuditReport:
    if not report.summary.traces:
        raise AuditError(f"no traces started {when} --split-at {split_at.isoformat()}; choose a time inside the dataset")
    return report


def _compare_schema(args: argparse.Namespace) -> int:
    from audit.compare import Comparison

    print(json.dumps(Comparison.model_json_schema(), indent=2))
    return 0
