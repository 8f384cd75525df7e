"""What every page shares: the session's current audit, the shared sample, the session's
cost settings and filters, loading with progress, error display and safe text.

The bundled sample is audited once per server (``st.cache_resource``, keyed by its bytes)
and shared read-only; a session's uploads live in its own ``st.session_state`` (its own
in-memory DuckDB), keyed by the exact bytes of the files, the column mapping and the
settings, so switching pages or moving a control never reloads and no upload reaches
another session. Every page run reads through its own cursor: Streamlit reruns of one
session overlap, and a DuckDB connection must not serve two threads at once. A session's
audits are closed when the session ends (its state is dropped).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import streamlit as st
from pydantic import BaseModel, ConfigDict, Field

from audit.charts import LAYER_COLOURS
from audit.cost import PriceTable, apply_cost, compute_cost, project
from audit.db import connect, table_names
from audit.engine import Audit
from audit.errors import AuditError
from audit.explore import (
    ROLLUP_TABLE,
    Filters,
    FindingsListing,
    FindingsQuery,
    filter_options,
    finding_choices,
    findings_listing,
    save_trace_index,
    span_rollup,
)
from audit.fixfirst import fix_first
from audit.ingest import LoadResult, SourceFile
from audit.models import AuditReport
from audit.progress import Progress, no_progress, scaled
from audit.settings import Settings
from audit.tempdir import process_alive

T = TypeVar("T")
_MISSING = object()
_MEMO_LOCK = threading.Lock()
REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_traces.csv"
KEEP_AUDITS = 3  # audits a session keeps for switching back without reloading
UPLOAD_ROOT = Path(tempfile.gettempdir()) / f"coordination-audit-uploads-{os.getuid()}"


# -- safe text ------------------------------------------------------------------------------

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'])")


def md_text(value: object) -> str:
    """Trace text made inert for ``st.markdown``/``st.error``/``st.caption``/... : every
    Markdown, HTML and Streamlit directive character is backslash-escaped and line breaks
    become spaces, so a span named ``![x](https://…)`` or ``# heading`` shows as typed."""
    text = "" if value is None else str(value)
    return MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\r", " ").replace("\n", " ")


def md_code(value: object) -> str:
    """Trace text as inline code (backticks inside cannot close it)."""
    text = ("" if value is None else str(value)).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


# -- the session's audits ---------------------------------------------------------------------

@dataclass
class Dataset:
    """One audited dataset: its database and the report under the default cost settings."""

    key: str
    names: list[str]
    audit: Audit
    report: AuditReport
    results: list[LoadResult]
    is_sample: bool
    has_spans: bool = True  # False: a report-only saved audit (findings and report, no spans)
    saved: bool = False  # a saved audit file, opened read-only and shared by every session
    memo: dict[tuple[object, ...], object] = field(default_factory=dict)  # reads that depend on the data only

    def memo_tables(self) -> set[str]:
        """The tables of the audit's database, read once."""
        return self.remember(("tables",), lambda: table_names(self.audit.con.cursor()))

    def remember(self, key: tuple[object, ...], read: Callable[[], T], keep: int = 8) -> T:
        """A read of this audit's tables, made once per ``key`` (the data never changes; sessions
        sharing the dataset share the result): a rerun reuses it instead of scanning the spans again.
        Only the last ``keep`` results of a kind (``key[0]``) stay."""
        found = self.memo.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        value = read()  # outside the lock: two sessions may read at once, one result is kept
        with _MEMO_LOCK:  # sessions of a shared dataset run on their own threads
            same_kind = [k for k in self.memo if k[0] == key[0]]
            for old in same_kind[: max(0, len(same_kind) - keep + 1)]:
                self.memo.pop(old, None)
            self.memo[key] = value
        return value


@dataclass
class Loaded:
    """A dataset as one session sees it: its overrides, cost views and rendered exports."""

    dataset: Dataset
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    exports: dict[tuple[str, ...], str | bytes] = field(default_factory=dict)  # rendered files
    views: dict[str, AuditReport] = field(default_factory=dict)  # report per cost setting

    @property
    def key(self) -> str:
        return self.dataset.key

    @property
    def names(self) -> list[str]:
        return self.dataset.names

    @property
    def is_sample(self) -> bool:
        return self.dataset.is_sample

    @property
    def results(self) -> list[LoadResult]:
        return self.dataset.results

    @property
    def has_spans(self) -> bool:
        return self.dataset.has_spans

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of this page run's own: reruns of a session overlap in time."""
        return self.dataset.audit.con.cursor()

    def db(self) -> Audit:
        """The audit's queries over a cursor of this run's own."""
        a = self.dataset.audit
        return Audit(self.cursor(), a.settings, a.rules, a.prices)


class SessionAudits:
    """This session's private audits; their databases close when the session's state goes."""

    def __init__(self) -> None:
        self.by_key: dict[str, Loaded] = {}
        self._finalizer = weakref.finalize(self, close_all, self.by_key)

    def close(self) -> None:
        self._finalizer()


def close_all(audits: dict[str, Loaded]) -> None:
    for loaded in audits.values():
        if not (loaded.is_sample or loaded.dataset.saved):
            with contextlib.suppress(duckdb.Error):
                loaded.dataset.audit.con.close()
    audits.clear()


def session_audits() -> SessionAudits:
    audits = st.session_state.get("audits")
    if not isinstance(audits, SessionAudits):
        audits = st.session_state["audits"] = SessionAudits()
    return audits


def content_key(files: list[tuple[str, bytes]], mapping: dict[str, str], settings: Settings) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    digest.update(repr(sorted(mapping.items())).encode())
    digest.update(settings.model_dump_json().encode())
    return digest.hexdigest()


def upload_dir() -> Path:
    """This process's private folder for upload files (0700); left-overs of dead servers go."""
    UPLOAD_ROOT.mkdir(mode=0o700, exist_ok=True)
    for stale in UPLOAD_ROOT.glob("pid-*"):
        pid = int(stale.name[4:]) if stale.name[4:].isdigit() else -1
        if pid != os.getpid() and not process_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    mine = UPLOAD_ROOT / f"pid-{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    return mine


WRITE_CHUNK = 64 * 1024 * 1024  # an upload is written in slices: progress, and no second copy of its bytes


def _audit(files: list[tuple[str, bytes]], mapping: dict[str, str], settings: Settings, input_format: str | None,
           key: str, is_sample: bool, progress: Progress = no_progress) -> Dataset:
    """Load and audit files into a new in-memory database; the files live on disk only while loading.
    ``progress`` hears of each stage: writing the files, pre-check, loading rows, facts, rules, report."""
    with tempfile.TemporaryDirectory(dir=upload_dir()) as tmp:
        sources = []
        total, written = sum(len(data) for _, data in files) or 1, 0
        for i, (name, data) in enumerate(files):
            path = Path(tmp) / f"{i}-{Path(name).name}"
            with path.open("wb") as fh, memoryview(data) as view:  # slices of a memoryview copy nothing
                for start in range(0, len(view), WRITE_CHUNK):
                    progress(f"Writing {Path(name).name} to disk", 0.05 * written / total)
                    written += fh.write(view[start:start + WRITE_CHUNK])
            sources.append(SourceFile(path=path, name=Path(name).name))
        audit = Audit(connect(settings=settings), settings)
        try:
            results = audit.load(sources, mapping, input_format, scaled(progress, 0.05, 0.40))
            report = audit.run(progress=scaled(progress, 0.40, 0.98))
            progress("Summing the spans for the cost breakdowns", 0.98)
            rollup = span_rollup(audit.con)  # from the audit's own span costs: no pricing again
            save_trace_index(audit.con)
        except BaseException:
            audit.con.close()
            raise
    dataset = Dataset(key, [s.name for s in sources], audit, report, results, is_sample)
    dataset.memo[("rollup", audit.prices.model_dump_json())] = rollup
    return dataset


@st.cache_resource(show_spinner="Auditing the bundled sample…", max_entries=2)
def shared_sample(digest: str) -> Dataset:
    """The bundled sample's audit, once per server and shared read-only (a cursor per use)."""
    data = SAMPLE.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:  # the file changed under a running server
        digest = hashlib.sha256(data).hexdigest()
    return _audit([(SAMPLE.name, data)], {}, Settings(), None, f"sample-{digest}", True)


def sample_dataset() -> Dataset:
    return shared_sample(hashlib.sha256(SAMPLE.read_bytes()).hexdigest())


def audit_files(files: list[tuple[str, bytes]], mapping: dict[str, str] | None = None, *,
                settings: Settings | None = None, input_format: str | None = None) -> Loaded:
    """Load and audit uploaded files for this session (or reuse the audit of the same bytes).

    Raises:
        AuditError: unreadable file or bad settings; nothing replaces the current audit.
    """
    mapping = mapping or {}
    settings = settings or Settings()
    key = content_key(files, mapping, settings) + (input_format or "")  # hashes the bytes in place: no copy
    audits = session_audits().by_key
    if key in audits:
        return audits[key]
    size = sum(len(data) for _, data in files)
    with st.status(f"Loading and auditing {size / 1e6:,.1f} MB…", expanded=True) as status:
        bar = st.progress(0.0, text="Writing the files to disk")

        def show(stage: str, done: float) -> None:
            bar.progress(min(max(done, 0.0), 1.0), text=f"{stage} ({done:.0%})")

        try:
            dataset = _audit(files, mapping, settings, input_format, key, False, show)
        except BaseException:
            status.update(label="Could not load these files", state="error")
            raise
        bar.progress(1.0, text="Done")
        status.update(label=f"Audited {dataset.report.summary.traces:,} traces", state="complete", expanded=False)
    loaded = audits[key] = Loaded(dataset)
    while len(audits) > KEEP_AUDITS:
        oldest = next(iter(audits))
        if oldest == key:
            break
        evicted = audits.pop(oldest)
        if evicted is not st.session_state.get("loaded") and not evicted.dataset.saved:
            evicted.dataset.audit.con.close()
    return loaded


# -- saved audits ------------------------------------------------------------------------------

def saved_audit_paths(argv: list[str] | None = None) -> list[Path]:
    """The saved audits the operator named: ``streamlit run app.py -- --db FILE_OR_FOLDER``
    (repeatable). A folder offers its ``*.duckdb`` files. Only these server-side paths can be
    opened: a browser never names a path of the server."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", action="append", type=Path, default=[])
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    found: list[Path] = []
    for p in known.db:
        found += sorted(p.glob("*.duckdb")) if p.is_dir() else [p]
    return list(dict.fromkeys(p.resolve() for p in found))


@st.cache_resource(show_spinner="Opening the saved audit…", max_entries=4)
def shared_saved(path: str, stamp: tuple[int, int]) -> Dataset:
    """A saved audit file, opened read-only once per server (and per file version, ``stamp``:
    size and modification time) and shared by every session, a cursor per use."""
    audit, report = Audit.open_saved(path)
    inputs = [i.name for i in report.summary.provenance.inputs if i.role == "traces"]
    return Dataset(f"saved-{hashlib.sha256(f'{path}|{stamp}'.encode()).hexdigest()}", inputs or [Path(path).name],
                   audit, report, [], False, has_spans=audit.has_spans, saved=True)


def open_saved(path: Path) -> Loaded:
    """This session's view of a saved audit (its own overrides and cost views).

    Raises:
        AuditError: not an audit database with a saved report.
    """
    stat = path.stat()
    dataset = shared_saved(str(path), (stat.st_size, stat.st_mtime_ns))
    audits = session_audits().by_key
    if dataset.key not in audits:
        audits[dataset.key] = Loaded(dataset)
    return audits[dataset.key]


def default_dataset() -> Loaded:
    """What a new session sees: the first saved audit the server was started with, else the sample."""
    paths = [p for p in saved_audit_paths() if p.is_file()]
    return open_saved(paths[0]) if paths else Loaded(sample_dataset())


def current() -> Loaded:
    """The session's current audit; the shared sample (or the server's saved audit) until the user uploads."""
    loaded = st.session_state.get("loaded")
    if loaded is None:
        loaded = st.session_state["loaded"] = default_dataset()
    if not isinstance(loaded, Loaded):
        raise TypeError(f"the session's audit is a {type(loaded).__name__}, not an audit")
    return loaded


# -- one set of cost settings per session ---------------------------------------------------

class CostInputs(BaseModel):
    """The session's cost assumptions: used by every page and export alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: PriceTable | None = Field(None, description="None: the bundled price table")
    monthly_runs: int = Field(Settings().monthly_runs, ge=0)
    business_cost_per_failure_usd: float = Field(Settings().business_cost_per_failure_usd, ge=0)
    engineering_cost_usd: float = Field(Settings().engineering_cost_usd, ge=0)


def cost_inputs() -> CostInputs:
    inputs = st.session_state.get("cost_inputs")
    return inputs if isinstance(inputs, CostInputs) else CostInputs()


def set_cost_inputs(inputs: CostInputs) -> None:
    st.session_state["cost_inputs"] = inputs


def shown_report(loaded: Loaded) -> AuditReport:
    """The report under this session's cost settings, so every page and export agrees."""
    inputs = cost_inputs()
    key = inputs.model_dump_json()
    if key not in loaded.views:
        base = loaded.dataset.report
        settings = loaded.dataset.audit.settings
        if inputs.prices is None or not loaded.has_spans:  # no spans: the saved prices hold
            cost, ranked = base.cost, base.fix_first
        else:
            cur = loaded.cursor()  # prices into this cursor's own temporary tables
            with st.spinner(f"Pricing {base.summary.spans:,} spans with the new price table…"):
                cost = compute_cost(cur, inputs.prices, settings)
                ranked = fix_first(cur, cost)
                # the Costs breakdowns under these prices, from the span costs just made (not priced twice)
                loaded.dataset.remember(("rollup", inputs.prices.model_dump_json()), lambda: span_rollup(cur), keep=2)
        cost = project(cost, inputs.monthly_runs, inputs.business_cost_per_failure_usd, inputs.engineering_cost_usd,
                       settings.payback_horizon_months)
        loaded.views[key] = apply_cost(base.model_copy(update={"fix_first": ranked}), cost)
    return loaded.views[key]


def findings_for(loaded: Loaded, query: FindingsQuery, limit: int) -> FindingsListing:
    """The Failures page's listing, one SQL query per question (the findings are never all
    read into Python); the last few answers are kept, so going back to a page is instant."""
    return loaded.dataset.remember(("findings", query.model_dump_json(), limit),
                                   lambda: findings_listing(loaded.cursor(), query, limit, loaded.has_spans))


def choices_for(loaded: Loaded, chosen: Filters) -> tuple[list[str], list[str]]:
    """The layers and failure modes the Failures page offers under the sidebar filters."""
    return loaded.dataset.remember(("choices", chosen.model_dump_json()),
                                   lambda: finding_choices(loaded.cursor(), chosen, loaded.has_spans))


def rollup_of(loaded: Loaded, table: PriceTable) -> pd.DataFrame | str:
    """The spans summed by model, step, agent and latency bin under ``table``: the saved
    audit's own ``span_rollup`` table for its prices, else made once per price table (pricing
    every span again: half a minute at 10M spans)."""
    if table == loaded.dataset.audit.prices and ROLLUP_TABLE in loaded.dataset.memo_tables():
        return ROLLUP_TABLE
    return loaded.dataset.remember(("rollup", table.model_dump_json()), lambda: span_rollup(loaded.cursor(), table),
                                   keep=2)


def price_table(loaded: Loaded) -> PriceTable:
    return cost_inputs().prices or loaded.dataset.audit.prices


# -- shared filters -------------------------------------------------------------------------

def filters() -> Filters:
    chosen = st.session_state.get("filters")
    return chosen if isinstance(chosen, Filters) else Filters()


def filter_sidebar(loaded: Loaded) -> Filters:
    """Time window, agent, model and step, in the sidebar, kept for the session across pages."""
    options = loaded.dataset.remember(("filter_options",),
                                      lambda: filter_options(loaded.cursor(), spans=loaded.has_spans))
    k = loaded.key[:12]
    # once filters were used, the box stays open: a changing `expanded` re-creates it, and a
    # slider moved back to the full range would fold the box away under the user's hand
    opened = bool(st.session_state.get("filters_opened")) or filters().active
    st.session_state["filters_opened"] = opened
    with st.sidebar.expander("Filters", icon=":material/filter_alt:", expanded=opened):
        window = None
        if options.first and options.last and options.first < options.last:
            window = st.slider("Time (UTC)", min_value=options.first, max_value=options.last,
                               value=(options.first, options.last), key=f"f_time_{k}", format="MM-DD HH:mm:ss")
        agents = st.multiselect("Agent", options.agents, key=f"f_agent_{k}") if options.agents else []
        models = st.multiselect("Model", options.models, key=f"f_model_{k}") if options.models else []
        steps = st.multiselect("Step", options.steps, key=f"f_step_{k}")
    narrowed = window is not None and (window[0] > options.first or window[1] < options.last)  # type: ignore[operator]
    chosen = Filters(start=window[0] if narrowed and window else None, end=window[1] if narrowed and window else None,
                     agents=tuple(agents), models=tuple(models), steps=tuple(steps))
    st.session_state["filters"] = chosen
    return chosen


# -- page furniture -------------------------------------------------------------------------

def sample_banner(loaded: Loaded) -> None:
    if loaded.is_sample:
        col1, col2 = st.columns([5, 1])
        col1.info("You are looking at **bundled sample data** (synthetic multi-agent traces with known failures).",
                  icon=":material/info:")
        if col2.button("Upload your traces", type="primary", width="stretch"):
            st.switch_page("pages/upload.py")


def no_spans_note(what: str) -> None:
    """What a report-only saved audit cannot show, said instead of failing."""
    st.info(f"{what} needs the spans, and this saved audit holds only its findings and report (the spans are "
            "not in this file). Audit the traces with `python -m audit report --db FILE` to keep them.",
            icon=":material/info:")


def show_error(e: BaseException) -> None:
    """A message that says what to do; the details folded away, never a traceback."""
    if isinstance(e, AuditError):
        st.error(f"**{md_text(e.title)}.** {md_text(e.message)}")
    else:
        st.error("**Something went wrong while auditing.** Try again; if it persists, check the files against "
                 "the trace format (docs/TRACE_FORMAT.md) or report the issue with the details below.")
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


def short_id(value: object, keep: int = 8) -> str:
    """A long id shortened for tables (the full id is in the detail and on hover)."""
    text = "" if value is None else str(value)
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-4:]}"


def ensure_router() -> None:
    """Never run a file of ``pages/`` on its own: on a server's first run Streamlit's legacy
    pages-folder mode runs the file a URL names (``/common``, ``/failures``) without the
    router. Leave that mode and rerun, so ``app.py`` and its ``st.navigation`` decide."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


if __name__ == "__main__":  # this file opened as a page by its URL
    ensure_router()
