"""Failures: filter the findings, open a trace as a span tree with the span's detail, the
evidence and the remedy."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from audit import charts
from audit.explore import (
    TRACE_INDEX,
    FindingsQuery,
    present,
    span_cost,
    trace_exists,
    trace_findings,
    trace_tree,
    visible_rows,
)
from audit.exports import money
from audit.fingerprints import fingerprint_frame
from pages.common import (
    Loaded,
    choices_for,
    current,
    filters,
    findings_for,
    guarded,
    layer_badge,
    md_code,
    md_text,
    no_spans_note,
    price_table,
    short_id,
)

MAX_ROWS = 5000  # rows sent to the browser; filters narrow, the CSV export has them all
LONG_TEXT = 600  # characters shown before a text is folded


def choose_trace(chosen: str) -> None:
    """Make ``chosen`` the open trace, in the picker and in the URL (a link to share)."""
    st.session_state["trace_choice"] = chosen
    st.session_state["trace_from_url"] = chosen
    if st.query_params.get("trace") != chosen:
        st.query_params.pop("span", None)
    st.query_params["trace"] = chosen


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    cur = loaded.cursor()
    layer_choices, mode_choices = choices_for(loaded, filters())

    st.title("Failures")
    wanted = st.query_params.get("trace")
    if wanted and wanted != st.session_state.get("trace_from_url"):  # a link with ?trace=<id>
        if trace_exists(cur, wanted, loaded.has_spans):
            choose_trace(wanted)
        else:
            st.warning(f"No trace {md_code(wanted)} in this dataset.")
            st.session_state["trace_from_url"] = wanted

    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        layers = c1.multiselect("Layer", layer_choices)
        modes = c2.multiselect("Failure mode", mode_choices)
        severities = c3.multiselect("Severity", ["high", "medium", "low"])
        only_primary = c4.toggle("Root causes only", value=False, help="One primary finding per failed trace")
        search = st.text_input("Open a trace by id", placeholder="paste a trace id", key="trace_search")
    if search and search.strip() != st.session_state.get("trace_searched"):
        st.session_state["trace_searched"] = search.strip()
        if trace_exists(cur, search.strip(), loaded.has_spans):
            choose_trace(search.strip())
        else:
            st.warning(f"No trace {md_code(search.strip())} in this dataset.")

    fingerprints: tuple[str, ...] = ()
    if st.toggle("Group by error fingerprint", key="group_by_fingerprint",
                 help="Same layer, mode, step and message once ids, numbers, quoted values, paths are masked"):
        groups = fingerprint_frame(loaded.dataset.report.fingerprints)
        grouped = st.dataframe(groups, width="stretch", height=280, hide_index=True, on_select="rerun",
                               selection_mode="multi-row", key="fingerprint_table")
        picked_groups = [r for r in (grouped.selection.rows if grouped and grouped.selection else [])
                         if r < len(groups)]
        if picked_groups and "finding_fingerprints" not in loaded.dataset.memo_tables():
            st.caption("This saved audit does not keep which finding has which fingerprint: the list below is not "
                       "narrowed.")
        elif picked_groups:  # narrow the findings below to the chosen fingerprints
            fingerprints = tuple(groups.iloc[picked_groups]["fingerprint"].tolist())

    query = FindingsQuery(filters=filters(), layers=tuple(layers), modes=tuple(modes), severities=tuple(severities),
                          primary_only=only_primary, fingerprints=fingerprints)
    found = findings_for(loaded, query, MAX_ROWS)
    shown = min(found.total, MAX_ROWS)
    st.caption(f"{found.total:,} findings · {found.traces:,} traces"
               + (" · narrowed by the sidebar filters" if filters().active else "")
               + (f" · the first {shown:,} are listed; narrow the filters or export the CSV for all"
                  if found.total > shown else ""))
    listed = found.rows.reset_index(drop=True)
    trace_ids = list(dict.fromkeys(listed["trace_id"].tolist()))
    chosen: str | None = st.session_state.get("trace_choice")
    asked = query.model_dump_json()
    narrowed = st.session_state.get("findings_query") not in (None, asked)  # the filters or controls moved
    st.session_state["findings_query"] = asked
    if chosen not in trace_ids and (narrowed or not (chosen and trace_exists(cur, chosen, loaded.has_spans))):
        chosen = trace_ids[0] if trace_ids else None  # a new question opens its first trace, in this run
        if chosen is not None and narrowed:
            choose_trace(chosen)
    if chosen is None:
        st.info("No findings match these filters." if layer_choices else
                "No findings: no trace shows a coordination failure. Open a trace by id above.")
        st.stop()
    st.session_state["trace_choice"] = chosen

    table = pd.DataFrame({
        "trace": listed["trace_id"].map(short_id), "span": listed["span_id"].map(short_id),
        "rule": listed["rule_id"], "layer": listed["layer"], "mode": listed["mode"],
        "severity": listed["severity"], "root cause": listed["primary"], "recovered": listed["recovered"],
        "step": listed["step"], "evidence": listed["evidence"],
    })
    rows_of_chosen = listed.index[listed["trace_id"] == chosen].tolist()
    event = st.dataframe(
        table, width="stretch", height=300, on_select="rerun", selection_mode="single-row", hide_index=True,
        key=f"findings_table_{hash((chosen, asked)) & 0xFFFFFF}",  # a new listing starts on the open trace
        selection_default={"selection": {"rows": rows_of_chosen[:1], "columns": []}},
        column_config={"trace": st.column_config.TextColumn(width="small", help="Shortened; full id below"),
                       "span": st.column_config.TextColumn(width="small"),
                       "evidence": st.column_config.TextColumn(width="large")},
    )
    # the selection is kept across reruns: after a filter narrowed the list it may point past its end
    picked = [r for r in (event.selection.rows if event and event.selection else []) if r < len(listed)]
    if picked and listed.iloc[picked[0]]["trace_id"] != chosen:  # the table drives the picker
        choose_trace(str(listed.iloc[picked[0]]["trace_id"]))
        st.rerun()

    options = trace_ids if chosen in trace_ids else [chosen, *trace_ids]
    picked_trace = st.selectbox("Open trace", options, index=options.index(chosen), key=f"picker_{chosen}")
    if picked_trace != chosen:  # the picker drives the table
        choose_trace(picked_trace)
        st.rerun()
    trace_view(loaded, cur, chosen, trace_findings_of(loaded, chosen))


def trace_findings_of(loaded: Loaded, trace_id: str) -> pd.DataFrame:
    """The open trace's findings under the sidebar filters, read once per trace and filters."""
    chosen = filters()
    return loaded.dataset.remember(("trace_findings", trace_id, chosen.model_dump_json()),
                                   lambda: trace_findings(loaded.cursor(), trace_id, chosen, loaded.has_spans))


def trace_view(loaded, cur, trace_id: str, trace_findings: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """The trace as a collapsible span tree with a timeline, the selected span's detail and the findings."""
    st.subheader("Trace")
    st.code(trace_id, language=None)
    if not loaded.has_spans:
        no_spans_note("The span tree and timeline of a trace")
        trace_findings_list(trace_findings)
        return
    indexed = TRACE_INDEX in loaded.dataset.memo_tables()
    tree = loaded.dataset.remember(("trace_tree", trace_id), lambda: trace_tree(cur, trace_id, indexed))
    finding_spans = set(trace_findings["span_id"])
    has_children = set(tree["parent_span_id"].dropna())
    collapsible = [s for s in tree["span_id"] if s in has_children]
    labels = dict(zip(tree["span_id"], tree["name"], strict=False))
    collapsed = st.multiselect("Collapse", collapsible, format_func=lambda s: f"{labels.get(s, s)} ({short_id(s)})",
                               key=f"collapse_{trace_id}", help="Hide the spans below these")
    shown = visible_rows(tree, set(collapsed)).reset_index(drop=True)
    span_label = charts.span_labels(shown, finding_spans, escape=False)  # a table cell is text
    total_ms = float((tree["offset_ms"] + tree["duration_ms"].fillna(0)).max() or 1.0)
    grid = pd.DataFrame({
        "span": [("▸ " if s in collapsed else "") + label for s, label in zip(shown["span_id"], span_label,
                                                                             strict=False)],
        "kind": shown["kind"], "status": shown["status"],
        "marks": ["finding " if s in finding_spans else "" for s in shown["span_id"]],
        "start ms": shown["offset_ms"].round(1), "duration": shown["duration_ms"].fillna(0),
        "error": shown["error_type"].fillna("") + shown["error_message"].fillna("").map(
            lambda m: f": {m[:80]}" if m else ""),
    })
    grid.loc[shown["in_band_error"].fillna(False).to_numpy(), "marks"] += "in-band error"
    event = st.dataframe(
        grid.style.apply(lambda r: ["color: #C62828" if r["status"] == "error" else "" for _ in r], axis=1)
        .format({"start ms": "{:,.1f}"}),
        hide_index=True, width="stretch", height=min(36 * len(grid) + 40, 520), on_select="rerun",
        selection_mode="single-row", key=f"tree_{trace_id}",
        column_config={"span": st.column_config.TextColumn(width="large"),
                       "duration": st.column_config.ProgressColumn("duration (ms)", min_value=0.0,
                                                                   max_value=total_ms, format="%.0f")},
    )
    st.plotly_chart(charts.trace_waterfall(shown, finding_spans), width="stretch")
    rows = event.selection.rows if event and event.selection else []
    if rows:
        st.query_params["span"] = str(shown.iloc[rows[0]]["span_id"])
    linked = shown.index[shown["span_id"] == st.query_params.get("span")].tolist()  # ?span=<id> opens it too
    span = shown.iloc[rows[0]] if rows else shown.loc[linked[0]] if linked else None
    if span is not None:
        span_detail(span, price_table(loaded))
    else:
        st.caption("Select a span in the tree to see its input, output, error, tokens, cost and attributes.")
    trace_findings_list(trace_findings)


def trace_findings_list(trace_findings: pd.DataFrame) -> None:
    """Each finding of the open trace: rule, mode, severity, evidence and remedy."""
    st.subheader("Findings in this trace")
    for f in trace_findings.itertuples():
        with st.container(border=True):
            st.markdown(f"{layer_badge(str(f.layer))} **{f.rule_id} · {f.mode}** · severity {f.severity}"
                        + (" · **root cause**" if f.primary else "") + (" · silenced" if f.silenced else ""),
                        unsafe_allow_html=True)  # only catalog values here; trace content goes below, escaped
            st.caption(f"span {md_code(f.span_id)} · step {md_text(f.step)}")
            st.write(f.title)
            st.code(str(f.evidence), language=None, wrap_lines=True)
            st.caption(f"Remedy: {md_text(f.remedy)}")


def span_detail(span: pd.Series, table) -> None:  # type: ignore[no-untyped-def]
    """Everything one span carries; long text folded."""
    with st.container(border=True):
        st.markdown(f"**Span** {md_code(span['name'])} · {md_text(span['kind'])} · {md_text(span['status'])}")
        cost = span_cost(span["recorded_cost"], span["model"], span["input_tokens"], span["output_tokens"], table)
        facts = {
            "span id": span["span_id"], "parent": span["parent_span_id"], "agent": span["agent"],
            "attempt": span["attempt_no"], "model": span["model"], "provider": span["provider"],
            "input tokens": span["input_tokens"], "output tokens": span["output_tokens"],
            "cost": money(cost) if cost is not None else "unpriced" if present(span["model"]) else "n/a",
            "start": span["start_time"], "duration ms": span["duration_ms"],
        }
        shown = {k: str(v) for k, v in facts.items() if present(v)}
        st.dataframe(pd.DataFrame({"field": list(shown), "value": list(shown.values())}), hide_index=True,
                     width="stretch")
        if span["status"] == "error" or present(span["error_type"]):
            st.markdown("**Error**")
            error_type = span["error_type"] if present(span["error_type"]) else ""
            message = span["error_message"] if present(span["error_message"]) else ""
            st.code(f"{error_type}: {message}", language=None, wrap_lines=True)
        for title, value in (("Input", span["input"]), ("Output", span["output"]),
                             ("Attributes", _attributes(span["metadata"], span["extra"]))):
            if not present(value):
                continue
            text = str(value)
            with st.expander(f"{title} ({len(text):,} characters)", expanded=len(text) <= LONG_TEXT):
                st.code(text, language=None, wrap_lines=True)


def _attributes(metadata: object, extra: object) -> str:
    parts = []
    for value in (metadata, extra):
        if not present(value):
            continue
        try:
            parts.append(json.dumps(json.loads(str(value)), indent=2, ensure_ascii=False))
        except ValueError:
            parts.append(str(value))
    return "\n".join(parts)


with guarded():
    page()
