"""Saved audits in a real browser (same harness as test_browser.py): the server started with
``-- --db FOLDER`` opens its first file read-only for every session; the Upload page opens a
report-only file, whose pages show the findings and say what needs the spans.

In CI (CI=true) this never skips: a missing Chromium is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from test_browser import browser, go, metric_value, open_app, start_server, wait_idle  # noqa: F401 (browser: a fixture)

from audit.cli import main
from audit.models import AuditReport
from audit.saved import save_report

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"

from playwright.sync_api import Browser, expect  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuditReport]:
    """A folder with the sample's ``--db`` file (a_full.duckdb) and a report-only copy (b_report_only.duckdb)."""
    folder = tmp_path_factory.mktemp("saved_browser")
    full = folder / "a_full.duckdb"
    assert main(["report", str(SAMPLE), "--db", str(full), "-o", str(folder / "report.json")]) == 0
    report = AuditReport.model_validate_json((folder / "report.json").read_text())
    con = duckdb.connect(str(folder / "b_report_only.duckdb"))
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(full)])
    con.execute("CREATE TABLE findings AS SELECT * FROM src.findings")
    con.execute("DETACH src")
    save_report(con, report)
    con.close()
    return folder, report


@pytest.fixture(scope="module")
def server(saved: tuple[Path, AuditReport]) -> Iterator[str]:
    yield from start_server(app_args=("--db", str(saved[0])))


def test_a_saved_audit_opens_and_a_report_only_one_says_what_needs_spans(server: str, browser: Browser,  # noqa: F811
                                                                         saved: tuple[Path, AuditReport]) -> None:
    _, report = saved
    page = open_app(browser, server)
    assert metric_value(page, "Traces") == f"{report.summary.traces:,}"
    expect(page.get_by_text("(saved audit)")).to_be_visible()
    go(page, "Failures")
    expect(page.locator("h2, h3", has_text="Trace").first).to_be_visible()
    expect(page.get_by_text("the spans are not in this file")).to_have_count(0)

    go(page, "Upload")
    page.locator("[data-testid='stSelectbox']", has_text="Saved audit").click()
    page.get_by_role("option", name="b_report_only.duckdb").click()
    wait_idle(page)
    page.locator("[data-testid='stButton'] button", has_text="Open this audit").click()
    wait_idle(page)
    expect(page.get_by_text("Opened ", exact=False).first).to_be_visible(timeout=60_000)
    for title in ("Overview", "Failures", "Reliability", "Costs", "Checklist", "Export"):
        go(page, title)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        expect(page.get_by_text("Something went wrong")).to_have_count(0)
        if title in ("Failures", "Costs"):
            expect(page.get_by_text("the spans are not in this file").first).to_be_visible()
    go(page, "Overview")
    assert metric_value(page, "Traces") == f"{report.summary.traces:,}"
