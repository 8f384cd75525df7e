"""Headless page tests with Streamlit's AppTest: every page on the sample, numbers equal the
engine's, and a hand-built fixture whose figures are known independently."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
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


def unescape(markdown: str) -> str:
    """The text a reader sees of escaped Markdown source."""
    return re.sub(r"\\(.)", r"\1", markdown)


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
    assert metric(at, "Projected end-to-end success") == "82.0%"  # today is the observed success
    attempts = next(s for s in at.slider if s.label == "Attempts per step")
    attempts.set_value(2).run()
    assert metric(at, "Projected end-to-end success") == "82.0%"  # "boom" is not transient: retries do not fix it
    next(s for s in at.selectbox if s.label == "Fix a layer").set_value("recovery").run()
    assert metric(at, "Projected end-to-end success") == "100.0%"  # every failure here is an unhandled error
    at.switch_page("pages/overview.py").run()
    assert metric(at, "Traces") == "100"
    assert not any("bundled sample data" in i.value for i in at.info)


def test_no_prediction_shows_n_a_on_every_page() -> None:
    """A real export mixing two apps has no step in half the traces: the pages say n/a with
    the reason, never a product of nothing (100%) and a gap the size of the failures."""
    path = REPO / "tests" / "frameworks" / "corpus" / "crewai.otlp.jsonl.gz"
    at = upload(app(), path.name, path.read_bytes())
    assert not at.exception and not at.error
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and not at.error, page
        if page == "pages/overview.py":
            assert metric(at, "Predicted from steps") == "n/a" and metric(at, "Coordination gap") == "n/a"
        if page == "pages/reliability.py":
            assert metric(at, "Predicted (after retries)") == "n/a"


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
    assert any("no trace_id" in unescape(e.value) for e in at.error)
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
    next(s for s in at.selectbox if s.label == "Item").set_value("O1").run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.key and s.key.endswith("_O1"))).set_value("fail")
    at.text_input(key=next(t.key for t in at.text_input if t.key.endswith("_O1"))).set_value("judge is offline")
    at.button(key=next(b.key for b in at.button if b.key and b.key.endswith("_O1"))).click().run()
    assert not at.exception
    at.switch_page("pages/export.py").run()
    assert not at.exception
    preview = "\n".join(c.value for c in at.code)
    assert "overridden from" in preview and "judge is offline" in preview


def test_failures_page_opens_a_trace(sample_report) -> None:
    at = app()
    at.switch_page("pages/failures.py").run()
    first_primary = next(f for f in sample_report.findings if f.primary)
    at.multiselect[0].set_value([first_primary.layer]).run()
    assert not at.exception
    trace_box = next(s for s in at.selectbox if s.label == "Open trace")
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


def test_apply_prices_without_edits_is_not_an_error() -> None:
    at = app()
    at.switch_page("pages/costs.py").run()
    next(b for b in at.button if b.label == "Apply prices").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]


def test_one_set_of_cost_settings_for_every_page_and_export(sample_report) -> None:
    at = app()
    at.switch_page("pages/costs.py").run()
    next(n for n in at.number_input if n.label.startswith("Business cost")).set_value(25.0).run()
    loss = metric(at, "Projected monthly loss")
    at.switch_page("pages/overview.py").run()
    money_lost = metric(at, "Money lost to failures")
    expected = sample_report.summary.money_lost_usd + 25.0 * sample_report.summary.failed_traces
    assert money_lost == f"${expected:,.2f}"
    at.switch_page("pages/export.py").run()
    preview = "\n".join(c.value for c in at.code)
    assert f"${expected:,.2f}" in preview and loss in preview
    at.switch_page("pages/costs.py").run()  # the inputs are kept when coming back
    assert next(n for n in at.number_input if n.label.startswith("Business cost")).value == 25.0


HOSTILE_NAMES = ["![x](https://attacker.invalid/x.png)", "# heading", "<img src=https://attacker.invalid/y.png>"]


def hostile_rows() -> list[dict]:
    from helpers import root, span

    rows = []
    for t, name in enumerate(HOSTILE_NAMES):
        tid = f"h{t}"
        rows += [root(tid, status="error"),
                 span("a", name, trace=tid, at=1, status="error", error_type="ValueError",
                      error_message=name, model=name, kind="llm", input_tokens="10", output_tokens="5")]
    return rows


def rendered_markdown(at: AppTest) -> list[str]:
    return [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success")
            for e in getattr(at, kind)]


def test_trace_text_is_never_rendered_as_markdown(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "hostile.csv", hostile_rows()).read_bytes()
    at = upload(app(), "![pic](https://attacker.invalid/f.png).csv", data)
    assert not at.exception
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        for text in rendered_markdown(at):
            assert "![" not in text and "](https://attacker" not in text, (page, text)
            assert not text.lstrip().startswith("# heading"), (page, text)
            assert not re.search(r"(?<!\\)<img", text), (page, text)


def test_markdown_helper_escapes_what_markdown_would_render() -> None:
    from pages.common import md_code, md_text

    assert md_text("![x](https://attacker.invalid/x.png)") == r"\!\[x\]\(https\://attacker\.invalid/x\.png\)"
    assert md_text("# heading\nnext") == r"\# heading next"
    assert md_text(":red[alarm] $x$") == r"\:red\[alarm\] \$x\$"
    assert md_code("a `tick` b") == "`` a `tick` b ``"


def test_a_trace_opens_from_its_link(sample_report) -> None:
    target = sample_report.findings[-1].trace_id
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page("pages/failures.py")
    at.query_params["trace"] = target
    at.run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Open trace").value == target
    assert any(c.value == target for c in at.code)


def test_payback_never_says_none() -> None:
    at = app()
    at.switch_page("pages/costs.py").run()
    [payback] = [d.value for d in at.dataframe if "payback" in d.value.columns]
    paybacks = payback["payback"].tolist()
    assert paybacks and all(p and p != "None" for p in paybacks)
    assert any(p == "no loss measured" or "not worth it" in p or p.endswith("months") for p in paybacks)


def test_otlp_receipt_summarises_unmapped_attributes() -> None:
    data = (REPO / "tests" / "fixtures" / "formats" / "langgraph_openinference.jsonl").read_bytes()
    at = upload(app(), "langgraph_openinference.jsonl", data)
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert any("attributes kept unmapped" in c and "by prefix" in c for c in captions), captions
    assert not any("kept unmapped: attribute" in c for c in captions)  # the long list is folded, not a caption


def test_unmapped_count_is_every_attribute_not_the_first_thirty() -> None:
    """A real export keeps over a hundred attributes unmapped; the receipt once counted only the
    30 names the load note listed."""
    path = REPO / "tests" / "frameworks" / "corpus" / "openai_agents.otlp.jsonl.gz"
    [expected] = Audit.open().load([SourceFile.of(path)])
    assert len(expected.unmapped) > 30
    at = upload(app(), path.name, path.read_bytes())
    assert not at.exception and not at.error
    [receipt] = [c.value for c in at.caption if "attributes kept unmapped" in c.value]
    assert receipt.startswith(f"{len(expected.unmapped):,} attributes kept unmapped"), receipt
    assert any(e.label.startswith("All ") for e in at.expander)


def test_a_session_frees_its_audits_when_it_ends(tmp_path: Path) -> None:
    import gc

    import duckdb

    at = upload(app(), "six.csv", write_csv(tmp_path / "six.csv", six_step_rows()).read_bytes())
    con = at.session_state["loaded"].dataset.audit.con
    assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == 700
    del at
    gc.collect()
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")


def test_overlapping_page_runs_each_read_through_their_own_cursor() -> None:
    """Streamlit starts a session's next run before the last has stopped; one DuckDB
    connection used from two threads refuses ("connection is busy"). Page runs read through
    ``Loaded.cursor()``, a connection of their own, and never collide."""
    import threading

    import duckdb

    from audit.cost import load_prices
    from audit.explore import Filters, breakdown, filtered_findings
    from audit.settings import Settings
    from pages.common import SAMPLE, Loaded, _audit

    loaded = Loaded(_audit([(SAMPLE.name, SAMPLE.read_bytes())], {}, Settings(), None, "k", True))

    def page_runs(connect, errors: list[str]) -> None:
        try:
            for _ in range(15):
                con = connect()
                filtered_findings(con, Filters())
                breakdown(con, load_prices(), "step", Filters())
        except duckdb.Error as e:
            errors.append(str(e))

    def overlap(connect) -> list[str]:
        errors: list[str] = []
        threads = [threading.Thread(target=page_runs, args=(connect, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return errors

    assert overlap(loaded.cursor) == []
    shared = loaded.dataset.audit.con
    assert any("busy" in e for e in overlap(lambda: shared))  # what a shared connection does


@pytest.mark.parametrize("fixture", ["langgraph_openinference.jsonl", "otlp_agent.json"])
def test_every_span_of_a_real_export_opens_its_detail(fixture: str) -> None:
    from audit.explore import trace_tree

    at = upload(app(), fixture, (REPO / "tests" / "fixtures" / "formats" / fixture).read_bytes())
    con = at.session_state["loaded"].cursor()
    for (trace_id,) in con.execute("SELECT trace_id FROM trace_facts").fetchall():
        for span_id in trace_tree(con, trace_id)["span_id"]:
            at.query_params["trace"] = trace_id
            at.query_params["span"] = span_id
            at.switch_page("pages/failures.py").run()
            assert not at.exception and not at.error, (trace_id, span_id, [c.value for c in at.code][-1:])
            assert any(c.value.startswith("**Span**") for c in at.markdown), (trace_id, span_id)


def test_the_sample_is_audited_once_and_shared_read_only() -> None:
    first, second = app(), app()
    assert first.session_state["loaded"].dataset is second.session_state["loaded"].dataset
    assert first.session_state["loaded"] is not second.session_state["loaded"]  # overrides stay per session


def test_upload_files_of_dead_servers_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from pages import common

    monkeypatch.setattr(common, "UPLOAD_ROOT", tmp_path / "uploads")
    (tmp_path / "uploads" / "pid-999999999").mkdir(parents=True)
    (tmp_path / "uploads" / "pid-999999999" / "left-over.csv").write_text("x")
    mine = common.upload_dir()
    assert mine.name == f"pid-{os.getpid()}" and (mine.stat().st_mode & 0o777) == 0o700
    assert not (tmp_path / "uploads" / "pid-999999999").exists()


def test_failures_and_export_reuse_their_reads_across_reruns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving a control re-runs the page: the findings are read once per question (filters and
    controls, one SQL query that lists at most a screen), never again for a rerun or a question
    asked before, and the report is redacted once per export setting, not on every rerun."""
    import audit.redact
    import pages.common

    reads: list[object] = []
    redactions: list[object] = []
    read, redact = pages.common.findings_listing, audit.redact.redact_report
    monkeypatch.setattr(pages.common, "findings_listing", lambda *a: reads.append(a[1]) or read(*a))
    monkeypatch.setattr(audit.redact, "redact_report", lambda r: redactions.append(r) or redact(r))
    st.cache_resource.clear()  # the shared sample's reads of earlier tests
    at = app()
    at.switch_page("pages/failures.py").run()
    at.multiselect[0].set_value([at.multiselect[0].options[0]]).run()
    at.toggle[0].set_value(True).run()
    at.toggle[0].set_value(False).run()  # asked before
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/failures.py").run()
    assert not at.exception and len(reads) == len(set(reads)) == 3, reads
    at.switch_page("pages/export.py").run()
    at.toggle[0].set_value(True).run()
    once = len(redactions)
    for redacted in (False, True):
        at.toggle[0].set_value(redacted).run()
    assert not at.exception and once and len(redactions) == once


def test_narrowing_the_findings_below_the_selected_row_is_not_an_error() -> None:
    """The findings table keeps its selected row across reruns; a filter that leaves fewer
    rows than that index once raised IndexError instead of showing the narrowed list."""
    at = app()
    at.switch_page("pages/failures.py").run()
    def box(label: str):  # type: ignore[no-untyped-def]
        return next(m for m in at.multiselect if m.label == label)

    box("Layer").set_value([box("Layer").options[0]]).run()
    box("Failure mode").set_value([box("Failure mode").options[-1]]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
