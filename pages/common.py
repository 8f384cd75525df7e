"""What every page shares: the session's current audit, loading with progress, error display.

Each browser session keeps its own audits in ``st.session_state`` (its own in-memory
DuckDB), keyed by the exact bytes of the files, the column mapping and the settings, so
switching pages or moving a what-if control never reloads; one user's upload never
reaches another session.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from audit.charts import LAYER_COLOURS
from audit.db import connect
from audit.engine import Audit
from audit.errors import AuditError
from audit.ingest import LoadResult, SourceFile
from audit.models import AuditReport
from audit.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"
KEEP_AUDITS = 3  # audits a session keeps for switching back without reloading


@dataclass
class Loaded:
    """One audited dataset of this session."""

    key: str
    names: list[str]
    audit: Audit
    report: AuditReport
    results: list[LoadResult]
    is_sample: bool
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    exports: dict[tuple[str, ...], str] = field(default_factory=dict)  # rendered files of this report


def content_key(files: list[tuple[str, bytes]], mapping: dict[str, str], settings: Settings) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    digest.update(repr(sorted(mapping.items())).encode())
    digest.update(settings.model_dump_json().encode())
    return digest.hexdigest()


def audit_files(files: list[tuple[str, bytes]], mapping: dict[str, str] | None = None, *,
                is_sample: bool = False, settings: Settings | None = None, input_format: str | None = None
                ) -> Loaded:
    """Load and audit files for this session (or reuse the audit of the same bytes).

    Raises:
        AuditError: unreadable file or bad settings; nothing replaces the current audit.
    """
    mapping = mapping or {}
    settings = settings or Settings()
    key = content_key(files, mapping, settings) + (input_format or "")
    cache: dict[str, Loaded] = st.session_state.setdefault("audits", {})
    if key in cache:
        return cache[key]
    progress = st.empty()  # the bundled sample clears its progress box once loaded; uploads keep it as a receipt
    with tempfile.TemporaryDirectory() as tmp, progress.status("Loading and auditing…", expanded=False) as status:
        sources = []
        for i, (name, data) in enumerate(files):
            path = Path(tmp) / f"{i}-{Path(name).name}"
            path.write_bytes(data)
            sources.append(SourceFile(path=path, name=Path(name).name))
        status.update(label=f"Loading {len(sources)} file(s) into DuckDB…")
        audit = Audit(connect(), settings)
        try:
            results = audit.load(sources, mapping, input_format)
            status.update(label="Classifying failures, computing reliability and cost…")
            report = audit.run()
        except BaseException:
            status.update(label="Could not load these files", state="error")
            audit.con.close()
            raise
        status.update(label=f"Audited {report.summary.traces:,} traces", state="complete")
    if is_sample:
        progress.empty()
    loaded = Loaded(key, [s.name for s in sources], audit, report, results, is_sample)
    cache[key] = loaded
    while len(cache) > KEEP_AUDITS:
        oldest = next(iter(cache))
        if oldest == key:
            break
        cache.pop(oldest).audit.con.close()
    return loaded


def current() -> Loaded:
    """The session's current audit; the bundled sample until the user uploads."""
    loaded: Loaded | None = st.session_state.get("loaded")
    if loaded is None:
        loaded = audit_files([(SAMPLE.name, SAMPLE.read_bytes())], is_sample=True)
        st.session_state["loaded"] = loaded
    return loaded


def sample_banner(loaded: Loaded) -> None:
    if loaded.is_sample:
        col1, col2 = st.columns([5, 1])
        col1.info("You are looking at **bundled sample data** (synthetic multi-agent traces with known failures).",
                  icon="ℹ️")
        if col2.button("Upload your traces", type="primary", width="stretch"):
            st.switch_page("pages/upload.py")


def show_error(e: BaseException) -> None:
    """A message that says what to do; the details folded away, never a traceback."""
    if isinstance(e, AuditError):
        st.error(f"**{e.title}.** {e.message}")
    else:
        st.error("**Something went wrong while auditing.** Try again; if it persists, check the files against "
                 "the trace format (README) or report the issue with the details below.")
        with st.expander("Details"):
            st.code(f"{type(e).__name__}: {e}")


@contextmanager
def guarded() -> Iterator[None]:
    try:
        yield
    except Exception as e:  # control-flow exceptions of Streamlit are BaseException and pass
        show_error(e)


def layer_badge(layer: str) -> str:
    colour = LAYER_COLOURS.get(layer, "#999")
    return f'<span style="background:{colour};color:white;border-radius:4px;padding:1px 6px">{layer}</span>'


def frame_download(df: pd.DataFrame) -> bytes:
    from audit.exports import neutralise_formula

    return df.map(neutralise_formula).to_csv(index=False).encode()
