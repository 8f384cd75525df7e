"""The Spark engine gives the DuckDB engine's audit: the same findings, reliability, cost,
checklist, fix-first list and fingerprints, on the bundled sample (with every rule case of
``rule_cases.yaml`` beside it: error families, settings bound as literals, the JSON attributes
of framework conventions) and on a generated 100k-span set, and the same error families for
the wording of real libraries.

Spark runs in local mode (``local[2]``), one session for this module. pyspark and a Java
runtime are installed by ``.ci/run``; under CI (``CI=true``) these tests fail when either is
missing, elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
from helpers import write_csv
from test_error_families import CASES as FAMILY_CASES
from test_rules import CASES as RULE_CASES
from test_rules import case_rows

from audit.cost import load_prices
from audit.engine import Audit
from audit.facts import family_case
from audit.ingest import SourceFile
from audit.models import AuditReport
from audit.rules import catalog
from audit.sample import write_sample
from audit.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _require_spark() -> None:
    """pyspark and Java, or a loud failure in CI (a skip elsewhere)."""
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install -r requirements-dev.txt)")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        missing.append("a Java 17+ runtime (apt-get install default-jre-headless)")
    if missing:
        message = "the Spark tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (.ci/run installs both)", pytrace=False)
        pytest.skip(message)


_require_spark()

from audit.spark_engine import (  # noqa: E402  (after the check: pyspark may be missing)
    SparkBackend,
    audit_report,
    java_pattern,
    java_replacement,
    load_spans,
    spark_session,
)

ROOT = Path(__file__).resolve().parent.parent
FINDING_KEY = 'trace_id, span_id, rule_id, layer, mode, "primary"'


@pytest.fixture(scope="module")
def spark() -> SparkSession:
    return spark_session("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
                                      "spark.driver.memory": "1g"})


# Framework conventions read from JSON beside the rule cases: a LangGraph Command whose list of
# destinations (a name and a Send) names a node that never runs, and a CrewAI delegation whose
# JSON arguments name the coworker.
CONVENTION_CASES: dict[str, dict[str, Any]] = {
    "goto-list": {"spans": [
        {"id": "r", "name": "route", "output": '{"update": {}, "goto": ["orders_desk", {"node": "audit", "arg": {}}]}'},
        {"id": "o", "name": "orders_desk", "at": 200}]},
    "delegation": {"spans": [
        {"id": "d", "name": "Delegate work to coworker", "kind": "tool",
         "input": '{"task": "find", "coworker": "Researcher"}'},
        {"id": "x", "name": "search", "kind": "tool", "parent": "d", "at": 10, "status": "error",
         "error_type": "ToolException", "error_message": "Unknown tool: web_search_v2"}]},
}


def rule_case_traces(path: Path) -> Path:
    """Every rule case of ``rule_cases.yaml`` and the convention cases as one file, a trace per case."""
    cases = [(f"{rule_id}-{c['id']}", c) for rule_id, rule_cases in RULE_CASES.items() for c in rule_cases]
    rows = []
    for trace, case in [*cases, *((f"conv-{k}", c) for k, c in CONVENTION_CASES.items())]:
        rows += [{**row, "trace_id": trace} for row in case_rows(case)]
    return write_csv(path, rows)


def duckdb_audit(sources: list[Path], spans_file: Path) -> tuple[AuditReport, list[tuple[Any, ...]]]:
    """The DuckDB engine's report and findings keys; its spans exported as canonical Parquet."""
    audit = Audit.open()
    audit.load([SourceFile.of(source) for source in sources])
    audit.export_spans(spans_file)
    report = audit.run()
    return report, sorted(audit.con.execute(f"SELECT {FINDING_KEY} FROM findings").fetchall())


def written_findings(findings_dir: Path) -> list[tuple[Any, ...]]:
    """The findings keys of the Parquet folder Spark wrote."""
    return sorted(duckdb.connect().execute(
        f"SELECT {FINDING_KEY} FROM read_parquet(?)", [str(findings_dir / "*.parquet")]).fetchall())


def spark_audit(spark: SparkSession, spans_file: Path, findings_dir: Path) -> tuple[AuditReport, list[tuple[Any, ...]]]:
    """The Spark engine's report, and the findings keys of the findings file Spark wrote."""
    db = SparkBackend(spark)
    load_spans(db, [str(spans_file)])
    report = audit_report(db, Settings(), catalog(), load_prices(), str(findings_dir))
    return report, written_findings(findings_dir)


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 (Spark sums in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


SUMMARY_FIELDS = ("traces", "spans", "failed_traces", "silent_failures", "observed_success", "predicted_success",
                  "coordination_gap", "findings", "silenced_findings", "primary_by_layer", "findings_by_layer",
                  "findings_by_severity", "top_modes", "modes", "total_cost_usd", "cost_per_successful_run_usd",
                  "money_lost_usd", "unpriced_spans", "first_seen", "last_seen", "timeline")


def assert_same_report(duck: AuditReport, sprk: AuditReport) -> None:
    """The same figures (to 1e-9), checklist, fix-first list, fingerprints and report findings."""
    d, s = duck.model_dump(mode="json"), sprk.model_dump(mode="json")
    for part in ("reliability", "cost", "checklist", "fix_first", "fingerprints", "findings", "findings_omitted"):
        assert_same(d[part], s[part], part)
    assert_same({k: d["summary"][k] for k in SUMMARY_FIELDS}, {k: s["summary"][k] for k in SUMMARY_FIELDS}, "summary")


@pytest.mark.timeout(900)  # Spark on a shared 2-core machine
def test_spark_cli_matches_duckdb_on_the_sample_and_every_rule_case(tmp_path: Path, spark: SparkSession) -> None:
    """``report --engine spark`` (the input as a ``file://`` URI, passed to Spark's reader as it is,
    like ``s3a://``) with ``--findings`` and ``--db``: the CLI reuses this module's session."""
    from audit.cli import main

    sources = [ROOT / "data" / "sample_traces.csv", rule_case_traces(tmp_path / "rule_cases.csv")]
    duck, duck_findings = duckdb_audit(sources, tmp_path / "spans.parquet")
    report_file, findings_dir, db_file = tmp_path / "spark.json", tmp_path / "findings.parquet", tmp_path / "a.duckdb"
    assert main(["report", "--engine", "spark", "--spark-master", "local[2]", (tmp_path / "spans.parquet").as_uri(),
                 "-o", str(report_file), "--findings", str(findings_dir), "--db", str(db_file)]) == 0
    sprk = AuditReport.model_validate_json(report_file.read_text())
    assert written_findings(findings_dir) == duck_findings
    fired = {(f[0], f[1], f[2]) for f in duck_findings}
    assert {("HO03-required-argument-missing-by-the-tool-schema-though-the-error-is-redacted", "t", "HO03"),
            ("RO04-command-goto-a-node-that-never-runs", "r", "RO04"), ("conv-goto-list", "r", "RO04")} <= fired
    assert sum(f[5] for f in duck_findings) == duck.summary.failed_traces
    assert_same_report(duck, sprk)
    # the report-only file the app opens: the report and every finding, no spans
    saved, report = Audit.open_saved(db_file)
    assert not saved.has_spans
    assert sorted(saved.con.execute(f"SELECT {FINDING_KEY} FROM findings").fetchall()) == duck_findings
    assert_same_report(duck, report)


@pytest.mark.timeout(1200)
def test_spark_matches_duckdb_on_100k_spans(tmp_path: Path, spark: SparkSession) -> None:
    spans, _ = write_sample(tmp_path / "big.csv", traces=11_200, seed=11)
    assert spans >= 100_000
    duck, duck_findings = duckdb_audit([tmp_path / "big.csv"], tmp_path / "spans.parquet")
    sprk, spark_findings = spark_audit(spark, tmp_path / "spans.parquet", tmp_path / "findings.parquet")
    assert spark_findings == duck_findings
    assert len(duck_findings) > 1000
    assert_same_report(duck, sprk)


def test_error_families_are_the_same_on_spark(spark: SparkSession) -> None:
    db = SparkBackend(spark)
    db.create_table("family_cases", [("message", "VARCHAR")], [[t] for t in FAMILY_CASES])
    got = dict(db.fetchall(f"SELECT message, {family_case('message')} FROM family_cases"))
    assert got == FAMILY_CASES


def test_settings_are_bound_as_literals_never_spliced(spark: SparkSession) -> None:
    db = SparkBackend(spark)
    hostile = "x' OR 1 = 1 --\\' ; DROP TABLE spans"
    assert db.fetchall("SELECT ? AS v", [hostile]) == [(hostile,)]
    assert db.fetchall("SELECT $loop_min_runs + 1", {"loop_min_runs": 4}) == [(5,)]


@pytest.mark.parametrize(("re2", "text", "matches"), [
    (" [0-9]+$", "Step 3\n", False),  # RE2's $ is the end of the text; Java's would match before the \n
    ("(^|\n)Action:[^\n]*[[:space:]]*$", "x\nAction: search \t", True),  # POSIX class
    ("(?i)(rate limit)", "RATE LIMIT hit", True),
    ("a.b", "a\rb", True),  # RE2's . matches \r (only \n ends a line)
])
def test_re2_patterns_mean_the_same_in_java(spark: SparkSession, re2: str, text: str, matches: bool) -> None:
    db = SparkBackend(spark)
    assert duckdb.connect().execute("SELECT regexp_matches(?, ?)", [text, re2]).fetchone() == (matches,)
    assert db.fetchall(f"SELECT regexp_matches(?, '{re2}')", [text]) == [(matches,)]
    assert java_pattern("[$]x$") == "(?d)[$]x\\z"


def test_replacement_groups_are_java_groups() -> None:
    assert java_replacement("\\1-$") == "$1-\\$"


def test_engine_imports_and_fails_clearly_without_pyspark(tmp_path: Path) -> None:
    """``audit`` never needs pyspark unless Spark is asked for, and then says what to install."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pyspark'] = None\n"
            "import audit.engine, audit.cli, audit.spark_engine\n"
            "from audit.cli import main\n"
            f"sys.exit(main(['report', '--engine', 'spark', {str(tmp_path / 'x.parquet')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "needs pyspark" in done.stderr


@pytest.mark.parametrize("pattern", ["gpt-4o*", "*opus-4-1*", "claude-[!x]?", "a.b(c)+*", "o3*", "x[a-c]"])
def test_price_globs_match_as_duckdb_glob(pattern: str) -> None:
    """Prices match by a regex both engines read alike (Spark has no GLOB): the same models as GLOB."""
    from audit.cost import glob_regex

    con = duckdb.connect()
    for model in ("gpt-4o-mini", "GPT-4O", "gpt-4x", "claude-opus-4-1-2025", "claude-ab", "claude-xb", "a.b(c)+z",
                  "axb(c)+", "o3", "o3-mini", "o3\nx", "xb", "xd"):
        glob = con.execute("SELECT lower(?) GLOB lower(?)", [model, pattern]).fetchone()
        regex = con.execute("SELECT regexp_matches(lower(?), ?)", [model, glob_regex(pattern)]).fetchone()
        assert regex == glob, (pattern, model)
