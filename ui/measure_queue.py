"""Streamlit front end of the server's measurement queue (viz_core.measure.queue).

- ``queued(label, device=..., threads=...)``: a context manager for one timed run. While the device is busy
  it shows "queued, position k" with a Cancel button; the timed work then runs with ``threads`` set inside
  the queue. Pressing Cancel (or any button) makes Streamlit stop the script at its next UI call: the queue
  removes the waiting ticket and nothing is measured.
- ``shared(key, compute, ...)``: a measurement shared by every session of this server, shown with its age
  and thread count ("measured 2 min ago on this server, 1 thread") and a "measure again" button.
- ``provenance(record)``: the caption under a measured result, flagged when it ran under contention.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, TypeVar

import streamlit as st

from viz_core.measure.queue import SHARED, RunRecord, queue_for

T = TypeVar("T")


@contextlib.contextmanager
def queued(label: str, *, device: str = "cpu", threads: int | None = 1, key: str = "mq") -> Iterator[dict]:
    """Hold the device for one timed run; yields a dict that holds ``record`` (a RunRecord) afterwards."""
    box = st.empty()
    q = queue_for(device)
    slot: dict = {}

    def on_wait(position: int) -> None:  # called every ~0.2 s while waiting: each UI call lets Streamlit stop us
        if "info" not in slot:
            with box.container():
                slot["info"] = st.empty()
                st.button("Cancel", key=f"{key}_cancel", help="Leave the queue; nothing is measured.")
        slot["info"].info(f"⏳ **queued, position {position}**: another session is measuring on this server's "
                          f"{device.upper()}; timed runs go one at a time so that they do not disturb each other.")

    with q.timed(label, threads=threads, on_wait=on_wait) as held:
        box.empty()
        yield held


def provenance(record: RunRecord | None, prefix: str = "") -> None:
    """Caption: when, where, with how many threads, under what load (a warning when contended)."""
    if record is None:
        return
    text = prefix + record.describe()
    if record.contended:
        st.warning(f"⚠️ {text}. Other processes kept {record.others_cores or 0:.1f} of {record.cores} cores busy: "
                   "these timings are probably slower than this machine can do; measure again when it is quiet.")
    else:
        st.caption(text)


def shared(key, compute: Callable[[], T], *, label: str, device: str = "cpu", threads: int | None = 1,
           again_label: str = "Measure again", run_now: bool = True) -> tuple[T | None, RunRecord | None]:
    """One measurement for every session: reuse it when this server has one, else measure through the queue.

    ``run_now=False`` only reports what is cached (the page can offer a button instead of measuring).
    """
    again = st.button(again_label, key=f"again_{abs(hash(key))}")
    if again:
        SHARED.drop(key)
    hit = SHARED.get(key)
    if hit is not None:
        return hit  # (value, record)
    if not (run_now or again):
        return None, None
    with queued(label, device=device, threads=threads, key=f"mq_{abs(hash(key))}") as held:
        value = compute()
    SHARED.put(key, value, held["record"])
    return value, held["record"]
