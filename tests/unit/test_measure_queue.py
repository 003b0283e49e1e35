"""The measurement queue: timed sections never overlap, waiting callers see their place and can cancel,
threads are set inside and restored, load is recorded; the shared cache is bounded."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from viz_core.measure.queue import Cancelled, MeasurementQueue, SharedResults, Ticket, queue_for


def test_two_threads_at_once_do_not_overlap():
    q = MeasurementQueue("cpu")
    spans: list[tuple[float, float]] = []
    barrier = threading.Barrier(2)
    records = []

    def worker():
        barrier.wait()  # both ask at the same moment
        with q.timed("w", threads=1) as out:
            t0 = time.perf_counter()
            x = torch.randn(200, 200)
            for _ in range(20):
                x = x @ x / 200
            time.sleep(0.15)
            spans.append((t0, time.perf_counter()))
        records.append(out["record"])

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert len(spans) == 2
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 <= b0, f"timed sections overlap: {spans}"
    # the second run waited at least as long as the first one ran
    waited = max(r.queued_s for r in records)
    assert waited >= 0.1
    for r in records:
        assert r.finished >= r.started and r.wall_s >= 0.15 and r.threads == 1


def test_position_is_visible_and_cancel_works():
    q = MeasurementQueue("cpu")
    inside = threading.Event()
    release = threading.Event()
    seen: list[int] = []

    def holder():
        with q.timed("holder"):
            inside.set()
            release.wait(5)

    h = threading.Thread(target=holder)
    h.start()
    assert inside.wait(5)
    t2, t3 = Ticket(q, "second"), Ticket(q, "third")
    errors: dict[str, BaseException] = {}

    def waiter(ticket, log):
        try:
            with q.timed(ticket.label, ticket=ticket, on_wait=log.append, poll_s=0.02):
                pass
        except Cancelled as e:
            errors[ticket.label] = e

    log2, log3 = [], seen
    w2 = threading.Thread(target=waiter, args=(t2, log2))
    w2.start()
    while t2.position() != 1:
        time.sleep(0.01)
    w3 = threading.Thread(target=waiter, args=(t3, log3))
    w3.start()
    while t3.position() != 2:
        time.sleep(0.01)
    assert q.position(t3) == 2 and q.waiting() == 2
    t2.cancel()
    w2.join(5)
    assert "second" in errors
    while t3.position() != 1:  # moved up when the one ahead left
        time.sleep(0.01)
    deadline = time.time() + 5  # on a loaded machine the waiter's thread may not have run its callback yet
    while 1 not in seen and time.time() < deadline:
        time.sleep(0.01)
    release.set()
    h.join(5)
    w3.join(5)
    assert "third" not in errors
    assert 2 in seen and 1 in seen  # the waiter was told its position as it changed
    assert t3.position() == -1 and not q.busy()


def test_an_exception_while_waiting_leaves_the_line():
    q = MeasurementQueue("cpu")
    inside, release = threading.Event(), threading.Event()

    def holder():
        with q.timed("holder"):
            inside.set()
            release.wait(5)

    h = threading.Thread(target=holder)
    h.start()
    inside.wait(5)

    def stop(pos):  # what Streamlit does when the user presses stop: an exception from a UI call
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with q.timed("x", on_wait=stop):
            pass
    assert q.waiting() == 0
    release.set()
    h.join(5)


def test_threads_set_inside_and_restored():
    before = torch.get_num_threads()
    q = MeasurementQueue("cpu")
    target = 2 if before == 1 else 1
    with q.timed("t", threads=target) as out:
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    assert out["record"].threads == target
    with pytest.raises(ValueError):
        with q.timed("t", threads=target):
            raise ValueError("boom")
    assert torch.get_num_threads() == before and not q.busy()


def test_record_reports_load_and_age():
    q = MeasurementQueue("cpu")
    with q.timed("load", threads=1) as out:
        t_end = time.time() + 0.3
        while time.time() < t_end:  # busy: this process's own CPU time must not count as "others"
            sum(range(1000))
    r = out["record"]
    assert r.others_cpu_s is None or r.others_cpu_s >= 0
    if r.others_cores is not None:
        assert r.others_cores <= r.cores + 0.5
    assert 0.3 <= r.wall_s < 10  # the busy loop ran 0.3 s of wall time (more if the machine is loaded)
    text = r.describe(now=r.finished + 120)
    assert "2 min ago" in text and "1 thread" in text


def test_queue_for_is_process_wide():
    assert queue_for("cpu") is queue_for("cpu")
    assert queue_for("cuda") is queue_for("cuda:0")
    assert queue_for("cpu") is not queue_for("cuda")


def test_shared_results_bounded_and_expire():
    c = SharedResults(max_entries=2, ttl_s=60)
    q = MeasurementQueue("cpu")
    with q.timed("a") as out:
        pass
    rec = out["record"]
    for k in "abc":
        c.put(k, k.upper(), rec)
    assert len(c) == 2 and c.get("a") is None and c.get("c")[0] == "C"
    old = type(rec)(**{**rec.__dict__, "finished": rec.finished - 3600})
    c.put("old", 1, old)
    assert c.get("old") is None
