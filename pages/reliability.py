"""Reliability: per-step rates with intervals, compounding, and what-ifs that start from today."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit import charts
from audit.exports import NO_PREDICTION
from audit.exports import percent as pct
from audit.exports import short_points as pts
from audit.reliability import LAYER_ORDER, per_step_rate, project_end_to_end
from pages.common import current, guarded, shown_report


def page() -> None:
    """The page, top to bottom."""
    report = shown_report(current())
    r = report.reliability

    st.title("Reliability")
    c = st.columns(4)
    c[0].metric("Observed end to end", pct(r.observed_success),
                help=f"Wilson 95%: {pct(r.observed_ci[0])} to {pct(r.observed_ci[1])}")
    why = None if r.pipeline_steps else NO_PREDICTION
    c[1].metric("Predicted (after retries)", pct(r.predicted_success), help=why)
    c[2].metric("Predicted (first attempt)", pct(r.predicted_first_attempt), help=why)
    c[3].metric("Coordination gap", pts(r.coordination_gap), help=why)

    st.subheader("What if")
    st.caption("Today is the observed end-to-end success. More attempts rescue only failures a retry can fix "
               "(a transient error that was not retried); exhausted retries and other errors stay failed. "
               "Fixing a layer turns the failed traces rooted in it into successes.")
    steps = len(r.pipeline_steps)
    w = st.columns(3)
    attempts = w[0].slider("Attempts per step", 1, 5, 1, help="Independent tries of each step")
    fixed = w[1].selectbox("Fix a layer", ["none", *[x for x in LAYER_ORDER if x != "unclassified"]],
                           help="Remove the failures whose root cause is in this layer")
    length = w[2].slider("Chain length (steps)", 1, 20, max(steps, 1))
    layer = None if fixed == "none" else fixed
    today = project_end_to_end(r, 1, length)
    projected = project_end_to_end(r, attempts, length, layer)
    st.metric("Projected end-to-end success", pct(projected),
              delta=f"{(projected - today) * 100:+.1f} pts vs today at this length")
    retryable = sum(n for k, n in r.what_if.retryable_failed_traces.items() if k != layer)
    if attempts > 1 and not retryable:
        st.caption("No failed trace here is a transient error that went un-retried, so more attempts change nothing.")
    what_if_rate = per_step_rate(r, project_end_to_end(r, attempts, None, layer))
    label = " and ".join(x for x in (f"{attempts} attempts" if attempts > 1 else "",
                                     f"{layer} fixed" if layer else "") if x) or "what if"
    st.plotly_chart(charts.compounding(per_step_rate(r), steps, max_steps=max(12, length),
                                       what_if_rate=what_if_rate, what_if_label=label), width="stretch")

    left, right = st.columns(2)
    left.plotly_chart(charts.observed_vs_predicted(report), width="stretch")
    right.plotly_chart(charts.step_reliability(report), width="stretch")

    st.subheader("Per step")
    table = pd.DataFrame([{
        "step": s.name, "agent": s.agent or "", "kind": s.kind or "", "in pipeline": s.in_pipeline, "runs": s.runs,
        "retries": s.retries, "traces": s.traces, "first attempt": s.first_attempt_rate,
        "first attempt 95% CI": f"{pct(s.first_attempt_ci[0])} – {pct(s.first_attempt_ci[1])}",
        "after retries": s.effective_rate,
        "after retries 95% CI": f"{pct(s.effective_ci[0])} – {pct(s.effective_ci[1])}",
        "p50 ms": s.p50_ms, "p95 ms": s.p95_ms, "share of run time": s.latency_share,
    } for s in r.steps])
    st.dataframe(table, width="stretch", hide_index=True, column_config={
        "first attempt": st.column_config.NumberColumn(format="percent"),
        "after retries": st.column_config.NumberColumn(format="percent"),
        "share of run time": st.column_config.NumberColumn(format="percent"),
        "p50 ms": st.column_config.NumberColumn(format="%.0f"),
        "p95 ms": st.column_config.NumberColumn(format="%.0f"),
    })
    st.caption("Steps in the pipeline (top-level stages present in at least half the traces) make up the predicted "
               "product. A step's rates count invocations (a first attempt and its retries), so the rate after "
               "retries is never below the first-attempt rate. Intervals are Wilson 95%.")


with guarded():
    page()
