"""Headless page tests with Streamlit's AppTest: every page on the sample, numbers equal the
engine's, and a hand-built fixture whose figures are known independently."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from helpers import write_csv
from streamlit.testing.v1 import AppTest
from test_math import six_step_rows

from audit.engine import Audit
from audit.ingest import SourceFile

REPO = Path(__file__).resolve().parent.parent
PAGES = ["pages/upload.py", "pages/overview.py", "pages/failures.py", "pages/reliability.py", "pages/costs.py",
         "pages/checklist.py", "pages/export.py"]


def app() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def sample_report():
    audit = Audit.open()
    audit.load([SourceFile.of(REPO / "data" / "sample_traces.csv")])
    return audit.run()


def test_every_page_renders_on_the_sample(sample_report) -> None:
    at = app()
    assert not at.exception
    assert any("bundled sample data" in i.value for i in at.info)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert not at.error, (page, [e.value for e in at.error])


def test_overview_numbers_equal_the_engine(sample_report) -> None:
    at = app()
    s = sample_report.summary
    assert metric(at, "Traces") == f"{s.traces:,}"
    assert metric(at, "Spans") == f"{s.spans:,}"
    assert metric(at, "Observed end-to-end success") == f"{s.observed_success * 100:.1f}%"
    assert metric(at, "Predicted from steps") == f"{s.predicted_success * 100:.1f}%"
    assert metric(at, "Coordination gap") == f"{s.coordination_gap * 100:+.1f} pts"
    assert metric(at, "Failed traces") == f"{s.failed_traces:,}"


def test_reliability_and_costs_pages_equal_the_engine(sample_report) -> None:
    at = app()
    at.switch_page("pages/reliability.py").run()
    r = sample_report.reliability
    assert metric(at, "Observed end to end") == f"{r.observed_success * 100:.1f}%"
    assert metric(at, "Predicted (first attempt)") == f"{r.predicted_first_attempt * 100:.1f}%"
    at.switch_page("pages/costs.py").run()
    total = sample_report.cost.total_cost_usd
    assert metric(at, "Token spend in these traces") == (f"${total:,.2f}" if total >= 1 or total == 0 else f"${total:,.4f}")


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.switch_page("pages/upload.py").run()
    at.file_uploader[0].set_value((name, data, "text/csv")).run()
    return at


def test_six_step_fixture_shows_83_3_percent_predicted(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "six.csv", six_step_rows()).read_bytes()
    at = upload(app(), "six.csv", data)
    assert not at.exception and not at.error
    at.switch_page("pages/reliability.py").run()
    assert metric(at, "Predicted (first attempt)") == "83.3%"
    assert metric(at, "Observed end to end") == "82.0%"
    assert metric(at, "Projected end-to-end success") == "83.3%"
    at.slider[0].set_value(2).run()  # attempts per step
    assert metric(at, "Projected end-to-end success") == f"{(1 - 0.03 ** 2) ** 6 * 100:.1f}%"
    at.selectbox[0].set_value("recovery").run()  # every failure here is an unhandled error
    assert metric(at, "Projected end-to-end success") == "100.0%"
    at.switch_page("pages/overview.py").run()
    assert metric(at, "Traces") == "100"
    assert not any("bundled sample data" in i.value for i in at.info)


def test_unreadable_upload_is_a_message_not_a_traceback() -> None:
    at = upload(app(), "bad.csv", b"\x00\x01\x02binary")
    assert not at.exception
    assert any("Cannot read trace file" in e.value for e in at.error)
    at.switch_page("pages/overview.py").run()  # the previous audit stays
    assert metric(at, "Traces") == "400"


def test_column_mapping_form(tmp_path: Path) -> None:
    df = pd.DataFrame({"run": ["r1", "r1"], "sid": ["a", "b"], "parent": ["", "a"], "step": ["root", "x"],
                       "t0": ["2026-01-01T00:00:00", "2026-01-01T00:00:01"], "ms": [2000, 100],
                       "outcome_flag": ["ok", "error"]})
    at = upload(app(), "odd.csv", df.to_csv(index=False).encode())
    assert any("no trace_id" in e.value for e in at.error)
    for canonical, header in {"trace_id": "run", "span_id": "sid", "parent_span_id": "parent", "name": "step",
                              "start_time": "t0", "duration_ms": "ms", "status": "outcome_flag"}.items():
        at.selectbox(key=f"map_{canonical}").set_value(header)
    at.button(key="FormSubmitter:mapping-Apply mapping and audit").click().run()
    at.run()
    assert not at.exception
    at.switch_page("pages/overview.py").run()
    assert metric(at, "Spans") == "2" and metric(at, "Failed traces") == "1"


def test_checklist_override_reaches_the_export() -> None:
    at = app()
    at.switch_page("pages/checklist.py").run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.key and s.key.endswith("_O1"))).set_value("fail")
    at.text_input(key=next(t.key for t in at.text_input if t.key.endswith("_O1"))).set_value("judge is offline")
    at.button(key=next(b.key for b in at.button if b.key and b.key.endswith("_O1"))).click().run()
    assert not at.exception
    at.switch_page("pages/export.py").run()
    assert not at.exception
    preview = "\n".join(m.value for m in at.markdown)
    assert "overridden from" in preview and "judge is offline" in preview


def test_failures_page_opens_a_trace(sample_report) -> None:
    at = app()
    at.switch_page("pages/failures.py").run()
    first_primary = next(f for f in sample_report.findings if f.primary)
    at.multiselect[0].set_value([first_primary.layer]).run()
    assert not at.exception
    trace_box = at.selectbox(key="trace_choice")
    assert trace_box.value in {f.trace_id for f in sample_report.findings if f.layer == first_primary.layer}
    assert any("Remedy:" in c.value for c in at.caption)


def test_sessions_do_not_share_uploads(tmp_path: Path) -> None:
    one = upload(app(), "six.csv", write_csv(tmp_path / "six.csv", six_step_rows()).read_bytes())
    other = app()
    one.switch_page("pages/overview.py").run()
    assert metric(one, "Traces") == "100"
    assert metric(other, "Traces") == "400"


def test_quarantine_download_neutralises_formulas() -> None:
    from pages.common import frame_download

    data = frame_download(pd.DataFrame({"reason": ["=HYPERLINK(1)", "ok"]}))
    assert pd.read_csv(io.BytesIO(data))["reason"].tolist() == ["'=HYPERLINK(1)", "ok"]


def test_otlp_upload_is_detected() -> None:
    data = (REPO / "tests" / "fixtures" / "formats" / "otlp_agent.json").read_bytes()
    at = upload(app(), "otlp_agent.json", data)
    assert not at.exception and not at.error
    assert any("detected OpenTelemetry OTLP JSON export" in c.value for c in at.caption)
    at.switch_page("pages/overview.py").run()
    assert metric(at, "Spans") == "4"


def test_an_unexpected_error_is_a_message_not_a_traceback() -> None:
    at = app()
    at.session_state["loaded"] = object()  # a corrupted session: the page cannot render
    at.run()
    assert not at.exception
    assert any("Something went wrong" in e.value for e in at.error)
