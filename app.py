"""Transformer Efficiency Lab: the router and the shared sidebar.

Pages are discovered from the headers of ``pages/*.py`` (see ui/registry.py) and grouped by subject.
"""
import time

import streamlit as st

from ui import crafted, errors, registry, state

crafted.install()  # the session-level guard against values only a crafted client can send (ui/crafted.py)

st.set_page_config(page_title="Transformer Efficiency Lab", page_icon="⚡", layout="wide",
                   initial_sidebar_state="expanded")

nav: dict[str, list] = {}
for section, pages in registry.by_section().items():
    label = "" if section == "Start" else section
    nav[label] = [st.Page(p.path, title=p.title, icon=p.icon, default=p.default,
                          url_path=None if p.default else p.url_path) for p in pages]

page = st.navigation(nav, expanded=True)
t0 = time.perf_counter()
settings = None
early = crafted.take_notes()  # decoded before this script started (Streamlit's widget callbacks)
if early:
    st.warning(crafted.message(early), icon="🛡️")
try:
    with errors.routed():
        settings = state.sidebar()
        page.run()
except errors.PageStopped:
    pass  # the page ended early with its message (ui.errors.stop / guard)
except Exception as exc:  # the session-level guard: values only a crafted client can send
    reason = errors.crafted_value(exc)
    if reason is None:
        raise  # a bug: let it surface
    st.error(f"**This request was not run.** {reason} The page's controls only offer values the lab can use; "
             "change a control or reload the page to continue.", icon="🛡️")
finally:
    late = crafted.take_notes()  # decoded while the page registered its widgets
    if late:
        st.warning(crafted.message(late), icon="🛡️")
    # Drawn on every page end, including ui.errors.stop() and the session guard above (unlike st.stop(),
    # which drops everything sent after it): the browser tests and scripts/measure_pages.py wait for
    # `.st-key-lab_page_done`; the reader sees what this run cost.
    try:
        threads = settings.threads if settings is not None else state.settings().threads
    except (TypeError, ValueError, OverflowError):  # a crafted value in the sidebar's own state
        threads = 1
    with st.container(key="lab_page_done"):
        st.caption(f"⏱ This page ran in {time.perf_counter() - t0:.2f} s on the server "
                   f"({threads} CPU thread{'s' if threads > 1 else ''} for torch).")
