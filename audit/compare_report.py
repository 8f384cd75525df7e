"""Exports and charts of a ``Comparison``: JSON (the model itself), Markdown for a pull
request, one self-contained offline HTML file, and the per-layer change chart.

Templates and step names come from traces: escaped in HTML (also inside chart JSON) and
kept out of Markdown markup, as in ``audit.exports``.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from audit.compare import Comparison, FingerprintChange, RateChange
from audit.exports import _figure_block, _md, _table, money, percent

if TYPE_CHECKING:
    import plotly.graph_objects as go

CompareFormat = Literal["json", "md", "html"]
VERDICT_MARK = {"better": "▲ better", "worse": "▼ worse", "no significant change": "= no significant change"}
MAX_FINGERPRINTS = 15


def render_comparison(comparison: Comparison, fmt: CompareFormat) -> str:
    return {"json": comparison_json, "md": comparison_markdown, "html": comparison_html}[fmt](comparison)


def comparison_json(comparison: Comparison) -> str:
    return comparison.model_dump_json(indent=2)


def points(x: float) -> str:
    return f"{x * 100:+.1f} pts"


def interval(change: RateChange) -> str:
    return f"{change.ci[0] * 100:+.1f} to {change.ci[1] * 100:+.1f} pts"


def runs_needed_text(change: RateChange) -> str:
    if change.runs_needed is None:
        return "n/a"
    return f"{change.runs_needed:,} per side"


def headline(comparison: Comparison) -> str:
    """One sentence a lead can paste: the end-to-end change and whether it is real."""
    s = comparison.success
    text = (f"End-to-end success {percent(s.baseline_rate)} → {percent(s.candidate_rate)} "
            f"({points(s.difference)}, 95% interval {interval(s)}): **{comparison.verdict}**")
    if comparison.verdict == "no significant change" and s.runs_needed and s.difference:
        text += (f" at this sample size ({s.baseline_n:,} vs {s.candidate_n:,} runs; detecting a change this size "
                 f"needs about {s.runs_needed:,} runs per side)")
    return text + "."


def _rate_row(label: str, change: RateChange) -> list[str]:
    return [label, percent(change.baseline_rate), percent(change.candidate_rate), points(change.difference),
            interval(change), VERDICT_MARK[change.verdict], runs_needed_text(change)]


RATE_HEADERS = ["", "baseline", "candidate", "change", "interval", "verdict", "runs needed"]


def comparison_tables(comparison: Comparison) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every table of the comparison as (headers, rows) of plain text, shared by Markdown and HTML."""
    c = comparison
    tables: dict[str, tuple[list[str], list[list[str]]]] = {
        "End-to-end success": (RATE_HEADERS, [_rate_row("observed success", c.success)]),
        "Failed traces by root-cause layer": (
            ["layer", *RATE_HEADERS[1:]],
            [_rate_row(lc.layer, lc.failures) for lc in c.layers
             if lc.failures.baseline_count or lc.failures.candidate_count]),
        "Failure modes": (
            ["layer · mode", *RATE_HEADERS[1:]],
            [_rate_row(f"{m.layer} · {m.mode}", m.failures) for m in c.modes]),
    }
    steps = [s for s in c.steps if s.presence != "both"
             or (s.first_attempt and s.first_attempt.verdict != "no significant change")
             or (s.effective and s.effective.verdict != "no significant change")]
    tables["Steps that changed"] = (
        ["step", "agent", "presence", "first attempt", "first-attempt verdict", "effective", "effective verdict"],
        [[s.name, s.agent or "", s.presence,
          f"{percent(s.first_attempt.baseline_rate)} → {percent(s.first_attempt.candidate_rate)}" if s.first_attempt
          else "", VERDICT_MARK[s.first_attempt.verdict] if s.first_attempt else "",
          f"{percent(s.effective.baseline_rate)} → {percent(s.effective.candidate_rate)}" if s.effective else "",
          VERDICT_MARK[s.effective.verdict] if s.effective else ""] for s in steps])
    cost = c.cost
    tables["Cost"] = (
        ["", "baseline", "candidate", "change"],
        [[label, money(m.baseline), money(m.candidate), money(m.difference)] for label, m in (
            ("cost per successful run", cost.cost_per_successful_run_usd),
            ("money lost to failures and retries", cost.money_lost_usd),
            ("projected monthly loss", cost.monthly_failure_loss_usd),
            ("projected monthly spend", cost.monthly_cost_usd),
            ("total spend audited", cost.total_cost_usd))])
    for status in ("new", "resolved", "persisting"):
        rows = [f for f in c.fingerprints if f.status == status]
        tables[f"{status.capitalize()} fingerprints ({len(rows)})"] = (
            ["fingerprint", "layer · mode", "step", "severity", "traces (baseline → candidate)", "template",
             "example trace"],
            [_fingerprint_row(f) for f in rows[:MAX_FINGERPRINTS]])
    tables["Checklist changes"] = (
        ["item", "layer", "baseline", "candidate"],
        [[f"{i.id} {i.title}", i.layer, i.baseline_score, i.candidate_score] for i in c.checklist])
    return tables


def _fingerprint_row(f: FingerprintChange) -> list[str]:
    return [f.fingerprint, f"{f.layer} · {f.mode}", f.step or "", f.severity,
            f"{f.baseline_traces} → {f.candidate_traces}", f.template, f"{f.example_trace_id} ({f.example_side})"]


def _when(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _side_lines(comparison: Comparison) -> list[str]:
    out = []
    for side in (comparison.baseline, comparison.candidate):
        names = ", ".join(i.name for i in side.inputs)
        out.append(f"{side.label}: {side.traces:,} traces, {side.spans:,} spans, {_when(side.first_seen)} to "
                   f"{_when(side.last_seen)} ({names})")
    return out


def _changes_lines(comparison: Comparison) -> list[str]:
    c = comparison
    out = []
    for what, items in (("steps added", c.steps_added), ("steps removed", c.steps_removed),
                        ("agents added", c.agents_added), ("agents removed", c.agents_removed)):
        if items:
            out.append(f"{what}: {', '.join(items)}")
    return out


def comparison_markdown(comparison: Comparison) -> str:
    c = comparison
    out = ["# Coordination audit: comparison", "", headline(c), ""]
    if c.regression:
        out += ["**Regression:**", "", *[f"- {_md(r)}" for r in c.regression_reasons], ""]
    out += [f"- {_md(line)}" for line in _side_lines(c) + _changes_lines(c)]
    if c.split_at:
        out.append(f"- one dataset cut at {c.split_at:%Y-%m-%d %H:%M} UTC")
    out.append("")
    for title, (headers, rows) in comparison_tables(c).items():
        out += [f"## {title}", ""]
        if not rows:
            out += ["None.", ""]
            continue
        out += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        out += ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows]
        out.append("")
    out += ["Intervals are Newcombe's 95% intervals for a difference of two proportions, widened (Bonferroni) by the "
            "number of rows in their table; *runs needed* is per side for a 5% two-sided test with 80% power.", "",
            "---", f"coordination-audit {c.version}, generated {c.generated_at:%Y-%m-%d %H:%M} UTC", ""]
    return "\n".join(out)


def layer_change_chart(comparison: Comparison) -> go.Figure:
    """Change in failed-trace rate per layer, in points, with its interval; below zero is better."""
    import plotly.graph_objects as go

    from audit.charts import LAYER_COLOURS

    layers = [lc for lc in comparison.layers if lc.failures.baseline_count or lc.failures.candidate_count]
    diffs = [lc.failures.difference * 100 for lc in layers]
    fig = go.Figure(go.Bar(
        x=[lc.layer for lc in layers], y=diffs,
        marker_color=[LAYER_COLOURS.get(lc.layer, "#999") for lc in layers],
        error_y={"type": "data", "symmetric": False,
                 "array": [lc.failures.ci[1] * 100 - d for lc, d in zip(layers, diffs, strict=True)],
                 "arrayminus": [d - lc.failures.ci[0] * 100 for lc, d in zip(layers, diffs, strict=True)]},
        customdata=[[percent(lc.failures.baseline_rate), percent(lc.failures.candidate_rate), lc.failures.verdict]
                    for lc in layers],
        hovertemplate="%{x}: %{customdata[0]} → %{customdata[1]} (%{y:+.1f} pts, %{customdata[2]})<extra></extra>",
    ))
    fig.add_hline(y=0, line_color="#555", line_width=1)
    fig.update_layout(title="Change in failed traces by layer (with interval)",
                      xaxis_title="root-cause layer", yaxis_title="change in failed traces (points)",
                      template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 50}, showlegend=False)
    return fig


def success_chart(comparison: Comparison) -> go.Figure:
    """Observed end-to-end success on each side with its Wilson interval."""
    import plotly.graph_objects as go

    sides = (comparison.baseline, comparison.candidate)
    rates = [s.observed_success * 100 for s in sides]
    fig = go.Figure(go.Bar(
        x=[s.label for s in sides], y=rates, marker_color=["#9D9DA1", "#4C78A8"],
        error_y={"type": "data", "symmetric": False,
                 "array": [s.observed_ci[1] * 100 - r for s, r in zip(sides, rates, strict=True)],
                 "arrayminus": [r - s.observed_ci[0] * 100 for s, r in zip(sides, rates, strict=True)]},
        hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
    ))
    fig.update_layout(title="Observed end-to-end success (95% interval)", xaxis_title="side",
                      yaxis_title="successful traces (%)", template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, showlegend=False, yaxis_range=[0, 100])
    return fig


def comparison_html(comparison: Comparison) -> str:
    from plotly.offline import get_plotlyjs  # heavy: only the HTML export needs it

    c = comparison
    charts = "\n".join(_figure_block(name, fig) for name, fig in (
        ("success", success_chart(c)), ("layers", layer_change_chart(c))))
    sections = "\n".join(
        f"<h2>{html.escape(title)}</h2>" + (_table(headers, rows) if rows else "<p>None.</p>")
        for title, (headers, rows) in comparison_tables(c).items())
    regression = ""
    if c.regression:
        regression = ('<div class="regression"><strong>Regression</strong><ul>'
                      + "".join(f"<li>{html.escape(r)}</li>" for r in c.regression_reasons) + "</ul></div>")
    facts = "".join(f"<li>{html.escape(line)}</li>" for line in _side_lines(c) + _changes_lines(c))
    lead = html.escape(headline(c).replace("**", ""))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Coordination audit: comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;width:100%;font-size:.85rem;margin:1rem 0}} td,th{{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}}
th{{background:#f6f6f6}} .chart{{min-height:380px}} .grid{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}}
.lead{{font-size:1.2rem}} .regression{{border:2px solid #E45756;border-radius:8px;padding:.5rem 1rem;margin:1rem 0}}
footer{{color:#777;font-size:.8rem;margin-top:2rem}}
</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>Coordination audit: comparison</h1>
<p class="lead">{lead}</p>
{regression}
<ul>{facts}</ul>
<div class="grid">{charts}</div>
{sections}
<footer>Intervals are Newcombe's 95% intervals for a difference of two proportions, widened (Bonferroni) by the number of
rows in their table; runs needed are per side for a 5% two-sided test with 80% power. coordination-audit
{html.escape(c.version)}, generated {c.generated_at:%Y-%m-%d %H:%M} UTC.</footer>
</body></html>
"""
