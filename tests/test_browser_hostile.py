"""Hostile upload in a real browser (issue 9): a deeply nested JSON upload in one session is
refused with its message on the Upload page, and the server keeps serving another session.
Before the pre-check, such a file could take the whole server process down for every user."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_csv
from playwright.sync_api import Browser, expect
from test_browser import (  # noqa: F401
    REPO,
    browser,
    free_port,
    go,
    metric_value,
    open_app,
    shot,
    start_server,
    wait_idle,
)
from test_math import six_step_rows

PORTS = range(8610, 8620)  # this suite's own range, so parallel runs do not collide


def port_in_range() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from start_server(port_in_range())


def test_deep_json_upload_is_refused_while_another_session_keeps_working(
    server: str, browser: Browser, tmp_path: Path  # noqa: F811
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    deep_lines = tmp_path / "deep_record.jsonl"
    deep_lines.write_text('{"trace_id":"t","x":' + "[" * 20_000 + "]" * 20_000 + "}\n")
    good = write_csv(tmp_path / "six_steps.csv", six_step_rows())

    a = open_app(browser, server)
    b = open_app(browser, server)
    go(a, "Upload")
    go(b, "Upload")
    a.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(deep))
    b.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(good))

    expect(a.get_by_text("File over a limit", exact=False)).to_be_visible(timeout=90_000)
    expect(a.get_by_text("max_json_depth", exact=False).first).to_be_visible()
    wait_idle(b)
    expect(b.locator("[data-testid='stSidebar']")).to_contain_text("100 traces", timeout=90_000)

    a.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(deep_lines))
    wait_idle(a)
    assert "Traceback" not in a.inner_text("body")
    shot(a, "hostile-deep-json-upload")
    go(b, "Overview")
    assert metric_value(b, "Traces") == "100"
    go(b, "Reliability")
    assert metric_value(b, "Projected end-to-end success") == "82.0%"  # what-ifs start from the observed success
    c = open_app(browser, server)  # the server still serves a brand-new session
    assert "sample data" in c.inner_text("body")
