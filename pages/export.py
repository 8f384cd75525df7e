"""Export: the audit as HTML, Markdown, JSON and findings CSV, with the lead's overrides and
the session's cost settings (the same figures as the pages)."""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from audit.exports import render
from audit.redact import redact_report
from pages.common import Loaded, cost_inputs, current, guarded, md_text, shown_report


def rendered(loaded: Loaded, fmt: str, overrides_json: str, redacted: bool) -> str:
    """This session's report export, rendered (and redacted) once per format, overrides, redaction
    and cost settings: a rerun of the page reuses it."""
    key = (fmt, overrides_json, str(redacted), cost_inputs().model_dump_json())
    if key not in loaded.exports:
        report = shown_report(loaded)
        report = redact_report(report) if redacted else report
        loaded.exports[key] = render(report, fmt, json.loads(overrides_json))  # type: ignore[arg-type]
    return str(loaded.exports[key])


def on_click(loaded: Loaded, fmt: str, overrides_json: str, redacted: bool) -> Callable[[], str | bytes]:
    """The file made when the button is clicked, not on every page run: the findings CSV holds
    every finding (read by DuckDB from the audit's database; hundreds of megabytes at 10M spans)
    and is never kept in the session. Streamlit calls this on another thread, so the session's
    values (cost settings, the report) are read here, in the page run."""
    if fmt == "csv":
        db = loaded.db()  # a cursor of its own
        return lambda: db.findings_csv(redact=redacted)
    key = (fmt, overrides_json, str(redacted), cost_inputs().model_dump_json())
    report = shown_report(loaded)

    def make() -> str:
        if key not in loaded.exports:
            shown = redact_report(report) if redacted else report
            loaded.exports[key] = render(shown, fmt, json.loads(overrides_json))  # type: ignore[arg-type]
        return str(loaded.exports[key])

    return make


def page() -> None:
    """The page, top to bottom."""
    loaded = current()

    st.title("Export")
    st.write("Download the audit to share. Trace content is escaped in HTML, spreadsheet formulas are neutralised in "
             "CSV, checklist overrides are included, and the figures use this session's cost settings. The reports "
             "list the top findings of each failure mode; the findings CSV holds every one.")
    redact = st.toggle("Redact e-mails, API keys, bearer tokens and card numbers", value=False)
    if loaded.overrides:
        st.caption("Overrides included: " + ", ".join(f"{k} → {v['score']}" for k, v in loaded.overrides.items()))

    overrides = json.dumps(loaded.overrides, sort_keys=True)
    cols = st.columns(4)
    for col, (fmt, label, mime, name) in zip(cols, (
        ("html", "HTML report", "text/html", "coordination-audit.html"),
        ("md", "Markdown", "text/markdown", "coordination-audit.md"),
        ("json", "JSON", "application/json", "coordination-audit.json"),
        ("csv", "Findings CSV", "text/csv", "coordination-audit-findings.csv"),
    ), strict=True):
        col.download_button(label, on_click(loaded, fmt, overrides, redact), file_name=name, mime=mime,
                            width="stretch", key=f"dl_{fmt}", on_click="ignore")

    with st.expander("Preview (Markdown source)"):
        st.caption(md_text("Shown as source: trace text is never rendered as Markdown here."))
        st.code(rendered(loaded, "md", overrides, redact), language="markdown", wrap_lines=True)


with guarded():
    page()
