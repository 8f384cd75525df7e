"""Upload: drop trace files, map columns when they do not match, see what was loaded and quarantined."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.errors import AuditError, InputFileError
from audit.importers import LABELS
from audit.receipt import UNMAPPED_PREFIX, summarise_unmapped
from audit.schema import CANONICAL, REQUIRED
from pages.common import (
    Loaded,
    audit_files,
    current,
    frame_download,
    guarded,
    md_code,
    md_text,
    open_saved,
    saved_audit_paths,
    show_error,
)


def page() -> None:
    """The page, top to bottom."""
    st.title("Upload traces")
    st.write("Drop one or many span exports: **CSV**, **CSV.gz**, **Parquet** or **JSON Lines** with the columns of "
             "the trace format (`trace_id`, `span_id`, `parent_span_id`, `name`, `start_time`, `end_time` or "
             "`duration_ms`, `status`, …), or as exported by OpenTelemetry (OTLP JSON), Phoenix, LangSmith, Langfuse, "
             "or chat transcripts (JSONL). The format is detected; choose it below if detection gets it wrong.")

    files = st.file_uploader("Trace files", type=["csv", "gz", "parquet", "jsonl", "ndjson", "json"],
                             accept_multiple_files=True, key="uploader")
    mapping: dict[str, str] = st.session_state.setdefault("column_mapping", {})
    FORMAT_LABELS = {"auto": "Detect automatically", **{k: v[:1].upper() + v[1:] for k, v in LABELS.items()}}
    input_format = st.radio("Export format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.__getitem__,
                            horizontal=True, key="input_format")

    if files:
        payload = [(f.name, f.getvalue()) for f in files]
        try:
            loaded = audit_files(payload, mapping, input_format=None if input_format == "auto" else input_format)
            fresh = st.session_state.get("loaded") is not loaded
            st.session_state["loaded"] = loaded
            st.session_state.pop("mapping_error", None)
            if fresh:
                st.session_state.pop("filters", None)
                st.success(f"Audited {loaded.dataset.report.summary.traces:,} traces from "
                           + ", ".join(md_code(n) for n in loaded.names) + ".", icon=":material/check_circle:")
            st.page_link("pages/overview.py", label="See the Overview", icon=":material/arrow_forward:")
        except InputFileError as e:
            show_error(e)
            if e.found_columns:
                st.session_state["mapping_error"] = {"file": e.file, "columns": e.found_columns}
        except Exception as e:
            show_error(e)

    saved_audit_chooser()

    pending = st.session_state.get("mapping_error")
    if files and pending:
        st.subheader("Map your columns")
        st.write(f"{md_code(pending['file'])} does not use the trace format's names. Choose which of its columns holds "
                 "each field; the mapping is remembered for this session.")
        with st.form("mapping"):
            choices = ["(none)", *pending["columns"]]
            picked = {}
            cols = st.columns(3)
            for i, canonical in enumerate(CANONICAL):
                label = canonical + (" *" if canonical in REQUIRED else "")
                default = mapping.get(canonical, "(none)")
                picked[canonical] = cols[i % 3].selectbox(
                    label, choices, index=choices.index(default) if default in choices else 0, key=f"map_{canonical}")
            if st.form_submit_button("Apply mapping and audit", type="primary"):
                st.session_state["column_mapping"] = {k: v for k, v in picked.items() if v != "(none)"}
                st.rerun()

    with guarded():
        loaded = current()
        st.divider()
        st.subheader("Loaded")
        st.markdown(", ".join(md_code(n) for n in loaded.names) + (" (the bundled sample)" if loaded.is_sample else ""))
        if loaded.dataset.saved:
            saved_receipt(loaded)
            return
        for r in loaded.results:
            notes, unmapped = [n for n in r.notes if not n.startswith(UNMAPPED_PREFIX)], r.unmapped
            st.caption(f"{md_text(r.name)}: {md_text(r.format)}, {r.rows_loaded:,} spans loaded, "
                       f"{r.rows_quarantined:,} rows quarantined"
                       + (f"; {md_text('; '.join(notes))}" if notes else "")
                       + (f"; extra columns kept: {md_text(', '.join(r.mapping.extra))}" if r.mapping.extra else ""))
            if unmapped:
                groups = summarise_unmapped(unmapped)
                st.caption(f"{len(unmapped):,} attributes kept unmapped (in the span's attributes), by prefix: "
                           + md_text(", ".join(f"{prefix} ({n})" for prefix, n in groups[:8]))
                           + (f" and {len(groups) - 8} more prefixes" if len(groups) > 8 else ""))
                with st.expander(f"All {len(unmapped):,} unmapped attribute names"):
                    st.code("\n".join(unmapped), language=None)
        db = loaded.db()
        st.dataframe(spans_preview(loaded), width="stretch", height=300)

        quarantine = loaded.dataset.remember(("quarantine",), db.quarantine_frame)
        st.subheader(f"Quarantined rows ({len(quarantine):,})")
        if quarantine.empty:
            st.success("Every row met the trace contract.")
        else:
            st.write("These rows break the trace contract. They are not in the audit; fix them at the source and "
                     "upload again.")
            st.dataframe(quarantine.head(5000), width="stretch", height=260)
            if len(quarantine) > 5000:
                st.caption("The first 5,000 are listed; the download has them all.")
            st.download_button("Download quarantined rows (CSV)", frame_download(quarantine),
                               file_name="quarantine.csv", mime="text/csv")


def spans_preview(loaded: Loaded) -> pd.DataFrame:
    """The first spans, read once per audit (ordering millions of spans on every rerun is not free)."""
    return loaded.dataset.remember(("spans_preview",), lambda: loaded.db().spans_preview(200))


def saved_audit_chooser() -> None:
    """Open one of the saved audits the server was started with (``-- --db FILE_OR_FOLDER``).
    Only those paths are offered: a browser never types a path of the server, and a
    multi-gigabyte audit database is opened where it lies, not uploaded."""
    paths = saved_audit_paths()
    if not paths:
        return
    st.subheader("Open a saved audit")
    st.caption("Audits saved with `python -m audit report --db FILE` (or another engine's report-only file) on this "
               "server, opened read-only: no upload, no re-audit.")
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    chosen = c1.selectbox("Saved audit", paths, format_func=lambda p: p.name, key="saved_audit_path")
    if c2.button("Open this audit", key="open_saved_audit", width="stretch") and chosen is not None:
        try:
            loaded = open_saved(chosen)
        except (AuditError, OSError) as e:
            show_error(e if isinstance(e, AuditError) else AuditError(f"{chosen.name}: {e.strerror or e}"))
            return
        if st.session_state.get("loaded") is not loaded:
            st.session_state["loaded"] = loaded
            st.session_state.pop("filters", None)
        s = loaded.dataset.report.summary
        st.success(f"Opened {md_code(chosen.name)}: {s.traces:,} traces, {s.findings:,} findings.",
                   icon=":material/check_circle:")
        st.page_link("pages/overview.py", label="See the Overview", icon=":material/arrow_forward:")


def saved_receipt(loaded: Loaded) -> None:
    """What a saved audit was made from (its report's provenance) and, with spans, the first rows."""
    p = loaded.dataset.report.summary.provenance
    st.caption(f"Saved audit made by version {md_text(p.version)} at {p.generated_at:%Y-%m-%d %H:%M} UTC"
               + ("" if loaded.has_spans else "; it holds the findings and the report, not the spans"))
    for source in p.inputs:
        st.caption(f"{md_text(source.name)}: {md_text(source.format)}, {source.rows_loaded:,} rows loaded, "
                   f"{source.rows_quarantined:,} quarantined")
    if loaded.has_spans:
        st.dataframe(spans_preview(loaded), width="stretch", height=300)


with guarded():
    page()
