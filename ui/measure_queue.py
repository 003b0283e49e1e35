"""Streamlit front end of the server's measurement queue (viz_core.measure.queue).

- ``queued(label, device=..., threads=...)``: a context manager for one timed run. While the device is busy
  it shows "queued, position k" with a Cancel button; the timed work then runs with ``threads`` set inside
  the queue. Pressing Cancel (or any button) makes Streamlit stop the script at its next UI call: the queue
  removes the waiting ticket and nothing is measured.
- ``shared(key, compute, ...)``: a measurement shared by every session of this server, shown with its age
  and thread count ("measured 2 min ago on this server, 1 thread") and a "measure again" button.
- ``provenance(record)``: the caption under a measured result, flagged when it ran under contention.
- ``measured(fn, cfg, ...)``: what pages call for a lab run that times something. The run goes through the
  queue as one timed run (threads set inside it), its result is shared with every session with its age, load
  and a "measure again" button; with ``button=...`` a heavy run starts only when asked for, so the page's
  first render stays fast. Pages call it instead of ``ui.cached.data`` for timed labs.
"""
from __future__ import annotations

import contextlib
import hashlib
from typing import Callable, Iterator, TypeVar

import streamlit as st

from ui import export, longrun
from viz_core.device import resolve_device
from viz_core.measure import budget
from viz_core.measure.queue import SHARED, RunRecord, queue_for

T = TypeVar("T")


@contextlib.contextmanager
def queued(label: str, *, device: str = "cpu", threads: int | None = 1, key: str = "mq") -> Iterator[dict]:
    """Hold the device for one timed run; yields a dict that holds ``record`` (a RunRecord) afterwards."""
    box = st.empty()
    device = _device(device)
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


def _key_of(fn: Callable, args: tuple, device: str, threads: int | None):
    key = (fn.__module__, fn.__qualname__, args, device, threads)
    try:
        hash(key)
        return key
    except TypeError:  # an unhashable argument: key on its repr
        return (fn.__module__, fn.__qualname__, repr(args), device, threads)


def _widget_key(key) -> str:
    return "mq_" + hashlib.sha1(repr(key).encode()).hexdigest()[:12]


def _device(device: str) -> str:
    return resolve_device(device).type if device in ("auto", "cuda", "cpu") else device


def is_shared(fn: Callable, *args, device: str = "cpu", threads: int | None = 1) -> bool:
    """Whether this server already holds a measurement of ``fn(*args)`` (any session)."""
    return SHARED.get(_key_of(fn, args, _device(device), threads)) is not None


def point(fn: Callable[..., T], *args, label: str, device: str = "cpu", threads: int | None = 1,
          fresh: bool = False) -> tuple[T, RunRecord]:
    """One timed run of ``fn(*args)`` through the queue (no caption): the shared result when there is one and
    ``fresh`` is false, else measured now ("queued, position k" + Cancel while waiting) and shared."""
    device = _device(device)
    skey = _key_of(fn, args, device, threads)
    hit = None if fresh else SHARED.get(skey)
    if hit is not None:
        return hit  # type: ignore[return-value]
    with queued(label, device=device, threads=threads, key=_widget_key(skey)) as held:
        hit = None if fresh else SHARED.get(skey)  # another session measured it while this one waited
        if hit is None:
            value = fn(*args)
    if hit is not None:
        return hit  # type: ignore[return-value]
    SHARED.put(skey, value, held["record"])
    return value, held["record"]


def gate(ready: bool, *, key: str, button: str, again_label: str = "Measure again") -> str | None:
    """Start control of a timed section. ``ready``: this server already measured it.

    Returns "cached" (show the shared result), "fresh" (``again_label`` pressed: measure again), "run" (``button``
    pressed) or None (not measured and not asked for: the page shows what the button will do and stops there)."""
    if ready:
        return "fresh" if st.button(again_label, key=f"{key}_again",
                                    help="Time it again now, through this server's queue.") else "cached"
    return "run" if st.button(button, key=f"{key}_go", type="primary",
                              help="Runs through this server's measurement queue: one timed run at a time, so "
                                   "sessions do not slow each other down.") else None


def provenance_many(records: list[RunRecord], what: str = "points") -> None:
    """One caption for a sweep: the most contended (else the oldest) of its runs."""
    records = [r for r in records if r is not None]
    if not records:
        return
    worst = max(records, key=lambda r: (r.contended, r.others_cores or 0.0, -r.finished))
    provenance(worst, prefix=f"{len(records)} {what}; {'worst' if len(records) > 1 else ''} ")


def measured(fn: Callable[..., T], *args, label: str, device: str = "cpu", threads: int | None = 1,
             button: str | None = None, again_label: str = "Measure again", key: str | None = None,
             stamp: bool = False, long: tuple[float, str] | None = None):
    """``fn(*args)`` as one timed run through this server's queue, shared with every session.

    - A result this server already measured (any session, within the shared cache's time-to-live) is shown
      at once, with "measured … ago on this server, k threads", the load it ran under, and ``again_label``.
    - Otherwise, with ``button`` set, nothing runs until that button is pressed (returns ``None``); after that
      this session's later settings measure at once. Without ``button`` the run starts now. While another
      session holds the device this one shows "queued, position k" with Cancel.
    ``threads``: torch threads of the run, set inside the queue (pass what the lab runs with). ``key``: the
    section's widget key (default: from ``fn``'s name). ``stamp``: return ``(value, measured_at)`` (time.time()
    of the measurement; ``(None, None)`` before the button), like ``ui.cached.timed``. ``long``:
    ``(estimated seconds, what would be quicker)``: above about 5 s the run shows that estimate first, then a
    progress bar and Stop (``ui.longrun``; ``fn(cfg, _progress=...)`` with one config argument).
    """
    device = _device(device)
    skey = _key_of(fn, args, device, threads)
    key = key or f"mq_{fn.__module__.rsplit('.', 1)[-1]}_{fn.__qualname__}"
    hit, again = SHARED.get(skey), False
    if hit is not None:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        caption = c1.empty()
        with caption:
            provenance(hit[1])
        again = c2.button(again_label, key=f"{key}_again", help="Time it again now, through this server's queue.")
        if not again:
            export.record(fn, args, {}, hit[0])
            return (hit[0], hit[1].finished) if stamp else hit[0]
        caption.empty()
    elif button is not None and not st.session_state.get(f"{key}_on"):
        if gate(False, key=key, button=button) is None:
            return (None, None) if stamp else None
        st.session_state[f"{key}_on"] = True
    if long is not None and long[0] > budget.PROGRESS_AFTER_S and len(args) == 1:
        with queued(label, device=device, threads=threads, key=_widget_key(skey)) as held:
            value = longrun.run(fn, args[0], estimate_s=long[0], key=f"{key}_long", what=label, fits=long[1])
        if value is None:  # stopped by the reader (longrun says so)
            return (None, None) if stamp else None
        record = held["record"]
        SHARED.put(skey, value, record)
    else:
        with st.spinner(f"{label}…"):
            value, record = point(fn, *args, label=label, device=device, threads=threads, fresh=again)
    provenance(record)
    export.record(fn, args, {}, value)
    return (value, record.finished) if stamp else value
