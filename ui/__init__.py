"""The only Streamlit-aware helpers: cache wrappers, shared controls, error display, page registry.

Never imports torch (a test enforces it); heavy work goes through ``viz_core``.
"""
from __future__ import annotations


def _leave_mpa_v1() -> None:
    """Make sure app.py's router runs even when a cold server's first visitor opens a page URL directly.

    Streamlit treats an app with a ``pages/`` folder as a v1 multipage app until ``st.navigation`` has been
    called once in the process; until then a direct link such as ``/vit_patching`` runs that page file
    *without* app.py (no page config, no shared sidebar). Every page imports ``ui``, so on the first import
    we switch the process to router mode and rerun, which then goes through app.py.
    """
    try:
        import streamlit as st
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - other Streamlit versions
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_mpa_v1()
