"""Overview: what to fix first, the headline numbers and where the failures are."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit import charts
from audit.cost import unpriced_note
from audit.exports import NO_PREDICTION
from audit.exports import money as usd
from audit.exports import percent as pct
from audit.exports import short_points as pts
from pages.common import current, guarded, md_text, shown_report


def fix_first_table(report_items: list, traces: int) -> None:
    """The ranked list: layer and mode, failed runs, money lost, gain if fixed, remedy, examples."""
    st.subheader("Fix first")
    if not report_items:
        st.success("No failed traces: nothing to fix first.")
        return
    st.caption("Root-cause failure modes ordered by money lost (tokens of the failed runs plus the business cost "
               "per failure), then by failed runs. The gain is the end-to-end success if that mode's failed traces "
               "had succeeded.")
    table = pd.DataFrame([{
        "#": k, "layer": i.layer, "failure mode": i.mode, "failed traces": i.failed_traces,
        "money lost": i.money_lost_usd, "monthly loss": i.monthly_loss_usd,
        "success gain if fixed": i.success_gain * 100, "remedy": i.remedy,
    } for k, i in enumerate(report_items, start=1)])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "money lost": st.column_config.NumberColumn(format="$%.2f"),
        "monthly loss": st.column_config.NumberColumn(format="$%.2f"),
        "success gain if fixed": st.column_config.NumberColumn(format="+%.1f pts"),
        "remedy": st.column_config.TextColumn(width="large"),
    })
    for k, item in enumerate(report_items[:5], start=1):
        cols = st.columns([2, 1, 1, 1, 1])
        cols[0].markdown(f"**{k}. {md_text(item.layer)} · {md_text(item.mode)}**: example traces")
        for col, trace_id in zip(cols[1:], item.example_traces, strict=False):
            col.page_link("pages/failures.py", label=md_text(trace_id[:16]), icon=":material/open_in_new:",
                          query_params={"trace": trace_id}, help=f"Open trace {trace_id}")


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    report = shown_report(loaded)
    s = report.summary

    st.title("Overview")
    fix_first_table(report.fix_first, s.traces)

    st.subheader("Headline")
    row1 = st.columns(4)
    row1[0].metric("Traces", f"{s.traces:,}")
    row1[1].metric("Spans", f"{s.spans:,}")
    row1[2].metric("Observed end-to-end success", pct(s.observed_success), help="Share of traces that did not fail")
    row1[3].metric("Predicted from steps", pct(s.predicted_success),
                   help="Product of the pipeline steps' success rates after retries" if s.predicted_success is not None
                   else NO_PREDICTION)
    row2 = st.columns(4)
    row2[0].metric("Coordination gap", pts(s.coordination_gap),
                   help="Predicted minus observed: failures that live between the steps"
                   if s.coordination_gap is not None else NO_PREDICTION)
    row2[1].metric("Cost per successful run", usd(s.cost_per_successful_run_usd))
    row2[2].metric("Money lost to failures", usd(s.money_lost_usd),
                   help="Failed runs, retried attempts and the business cost of failures (session's cost settings, "
                        "Costs page)")
    row2[3].metric("Failed traces", f"{s.failed_traces:,}", help=f"{s.silent_failures:,} of them reported success")
    if report.cost.unpriced_spans:
        st.warning(md_text(unpriced_note(report.cost)) + ". Add their prices on the Costs page.",
                   icon=":material/price_change:")

    left, right = st.columns(2)
    left.plotly_chart(charts.failures_by_layer(report), width="stretch")
    right.plotly_chart(charts.top_modes(report), width="stretch")
    over_time = charts.failure_rate_over_time(report)
    if over_time is not None:
        st.plotly_chart(over_time, width="stretch")
    elif s.timeline:
        st.caption(f"The traces fall within one or two {s.timeline[0].unit}s ({s.first_seen:%Y-%m-%d %H:%M:%S} to "
                   f"{s.last_seen:%H:%M:%S} UTC): too short a time for a trend chart.")
    else:
        st.caption("These traces carry no timestamps, so there is no time chart and no time filter.")


with guarded():
    page()
