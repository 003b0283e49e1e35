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
page.run()
