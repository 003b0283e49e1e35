"""Cache wrappers around viz_core functions.

Pages never call heavy viz_core functions directly: they wrap them once at module level, e.g.

    run_patching = cached.data(viz_core.labs.vit_patching.run)
    model = cached.resource(viz_core.models.load_tiny_gpt)()

``data`` caches results (frozen config dataclasses hash cleanly); ``resource`` keeps one shared object
(models are loaded once and never mutated).
"""
from __future__ import annotations

from typing import Callable, TypeVar

import streamlit as st

F = TypeVar("F", bound=Callable)


def data(fn: F, *, max_entries: int = 32, ttl: float | None = None) -> F:
    return st.cache_data(fn, max_entries=max_entries, ttl=ttl, show_spinner=False)


def resource(fn: F, *, max_entries: int | None = 4) -> F:
    return st.cache_resource(fn, max_entries=max_entries, show_spinner=False)


def timed(fn: F, *, max_entries: int = 32) -> Callable:
    """Like ``data``, but the call returns ``(result, measured_at)`` with the time.time() of the run that made the
    result, so a page can say how long ago a cached measurement was taken."""
    import functools
    import time

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return fn(*args, **kwargs), time.time()

    return st.cache_data(run, max_entries=max_entries, show_spinner=False)
