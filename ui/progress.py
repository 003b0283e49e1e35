"""Progress for runs that take more than about a second: steps, a stop button, partial results.

    with progress.steps("Uptraining the GQA variants", total=4, key="gqa") as p:
        for variant in variants:
            p.tick(f"variant {variant}")           # raises Stopped when the reader pressed Stop
            out.append(run_one(variant))           # each step cached on its own (ui.cached.data)
            p.partial(lambda: figure(plot(out)))   # what is done so far, redrawn as it arrives

``sweep`` is the common case: one cached call per item, so a stopped sweep keeps what it finished and a
rerun resumes from the cache. Stop works the way Streamlit works: pressing the button asks for a rerun,
which interrupts the running script at its next Streamlit call (every ``tick``), and the rerun sees the stop.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import streamlit as st


class Stopped(Exception):
    """The reader pressed Stop: the caller shows what is done so far."""


class Steps:
    def __init__(self, label: str, total: int, key: str, stoppable: bool = True):
        self.label, self.total, self.key = label, max(int(total), 1), key
        self.done = 0
        self.t0 = time.perf_counter()
        self.stopped = bool(st.session_state.get(f"_stop_{key}", False))
        self.status = st.status(f"{label} …", expanded=True)
        with self.status:
            self.bar = st.progress(0.0, text=f"0 of {self.total}")
            if stoppable:
                st.button("⏹ Stop", key=f"stop_btn_{key}", on_click=self._request_stop,
                          help="Stop after the current step; what is finished so far stays on the page.")
            self.partial_box = st.empty()

    def _request_stop(self) -> None:
        st.session_state[f"_stop_{self.key}"] = True

    def tick(self, text: str) -> None:
        """Announce the next step (call before doing it)."""
        if st.session_state.get(f"_stop_{self.key}", False):
            raise Stopped()
        self.bar.progress(min(self.done / self.total, 1.0),
                          text=f"{text} ({self.done + 1} of {self.total}, {time.perf_counter() - self.t0:.1f} s)")
        self.done += 1

    def partial(self, draw: Callable[[], Any]) -> None:
        with self.partial_box.container():
            draw()

    def finish(self, stopped: bool = False) -> None:
        st.session_state.pop(f"_stop_{self.key}", None)
        took = f"{time.perf_counter() - self.t0:.1f} s"
        if stopped:
            self.status.update(label=f"{self.label}: stopped after {self.done - 1} of {self.total} steps ({took})",
                               state="error", expanded=True)
        else:
            self.bar.progress(1.0, text=f"{self.total} of {self.total}")
            self.status.update(label=f"{self.label}: done ({took})", state="complete", expanded=False)


@contextlib.contextmanager
def steps(label: str, total: int, key: str, stoppable: bool = True) -> Iterator[Steps]:
    s = Steps(label, total, key, stoppable)
    try:
        yield s
    except Stopped:
        s.finish(stopped=True)
    else:
        s.finish()


def sweep(label: str, items: Sequence, run_one: Callable[[Any], Any], *, key: str,
          describe: Callable[[Any], str] = str, draw_partial: Callable[[list], Any] | None = None
          ) -> tuple[list, bool]:
    """Run ``run_one(item)`` (cached) for each item with progress and a stop button.

    Returns (results so far, complete?). ``draw_partial(results)`` redraws the partial result after each item.
    """
    out: list = []
    complete = False
    store, sig = f"_partial_{key}", repr(list(items))[:2000]
    with steps(label, len(items), key) as s:
        for item in items:
            s.tick(describe(item))
            out.append(run_one(item))
            st.session_state[store] = (sig, list(out))
            if draw_partial is not None and len(out) < len(items):
                s.partial(lambda: draw_partial(out))
        complete = True
    if not complete:
        saved = st.session_state.get(store)
        if saved and saved[0] == sig and len(saved[1]) > len(out):
            out = list(saved[1])
        st.info(f"Stopped: showing {len(out)} of {len(items)} steps. Rerun (or change a control) to continue; "
                "finished steps come from the cache.")
    return out, complete


def iterate(label: str, items: Iterable, key: str, total: int) -> Iterator[Any]:
    """Progress over any iterable (no stop button)."""
    with steps(label, total, key, stoppable=False) as s:
        for i, item in enumerate(items):
            s.tick(f"step {i + 1}")
            yield item
