"""Coordination Audit: the router and frame. Pages are thin views over ``audit/``."""

from __future__ import annotations

import contextlib

import streamlit as st

from pages.common import current, sample_banner, show_error

st.set_page_config(page_title="Coordination Audit", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/upload.py", title="Upload", icon="📤"),
    st.Page("pages/overview.py", title="Overview", icon="📊", default=True),
    st.Page("pages/failures.py", title="Failures", icon="🧯"),
    st.Page("pages/reliability.py", title="Reliability", icon="🔗"),
    st.Page("pages/costs.py", title="Costs", icon="💸"),
    st.Page("pages/checklist.py", title="Checklist", icon="✅"),
    st.Page("pages/export.py", title="Export", icon="📦"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
]
page = st.navigation(PAGES)


def dataset_sidebar() -> None:
    """Which dataset this session is looking at; drawn after the page, which may have just replaced it."""
    loaded = current()
    with st.sidebar:
        st.caption("Dataset")
        st.write(", ".join(f"`{n}`" for n in loaded.names) + (" (sample)" if loaded.is_sample else ""))
        s = loaded.report.summary
        st.caption(f"{s.traces:,} traces · {s.spans:,} spans · {s.quarantined_rows:,} quarantined")


try:
    if page.title != "Upload":
        sample_banner(current())
    page.run()
except Exception as e:  # Streamlit's own control flow (rerun, stop) is not an Exception
    show_error(e)
finally:
    with contextlib.suppress(Exception):  # an error is already on the page
        dataset_sidebar()
