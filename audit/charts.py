"""Plotly figures as pure functions of the report (and of one trace's spans), shared by
the app and the HTML export. One colour per layer everywhere."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from audit.models import AuditReport
from audit.reliability import chain_reliability, per_step_rate

LAYER_COLOURS = {
    "handoff": "#4C78A8",
    "state": "#F58518",
    "routing": "#54A24B",
    "recovery": "#E45756",
    "unclassified": "#9D9DA1",
    "observability": "#B279A2",
}
OUTCOME_COLOURS = {"useful work": "#72B7B2", "failed runs": "#E45756", "retried attempts": "#F2CF5B"}


def esc(text: Any) -> str:
    """Trace text for a Plotly label or hover: Plotly renders tags such as ``<a href>`` in
    them, so every ``<``, ``>`` and ``&`` from the data is escaped (Plotly shows the entity
    as the character)."""
    return html.escape("" if text is None else str(text), quote=False)


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, legend_title_text="")
    return fig


def failures_by_layer(report: AuditReport) -> go.Figure:
    layers = [k for k, v in report.summary.primary_by_layer.items() if v or k != "unclassified"]
    fig = go.Figure(go.Bar(
        x=layers, y=[report.summary.primary_by_layer[k] for k in layers],
        marker_color=[LAYER_COLOURS[k] for k in layers], name="failed traces",
        hovertemplate="%{x}: %{y} failed traces<extra></extra>",
    ))
    return _layout(fig, "Failed traces by root-cause layer", "layer", "failed traces (count)")


def top_modes(report: AuditReport) -> go.Figure:
    modes = list(reversed(report.summary.top_modes))
    fig = go.Figure(go.Bar(
        y=[f"{esc(layer)} · {esc(mode)}" for layer, mode, _ in modes], x=[n for *_, n in modes], orientation="h",
        marker_color=[LAYER_COLOURS.get(layer, "#999") for layer, _, _ in modes],
        hovertemplate="%{y}: %{x} failed traces<extra></extra>",
    ))
    return _layout(fig, "Top failure modes (root causes)", "failed traces (count)", "layer · mode")


def failure_rate_over_time(report: AuditReport) -> go.Figure | None:
    """Failure rate per time bucket (second to week, from the data's span); None without
    timestamps, or when the traces fall in fewer than three buckets (no trend to draw)."""
    buckets = report.summary.timeline
    if len(buckets) < MIN_TIME_POINTS:
        return None
    unit = buckets[0].unit
    fig = go.Figure(go.Scatter(
        x=[b.start for b in buckets], y=[b.failed / b.traces * 100 if b.traces else 0 for b in buckets],
        mode="lines+markers", line_color=LAYER_COLOURS["recovery"], name="failure rate",
        customdata=[[b.traces, b.failed] for b in buckets],
        hovertemplate="%{x}: %{y:.1f}% (%{customdata[1]} of %{customdata[0]} traces)<extra></extra>",
    ))
    return _layout(fig, f"Failure rate over time (per {unit})", f"time (UTC, {unit}s)", "failed traces (%)")


MIN_TIME_POINTS = 3
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def compounding(rate: float, steps: int, max_steps: int = 12, what_if_rate: float | None = None,
                what_if_label: str = "what if") -> go.Figure:
    """End-to-end success vs chain length at today's per-step rate (and a what-if's), with the
    97%-per-step reference labelled at your chain length."""
    n = list(range(1, max_steps + 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=n, y=[chain_reliability(0.97, k) * 100 for k in n], name="97% per step (reference)",
                             line={"dash": "dot", "color": "#9D9DA1"}))
    fig.add_trace(go.Scatter(x=n, y=[chain_reliability(rate, k) * 100 for k in n],
                             name=f"today: {rate:.1%} per step", line_color=LAYER_COLOURS["handoff"]))
    if what_if_rate is not None and abs(what_if_rate - rate) > 1e-12:
        fig.add_trace(go.Scatter(x=n, y=[chain_reliability(what_if_rate, k) * 100 for k in n],
                                 name=f"{what_if_label}: {what_if_rate:.1%} per step",
                                 line_color=LAYER_COLOURS["routing"]))
    at = min(max(steps, 1), max_steps) if steps else 6
    ref = chain_reliability(0.97, at) * 100
    fig.add_annotation(x=at, y=ref, text=f"0.97{str(at).translate(SUPERSCRIPT)} ≈ {ref:.1f}%", showarrow=True,
                       arrowhead=0, ax=40, ay=40, bgcolor="rgba(255,255,255,0.9)", font={"color": "#555"})
    if steps:
        fig.add_vline(x=steps, line_dash="dash", line_color="#666")
        fig.add_annotation(x=steps, y=101, yref="y", text=f"your pipeline: {steps} steps", showarrow=False,
                           yanchor="bottom", bgcolor="rgba(255,255,255,0.9)")
    fig.update_yaxes(range=[0, 108])
    return _layout(fig, "Reliability compounds down the chain", "steps in the chain", "end-to-end success (%)")


def step_reliability(report: AuditReport) -> go.Figure:
    steps = [s for s in report.reliability.steps if s.in_pipeline] or report.reliability.steps[:12]
    labels = [f"{esc(s.name)} ({esc(s.agent)})" if s.agent else esc(s.name) for s in steps]
    fig = go.Figure()
    for attr, ci, name, colour in (("first_attempt_rate", "first_attempt_ci", "first attempt", "#F58518"),
                                   ("effective_rate", "effective_ci", "after retries", "#4C78A8")):
        vals = [getattr(s, attr) * 100 for s in steps]
        lo = [(getattr(s, attr) - getattr(s, ci)[0]) * 100 for s in steps]
        hi = [(getattr(s, ci)[1] - getattr(s, attr)) * 100 for s in steps]
        fig.add_trace(go.Bar(x=labels, y=vals, name=name, marker_color=colour,
                             error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo}))
    fig.update_layout(barmode="group")
    return _layout(fig, "Per-step success with Wilson 95% intervals", "step", "success (%)")


def observed_vs_predicted(report: AuditReport) -> go.Figure:
    r = report.reliability
    if r.predicted_success is None or r.predicted_first_attempt is None or r.coordination_gap is None:
        names, vals, colours = ["observed end to end"], [r.observed_success * 100], ["#E45756"]
        title = "No prediction: no step runs in enough traces to multiply"
    else:
        names = ["predicted (first attempt)", "predicted (after retries)", "observed end to end"]
        vals = [r.predicted_first_attempt * 100, r.predicted_success * 100, r.observed_success * 100]
        colours = ["#F58518", "#4C78A8", "#E45756"]
        title = f"Coordination gap: {r.coordination_gap * 100:+.1f} points"
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=colours,
                           text=[f"{v:.1f}%" for v in vals], textposition="outside"))
    fig.update_yaxes(range=[0, 105])
    return _layout(fig, title, "", "success (%)")


def cost_breakdown(report: AuditReport) -> go.Figure:
    c = report.cost
    parts = {"useful work": c.useful_cost_usd, "failed runs": c.failed_cost_usd, "retried attempts": c.retry_cost_usd}
    fig = go.Figure(go.Bar(x=list(parts), y=list(parts.values()),
                           marker_color=[OUTCOME_COLOURS[k] for k in parts],
                           text=[f"${v:,.2f}" for v in parts.values()], textposition="outside",
                           hovertemplate="%{x}: $%{y:,.4f}<extra></extra>"))
    return _layout(fig, "Where the token spend went", "", "spend (USD)")


def loss_by_layer(report: AuditReport) -> go.Figure:
    layers = [k for k, v in report.cost.by_layer.items() if v.monthly_loss_usd > 0 or k != "unclassified"]
    fig = go.Figure()
    for part, label in (("failed_cost_usd", "failed runs (tokens)"), ("retry_cost_usd", "retried attempts"),
                        ("business_cost_usd", "business cost of failures")):
        fig.add_trace(go.Bar(x=layers, y=[getattr(report.cost.by_layer[k], part) for k in layers], name=label))
    fig.update_layout(barmode="stack")
    fig.update_traces(marker_line_width=0)
    for trace, colour in zip(fig.data, ("#E45756", "#F2CF5B", "#B279A2"), strict=False):
        trace.marker.color = colour  # type: ignore[attr-defined]
    return _layout(fig, "Money lost by layer (in the audited traces)", "layer", "USD")


def span_labels(tree: pd.DataFrame, finding_spans: set[str], escape: bool = True) -> list[str]:
    """One label per span: indented by depth, numbered attempts, findings starred; trace text
    HTML-escaped for Plotly (which renders tags such as <a> in labels)."""
    text = html.escape if escape else str
    return [
        ("\u2003" * int(d)) + text(str(n)) + (f" (attempt {int(a)})" if a and (a > 1 or r) else "")
        + (" ★" if s in finding_spans else "") + (" ⚠" if ib else "")
        for d, n, a, r, s, ib in zip(tree["depth"], tree["name"], tree["attempt_no"], tree["is_retry"],
                                     tree["span_id"], tree["in_band_error"], strict=False)
    ]


def trace_waterfall(tree: pd.DataFrame, finding_spans: set[str] | None = None) -> go.Figure:
    """One row per span in tree order (``explore.trace_tree``): a bar from its start for its
    duration; errors red, in-band errors orange, findings starred, attempts numbered."""
    finding_spans = finding_spans or set()
    if tree.empty:
        return _layout(go.Figure(), "No spans", "time (ms from start)", "span")
    labels = span_labels(tree, finding_spans)
    colours = ["#E45756" if st == "error" else "#F58518" if ib else "#72B7B2"
               for st, ib in zip(tree["status"], tree["in_band_error"], strict=False)]
    hover = [
        f"{html.escape(str(n))} [{html.escape(str(k))}] {st}<br>{(dur or 0):.0f} ms"
        + (f"<br>{html.escape(str(et))}: {html.escape(str(em)[:120])}" if st == "error" else "")
        for n, k, st, dur, et, em in zip(tree["name"], tree["kind"], tree["status"], tree["duration_ms"],
                                         tree["error_type"], tree["error_message"], strict=False)
    ]
    rows = list(range(len(tree)))
    fig = go.Figure(go.Bar(
        y=rows, x=tree["duration_ms"].fillna(0).clip(lower=0.5), base=tree["offset_ms"].fillna(0),
        orientation="h", marker_color=colours, hovertext=hover, hoverinfo="text",
    ))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=rows, ticktext=labels)
    fig.update_layout(height=max(260, 22 * len(tree) + 110), showlegend=False)
    return _layout(fig, "Timeline", "time since trace start (ms)", "")


def report_figures(report: AuditReport) -> dict[str, go.Figure]:
    """The figures the HTML report and the overview show, by name (same per-step rate as the app)."""
    steps = len(report.reliability.pipeline_steps)
    figures = {
        "failures_by_layer": failures_by_layer(report),
        "top_modes": top_modes(report),
        "failure_rate_over_time": failure_rate_over_time(report),
        "observed_vs_predicted": observed_vs_predicted(report),
        "compounding": compounding(per_step_rate(report.reliability), steps),
        "step_reliability": step_reliability(report),
        "cost_breakdown": cost_breakdown(report),
        "loss_by_layer": loss_by_layer(report),
    }
    return {name: fig for name, fig in figures.items() if fig is not None}
