"""Live timings on the pages go through the server's measurement queue (ui.measure_queue.measured).

- Two sessions opening a timed page at the same moment: their timed runs execute one after the other (the
  lab calls, watched from outside, never overlap, and neither do the queue's records of them).
- A result measured by one session is shown to the next with its age, threads and load, and "Measure again"
  measures it again.
"""
from __future__ import annotations

import functools
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import ROOT, assert_clean, texts
from viz_core.labs import attention_lab
from viz_core.measure.queue import SHARED

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "pages" / "attention_lab.py")


def _watch(monkeypatch) -> list[tuple[float, float, int]]:
    """Wrap the page's lab call (the page imports it afresh on every run) to log (start, end, seed)."""
    calls: list[tuple[float, float, int]] = []
    real = attention_lab.run_lab

    @functools.wraps(real)
    def run_lab(cfg):
        t0 = time.perf_counter()
        try:
            return real(cfg)
        finally:
            calls.append((t0, time.perf_counter(), cfg.inputs.seed))

    monkeypatch.setattr(attention_lab, "run_lab", run_lab)
    return calls


def _records(seeds) -> list:
    out = []
    for key, (_, rec) in list(SHARED._d.items()):
        if key[1] == "run_lab" and key[2][0].inputs.seed in seeds:
            out.append(rec)
    return out


def test_two_sessions_time_one_after_the_other(monkeypatch):
    seeds = (101, 102)  # two different settings: both must be measured (no shared result to reuse)
    SHARED.clear()
    calls = _watch(monkeypatch)
    apps = []
    for seed in seeds:
        at = AppTest.from_file(PAGE, default_timeout=300)
        at.session_state["seed"] = seed
        apps.append(at)
    start = threading.Barrier(len(apps))

    def session(at):
        start.wait()
        at.run()

    threads = [threading.Thread(target=session, args=(at,)) for at in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    for at in apps:
        assert_clean(at)
    assert sorted(c[2] for c in calls) == list(seeds)
    (a0, a1, _), (b0, b1, _) = sorted(calls)
    assert a1 <= b0, f"timed runs overlapped: {a0:.3f}-{a1:.3f} and {b0:.3f}-{b1:.3f}"
    recs = sorted(_records(seeds), key=lambda r: r.started)
    assert len(recs) == 2 and recs[0].finished <= recs[1].started
    assert recs[1].queued_s > 0  # the second session waited in line for the first
    for at in apps:
        assert "measured" in texts(at) and "1 thread" in texts(at)


def test_shared_result_shows_its_age_and_measures_again(monkeypatch):
    SHARED.clear()
    calls = _watch(monkeypatch)
    first = AppTest.from_file(PAGE, default_timeout=300)
    first.session_state["seed"] = 103
    first.run()
    assert_clean(first)
    assert len(calls) == 1
    second = AppTest.from_file(PAGE, default_timeout=300)  # another session, same settings
    second.session_state["seed"] = 103
    second.run()
    assert_clean(second)
    assert len(calls) == 1  # reused, not measured again
    caption = texts(second)
    assert "ago on this server, 1 thread" in caption
    again = [b for b in second.button if b.label == "Measure again"]
    assert again
    before = _records((103,))[0].finished
    again[0].click().run()
    assert_clean(second)
    assert len(calls) == 2 and _records((103,))[0].finished > before
