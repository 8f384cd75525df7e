"""Compare: prove the fix. A baseline and a candidate (two uploads, or one dataset cut at a
time), side-by-side metrics, the per-layer change with intervals, new / resolved /
persisting error fingerprints with their example traces, and the comparison's exports.

Each session keeps its own side audits (``st.session_state``), keyed by the files' bytes
and the period, so moving between pages never reloads them.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from audit import charts
from audit.compare import Comparison, audit_side, compare_reports, time_range
from audit.compare_report import comparison_tables, headline, layer_change_chart, render_comparison, success_chart
from audit.db import connect
from audit.engine import Audit
from audit.explore import trace_tree
from audit.exports import money, percent
from audit.ingest import SourceFile
from audit.models import AuditReport
from pages.common import current, guarded, md_code, md_text, no_spans_note, shown_report

KEEP_SIDES = 4  # side audits a session keeps (baseline and candidate, and the previous pair)
Files = list[tuple[str, bytes]]


@dataclass
class Side:
    key: str
    audit: Audit
    report: AuditReport


def _key(files: Files, period: str) -> str:
    digest = hashlib.sha256(period.encode())
    for name, data in files:
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _sources(files: Files, tmp: str) -> list[SourceFile]:
    sources = []
    for i, (name, data) in enumerate(files):
        path = Path(tmp) / f"{i}-{Path(name).name}"
        path.write_bytes(data)
        sources.append(SourceFile(path=path, name=Path(name).name))
    return sources


def _audit(files: Files, *, before: datetime | None = None, after: datetime | None = None) -> Side:
    """This session's audit of these files (and period), made once."""
    key = _key(files, f"{before}|{after}")
    cache: dict[str, Side] = st.session_state.setdefault("compare_sides", {})
    if key not in cache:
        audit = Audit(connect())
        with tempfile.TemporaryDirectory() as tmp, st.spinner(f"Auditing {', '.join(n for n, _ in files)}…"):
            try:
                report = audit_side(audit, _sources(files, tmp), before=before, after=after)
            except BaseException:
                audit.con.close()
                raise
        cache[key] = Side(key, audit, report)
    return cache[key]


def _forget_other_sides(in_use: set[str]) -> None:
    """Close the oldest side audits beyond ``KEEP_SIDES``, never the pair on screen."""
    cache: dict[str, Side] = st.session_state.setdefault("compare_sides", {})
    for key in [k for k in cache if k not in in_use][: max(0, len(cache) - KEEP_SIDES)]:
        cache.pop(key).audit.con.close()


def _time_range(files: Files) -> tuple[datetime | None, datetime | None]:
    """First and last trace start of a dataset, loaded once per session to offer a cut time."""
    ranges: dict[str, tuple[datetime | None, datetime | None]] = st.session_state.setdefault("compare_ranges", {})
    key = _key(files, "range")
    if key not in ranges:
        audit = Audit(connect())
        try:
            with tempfile.TemporaryDirectory() as tmp, st.spinner("Reading the dataset's time range…"):
                audit.load(_sources(files, tmp))
                ranges[key] = time_range(audit)
        finally:
            audit.con.close()
    return ranges[key]


def _uploaded(uploads: list[UploadedFile] | None) -> Files:
    return [(u.name, u.getvalue()) for u in uploads or []]


def choose_sides() -> tuple[Side, Side, datetime | None] | None:
    """The baseline and candidate audits the user picked, or None until both are there."""
    how = st.radio("What to compare", ["Two uploads: before and after", "One dataset cut at a time"],
                   horizontal=True, key="compare_how")
    if how.startswith("Two"):
        left, right = st.columns(2)
        with left:
            base_files = _uploaded(st.file_uploader("Baseline (before the fix)", accept_multiple_files=True,
                                                    key="compare_baseline_files"))
            if not base_files:
                loaded = current()
                if st.toggle(f"Use the current dataset ({', '.join(loaded.names)}) as the baseline",
                             key="compare_use_current"):
                    base = Side(loaded.key, loaded.db(), shown_report(loaded))
                else:
                    base = None
            else:
                base = _audit(base_files)
        with right:
            cand_files = _uploaded(st.file_uploader("Candidate (after the fix)", accept_multiple_files=True,
                                                    key="compare_candidate_files"))
        if base is None or not cand_files:
            st.info("Upload the baseline's and the candidate's trace files (any supported format).")
            return None
        return base, _audit(cand_files), None
    files = _uploaded(st.file_uploader("A dataset spanning the change", accept_multiple_files=True,
                                       key="compare_split_files"))
    if not files:
        st.info("Upload one dataset; traces that started before the cut time are the baseline, the rest the "
                "candidate.")
        return None
    first, last = _time_range(files)
    if first is None or last is None or first >= last:
        st.warning("The dataset needs traces at two different times to be cut in two.")
        return None
    step = max(timedelta(minutes=1), (last - first) / 200)
    cut = st.slider("Cut time (UTC)", min_value=first, max_value=last, value=first + (last - first) / 2,
                    step=step, format="YYYY-MM-DD HH:mm", key="compare_cut")
    base, cand = _audit(files, before=cut), _audit(files, after=cut)
    if not base.report.summary.traces or not cand.report.summary.traces:
        st.warning("One side of this cut has no traces; move the cut time.")
        return None
    return base, cand, cut


def side_metrics(c: Comparison) -> None:
    cols = st.columns(2)
    for col, side, is_candidate in ((cols[0], c.baseline, False), (cols[1], c.candidate, True)):
        money_side = c.cost
        with col.container(border=True):
            st.subheader(side.label.capitalize())
            st.caption(", ".join(i.name for i in side.inputs))
            m1, m2, m3 = st.columns(3)
            m1.metric("Traces", f"{side.traces:,}")
            m2.metric("Observed success", percent(side.observed_success),
                      delta=f"{c.success.difference * 100:+.1f} pts" if is_candidate else None)
            m3.metric("Failed traces", f"{side.failed_traces:,}")
            m4, m5, m6 = st.columns(3)
            pick = "candidate" if is_candidate else "baseline"
            m4.metric("Cost per successful run", money(getattr(money_side.cost_per_successful_run_usd, pick)))
            m5.metric("Money lost", money(getattr(money_side.money_lost_usd, pick)))
            m6.metric("Monthly loss (projected)", money(getattr(money_side.monthly_failure_loss_usd, pick)))


def fingerprint_tables(c: Comparison, base: Side, cand: Side) -> None:
    st.subheader("Error fingerprints")
    tabs = st.tabs([f"{s.capitalize()} ({sum(1 for f in c.fingerprints if f.status == s)})"
                    for s in ("new", "resolved", "persisting")])
    for tab, status in zip(tabs, ("new", "resolved", "persisting"), strict=True):
        rows = [f for f in c.fingerprints if f.status == status]
        with tab:
            if not rows:
                st.caption("None.")
                continue
            frame = pd.DataFrame([{
                "fingerprint": f.fingerprint, "layer": f.layer, "mode": f.mode, "step": f.step,
                "severity": f.severity, "baseline traces": f.baseline_traces, "candidate traces": f.candidate_traces,
                **({"chance if unchanged": f"{f.chance_if_unchanged:.2%}"} if status == "new"
                   else {"change": f.traces_change.verdict}),
                "example trace": f.example_trace_id, "side": f.example_side,
                "template": f.template, "remedy": f.remedy} for f in rows])
            event = st.dataframe(frame, width="stretch", hide_index=True, on_select="rerun",
                                 selection_mode="single-row", key=f"compare_fp_{status}")
            picked = event.selection.rows if event and event.selection else []
            if picked:
                f = rows[picked[0]]
                side = cand if f.example_side == "candidate" else base
                st.caption(f"Example trace {md_code(f.example_trace_id)} ({f.example_side}) · remedy: {md_text(f.remedy)}")
                if side.audit.has_spans:
                    st.plotly_chart(charts.trace_waterfall(trace_tree(side.audit.con.cursor(), f.example_trace_id)),
                                    width="stretch", key=f"compare_trace_{status}")
                else:
                    no_spans_note("The example trace's timeline")
            else:
                st.caption("Select a row to open its example trace.")


def downloads(c: Comparison) -> None:
    rendered: dict[str, str] = st.session_state.setdefault("compare_exports", {})
    cols = st.columns(3)
    for col, (fmt, label, mime, name) in zip(cols, (
        ("html", "HTML comparison", "text/html", "coordination-compare.html"),
        ("md", "Markdown for a pull request", "text/markdown", "coordination-compare.md"),
        ("json", "JSON comparison", "application/json", "coordination-compare.json"),
    ), strict=True):
        key = f"{fmt}:{c.baseline.inputs}:{c.candidate.inputs}:{c.split_at}"
        if key not in rendered:
            rendered[key] = render_comparison(c, fmt)  # type: ignore[arg-type]
        col.download_button(label, rendered[key], file_name=name, mime=mime, width="stretch",
                            key=f"compare_dl_{fmt}")


def page() -> None:
    """The page, top to bottom."""
    st.title("Compare")
    st.write("Prove the fix: compare a baseline audit with a candidate, with 95% intervals, so a change is called "
             "better or worse only when the runs show it.")
    sides = choose_sides()
    if sides is None:
        st.stop()
    base, cand, cut = sides
    _forget_other_sides({base.key, cand.key})
    c = compare_reports(base.report, cand.report, split_at=cut)
    verdict_box = {"better": st.success, "worse": st.error}.get(c.verdict, st.info)
    verdict_box(headline(c))
    if c.regression:
        st.error("**Regression.** " + "; ".join(c.regression_reasons))
    side_metrics(c)
    left, right = st.columns(2)
    left.plotly_chart(success_chart(c), width="stretch", key="compare_success_chart")
    right.plotly_chart(layer_change_chart(c), width="stretch", key="compare_layer_chart")
    for what, items in (("Steps added", c.steps_added), ("Steps removed", c.steps_removed),
                        ("Agents added", c.agents_added), ("Agents removed", c.agents_removed)):
        if items:
            st.caption(f"**{what}:** {', '.join(items)}")
    tables = comparison_tables(c)
    for title in ("Failed traces by root-cause layer", "Failure modes", "Steps that changed", "Cost",
                  "Checklist changes"):
        headers, rows = tables[title]
        with st.expander(title, expanded=title.startswith("Failed")):
            if rows:
                st.dataframe(pd.DataFrame(rows, columns=[h or "metric" for h in headers]), width="stretch",
                             hide_index=True)
            else:
                st.caption("None.")
    fingerprint_tables(c, base, cand)
    st.subheader("Export the comparison")
    downloads(c)


with guarded():
    page()
