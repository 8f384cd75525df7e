"""Headless (AppTest) checks of the Compare page and the Failures page's fingerprint grouping;
the uploads, charts and downloads are in test_browser_compare.py."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from audit.engine import Audit
from audit.fingerprints import fingerprint_frame
from audit.ingest import SourceFile

REPO = Path(__file__).resolve().parent.parent


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()


def test_failures_page_groups_by_fingerprint() -> None:
    audit = Audit.open()
    audit.load([SourceFile.of(REPO / "data" / "sample_traces.csv")])
    report = audit.run()
    at = app()
    at.switch_page("pages/failures.py").run()
    tables_before = len(at.dataframe)
    at.toggle(key="group_by_fingerprint").set_value(True).run()
    assert not at.exception
    assert len(at.dataframe) == tables_before + 1
    grouped = at.dataframe[0].value
    assert list(grouped["fingerprint"]) == list(fingerprint_frame(report.fingerprints)["fingerprint"])
    assert {"traces", "share_of_failed", "first_seen", "last_seen", "example_trace_id", "remedy"} <= set(grouped)


def test_compare_page_asks_for_both_sides_then_uses_the_current_dataset() -> None:
    at = app()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert any("Upload the baseline" in i.value for i in at.info)
    assert not at.toggle(key="compare_use_current").value
    at.radio(key="compare_how").set_value("One dataset cut at a time").run()
    assert not at.exception
    assert any("Upload one dataset" in i.value for i in at.info)
