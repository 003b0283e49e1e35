"""Cache wrappers around viz_core functions.

Pages never call heavy viz_core functions directly: they wrap them once at module level, e.g.

    run_patching = cached.data(viz_core.labs.vit_patching.run, label="Cutting the image into patches")
    model = cached.resource(viz_core.models.load_tiny_gpt)()

``data`` caches results (frozen config dataclasses hash cleanly), shows a spinner with ``label`` while a
result is computed (cache misses only, so nothing flashes on a cached rerun), and records each result for
the page's JSON download (ui.export). ``resource`` keeps one shared object: models are loaded once and never
mutated (per-run state such as a KV cache is passed in and returned by viz_core, never stored on the model).
Every cache is bounded: ``max_entries`` always, ``ttl`` for results (a result older than that is recomputed).
Timed results do not come through here: ``ui.measure_queue.measured`` keeps them in the measurement queue's
shared cache (``viz_core.measure.queue.SHARED``, bounded too: 64 entries, 6 h), with the load they ran under.
"""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import streamlit as st

from ui import export

F = TypeVar("F", bound=Callable)
DATA_TTL_S = 6 * 3600


def _label(fn: Callable) -> str:
    doc = (fn.__doc__ or "").strip().splitlines()
    what = doc[0].rstrip(".") if doc and len(doc[0]) < 90 else f"{fn.__module__.split('.')[-1]}.{fn.__name__}"
    return f"Running: {what}…"


def data(fn: F, *, max_entries: int = 32, ttl: float | None = DATA_TTL_S, label: str | None = None) -> F:
    inner = st.cache_data(fn, max_entries=max_entries, ttl=ttl, show_spinner=label or _label(fn))

    @functools.wraps(fn)
    def call(*args, **kwargs):
        out = inner(*args, **kwargs)
        export.record(fn, args, kwargs, out)
        return out

    call.clear = inner.clear  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


def resource(fn: F, *, max_entries: int | None = 4, ttl: float | None = None, label: str | None = None) -> F:
    return st.cache_resource(fn, max_entries=max_entries, ttl=ttl, show_spinner=label or _label(fn))


def timed(fn: F, *, max_entries: int = 32, ttl: float | None = DATA_TTL_S, label: str | None = None) -> Callable:
    """Like ``data``, but the call returns ``(result, measured_at)`` with the time.time() of the run that made the
    result, so a page can say how long ago a cached measurement was taken."""
    import time

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return fn(*args, **kwargs), time.time()

    inner = st.cache_data(run, max_entries=max_entries, ttl=ttl, show_spinner=label or _label(fn))

    @functools.wraps(fn)
    def call(*args, **kwargs):
        out = inner(*args, **kwargs)
        export.record(fn, args, kwargs, out[0])
        return out

    call.clear = inner.clear  # type: ignore[attr-defined]
    return call
