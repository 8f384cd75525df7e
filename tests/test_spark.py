"""The Spark engine gives the DuckDB engine's audit: the same findings, reliability, cost,
checklist, fix-first list and fingerprints, on the bundled sample and on a generated 100k-span
set, and the same error families for the wording of real libraries.

Spark runs in local mode (``local[2]``), one session for the whole test session. pyspark and
a Java runtime are installed by ``.ci/run``; when either is missing these tests fail, never skip.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pyspark.sql import SparkSession
from test_error_families import CASES as FAMILY_CASES

from audit.cost import load_prices
from audit.engine import Audit
from audit.facts import family_case
from audit.ingest import SourceFile
from audit.models import AuditReport
from audit.rules import catalog
from audit.sample import write_sample
from audit.settings import Settings
from audit.spark_engine import SparkBackend, audit_report, java_pattern, java_replacement, load_spans, spark_session

ROOT = Path(__file__).resolve().parent.parent
FINDING_KEY = 'trace_id, span_id, rule_id, layer, mode, "primary"'


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    return spark_session("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
                                      "spark.driver.memory": "1g"})


def duckdb_audit(source: Path, spans_file: Path) -> tuple[AuditReport, list[tuple[Any, ...]]]:
    """The DuckDB engine's report and findings keys; its spans exported as canonical Parquet."""
    audit = Audit.open()
    audit.load([SourceFile.of(source)])
    audit.export_spans(spans_file)
    report = audit.run()
    return report, sorted(audit.con.execute(f"SELECT {FINDING_KEY} FROM findings").fetchall())


def spark_audit(spark: SparkSession, spans_file: Path, findings_dir: Path) -> tuple[AuditReport, list[tuple[Any, ...]]]:
    """The Spark engine's report, and the findings keys of the findings file Spark wrote."""
    db = SparkBackend(spark)
    load_spans(db, [str(spans_file)])
    report = audit_report(db, Settings(), catalog(), load_prices(), str(findings_dir))
    written = duckdb.connect().execute(
        f"SELECT {FINDING_KEY} FROM read_parquet(?)", [str(findings_dir / "*.parquet")]).fetchall()
    return report, sorted(written)


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
                  "findings", "silenced_findings", "primary_by_layer", "findings_by_layer", "findings_by_severity",
                  "top_modes", "total_cost_usd", "money_lost_usd", "unpriced_spans", "first_seen", "last_seen",
                  "timeline")


def spark_cli_audit(spans_file: Path, tmp_path: Path) -> tuple[AuditReport, list[tuple[Any, ...]]]:
    """The same through ``report --engine spark``, the input given as a ``file://`` URI (passed to
    Spark's reader as it is, like ``s3a://``); the CLI reuses the test session's SparkSession."""
    from audit.cli import main

    report_file, findings_dir = tmp_path / "spark.json", tmp_path / "cli_findings.parquet"
    assert main(["report", "--engine", "spark", "--spark-master", "local[2]", spans_file.resolve().as_uri(),
                 "-o", str(report_file), "--findings", str(findings_dir)]) == 0
    written = duckdb.connect().execute(
        f"SELECT {FINDING_KEY} FROM read_parquet(?)", [str(findings_dir / "*.parquet")]).fetchall()
    return AuditReport.model_validate_json(report_file.read_text()), sorted(written)


def assert_equivalent(source: Path, tmp_path: Path, spark: SparkSession, cli: bool = False) -> int:
    duck, duck_findings = duckdb_audit(source, tmp_path / "spans.parquet")
    sprk, spark_findings = (spark_cli_audit(tmp_path / "spans.parquet", tmp_path) if cli else
                            spark_audit(spark, tmp_path / "spans.parquet", tmp_path / "findings.parquet"))
    assert spark_findings == duck_findings
    assert any(f[5] for f in duck_findings)
    for part in ("reliability", "cost", "checklist", "fix_first", "fingerprints"):
        assert_same(duck.model_dump(mode="json")[part], sprk.model_dump(mode="json")[part], part)
    assert_same({k: duck.summary.model_dump(mode="json")[k] for k in SUMMARY_FIELDS},
                {k: sprk.summary.model_dump(mode="json")[k] for k in SUMMARY_FIELDS}, "summary")
    return len(duck_findings)


@pytest.mark.timeout(900)  # Spark on a shared 2-core machine: usually ~90 s
def test_spark_matches_duckdb_on_the_sample(tmp_path: Path, spark: SparkSession) -> None:
    assert assert_equivalent(ROOT / "data" / "sample_traces.csv", tmp_path, spark, cli=True) > 100


@pytest.mark.timeout(1200)
def test_spark_matches_duckdb_on_100k_spans(tmp_path: Path, spark: SparkSession) -> None:
    spans, _ = write_sample(tmp_path / "big.csv", traces=11_200, seed=11)
    assert spans >= 100_000
    assert assert_equivalent(tmp_path / "big.csv", tmp_path, spark) > 1000


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
