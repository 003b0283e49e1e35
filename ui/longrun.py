"""Long runs: estimated before they start, refused above the time limit, and shown with progress and a Stop
button above about 5 s (``viz_core.measure.budget``). Never a silent minute.

    res = longrun.run(token_drop, cfg, estimate_s=est, key="drop_tokens", what="Dropping tokens on 2000 images",
                      fits="fewer test images")
    if res is None: ...  # stopped by the reader; the page says so and skips the section

``fn(cfg, _progress=callback)`` is usually a ``ui.cached.data`` wrapper: Streamlit leaves parameters whose
name starts with ``_`` out of the cache key, so the callback does not change caching. It runs in a worker
thread; ``callback(fraction, text)`` records progress, which the script thread draws. Pressing Stop reruns
the script: the script thread is interrupted at its next bar update and the worker at its next callback.
The stopped configuration is remembered, so an unrelated control does not start it again.
"""
from __future__ import annotations

import threading
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
    state: dict[str, Any] = {"fraction": 0.0, "text": ""}
    cancel = threading.Event()

    def progress(fraction: float, text: str = "") -> None:  # called from the worker thread: no st.* here
        if cancel.is_set():
            raise _Cancelled()
        state["fraction"], state["text"] = min(max(float(fraction), 0.0), 1.0), text

    def work() -> None:
        try:
            state["result"] = fn(cfg, _progress=progress)
        except BaseException as e:  # handed to the script thread below
            state["error"] = e

    # The run goes in a worker thread so that the script thread can draw the bar (a cached function must not
    # draw into a block made outside it) and notice Stop: Streamlit interrupts the script thread at its next
    # element call, and the worker then stops at its next progress call.
    worker = threading.Thread(target=work, name=f"lab-longrun-{key}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.3)
            elapsed = time.perf_counter() - t0
            bar.progress(state["fraction"], text=f"{what}: {state['fraction']:.0%} after {elapsed:.0f} s of about "
                                                 f"{estimate_s:.0f} s" + (f" · {state['text']}" if state["text"] else ""))
    except BaseException:
        cancel.set()
        raise
    if "error" in state:
        raise state["error"]
    try:  # the JSON download lists this result too (the worker thread cannot reach the session)
        from ui import export

        export.record(fn, (cfg,), {}, state["result"])
    except Exception:  # noqa: BLE001 - an older ui without export
        pass
    bar.progress(1.0, text=f"{what}: done in {time.perf_counter() - t0:.1f} s (estimated {estimate_s:.0f} s; "
                           "instant when the result was cached)")
    return state["result"]


class _Cancelled(Exception):
    """The reader pressed Stop: the worker gives up at its next progress call (nothing is cached)."""
