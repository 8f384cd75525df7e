"""Costs: the session's prices and volume (used by every page and export), where the spend
went, breakdowns by model and step, projection and payback by layer."""

from __future__ import annotations

import math
from typing import Any, Literal

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from audit import charts
from audit.cost import PriceTable, unpriced_note
from audit.explore import Filters, breakdown, price_spans, rollup_breakdown
from audit.exports import money as usd
from audit.settings import describe_validation_error
from pages.common import (
    CostInputs,
    Loaded,
    cost_inputs,
    current,
    filters,
    guarded,
    md_text,
    no_spans_note,
    price_table,
    rollup_of,
    set_cost_inputs,
    shown_report,
)


def blank_is_none(records: list[dict[Any, Any]]) -> list[dict[Any, Any]]:
    """Cells left blank in the editor come back as NaN: blank means "not set", never an error."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in records]


def price_editor(loaded, inputs: CostInputs) -> None:  # type: ignore[no-untyped-def]
    table = price_table(loaded)
    with st.expander("Price table (USD per million tokens)", expanded=False):
        st.caption(f"Bundled list prices as of {table.as_of}; first matching pattern wins. A `cost_usd` recorded in "
                   "the traces always wins over computed prices. Blank cells mean not set.")
        prices = pd.DataFrame([p.model_dump() for p in table.prices])
        edited = st.data_editor(prices, num_rows="dynamic", width="stretch", key="prices_editor")
        if st.button("Apply prices"):
            try:
                records = blank_is_none(edited.dropna(how="all").to_dict(orient="records"))
                new = PriceTable.model_validate({"as_of": table.as_of, "prices": records})
                set_cost_inputs(inputs.model_copy(update={"prices": new}))
                st.success("Prices applied to every page and export of this session.")
                st.rerun()
            except ValidationError as e:
                st.error(f"**Invalid price table.** {md_text(describe_validation_error(e))}")


def breakdown_of(loaded: Loaded, table: PriceTable, by: Literal["model", "step"], chosen: Filters) -> pd.DataFrame:
    """The breakdown from the audit's rollup (a few thousand rows, read once per price table),
    so agent, model and step filters answer at once at any size. A time window needs the spans
    themselves: that breakdown is computed once per window and kept."""
    key = ("breakdown", by, table.model_dump_json(), chosen.model_dump_json())
    if chosen.start or chosen.end:
        def read() -> dict[str, pd.DataFrame]:  # both groupings from one pricing of the spans
            with st.spinner(f"Reading the {loaded.dataset.report.summary.spans:,} spans for this time window…"):
                cur = loaded.cursor()
                price_spans(cur, table)
                return {g: breakdown(cur, table, g, chosen, priced=True) for g in ("model", "step")}

        return loaded.dataset.remember(("window_breakdowns", *key[2:]), read)[by]
    rollup = rollup_of(loaded, table)
    return loaded.dataset.remember(key, lambda: rollup_breakdown(loaded.cursor(), rollup, by, chosen))


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    inputs = cost_inputs()

    st.title("Costs")
    st.caption("These settings hold for the session: the Overview, Checklist and every export use them too.")
    if loaded.has_spans:
        price_editor(loaded, inputs)
    else:
        no_spans_note("Pricing the spans again with other prices")
    c = st.columns(3)
    runs = c[0].number_input("Runs per month", min_value=0, value=inputs.monthly_runs, step=1000)
    business = c[1].number_input("Business cost of a failed run (USD)", min_value=0.0,
                                 value=inputs.business_cost_per_failure_usd, step=1.0)
    engineering = c[2].number_input("Cost of fixing a layer (USD)", min_value=0.0, value=inputs.engineering_cost_usd,
                                    step=500.0, help="Default: one engineer-week")
    chosen = inputs.model_copy(update={"monthly_runs": int(runs), "business_cost_per_failure_usd": float(business),
                                       "engineering_cost_usd": float(engineering)})
    if chosen != inputs:
        set_cost_inputs(chosen)
    report = shown_report(loaded)
    cost = report.cost

    k = st.columns(4)
    k[0].metric("Token spend in these traces", usd(cost.total_cost_usd))
    k[1].metric("Cost per successful run", usd(cost.cost_per_successful_run_usd))
    k[2].metric("Projected monthly spend", usd(cost.monthly_cost_usd))
    k[3].metric("Projected monthly loss", usd(cost.monthly_failure_loss_usd),
                help="Failed runs + retried attempts + business cost of failures, scaled to the run volume")
    if cost.total_cost_usd == 0 and not cost.unpriced_spans:
        st.info("These traces carry no token counts or costs, so every cost figure is zero. Export `model`, "
                "`input_tokens` and `output_tokens` (or `cost_usd`) to see the spend.")
    if cost.unpriced_spans:
        st.warning(md_text(unpriced_note(cost)) + "; add them to the price table.")

    left, right = st.columns(2)
    left.plotly_chart(charts.cost_breakdown(report), width="stretch")
    right.plotly_chart(charts.loss_by_layer(report), width="stretch")

    st.subheader("Payback of fixing each layer")
    st.dataframe(pd.DataFrame([{
        "layer": layer, "failed traces": lc.failed_traces, "failed runs (USD)": lc.failed_cost_usd,
        "retried attempts (USD)": lc.retry_cost_usd, "business cost (USD)": lc.business_cost_usd,
        "monthly loss (USD)": lc.monthly_loss_usd, "payback": lc.payback,
    } for layer, lc in cost.by_layer.items()]), width="stretch", hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="$%.2f") for c in
        ("failed runs (USD)", "retried attempts (USD)", "business cost (USD)", "monthly loss (USD)")
    })
    st.caption(f"Payback = cost of the fix / monthly loss in that layer; a fix that pays back after more than "
               f"{cost.payback_horizon_months:.0f} months is not worth it at this volume.")

    st.subheader("Cost and latency by model and by step")
    if not loaded.has_spans:
        no_spans_note("The cost and latency of each model and step")
        return
    st.caption(("Narrowed by the sidebar filters. " if filters().active else "")
               + ("p50 and p95 are read from latency bins 2% wide." if not (filters().start or filters().end)
                  else ""))
    table = price_table(loaded)
    groupings: tuple[Literal["model", "step"], ...] = ("model", "step")
    for by, tab in zip(groupings, st.tabs(["By model", "By step"]), strict=True):
        frame = breakdown_of(loaded, table, by, filters())
        tab.dataframe(frame, width="stretch", hide_index=True, column_config={
            "cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.4f"),
            "error_rate": st.column_config.NumberColumn("error rate", format="percent"),
            "p50_ms": st.column_config.NumberColumn("p50 ms", format="%.0f"),
            "p95_ms": st.column_config.NumberColumn("p95 ms", format="%.0f"),
            "total_ms": st.column_config.NumberColumn("total ms", format="%.0f"),
        })


with guarded():
    page()
