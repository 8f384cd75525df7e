"""The Compare page in a real browser (same harness as test_browser.py): uploads on both
sides, the charts, the fingerprint tables, the three downloads, and one dataset cut in two.

In CI (CI=true) this never skips: a missing Chromium is a failure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_browser import browser, go, open_app, shot, start_server, wait_idle  # noqa: F401 (browser: a fixture)

from audit.sample import write_sample

REPO = Path(__file__).resolve().parent.parent
TRACES = 300

from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from start_server(int(os.environ.get("COMPARE_TEST_PORT") or 0) or None)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("compare_pair")
    before, after = d / "before_fix.csv", d / "after_fix.csv"
    write_sample(before, TRACES, seed=31, shares={"unknown_tool": 0.0})
    write_sample(after, TRACES, seed=32, start=datetime(2026, 11, 1, tzinfo=UTC),
                 shares={"output_parse_error": 0.0, "schema_mismatch": 0.0, "invalid_tool_args": 0.0,
                         "unknown_tool": 0.12})
    return before, after


def download(page: Page, label: str) -> str:
    with page.expect_download() as info:
        page.locator("[data-testid='stDownloadButton'] button", has_text=label).click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_compare_two_uploads_charts_and_downloads(server: str, browser: Browser, pair: tuple[Path, Path]) -> None:  # noqa: F811 (the imported fixture)
    page = open_app(browser, server)
    go(page, "Compare")
    inputs = page.locator("input[type='file']")
    expect(inputs).to_have_count(2, timeout=60_000)
    inputs.nth(0).set_input_files(str(pair[0]))
    wait_idle(page)
    inputs.nth(1).set_input_files(str(pair[1]))
    expect(page.get_by_text("End-to-end success", exact=False).first).to_be_visible(timeout=120_000)
    wait_idle(page)
    body = page.inner_text("body")
    assert "Traceback" not in body
    assert "before_fix.csv" in body and "after_fix.csv" in body
    assert "Regression." in body and "unknown_tool" in body
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(2, timeout=60_000)
    expect(page.locator(".js-plotly-plot .gtitle", has_text="Change in failed traces by layer")).to_be_visible()
    expect(page.get_by_role("tab", name="New (")).to_be_visible()
    # a row of the new fingerprints opens its example trace (the grid is a canvas: click the row's selector)
    grid = page.locator("[data-testid='stDataFrame']:visible").last
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"^Example trace tr-"))).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(3)
    shot(page, "20-compare-two-uploads")
    page.get_by_role("tab", name="Resolved (").click()

    report = json.loads(download(page, "JSON comparison"))
    layers = {lc["layer"]: lc["failures"]["verdict"] for lc in report["layers"]}
    assert (layers["handoff"], layers["routing"], layers["recovery"]) == ("better", "worse", "no significant change")
    assert report["regression"] is True
    assert (report["baseline"]["traces"], report["candidate"]["traces"]) == (TRACES, TRACES)
    md = download(page, "Markdown for a pull request")
    assert md.startswith("# Coordination audit: comparison") and "## New fingerprints" in md
    page_html = download(page, "HTML comparison")
    assert "<!DOCTYPE html>" in page_html and 'Plotly.newPlot("chart-layers"' in page_html


def test_compare_one_dataset_cut_at_a_time(server: str, browser: Browser, pair: tuple[Path, Path],  # noqa: F811 (the imported fixture)
                                           tmp_path: Path) -> None:
    both = tmp_path / "spanning_the_fix.csv"
    lines = [p.read_text().splitlines(keepends=True) for p in pair]
    both.write_text("".join(lines[0] + lines[1][1:]))
    page = open_app(browser, server)
    go(page, "Compare")
    page.get_by_text("One dataset cut at a time").click()
    wait_idle(page)
    upload = page.locator("input[type='file']")
    expect(upload).to_have_count(1, timeout=60_000)
    upload.set_input_files(str(both))
    expect(page.get_by_text("End-to-end success", exact=False).first).to_be_visible(timeout=120_000)
    wait_idle(page)
    assert "Traceback" not in page.inner_text("body")
    expect(page.get_by_text("Cut time (UTC)")).to_be_visible()
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(2)
    shot(page, "21-compare-split")
    report = json.loads(download(page, "JSON comparison"))
    assert report["split_at"] is not None
    assert report["baseline"]["traces"] + report["candidate"]["traces"] == 2 * TRACES
