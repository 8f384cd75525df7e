"""Saved audits: the report kept in the database (``audit/saved.py``), the CLI's ``--db`` file,
a report-only file of another engine (findings + saved_report, no spans), and the app
opening both read-only without auditing again."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from audit.cli import main
from audit.db import DatabaseFileError, open_read_only
from audit.engine import Audit
from audit.ingest import SourceFile
from audit.models import AuditReport
from audit.saved import FINDINGS_COLUMNS, SavedReportError, load_saved_report, save_report, save_report_only

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"
PAGES = ["pages/upload.py", "pages/overview.py", "pages/failures.py", "pages/reliability.py", "pages/costs.py",
         "pages/checklist.py", "pages/export.py", "pages/compare.py"]
NO_SPANS = "the spans are not in this file"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, AuditReport]:
    """A full ``--db`` file of the sample (by the CLI) and a report-only file made from it."""
    folder = tmp_path_factory.mktemp("saved")
    full = folder / "full.duckdb"
    assert main(["report", str(SAMPLE), "--db", str(full), "-o", str(folder / "report.json"),
                 "--report-findings-per-mode", "3"]) == 0  # a cut list: the CSV must hold more
    report = AuditReport.model_validate_json((folder / "report.json").read_text())
    report_only = folder / "report_only.duckdb"
    con = duckdb.connect(str(report_only))
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(full)])
    con.execute("CREATE TABLE findings AS SELECT * FROM src.findings")
    con.execute("DETACH src")
    save_report(con, report)
    con.close()
    return full, report_only, report


def app(monkeypatch: pytest.MonkeyPatch, *db: Path) -> AppTest:
    """The app as started with ``streamlit run app.py -- --db ...``."""
    monkeypatch.setattr("sys.argv", ["app.py", *[a for p in db for a in ("--db", str(p))]])
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()


def infos(at: AppTest) -> str:
    return "\n".join(i.value for i in at.info)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# -- the format --------------------------------------------------------------------------------

def test_a_saved_report_reads_back_equal() -> None:
    audit = Audit.open()
    audit.load([SourceFile.of(SAMPLE)])
    report = audit.run()
    assert load_saved_report(audit.con) is None  # nothing saved yet
    save_report(audit.con, report)
    save_report(audit.con, report)  # saving again replaces, never adds a second row
    assert load_saved_report(audit.con) == report


@pytest.mark.parametrize("rows, message", [([], "holds 0"), (["{}"], "not one this version reads"),
                                           (["not json"], "not one this version reads"), (["{}", "{}"], "or more")])
def test_a_broken_saved_report_is_a_clear_error(rows: list[str], message: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE saved_report (report_json VARCHAR)")
    for row in rows:
        con.execute("INSERT INTO saved_report VALUES (?)", [row])
    with pytest.raises(SavedReportError, match=message):
        load_saved_report(con)


def test_the_cli_db_file_keeps_the_report(saved) -> None:
    full, _, report = saved
    con = duckdb.connect(str(full), read_only=True)
    assert load_saved_report(con) == report
    assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == report.summary.spans


def test_a_report_only_file_from_chunks_of_findings_opens_like_a_full_one(saved, tmp_path: Path) -> None:
    """What the Spark engine's ``--db`` writes: findings in chunks of rows, the report beside them;
    it refuses to replace a full audit's file (its spans would be lost)."""
    full, _, report = saved
    columns = ", ".join(f'"{c}"' for c, _ in FINDINGS_COLUMNS)
    with duckdb.connect(str(full), read_only=True) as con:
        rows = con.execute(f"SELECT {columns} FROM findings ORDER BY trace_id, span_id, rule_id").fetchall()
    target = tmp_path / "spark.duckdb"
    assert save_report_only(target, report, [rows[:50], rows[50:]]) == len(rows)
    assert save_report_only(target, report, [rows]) == len(rows)  # a report-only file is replaced
    audit, reopened = Audit.open_saved(target)
    assert reopened == report and not audit.has_spans
    assert audit.con.execute(f"SELECT {columns} FROM findings ORDER BY trace_id, span_id, rule_id").fetchall() == rows
    audit.con.close()
    with pytest.raises(DatabaseFileError, match="holds a full audit"):
        save_report_only(full, report, [rows])


def test_opening_refuses_what_is_not_a_saved_audit(tmp_path: Path) -> None:
    with pytest.raises(DatabaseFileError, match="no such file"):
        open_read_only(tmp_path / "missing.duckdb")
    (tmp_path / "notes.duckdb").write_text("not a database, just text long enough")
    with pytest.raises(DatabaseFileError, match="not a DuckDB database"):
        open_read_only(tmp_path / "notes.duckdb")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(DatabaseFileError, match="holds no saved audit"):
        open_read_only(other)


def test_a_saved_audit_is_opened_read_only(saved) -> None:
    full, _, _ = saved
    before = full.stat().st_mtime_ns
    audit, report = Audit.open_saved(full)
    with pytest.raises(duckdb.Error, match="read-only"):
        audit.con.execute("DELETE FROM findings")
    audit.con.close()
    assert full.stat().st_mtime_ns == before and report.summary.traces > 0


# -- the app -----------------------------------------------------------------------------------

def test_the_app_opens_a_full_db_file_without_auditing_again(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    full, _, report = saved

    def no_audit(self: Audit, redact: bool = False) -> AuditReport:
        raise AssertionError("the saved audit was audited again")

    monkeypatch.setattr(Audit, "run", no_audit)
    at = app(monkeypatch, full)
    assert not at.exception
    assert at.session_state["loaded"].dataset.saved and at.session_state["loaded"].has_spans
    assert metric(at, "Traces") == f"{report.summary.traces:,}"
    assert metric(at, "Failed traces") == f"{report.summary.failed_traces:,}"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert not at.error, (page, [e.value for e in at.error])
        assert NO_SPANS not in infos(at), page
    at.switch_page("pages/failures.py").run()
    assert any(s.value == "Trace" for s in at.subheader) and not at.exception
    at.switch_page("pages/costs.py").run()
    next(b for b in at.button if b.label == "Apply prices").click().run()  # prices again over the saved spans
    assert not at.exception and not at.error


def test_a_report_only_file_shows_every_page_and_says_what_needs_spans(saved, monkeypatch) -> None:
    _, report_only, report = saved
    at = app(monkeypatch, report_only)
    loaded = at.session_state["loaded"]
    assert loaded.dataset.saved and not loaded.has_spans
    assert metric(at, "Traces") == f"{report.summary.traces:,}"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert not at.error, (page, [e.value for e in at.error])
    at.switch_page("pages/failures.py").run()
    assert NO_SPANS in infos(at)  # the trace's span tree
    assert any(s.value == "Findings in this trace" for s in at.subheader)
    at.multiselect[0].set_value([at.multiselect[0].options[0]]).run()  # the findings filter without spans
    assert not at.exception and not at.error
    at.switch_page("pages/costs.py").run()
    assert NO_SPANS in infos(at) and not any(b.label == "Apply prices" for b in at.button)
    next(n for n in at.number_input if n.label.startswith("Business cost")).set_value(25.0).run()
    expected = report.summary.money_lost_usd + 25.0 * report.summary.failed_traces
    at.switch_page("pages/overview.py").run()
    assert metric(at, "Money lost to failures") == f"${expected:,.2f}"
    at.switch_page("pages/checklist.py").run()
    assert not at.exception and len(at.dataframe) >= 1


def test_the_report_only_findings_export_holds_every_finding(saved) -> None:
    _, report_only, _ = saved
    audit, report = Audit.open_saved(report_only)
    assert not audit.has_spans
    rows = list(csv.DictReader(io.StringIO(audit.findings_csv().decode())))
    assert len(rows) == sum(m.findings + m.silenced for m in report.summary.modes) > len(report.findings)


def test_the_upload_page_offers_only_the_servers_saved_audits(saved, monkeypatch) -> None:
    full, report_only, _ = saved
    at = app(monkeypatch, full.parent)  # a folder: its .duckdb files
    box = next(s for s in at.selectbox if s.label == "Saved audit") if at.selectbox else None
    assert box is None  # the Overview: the chooser is on the Upload page
    assert at.session_state["loaded"].dataset.saved  # a folder's first file is the default dataset
    at.switch_page("pages/upload.py").run()
    box = next(s for s in at.selectbox if s.label == "Saved audit")
    assert sorted(Path(o).name for o in box.options) == ["full.duckdb", "report_only.duckdb"]
    box.set_value(report_only).run()
    next(b for b in at.button if b.label == "Open this audit").click().run()
    assert not at.exception and not at.error
    assert not at.session_state["loaded"].has_spans


def test_without_saved_audits_the_app_shows_the_sample(monkeypatch) -> None:
    at = app(monkeypatch)
    assert at.session_state["loaded"].is_sample
    at.switch_page("pages/upload.py").run()
    assert not any(s.label == "Saved audit" for s in at.selectbox)


def test_a_bad_saved_audit_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(os.urandom(64))
    at = app(monkeypatch, bad)
    assert not at.exception
    assert any("Cannot use this database file" in e.value for e in at.error)
