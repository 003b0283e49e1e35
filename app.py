"""Transformer Efficiency Lab: the router and the shared sidebar.

Pages are discovered from the headers of ``pages/*.py`` (see ui/registry.py) and grouped by subject.
"""
import time

import streamlit as st

from ui import registry, state

st.set_page_config(page_title="Transformer Efficiency Lab", page_icon="⚡", layout="wide",
                   initial_sidebar_state="expanded")

nav: dict[str, list] = {}
for section, pages in registry.by_section().items():
    label = "" if section == "Start" else section
    nav[label] = [st.Page(p.path, title=p.title, icon=p.icon, default=p.default,
                          url_path=None if p.default else p.url_path) for p in pages]

page = st.navigation(nav, expanded=True)
settings = state.sidebar()
t0 = time.perf_counter()
try:
    page.run()
finally:
    # Drawn when the page's script has finished (also after st.stop): the browser tests and
    # scripts/measure_pages.py wait for `.st-key-lab_page_done`; the reader sees what this run cost.
    with st.container(key="lab_page_done"):
        st.caption(f"⏱ This page ran in {time.perf_counter() - t0:.2f} s on the server "
                   f"({settings.threads} CPU thread{'s' if settings.threads > 1 else ''} for torch).")
