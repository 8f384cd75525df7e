"""Export: the audit as HTML, Markdown, JSON and findings CSV, with the lead's overrides and
the session's cost settings (the same figures as the pages)."""

from __future__ import annotations

import json

import streamlit as st

from audit.exports import render
from audit.redact import redact_report
from pages.common import Loaded, cost_inputs, current, guarded, md_text, shown_report


def rendered(loaded: Loaded, fmt: str, overrides_json: str, redacted: bool) -> str | bytes:
    """This session's export, rendered (and redacted) once per format, overrides, redaction and
    cost settings: a rerun of the page reuses it. The findings CSV holds every finding, read by
    DuckDB from the audit's database (the report itself carries only the top of each mode)."""
    key = (fmt, overrides_json, str(redacted), cost_inputs().model_dump_json())
    if key not in loaded.exports:
        with st.spinner(f"Rendering {fmt.upper()}…"):
            if fmt == "csv":
                loaded.exports[key] = loaded.db().findings_csv(redact=redacted)
            else:
                report = shown_report(loaded)
                report = redact_report(report) if redacted else report
                loaded.exports[key] = render(report, fmt, json.loads(overrides_json))  # type: ignore[arg-type]
    return loaded.exports[key]


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
        col.download_button(label, rendered(loaded, fmt, overrides, redact), file_name=name, mime=mime,
                            width="stretch", key=f"dl_{fmt}")

    with st.expander("Preview (Markdown source)"):
        st.caption(md_text("Shown as source: trace text is never rendered as Markdown here."))
        st.code(str(rendered(loaded, "md", overrides, redact)), language="markdown", wrap_lines=True)


with guarded():
    page()
