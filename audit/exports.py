"""Exports of an ``AuditReport``: JSON (the model itself), Markdown for a pull request,
one self-contained offline HTML file with charts, and the findings as CSV.

Trace content is untrusted: it is escaped in HTML (also inside embedded chart JSON,
where ``</script>`` must not end the script), kept out of Markdown markup, and
spreadsheet formulas are neutralised in CSV.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import TYPE_CHECKING, Any, Literal

from audit.cost import unpriced_note
from audit.models import AuditReport
from audit.redact import redact_text

if TYPE_CHECKING:
    import plotly.graph_objects as go

Format = Literal["json", "md", "html", "csv"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FINDING_COLUMNS = (
    "trace_id", "span_id", "rule_id", "layer", "mode", "severity", "primary", "recovered", "silenced",
    "step", "agent", "start_time", "title", "evidence", "remedy",
)


def render(report: AuditReport, fmt: Format, overrides: dict[str, dict[str, str]] | None = None) -> str:
    """The report in one format; ``overrides`` (checklist id -> score/note) are applied first."""
    report = apply_overrides(report, overrides or {})
    return {"json": to_json, "md": to_markdown, "html": to_html, "csv": to_csv}[fmt](report)


def apply_overrides(report: AuditReport, overrides: dict[str, dict[str, str]]) -> AuditReport:
    """Record a lead's checklist overrides (score and note) beside the computed score; notes
    are redacted too when the report is."""
    if not overrides:
        return report
    redacted = report.summary.provenance.redacted

    def note(item_id: str) -> str | None:
        text = overrides[item_id].get("note")
        return redact_text(text) if redacted and text else text

    items = [
        item.model_copy(update={"override": overrides[item.id].get("score"), "override_note": note(item.id)})
        if item.id in overrides else item
        for item in report.checklist
    ]
    return AuditReport.model_validate({**report.model_dump(), "checklist": [i.model_dump() for i in items]})


def to_json(report: AuditReport) -> str:
    return report.model_dump_json(indent=2)


def neutralise_formula(value: Any) -> str:
    """A CSV cell that a spreadsheet will show as text, never evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def to_csv(report: AuditReport) -> str:
    """The report's findings list as CSV (the top of each mode; ``Audit.write_findings``
    writes every finding)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(FINDING_COLUMNS)
    for f in report.findings:
        row = f.model_dump(mode="json")
        writer.writerow([neutralise_formula(row.get(c)) for c in FINDING_COLUMNS])
    return buf.getvalue()


_MD_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _md(text: Any) -> str:
    """Trace text as inert Markdown: raw HTML escaped, every Markdown character backslash-escaped
    (no image, link, heading or emphasis can come from the data), URLs defanged so they are not
    auto-linked, control characters and newlines made spaces (table-cell safe)."""
    value = _CONTROL.sub(" ", html.escape(str("" if text is None else text), quote=False))
    value = _MD_SYNTAX.sub(r"\\\1", value)
    return re.sub(r"(?i)(://|www\.)", lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], value)


def percent(x: float | None) -> str:
    """A share as a percentage; n/a where there is none (a prediction without pipeline steps)."""
    return "n/a" if x is None else f"{x * 100:.1f}%"


NO_PREDICTION = ("No step runs in at least half of the traces (several pipelines in one file, or a free-form agent), so there is no chain of steps to multiply")


def short_points(x: float | None) -> str:
    """A difference of shares in points, for a metric tile; n/a where there is none."""
    return "n/a" if x is None else f"{x * 100:+.1f} pts"


def points(x: float | None) -> str:
    """A difference of shares in percentage points; n/a where there is none."""
    return "n/a" if x is None else f"{x * 100:+.1f} points"


def money(x: float | None) -> str:
    """USD for people: cents above a dollar, four decimals below, n/a for none."""
    return "n/a" if x is None else f"${x:,.2f}" if abs(x) >= 1 or x == 0 else f"${x:,.4f}"


def to_markdown(report: AuditReport, max_findings: int = 50) -> str:
    s, r, c = report.summary, report.reliability, report.cost
    out = [
        "# Coordination audit",
        "",
        f"{s.traces:,} traces, {s.spans:,} spans ({s.quarantined_rows:,} rows quarantined), "
        f"{s.first_seen or '?'} to {s.last_seen or '?'}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| observed end-to-end success | {percent(s.observed_success)} |",
        f"| predicted from steps | {percent(s.predicted_success)} |",
        f"| coordination gap | {points(s.coordination_gap)} |",
        f"| failed traces | {s.failed_traces:,} (silent: {s.silent_failures:,}) |",
        f"| cost per successful run | {money(s.cost_per_successful_run_usd)} |",
        f"| money lost to failures and retries | {money(s.money_lost_usd)} |",
        f"| projected monthly loss ({c.monthly_runs:,} runs) | {money(c.monthly_failure_loss_usd)} |",
        *([f"| unpriced spans | {_md(unpriced_note(c))} |"] if c.unpriced_spans else []),
        "",
        "## Fix first",
        "",
        "| # | layer · mode | failed traces | money lost | success gain if fixed | remedy | example traces |",
        "|---|---|---|---|---|---|---|",
        *[f"| {k} | {i.layer} · {_md(i.mode)} | {i.failed_traces:,} | {money(i.money_lost_usd)} | "
          f"+{i.success_gain * 100:.1f} pts | {_md(i.remedy)} | {_md(', '.join(i.example_traces))} |"
          for k, i in enumerate(report.fix_first[:10], start=1)],
        "",
        "## Root causes by layer",
        "",
        "| layer | failed traces | monthly loss | payback of a fix |",
        "|---|---|---|---|",
    ]
    for layer, n in s.primary_by_layer.items():
        lc = c.by_layer[layer]
        out.append(f"| {layer} | {n} | {money(lc.monthly_loss_usd)} | {lc.payback} |")
    out += ["", "## Top failure modes", "", "| layer | mode | failed traces |", "|---|---|---|"]
    out += [f"| {_md(layer)} | {_md(mode)} | {n} |" for layer, mode, n in s.top_modes]
    out += fingerprints_markdown(report)
    out += ["", "## Checklist", "", "| item | layer | score | evidence | remedy |", "|---|---|---|---|---|"]
    for item in report.checklist:
        score = item.score if not item.override else f"{item.override} (overridden from {item.score}: {_md(item.override_note)})"
        out.append(f"| {item.id} {_md(item.title)} | {item.layer} | **{score}** | {_md(item.evidence)} | {_md(item.remedy)} |")
    out += ["", "## Pipeline steps", "", "| step | agent | runs | first attempt | after retries | p95 |",
            "|---|---|---|---|---|---|"]
    for st in r.steps[:20]:
        out.append(
            f"| {_md(st.name)}{' *' if st.in_pipeline else ''} | {_md(st.agent)} | {st.runs} | "
            f"{percent(st.first_attempt_rate)} | {percent(st.effective_rate)} | {st.p95_ms:.0f} ms |"
        )
    out += ["", "\\* counted in the predicted product.", ""]
    primary = [f for f in report.findings if f.primary and not f.silenced]
    shown = primary[:max_findings]
    out += [f"## Root-cause findings (first {len(shown)} of {sum(s.primary_by_layer.values()):,})", "",
            "| trace | span | rule | layer · mode | severity | evidence |", "|---|---|---|---|---|---|"]
    for f in shown:
        out.append(f"| {_md(f.trace_id)} | {_md(f.span_id)} | {f.rule_id} | {f.layer} · {f.mode} | {f.severity} | "
                   f"{_md(f.evidence[:200])} |")
    if report.findings_omitted:
        out += ["", f"{report.findings_omitted:,} findings are not listed in this report; "
                "`python -m audit report --findings FILE` writes every one."]
    if s.quarantined_rows:
        quarantine = report.quarantine[:50]
        out += ["", f"## Quarantined rows (first {len(quarantine)} of {s.quarantined_rows:,})", "",
                "| file | row | reason |", "|---|---|---|"]
        out += [f"| {_md(q.source_file)} | {q.source_row} | {_md(q.reason)} |" for q in quarantine]
    p = s.provenance
    out += ["", "---", f"coordination-audit {p.version}, generated {p.generated_at:%Y-%m-%d %H:%M} UTC; "
            f"prices as of {p.price_table_as_of}; inputs: "
            + ", ".join(f"{_md(i.name)} (sha256 {i.sha256[:12]})" for i in p.inputs)
            + ("; redacted" if p.redacted else ""), ""]
    return "\n".join(out)


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survive literally."""
    return (json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _figure_block(name: str, fig: go.Figure) -> str:
    payload = _script_json(json.loads(fig.to_json()))
    return (f'<div class="chart" id="chart-{name}"></div>\n<script>(function(){{var f={payload};'
            f'Plotly.newPlot("chart-{name}",f.data,f.layout,{{responsive:true,displaylogo:false}});}})();</script>')


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str('' if v is None else v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: AuditReport, max_findings: int = 500) -> str:
    from plotly.offline import get_plotlyjs  # heavy: only the HTML export needs it

    from audit.charts import LAYER_COLOURS, report_figures

    s, c = report.summary, report.cost
    figs = report_figures(report)
    kpis = [("Traces", f"{s.traces:,}"), ("Observed success", percent(s.observed_success)),
            ("Predicted from steps", percent(s.predicted_success)),
            ("Coordination gap", short_points(s.coordination_gap)),
            ("Cost per successful run", money(s.cost_per_successful_run_usd)),
            ("Money lost", money(s.money_lost_usd))]
    if c.unpriced_spans:
        kpis.append(("Unpriced spans (not in the money figures)", f"{c.unpriced_spans:,}"))
    kpi_html = "".join(f'<div class="kpi"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
                       for k, v in kpis)
    checklist = _table(["id", "layer", "item", "score", "override", "evidence", "remedy"],
                       [[i.id, i.layer, i.title, i.score, f"{i.override or ''} {i.override_note or ''}".strip(),
                         i.evidence, i.remedy] for i in report.checklist])
    fix_first = _table(
        ["#", "layer", "mode", "failed traces", "money lost", "success gain if fixed", "remedy", "example traces"],
        [[k, i.layer, i.mode, f"{i.failed_traces:,}", money(i.money_lost_usd), f"+{i.success_gain * 100:.1f} pts",
          i.remedy, ", ".join(i.example_traces)] for k, i in enumerate(report.fix_first[:10], start=1)])
    payback = _table(["layer", "failed traces", "monthly loss", "payback of a fix"],
                     [[layer, lc.failed_traces, money(lc.monthly_loss_usd), lc.payback]
                      for layer, lc in c.by_layer.items()])
    findings = [f for f in report.findings if not f.silenced]
    findings_table = _table(
        ["trace", "span", "rule", "layer", "mode", "severity", "primary", "evidence", "remedy"],
        [[f.trace_id, f.span_id, f.rule_id, f.layer, f.mode, f.severity, "yes" if f.primary else "",
          f.evidence, f.remedy] for f in findings[:max_findings]])
    omitted = (f"<p>{report.findings_omitted:,} findings are not listed in this report; "
               "<code>python -m audit report --findings FILE</code> writes every one.</p>"
               if report.findings_omitted else "")
    layers = "".join(f'<span class="chip" style="background:{col}">{html.escape(k)}</span>'
                     for k, col in LAYER_COLOURS.items())
    quarantine = _table(["file", "row", "reason"], [[q.source_file, q.source_row, q.reason] for q in report.quarantine[:200]])
    p = s.provenance
    prov = html.escape(
        f"coordination-audit {p.version}; generated {p.generated_at:%Y-%m-%d %H:%M} UTC; prices as of "
        f"{p.price_table_as_of}; inputs: " + ", ".join(f"{i.name} (sha256 {i.sha256[:12]})" for i in p.inputs)
        + ("; redacted" if p.redacted else ""))
    charts = "\n".join(_figure_block(name, fig) for name, fig in figs.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Coordination audit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}}
.kpis{{display:flex;gap:1rem;flex-wrap:wrap}} .kpi{{border:1px solid #ddd;border-radius:8px;padding:.8rem 1rem;min-width:150px}}
.kpi .v{{font-size:1.5rem;font-weight:600}} .kpi .k{{color:#666;font-size:.85rem}}
table{{border-collapse:collapse;width:100%;font-size:.85rem;margin:1rem 0}} td,th{{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}}
th{{background:#f6f6f6}} .chart{{min-height:380px}} .chip{{color:#fff;border-radius:4px;padding:2px 6px;margin-right:4px;font-size:.8rem}}
.grid{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}} footer{{color:#777;font-size:.8rem;margin-top:2rem}}
</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>Coordination audit</h1>
<p>{s.traces:,} traces and {s.spans:,} spans; {s.quarantined_rows:,} rows quarantined. Layers: {layers}</p>
<div class="kpis">{kpi_html}</div>
<h2>Fix first</h2>{fix_first if report.fix_first else '<p>No failed traces.</p>'}
<h2>Charts</h2>
<div class="grid">{charts}</div>
<h2>Top error fingerprints</h2>{fingerprints_html(report)}
<h2>Checklist</h2>{checklist}
<h2>Findings ({s.findings:,}; first {min(len(findings), max_findings):,} shown)</h2>{findings_table}{omitted}
<h2>Cost</h2>
<p>Total {money(c.total_cost_usd)}; failed runs {money(c.failed_cost_usd)}; retried attempts {money(c.retry_cost_usd)};
projected monthly spend {money(c.monthly_cost_usd)} for {c.monthly_runs:,} runs; {c.unpriced_spans:,} spans with tokens but
no known price{(': ' + html.escape(', '.join(c.unpriced_models))) if c.unpriced_models else ''}
(not in the money figures).</p>
{payback}
<h2>Quarantined rows ({s.quarantined_rows:,}; first {min(len(report.quarantine), 200):,} shown)</h2>{quarantine if report.quarantine else '<p>None.</p>'}
<footer>{prov}</footer>
</body></html>
"""


TOP_FINGERPRINTS = 10


def _fingerprint_rows(report: AuditReport, limit: int) -> list[list[Any]]:
    return [[f.fingerprint, f"{f.layer} · {f.mode}", f.step or "", f.severity, f.traces, f"{f.share_of_failed:.0%}",
             f.template, f.example_trace_id] for f in report.fingerprints[:limit]]


FINGERPRINT_HEADERS = ["fingerprint", "layer · mode", "step", "severity", "traces", "share of failed runs",
                       "message template", "example trace"]


def fingerprints_markdown(report: AuditReport, limit: int = TOP_FINGERPRINTS) -> list[str]:
    """The most frequent error fingerprints as a Markdown section (lines)."""
    out = ["", f"## Top error fingerprints ({min(limit, len(report.fingerprints))} of {len(report.fingerprints)})", ""]
    if not report.fingerprints:
        return [*out, "None."]
    out += ["| " + " | ".join(FINGERPRINT_HEADERS) + " |", "|" + "---|" * len(FINGERPRINT_HEADERS)]
    return out + ["| " + " | ".join(_md(v) for v in row) + " |" for row in _fingerprint_rows(report, limit)]


def fingerprints_html(report: AuditReport, limit: int = TOP_FINGERPRINTS) -> str:
    if not report.fingerprints:
        return "<p>None.</p>"
    return _table(FINGERPRINT_HEADERS, _fingerprint_rows(report, limit))
