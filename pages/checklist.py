"""Checklist: scored from the evidence; the lead can override an item with a note."""

from __future__ import annotations

import streamlit as st

from pages.common import current, guarded

ICONS = {"pass": "🟢", "warn": "🟠", "fail": "🔴", "unknown": "⚪"}
SCORES = ["pass", "warn", "fail", "unknown"]



def page() -> None:
    """The page, top to bottom."""
    loaded = current()
    report = loaded.report

    st.title("Checklist")
    counts = {s: sum(1 for i in report.checklist if (loaded.overrides.get(i.id, {}).get("score") or i.score) == s)
              for s in SCORES}
    st.write(" · ".join(f"{ICONS[s]} {counts[s]} {s}" for s in SCORES))

    for layer in ("handoff", "state", "routing", "recovery", "observability"):
        st.subheader(layer.capitalize())
        for item in [i for i in report.checklist if i.layer == layer]:
            override = loaded.overrides.get(item.id, {})
            shown = override.get("score") or item.score
            with st.container(border=True):
                st.markdown(f"{ICONS[shown]} **{item.id} · {item.title}** — {shown}"
                            + (f" (overridden; computed: {item.score})" if override.get("score") else ""))
                st.caption(f"Evidence: {item.evidence}")
                st.caption(f"Remedy: {item.remedy}")
                with st.popover("Override"):
                    choice = st.selectbox("Score", ["(computed)", *SCORES], key=f"ovr_{loaded.key}_{item.id}",
                                          index=(SCORES.index(override["score"]) + 1) if override.get("score") else 0)
                    note = st.text_input("Note", value=override.get("note", ""), key=f"note_{loaded.key}_{item.id}")
                    if st.button("Save", key=f"save_{loaded.key}_{item.id}"):
                        if choice == "(computed)":
                            loaded.overrides.pop(item.id, None)
                        else:
                            loaded.overrides[item.id] = {"score": choice, "note": note}
                        st.rerun()


with guarded():
    page()
