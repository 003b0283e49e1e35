"""Transformer Efficiency Lab: the router and the shared sidebar.

Pages are discovered from the headers of ``pages/*.py`` (see ui/registry.py) and grouped by subject.
"""
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
state.sidebar()
try:
    page.run()
finally:
    # An empty marker drawn when the page's script has finished (also after st.stop): the browser tests and
    # scripts/measure_pages.py wait for `.st-key-lab_page_done` instead of guessing from spinners.
    st.container(key="lab_page_done", height=1, border=False)
