"""Checklist: one compact table scored from the evidence; pick an item for its detail and
to override it with a note."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import current, guarded, md_text, shown_report

# Material icons ship with Streamlit: no emoji font needed
ICONS = {"pass": ":green[:material/check_circle:]", "warn": ":orange[:material/warning:]",
         "fail": ":red[:material/cancel:]", "unknown": ":gray[:material/help:]"}
SCORE_COLOURS = {"pass": "#2E7D32", "warn": "#E65100", "fail": "#C62828", "unknown": "#757575"}
SCORES = ["pass", "warn", "fail", "unknown"]


def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    report = shown_report(loaded)
    items = report.checklist

    st.title("Checklist")
    shown = {i.id: loaded.overrides.get(i.id, {}).get("score") or i.score for i in items}
    st.write(" · ".join(f"{ICONS[s]} {sum(1 for v in shown.values() if v == s)} {s}" for s in SCORES))
    table = pd.DataFrame([{
        "id": i.id, "layer": i.layer, "practice": i.title, "score": shown[i.id],
        "overridden": "yes" if i.id in loaded.overrides else "", "evidence": i.evidence,
    } for i in items])
    styled = table.style.apply(lambda r: [f"color: {SCORE_COLOURS[r['score']]}; font-weight: 600"
                                          if c == "score" else "" for c in r.index], axis=1)
    event = st.dataframe(styled, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key=f"checklist_{loaded.key[:12]}", height=36 * len(table) + 40,
                         column_config={"practice": st.column_config.TextColumn(width="medium"),
                                        "evidence": st.column_config.TextColumn(width="large")})
    st.caption("Scores are proportional: a practice fails when its problem shows in at least "
               f"{loaded.dataset.audit.settings.checklist_fail_share:.1%} of traces (setting "
               "`checklist_fail_share`), and is a warning below that. Select a row for its detail and to override it.")

    rows = event.selection.rows if event and event.selection else []
    ids = [i.id for i in items]
    item_id = st.selectbox("Item", ids, index=rows[0] if rows else 0,
                           format_func=lambda x: f"{x} · {next(i.title for i in items if i.id == x)}",
                           key=f"item_{loaded.key[:12]}_{rows[0] if rows else 0}")
    item = next(i for i in items if i.id == item_id)
    override = loaded.overrides.get(item.id, {})
    with st.container(border=True):
        st.markdown(f"{ICONS[shown[item.id]]} **{item.id} · {md_text(item.title)}**: {shown[item.id]}"
                    + (f" (overridden; computed: {item.score})" if override.get("score") else ""))
        st.caption(f"Evidence: {md_text(item.evidence)}")
        st.caption(f"Remedy: {md_text(item.remedy)}")
        c1, c2, c3 = st.columns([1, 3, 1], vertical_alignment="bottom")
        choice = c1.selectbox("Override score", ["(computed)", *SCORES], key=f"ovr_{loaded.key}_{item.id}",
                              index=(SCORES.index(override["score"]) + 1) if override.get("score") else 0)
        note = c2.text_input("Note", value=override.get("note", ""), key=f"note_{loaded.key}_{item.id}")
        if c3.button("Save", key=f"save_{loaded.key}_{item.id}", width="stretch"):
            if choice == "(computed)":
                loaded.overrides.pop(item.id, None)
            else:
                loaded.overrides[item.id] = {"score": choice, "note": note}
            st.rerun()


with guarded():
    page()
