"""Overview: the headline numbers and where the failures are."""

from __future__ import annotations

import streamlit as st

from audit import charts
from audit.exports import money as usd
from audit.exports import percent as pct
from pages.common import current, guarded


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    report = loaded.report
    s = report.summary

    st.title("Overview")
    row1 = st.columns(4)
    row1[0].metric("Traces", f"{s.traces:,}")
    row1[1].metric("Spans", f"{s.spans:,}")
    row1[2].metric("Observed end-to-end success", pct(s.observed_success), help="Share of traces that did not fail")
    row1[3].metric("Predicted from steps", pct(s.predicted_success),
                   help="Product of the pipeline steps' success rates after retries")
    row2 = st.columns(4)
    row2[0].metric("Coordination gap", f"{s.coordination_gap * 100:+.1f} pts",
                   help="Predicted minus observed: failures that live between the steps")
    row2[1].metric("Cost per successful run", usd(s.cost_per_successful_run_usd))
    row2[2].metric("Money lost to failures", usd(s.money_lost_usd),
                   help="Failed runs, retried attempts and the business cost of failures")
    row2[3].metric("Failed traces", f"{s.failed_traces:,}", help=f"{s.silent_failures:,} of them reported success")

    left, right = st.columns(2)
    left.plotly_chart(charts.failures_by_layer(report), width="stretch")
    right.plotly_chart(charts.top_modes(report), width="stretch")
    st.plotly_chart(charts.failure_rate_over_time(report), width="stretch")


with guarded():
    page()
