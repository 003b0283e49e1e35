"""The server-wide measurement queue: one timed run at a time per device, threads set inside it.

Many sessions share one server. If two of them time something at once, each measures the other's load,
and ``torch.set_num_threads`` is process-wide, so one session would change the other's thread count in the
middle of its measurement. Every *timed* run therefore goes through ``queue_for(device).timed(...)``:

- runs on one device execute one after the other, first come first served; a waiting caller sees its
  position (``on_wait(k)`` is called while it waits, k = 1 means next) and can cancel (``Ticket.cancel()``,
  or any exception raised by ``on_wait``, e.g. Streamlit stopping the script);
- the torch thread count is set for the run and restored afterwards;
- each run records the load it ran under: the 1-minute load average before and after, and the CPU time
  that *other* processes used during the run (from /proc/stat minus this process's own CPU time), with a
  ``contended`` flag when those others needed more cores than the run left free;
- results carry when they were measured (``RunRecord.finished``).

Untimed work (building inputs, checking correctness, drawing) should run outside ``timed`` so that it is not
serialised. ``SharedResults`` is a bounded, process-wide cache of measured results with their RunRecord,
so one session's measurement is shown to every session with its age ("measured 2 min ago").
"""
from __future__ import annotations

import contextlib
import itertools
import os
import resource
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from viz_core.measure.threads import torch_threads


class Cancelled(Exception):
    """The caller cancelled while waiting in the queue."""


@dataclass(frozen=True)
class RunRecord:
    """What a timed run ran under (plain numbers, JSON-ready)."""

    device: str
    label: str
    threads: int  # torch threads during the run
    queued_s: float  # seconds spent waiting in the queue
    started: float  # time.time() at the start of the timed section
    finished: float  # time.time() at its end: "when it was measured"
    wall_s: float
    loadavg_before: float | None
    loadavg_after: float | None
    others_cpu_s: float | None  # CPU seconds used by other processes during the run
    others_cores: float | None  # others_cpu_s / wall_s: cores the rest of the machine kept busy
    cores: int
    contended: bool

    def describe(self, now: float | None = None) -> str:
        age = max(0.0, (now or time.time()) - self.finished)
        when = f"{age:.0f} s ago" if age < 90 else (f"{age / 60:.0f} min ago" if age < 5400 else f"{age / 3600:.1f} h ago")
        load = "" if self.others_cores is None else f"; other processes used {self.others_cores:.1f} of {self.cores} cores"
        flag = " — under contention, timings may be slow" if self.contended else ""
        return f"measured {when} on this server, {self.threads} thread{'s' * (self.threads != 1)}{load}{flag}"


def _busy_jiffies() -> int | None:
    """Busy CPU time of the whole machine in clock ticks (user+nice+system+irq+softirq+steal)."""
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            parts = fh.readline().split()
    except OSError:
        return None
    vals = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
    return vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + vals[7]


def _self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class Ticket:
    """A place in a device's queue."""

    _ids = itertools.count()

    def __init__(self, queue: "MeasurementQueue", label: str):
        self.id = next(self._ids)
        self.label = label
        self._queue = queue
        self.cancelled = False

    def position(self) -> int:
        """0: running now; k ≥ 1: k-th in line (1 = next); -1: no longer queued."""
        return self._queue.position(self)

    def cancel(self) -> None:
        self.cancelled = True
        self._queue._wake()


class MeasurementQueue:
    """FIFO of timed runs on one device (thread-safe)."""

    def __init__(self, device: str):
        self.device = device
        self._cond = threading.Condition()
        self._line: list[Ticket] = []  # waiting, in order
        self._running: Ticket | None = None

    def position(self, ticket: Ticket) -> int:
        with self._cond:
            if self._running is ticket:
                return 0
            return self._line.index(ticket) + 1 if ticket in self._line else -1

    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def busy(self) -> bool:
        with self._cond:
            return self._running is not None

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _acquire(self, ticket: Ticket, on_wait: Callable[[int], None] | None, poll_s: float) -> None:
        with self._cond:
            self._line.append(ticket)
        try:
            while True:
                with self._cond:
                    if ticket.cancelled:
                        raise Cancelled(f"{ticket.label}: cancelled while queued")
                    if self._running is None and self._line[0] is ticket:
                        self._line.pop(0)
                        self._running = ticket
                        return
                    pos = self._line.index(ticket) + (self._running is not None)
                if on_wait is not None:
                    on_wait(pos)  # may raise (a stop request): the except below leaves the line
                with self._cond:
                    if not ticket.cancelled and not (self._running is None and self._line[0] is ticket):
                        self._cond.wait(poll_s)
        except BaseException:
            with self._cond:
                if ticket in self._line:
                    self._line.remove(ticket)
                self._cond.notify_all()
            raise

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            if self._running is ticket:
                self._running = None
            self._cond.notify_all()

    @contextlib.contextmanager
    def timed(self, label: str = "", *, threads: int | None = None, on_wait: Callable[[int], None] | None = None,
              ticket: Ticket | None = None, poll_s: float = 0.2) -> Iterator[dict]:
        """Hold the device for one timed run. Yields a dict that receives ``record`` (a RunRecord) on exit.

        ``threads``: torch intra-op threads for the run (CPU), restored afterwards (default: unchanged).
        """
        ticket = ticket or Ticket(self, label)
        t_q = time.time()
        self._acquire(ticket, on_wait, poll_s)
        out: dict = {}
        try:
            with torch_threads(max(1, int(threads)) if threads else None), self._recording(out, label, t_q):
                yield out
        finally:
            self._release(ticket)

    @contextlib.contextmanager
    def _recording(self, out: dict, label: str, t_q: float) -> Iterator[None]:
        """Around the timed section: the load before and after, other processes' CPU time during it."""
        run_threads = torch.get_num_threads()
        load0, busy0, self0 = _loadavg(), _busy_jiffies(), _self_cpu_s()
        t0, w0 = time.time(), time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - w0
            busy1, self1 = _busy_jiffies(), _self_cpu_s()
            others = None
            if busy0 is not None and busy1 is not None:
                hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
                others = max(0.0, (busy1 - busy0) / hz - (self1 - self0))
            cores = os.cpu_count() or 1
            others_cores = others / wall if others is not None and wall > 0.05 else None
            load1 = _loadavg()
            free = max(0, cores - (run_threads if self.device == "cpu" else 1))  # cores the run left to others
            contended = bool((others_cores is not None and others_cores > free + 0.25)
                             or (load1 is not None and load1 > cores + 0.5))
            out["record"] = RunRecord(
                device=self.device, label=label, threads=run_threads, queued_s=t0 - t_q, started=t0,
                finished=time.time(), wall_s=wall, loadavg_before=load0, loadavg_after=load1,
                others_cpu_s=others, others_cores=others_cores, cores=cores, contended=contended)


_QUEUES: dict[str, MeasurementQueue] = {}
_QUEUES_LOCK = threading.Lock()


def queue_for(device: str) -> MeasurementQueue:
    """The process-wide queue of a device ("cpu", "cuda", "cuda:1"; "cuda" means "cuda:0")."""
    key = "cuda:0" if device == "cuda" else str(device)
    with _QUEUES_LOCK:
        if key not in _QUEUES:
            _QUEUES[key] = MeasurementQueue(key)
        return _QUEUES[key]


class SharedResults:
    """A bounded process-wide cache of measured results: key -> (value, RunRecord), LRU and time-to-live."""

    def __init__(self, max_entries: int = 64, ttl_s: float = 6 * 3600):
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> tuple[object, RunRecord] | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return None
            if time.time() - hit[1].finished > self.ttl_s:
                del self._d[key]
                return None
            self._d.move_to_end(key)
            return hit

    def put(self, key, value, record: RunRecord) -> None:
        with self._lock:
            self._d[key] = (value, record)
            self._d.move_to_end(key)
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)

    def drop(self, key) -> None:
        with self._lock:
            self._d.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)


SHARED = SharedResults()
