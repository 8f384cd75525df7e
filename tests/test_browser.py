"""End to end in a real browser: ``streamlit run app.py`` on a free localhost port, driven by
Playwright in Debian's Chromium. Screenshots of every page land in test-artifacts/.

In CI (CI=true) these tests never skip: a missing Chromium is a failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import root, span, write_csv
from test_math import six_step_rows

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
NAV = ["Upload", "Overview", "Failures", "Reliability", "Costs", "Checklist", "Export", "Compare"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}; .ci/run installs Debian's chromium")
    pytest.skip("Chromium not installed (run .ci/run to install it)", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "formats"


def free_port() -> int:
    """A free port; AUDIT_TEST_PORTS=8620-8639 keeps to a range on a shared machine."""
    span = os.environ.get("AUDIT_TEST_PORTS")
    candidates = range(int(span.split("-")[0]), int(span.split("-")[1]) + 1) if span else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in {span}")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from start_server()


def start_server(port: int | None = None, app_args: tuple[str, ...] = ()) -> Iterator[str]:
    """`streamlit run app.py [-- app_args]` on a free port (or ``port``) until the module's tests are done."""
    port = port or free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / f"streamlit-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         *(("--", *app_args) if app_args else ())],
        # a log file, never an unread pipe: a server blocked on a full pipe stops answering
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
    assert proc.returncode is not None and proc.returncode <= 0  # ended by us, not by a signal of its own


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_app(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 2600}, accept_downloads=True).new_page()
    page.goto(url, timeout=90_000)
    expect(page.locator("h1", has_text="Overview")).to_be_visible(timeout=90_000)
    wait_idle(page)
    return page


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished running the script (and any rerun it asked for)."""
    app = page.locator("[data-testid='stApp']")
    for _ in range(2):  # a run may request another (a selection, a link): settle twice
        page.wait_for_timeout(250)
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=90_000)
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=90_000)
    # elements whose code loads lazily (charts, grids) show skeletons until drawn
    expect(page.locator("[data-testid='stSkeleton'], [data-testid='stSkeletonElement']")).to_have_count(
        0, timeout=60_000)


def go(page: Page, title: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text=title).first.click()
    wait_idle(page)
    expect(page.locator("h1", has_text=title if title != "Upload" else "Upload traces")).to_be_visible(timeout=60_000)


def metric_value(page: Page, label: str) -> str:
    box = page.locator("[data-testid='stMetric']", has=page.locator("[data-testid='stMetricLabel']", has_text=label))
    return box.first.locator("[data-testid='stMetricValue']").inner_text().strip()


def upload(page: Page, path: Path) -> None:
    go(page, "Upload")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    expect(page.get_by_text(f"{path.name}: ", exact=False).first).to_be_visible(timeout=90_000)
    wait_idle(page)


def select_row(page: Page, grid: Locator, row: int) -> None:
    """Tick a row's selection box in a Streamlit dataframe (a canvas); the viewport is tall
    enough that no scrolling is needed, and the grid may be redrawn between runs."""
    wait_idle(page)
    box = grid.bounding_box(timeout=30_000)
    assert box
    page.mouse.click(box["x"] + 15, box["y"] + 35 * row + 18)
    wait_idle(page)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_upload_visit_every_page_what_if_and_downloads(server: str, browser: Browser, tmp_path: Path) -> None:
    page = open_app(browser, server)
    assert "sample data" in page.inner_text("body")
    shot(page, "00-overview-sample")
    data = write_csv(tmp_path / "six_steps.csv", six_step_rows())
    upload(page, data)
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("six_steps.csv")
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("100 traces")
    shot(page, "01-upload")
    for i, title in enumerate(NAV[1:], start=2):
        go(page, title)
        assert "Traceback" not in page.inner_text("body")
        shot(page, f"{i:02d}-{title.lower()}")
        if title == "Overview":
            assert metric_value(page, "Traces") == "100"
            assert metric_value(page, "Predicted from steps") == "83.3%"
        if title == "Reliability":
            assert metric_value(page, "Projected end-to-end success") == "82.0%"  # today: the observed success
            page.locator("[data-testid='stSelectbox']", has_text="Fix a layer").get_by_role("combobox").click()
            page.get_by_role("option", name="recovery", exact=True).click()
            wait_idle(page)
            expect(page.locator("[data-testid='stMetric']", has_text="Projected end-to-end success")
                   .locator("[data-testid='stMetricValue']")).to_have_text("100.0%")
            assert "recovery fixed" in page.inner_text("body")  # the chart moves with the number
            shot(page, f"{i:02d}-reliability-what-if")
        if title == "Failures":
            assert "Findings in this trace" in page.inner_text("body")
    go(page, "Export")
    downloads = {}
    for label in ("HTML report", "Markdown", "JSON", "Findings CSV"):
        with page.expect_download() as info:
            page.locator("[data-testid='stDownloadButton'] button", has_text=label).click()
        downloads[label] = Path(info.value.path()).read_text(encoding="utf-8")
    report = json.loads(downloads["JSON"])
    assert report["summary"]["traces"] == 100
    assert round(report["reliability"]["predicted_first_attempt"], 3) == 0.833
    assert "<!DOCTYPE html>" in downloads["HTML report"] and "Plotly.newPlot" in downloads["HTML report"]
    assert "# Coordination audit" in downloads["Markdown"]
    assert downloads["Findings CSV"].startswith("trace_id,span_id,rule_id")
    assert downloads["Findings CSV"].count("\n") == 1 + len(report["findings"])


def test_two_sessions_upload_at_once_and_see_only_their_own(server: str, browser: Browser, tmp_path: Path) -> None:
    a, b = open_app(browser, server), open_app(browser, server)
    file_a = write_csv(tmp_path / "alpha_traces.csv", six_step_rows(50, 3))
    rows_b = [root("beta-1", status="error")]
    rows_b.append(span("x", "only_in_beta", trace="beta-1", status="error", error_type="KeyError",
                       error_message="'customer_id'"))
    file_b = write_csv(tmp_path / "beta_traces.csv", rows_b)
    for page in (a, b):
        go(page, "Upload")
    # both uploads in flight together
    a.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(file_a))
    b.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(file_b))
    for page, name in ((a, file_a.name), (b, file_b.name)):
        expect(page.get_by_text(f"{name}: csv", exact=False)).to_be_visible(timeout=90_000)
        wait_idle(page)
    go(a, "Overview")
    go(b, "Overview")
    assert metric_value(a, "Traces") == "50"
    assert metric_value(b, "Traces") == "1"
    go(a, "Failures")
    go(b, "Failures")
    shot(b, "12-session-b-failures")
    assert "only_in_beta" not in a.inner_text("body") and "beta-1" not in a.inner_text("body")
    expect(b.locator("body")).to_contain_text("beta-1", timeout=30_000)
    assert "t000" not in b.inner_text("body")
    # an override in one session stays in that session
    go(a, "Checklist")
    score = a.locator("[data-testid='stSelectbox']", has_text="Override score").get_by_role("combobox")
    score.click()
    a.get_by_role("option", name="fail", exact=True).first.click()
    a.get_by_role("button", name="Save").click()
    wait_idle(a)
    expect(a.locator("body")).to_contain_text("(overridden; computed:", timeout=30_000)
    go(b, "Checklist")
    assert "overridden" not in b.inner_text("body")
    shot(a, "10-session-a-checklist")
    shot(b, "11-session-b-checklist")


RAW_PAGE_NAMES = {"app", "common", "upload", "overview", "failures", "reliability", "costs", "checklist", "export"}


def test_first_visit_after_a_server_start_never_lists_raw_files(browser: Browser) -> None:
    """Streamlit's legacy pages-folder mode runs a server's first script run: it must never
    show the files of pages/ ("app", "common", ...) in the sidebar, nor run one on its own."""
    fresh = start_server()
    url = next(fresh)
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        seen: set[str] = set()
        deadline = time.time() + 60
        while time.time() < deadline:
            seen |= {t.strip() for t in page.locator(
                "[data-testid='stSidebarNavLink'], [data-testid='stSidebarNavItems'] a").all_inner_texts()}
            if page.locator("h1", has_text="Overview").count():
                break
            page.wait_for_timeout(40)
        wait_idle(page)
        seen |= {t.strip() for t in page.locator("[data-testid='stSidebarNavLink']").all_inner_texts()}
        assert not {s.lower() for s in seen} & RAW_PAGE_NAMES, seen
        assert page.locator("[data-testid='stSidebarNavLink']").count() == 0
        links = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']")
        expect(links).to_have_count(len(NAV))
        for i, title in enumerate(NAV):
            expect(links.nth(i)).to_contain_text(title)
        # a raw file's URL never opens a blank page the session cannot leave: Streamlit says
        # "Page not found" over the Overview, and the links work
        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other.goto(f"{url}/common")
        expect(other.locator("h1", has_text="Overview")).to_be_visible(timeout=60_000)
        wait_idle(other)
        if other.get_by_role("dialog").count():
            other.keyboard.press("Escape")
        go(other, "Failures")
        expect(other.locator("h1", has_text="Failures")).to_be_visible()
    finally:
        next(fresh, None)


def test_fast_slider_bursts_never_show_an_error(server: str, browser: Browser) -> None:
    """Overlapping reruns (Streamlit starts the next run before the last one has stopped)
    must never share a DuckDB connection: bursts on the sidebar's time slider, in two
    sessions on the shared sample at once."""
    pages = [open_app(browser, server), open_app(browser, server)]
    for page in pages:
        go(page, "Failures")
        page.locator("[data-testid='stSidebar'] [data-testid='stExpander'] summary", has_text="Filters").click()
        expect(page.locator("[data-testid='stSidebar']").get_by_role("slider").first).to_be_visible(timeout=30_000)
    for burst in range(4):
        for page in pages:
            handle = page.locator("[data-testid='stSidebar']").get_by_role("slider").nth(burst % 2)
            handle.focus()
            for _ in range(15):
                handle.press("ArrowRight" if burst % 4 < 2 else "ArrowLeft", delay=0)
        for page in pages:
            body = page.inner_text("body")
            assert "Something went wrong" not in body and "busy" not in body, body[:2000]
    for page in pages:
        wait_idle(page)
        body = page.inner_text("body")
        assert "Something went wrong" not in body and "connection is busy" not in body
        expect(page.locator("[data-testid='stSidebar']").get_by_role("slider").first).to_be_visible()
        assert "Failure mode" in body  # the filters are still there
    shot(pages[0], "20-failures-after-slider-bursts")
    for page in pages:
        page.context.close()


@pytest.mark.parametrize("fixture", ["langgraph_openinference.jsonl", "otlp_agent.json"])
def test_every_page_on_a_real_framework_export(server: str, browser: Browser, fixture: str) -> None:
    page = open_app(browser, server)
    upload(page, FIXTURES / fixture)
    stem = fixture.split(".")[0]
    shot(page, f"30-{stem}-upload")
    for title in NAV[1:]:
        go(page, title)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Something went wrong" not in body, (title, body[:1500])
        if title == "Failures" and fixture.startswith("langgraph"):  # the picker and the table follow each other
            findings_grid = page.locator("[data-testid='stDataFrame']").first
            trace_code = page.locator("[data-testid='stCode']").first
            first = trace_code.inner_text().strip()
            select_row(page, findings_grid, 2)
            expect(trace_code).not_to_have_text(first, timeout=30_000)
            second = trace_code.inner_text().strip()
            page.locator("[data-testid='stSelectbox']", has_text="Open trace").get_by_role("combobox").click()
            page.get_by_role("option", name=first, exact=True).click()
            wait_idle(page)
            expect(trace_code).to_have_text(first, timeout=30_000)
            select_row(page, findings_grid, 2)  # a row picked earlier must not pin the picker
            expect(trace_code).to_have_text(second, timeout=30_000)
            assert f"trace={second}" in page.url
            body = page.inner_text("body")
        if title == "Failures" and "Select a span" in body:  # open a span's detail from the tree
            select_row(page, page.locator("[data-testid='stDataFrame']").nth(1), 1)
            expect(page.locator("strong", has_text=re.compile("^Span$"))).to_be_visible(timeout=30_000)
        shot(page, f"31-{stem}-{title.lower()}")
