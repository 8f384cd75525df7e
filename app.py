"""Coordination Audit: the router and frame. Pages are thin views over ``audit/``.

``pages/`` holds the page files, so Streamlit's legacy pages-folder navigation is off
(``client.showSidebarNavigation = false``) and the sidebar draws its own links:
no file of ``pages/`` is ever listed as a page of its own.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from pages.common import current, ensure_router, filter_sidebar, md_code, sample_banner, show_error

st.set_page_config(page_title="Coordination Audit", page_icon=":material/hub:", layout="wide")
ensure_router()

PAGES = [
    st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:"),
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/failures.py", title="Failures", icon=":material/error:"),
    st.Page("pages/reliability.py", title="Reliability", icon=":material/link:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("pages/checklist.py", title="Checklist", icon=":material/checklist:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
]
page = st.navigation(PAGES, position="hidden")

with st.sidebar:
    st.markdown("### Coordination Audit")
    for p in PAGES:
        st.page_link(p, label=p.title, icon=p.icon)
    st.divider()


def dataset_sidebar() -> None:
    """Which dataset this session is looking at; drawn after the page, which may have just replaced it."""
    loaded = current()
    with st.sidebar:
        st.caption("Dataset")
        st.markdown(", ".join(md_code(n) for n in loaded.names) + (" (sample)" if loaded.is_sample else "")
                    + (" (saved audit)" if loaded.dataset.saved else ""))
        s = loaded.dataset.report.summary
        st.caption(f"{s.traces:,} traces · {s.spans:,} spans · {s.quarantined_rows:,} quarantined")


try:
    if page.title != "Upload":
        sample_banner(current())
    if page.title not in ("Upload", "Export"):
        filter_sidebar(current())
    page.run()
except Exception as e:  # Streamlit's own control flow (rerun, stop) is not an Exception
    show_error(e)
finally:
    with contextlib.suppress(Exception):  # an error is already on the page
        dataset_sidebar()
