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
NAV = ["Upload", "Overview", "Failures", "Reliability", "Costs", "Checklist", "Export"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}; .ci/run installs Debian's chromium")
    pytest.skip("Chromium not installed (run .ci/run to install it)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_app(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 2600}, accept_downloads=True).new_page()
    page.goto(url)
    expect(page.locator("h1", has_text="Overview")).to_be_visible(timeout=90_000)
    wait_idle(page)
    return page


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_timeout(300)
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=90_000)
    page.wait_for_timeout(300)


def go(page: Page, title: str) -> None:
    page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
    wait_idle(page)
    expect(page.locator("h1", has_text=title if title != "Upload" else "Upload traces")).to_be_visible(timeout=60_000)


def metric_value(page: Page, label: str) -> str:
    box = page.locator("[data-testid='stMetric']", has=page.locator("[data-testid='stMetricLabel']", has_text=label))
    return box.first.locator("[data-testid='stMetricValue']").inner_text().strip()


def upload(page: Page, path: Path) -> None:
    go(page, "Upload")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    expect(page.get_by_text(f"{path.name}: csv", exact=False)).to_be_visible(timeout=90_000)
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
            assert metric_value(page, "Projected end-to-end success") == "83.3%"
            handle = page.get_by_role("slider", name="Attempts per step").first
            handle.focus()
            handle.press("ArrowRight")
            wait_idle(page)
            expect(page.locator("[data-testid='stMetric']", has_text="Projected end-to-end success")
                   .locator("[data-testid='stMetricValue']")).to_have_text(f"{(1 - 0.03 ** 2) ** 6 * 100:.1f}%")
            shot(page, f"{i:02d}-reliability-what-if")
        if title == "Failures":
            assert "Findings in this trace" in page.inner_text("body")
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
    assert "only_in_beta" not in a.inner_text("body") and "beta-1" not in a.inner_text("body")
    assert "beta-1" in b.inner_text("body") and "t000" not in b.inner_text("body")
    # an override in one session stays in that session
    go(a, "Checklist")
    a.get_by_role("button", name=re.compile("Override")).first.click()
    popover = a.locator("[data-testid='stPopoverBody']")
    popover.get_by_role("combobox").first.click()
    a.get_by_role("option", name="fail", exact=True).first.click()
    popover.get_by_role("button", name="Save").click()
    wait_idle(a)
    assert "overridden" in a.inner_text("body")
    go(b, "Checklist")
    assert "overridden" not in b.inner_text("body")
    shot(a, "10-session-a-checklist")
    shot(b, "11-session-b-checklist")
