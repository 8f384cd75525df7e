"""Failures: filter the findings, open a trace's waterfall with the evidence and the remedy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit import charts
from audit.fingerprints import findings_of, fingerprint_frame
from pages.common import current, guarded, layer_badge

MAX_ROWS = 5000  # rows sent to the browser; filters narrow, the CSV export has them all


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    findings = loaded.audit.findings_frame()

    st.title("Failures")
    if findings.empty:
        st.success("No findings: no trace shows a coordination failure.")
        st.stop()

    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        layers = c1.multiselect("Layer", sorted(findings["layer"].unique()))
        modes = c2.multiselect("Failure mode", sorted(findings["mode"].unique()))
        severities = c3.multiselect("Severity", ["high", "medium", "low"])
        c4, c5, c6 = st.columns(3)
        agents = c4.multiselect("Agent", sorted(findings["agent"].dropna().unique()))
        steps = c5.multiselect("Step", sorted(findings["step"].dropna().unique()))
        only_primary = c6.toggle("Root causes only", value=False, help="One primary finding per failed trace")
        start, end = findings["start_time"].min(), findings["start_time"].max()
        if pd.notna(start) and pd.notna(end) and start < end:
            window = st.slider("Time (UTC)", min_value=start.to_pydatetime(), max_value=end.to_pydatetime(),
                               value=(start.to_pydatetime(), end.to_pydatetime()))
        else:
            window = None

    view = findings
    for column, chosen in (("layer", layers), ("mode", modes), ("severity", severities), ("agent", agents),
                           ("step", steps)):
        if chosen:
            view = view[view[column].isin(chosen)]
    if only_primary:
        view = view[view["primary"]]
    if window:
        view = view[(view["start_time"] >= window[0]) & (view["start_time"] <= window[1])]
    if st.toggle("Group by error fingerprint", key="group_by_fingerprint",
                 help="Same layer, mode, step and message once ids, numbers, quoted values, paths are masked"):
        groups = fingerprint_frame(loaded.report.fingerprints)
        picked = st.dataframe(groups, width="stretch", height=280, hide_index=True, on_select="rerun",
                              selection_mode="multi-row", key="fingerprint_table")
        if picked and picked.selection.rows:  # narrow the findings below to the chosen fingerprints
            view = findings_of(loaded.audit.con, view, groups.iloc[picked.selection.rows]["fingerprint"].tolist())

    shown = min(len(view), MAX_ROWS)
    st.caption(f"{len(view):,} of {len(findings):,} findings · {view['trace_id'].nunique():,} traces"
               + (f" · the first {shown:,} are listed; narrow the filters or export the CSV for all"
                  if len(view) > shown else ""))
    table = view[["trace_id", "span_id", "rule_id", "layer", "mode", "severity", "primary", "recovered", "silenced",
                  "step", "agent", "evidence"]].head(MAX_ROWS).reset_index(drop=True)
    event = st.dataframe(table, width="stretch", height=320, on_select="rerun",
                         selection_mode="single-row", key="findings_table")

    trace_ids = list(dict.fromkeys(view["trace_id"].tolist()))[:MAX_ROWS]
    selected_rows = event.selection.rows if event and event.selection else []
    if selected_rows:
        st.session_state["trace_choice"] = table.iloc[selected_rows[0]]["trace_id"]
    if not trace_ids:
        st.info("No findings match these filters.")
        st.stop()
    if st.session_state.get("trace_choice") not in trace_ids:
        st.session_state["trace_choice"] = trace_ids[0]
    trace_id = st.selectbox("Open trace", trace_ids, key="trace_choice")

    spans = loaded.audit.trace_spans(trace_id)
    trace_findings = findings[findings["trace_id"] == trace_id]
    st.plotly_chart(charts.trace_waterfall(spans, set(trace_findings["span_id"])), width="stretch")

    st.subheader("Findings in this trace")
    for f in trace_findings.itertuples():
        with st.container(border=True):
            st.markdown(f"{layer_badge(str(f.layer))} **{f.rule_id} · {f.mode}** · severity {f.severity}"
                        + (" · **root cause**" if f.primary else "") + (" · silenced" if f.silenced else ""),
                        unsafe_allow_html=True)  # only catalog values here; trace content goes below, escaped
            st.caption(f"span {f.span_id} · step {f.step}")
            st.write(f.title)
            st.code(str(f.evidence), language=None, wrap_lines=True)
            st.caption(f"Remedy: {f.remedy}")

    with st.expander("Spans of this trace"):
        st.dataframe(spans, width="stretch")


with guarded():
    page()
