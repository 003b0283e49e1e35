"""Transformer Efficiency Lab: the router and the shared sidebar.

Pages are discovered from the headers of ``pages/*.py`` (see ui/registry.py) and grouped by subject. The
sidebar is drawn here (presentation toggle first, run settings, then the page list) so the toggle is
reachable without scrolling on a 720 px projector; the URL carries the settings and the page's controls.
"""
import time

import streamlit as st

from ui import memory

memory.tune()  # before torch is imported (ui.state imports it): big tensors go back to the system when freed

from ui import crafted, errors, export, layout, params, registry, state  # noqa: E402
from viz_core.plots import theme  # noqa: E402

crafted.install()  # the session-level guard against values only a crafted client can send (ui/crafted.py)

st.set_page_config(page_title="Transformer Efficiency Lab", page_icon="⚡", layout="wide",
                   initial_sidebar_state="expanded")

params.begin_run()
export.begin_run()
sections = registry.by_section()
pages = {p.path: st.Page(p.path, title=p.title, icon=p.icon, default=p.default,
                         url_path=None if p.default else p.url_path)
         for ps in sections.values() for p in ps}
page = st.navigation(list(pages.values()), position="hidden")
current = next((p for ps in sections.values() for p in ps if pages[p.path].url_path == page.url_path), None)

with st.sidebar:
    st.markdown("#### ⚡ Transformer Efficiency Lab")
present = state.presentation_toggle()
link_slot = st.sidebar.container()
settings = state.sidebar()
theme.set_scale(theme.PRESENT_SCALE if present else 1.0)
with st.sidebar:
    for section, ps in sections.items():
        if section != "Start":
            st.caption(section.upper())
        for p in ps:
            st.page_link(pages[p.path], label=p.title, icon=p.icon, query_params=params.shared())
if present:
    layout.presentation_css()

t0 = time.perf_counter()
completed = False
early = crafted.take_notes()  # values decoded before this script started (Streamlit's widget callbacks)
if early:
    st.warning(crafted.message(early), icon="🛡️")
try:
    with errors.routed(), errors.never_traceback():
        page.run()
    completed = True
except errors.PageStopped:
    completed = True  # the page ended early with its message (ui.errors.stop / guard), unlike st.stop()
finally:
    late = crafted.take_notes()  # values decoded while the page registered its widgets
    if late:
        st.warning(crafted.message(late), icon="🛡️")
    params.notes()  # (already shown beside their controls)
    memory.trim()
    if completed:
        params.drop_stale()
    if current is not None:
        export.page_json_button(page.url_path or "home", settings)
        layout.lesson_nav(current)
        with link_slot.popover("🔗 Link to this view", width="stretch"):
            st.caption("This page with its current controls and settings: copy it (button on the right).")
            st.code(params.view_link(page.url_path), language=None, wrap_lines=True)
    # Drawn on every page end, including ui.errors.stop() (after st.stop() Streamlit would drop it): the
    # browser tests and scripts/measure_pages.py wait for `.st-key-lab_page_done`; the reader sees what this
    # run cost.
    runs = st.session_state["_lab_runs"] = st.session_state.get("_lab_runs", 0) + 1
    with st.container(key="lab_page_done"):
        with st.container(key=f"lab_run_{runs}"):  # changes every run (scripts/load_test.py waits on it)
            st.html(f"<span class='lab-run' data-run='{runs}'></span>")
        if not present:
            st.caption(f"⏱ This page ran in {time.perf_counter() - t0:.2f} s on the server "
                       f"({settings.threads} CPU thread{'s' if settings.threads > 1 else ''} for torch).")
