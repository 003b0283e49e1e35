"""Long runs: estimated before they start, refused above the time limit, and shown with progress and a Stop
button above about 5 s (``viz_core.measure.budget``). Never a silent minute.

    res = longrun.run(token_drop, cfg, estimate_s=est, key="drop_tokens", what="Dropping tokens on 2000 images",
                      fits="fewer test images")
    if res is None: ...  # stopped by the reader; the page says so and skips the section

``fn(cfg, _progress=callback)`` is usually a ``ui.cached.data`` wrapper: Streamlit leaves parameters whose
name starts with ``_`` out of the cache key, so the callback does not change caching. ``callback(fraction,
text)`` updates the bar; pressing Stop reruns the script, which interrupts the run at its next update.
The stopped configuration is remembered, so an unrelated control does not start it again.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import streamlit as st

from viz_core.measure import budget


def run(fn: Callable[..., Any], cfg: Any, *, estimate_s: float, key: str, what: str, fits: str) -> Any | None:
    budget.check_seconds(estimate_s, what=what, fits=fits)  # BudgetError: shown by the page's guard()
    if estimate_s <= budget.PROGRESS_AFTER_S:
        return fn(cfg)
    stopped_key = f"_lab_stopped_{key}"
    if st.session_state.get(stopped_key) == cfg:
        st.info(f"⏹ Stopped: {what} (estimated at {estimate_s:.0f} s on this machine). For a quicker run choose "
                f"{fits}.")
        if not st.button("Run it anyway", key=f"{key}_resume"):
            return None
        st.session_state.pop(stopped_key, None)
    bar_col, stop_col = st.columns([6, 1])
    if stop_col.button("⏹ Stop", key=f"{key}_stop", help="Stops this run; the rest of the page stays."):
        st.session_state[stopped_key] = cfg
        st.info(f"⏹ Stopped: {what}. For a quicker run choose {fits}.")
        return None
    bar = bar_col.progress(0.0, text=f"{what}: about {estimate_s:.0f} s, estimated before starting…")
    t0 = time.perf_counter()

    def progress(fraction: float, text: str = "") -> None:
        elapsed = time.perf_counter() - t0
        bar.progress(min(max(float(fraction), 0.0), 1.0),
                     text=f"{what}: {fraction:.0%} after {elapsed:.0f} s of about {estimate_s:.0f} s"
                          + (f" · {text}" if text else ""))

    res = fn(cfg, _progress=progress)
    bar.progress(1.0, text=f"{what}: done in {time.perf_counter() - t0:.1f} s (estimated {estimate_s:.0f} s; "
                           "instant when the result was cached)")
    return res
