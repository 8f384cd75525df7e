"""Costs: editable prices, run volume, where the spend went, projection and payback by layer."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from audit import charts
from audit.cost import PriceTable, compute_cost, project
from audit.exports import money as usd
from audit.settings import describe_validation_error
from pages.common import current, guarded


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    report = loaded.report

    st.title("Costs")
    with st.expander("Price table (USD per million tokens)", expanded=False):
        st.caption(f"Bundled list prices as of {report.cost.price_table_as_of}; first matching pattern wins. "
                   "A `cost_usd` recorded in the traces always wins over computed prices.")
        prices = pd.DataFrame([p.model_dump() for p in report.cost.prices])
        edited = st.data_editor(prices, num_rows="dynamic", width="stretch", key="prices_editor")
        if st.button("Apply prices"):
            try:
                table = PriceTable.model_validate({"as_of": report.cost.price_table_as_of,
                                                   "prices": edited.dropna(how="all").to_dict(orient="records")})
                cost = compute_cost(loaded.audit.con, table, loaded.audit.settings)
                loaded.report = report = report.model_copy(update={"cost": cost})
                st.success("Prices applied.")
            except ValidationError as e:
                st.error(f"**Invalid price table.** {describe_validation_error(e)}")

    c = st.columns(3)
    runs = c[0].number_input("Runs per month", min_value=0, value=report.cost.monthly_runs, step=1000)
    business = c[1].number_input("Business cost of a failed run (USD)", min_value=0.0,
                                 value=report.cost.business_cost_per_failure_usd, step=1.0)
    engineering = c[2].number_input("Cost of fixing a layer (USD)", min_value=0.0,
                                    value=report.cost.engineering_cost_usd, step=500.0,
                                    help="Default: one engineer-week")
    cost = project(report.cost, int(runs), float(business), float(engineering))

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
        st.warning(f"{cost.unpriced_spans:,} spans carry {cost.unpriced_tokens:,} tokens of models without a price "
                   f"({', '.join(cost.unpriced_models) or 'no model name'}); add them to the price table.")

    shown = report.model_copy(update={"cost": cost})
    left, right = st.columns(2)
    left.plotly_chart(charts.cost_breakdown(shown), width="stretch")
    right.plotly_chart(charts.loss_by_layer(shown), width="stretch")

    st.subheader("Payback of fixing each layer")
    st.dataframe(pd.DataFrame([{
        "layer": layer, "failed traces": lc.failed_traces, "failed runs (USD)": lc.failed_cost_usd,
        "retried attempts (USD)": lc.retry_cost_usd, "business cost (USD)": lc.business_cost_usd,
        "monthly loss (USD)": lc.monthly_loss_usd,
        "payback (months)": lc.payback_months,
    } for layer, lc in cost.by_layer.items()]), width="stretch", hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="$%.2f") for c in
        ("failed runs (USD)", "retried attempts (USD)", "business cost (USD)", "monthly loss (USD)")
    } | {"payback (months)": st.column_config.NumberColumn(format="%.1f")})
    st.caption("Payback = cost of the fix / monthly loss in that layer; none where no loss was measured.")


with guarded():
    page()
