"""Wall-clock timing with warm-up, device synchronisation and repeats.

Reports the median and the spread (min, max, inter-quartile range) of ``repeats`` timed calls after
``warmup`` untimed calls. On CUDA every call is bracketed by ``torch.cuda.synchronize`` so that the time
covers the kernels, not just their launch. The first call of a compiled function is never counted: time
compilation separately with ``time_once``. A timed call during which ``torch.compile`` (re)compiled anything
(a new shape, a guard failure, an evicted cache entry) is discarded and repeated, so compile time never
enters a timing even after warm-up; ``Timing.discarded`` counts those calls.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

from viz_core.device import synchronize


@dataclass(frozen=True)
class Timing:
    median_s: float
    min_s: float
    max_s: float
    q1_s: float
    q3_s: float
    repeats: int
    warmup: int
    device: str
    threads: int
    discarded: int = 0  # timed calls thrown away because torch.compile compiled during them

    @property
    def spread_s(self) -> float:
        """Inter-quartile range."""
        return self.q3_s - self.q1_s

    def label(self) -> str:
        return f"{self.median_s * 1e3:.3g} ms (IQR {self.spread_s * 1e3:.2g} ms, n={self.repeats})"


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def compile_count() -> int:
    """Frames torch.compile (Dynamo) has compiled in this process so far; 0 when it was never used."""
    utils = sys.modules.get("torch._dynamo.utils")
    return int(utils.counters["frames"]["total"]) if utils is not None else 0


def time_fn(
    fn: Callable[[], object],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 1,
    repeats: int = 5,
    max_seconds: float | None = None,
) -> Timing:
    """Time ``fn()``; stops repeating early (with at least one timed call) once ``max_seconds`` is spent.

    Calls that compiled are discarded and repeated (at most ``repeats`` extra); if every call compiles, a
    ``RuntimeError`` says so rather than reporting compile time as run time.
    """
    dev = torch.device(device)
    for _ in range(max(0, warmup)):
        fn()
    synchronize(dev)
    times: list[float] = []
    discarded = 0
    start = time.perf_counter()
    while len(times) < max(1, repeats):
        synchronize(dev)
        c0 = compile_count()
        t0 = time.perf_counter()
        fn()
        synchronize(dev)
        dt = time.perf_counter() - t0
        if compile_count() != c0:
            discarded += 1
            if discarded > max(1, repeats):
                raise RuntimeError(f"torch.compile recompiled on {discarded} timed calls: the timing would be "
                                   "compile time, not run time")
            continue
        times.append(dt)
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    q1, q3 = _quartiles(times)
    return Timing(
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        q1_s=q1,
        q3_s=q3,
        repeats=len(times),
        warmup=warmup,
        device=str(dev),
        threads=torch.get_num_threads(),
        discarded=discarded,
    )


def time_once(fn: Callable[[], object], *, device: torch.device | str = "cpu") -> float:
    """Seconds for one call, synchronised (use for compile time or a first call)."""
    dev = torch.device(device)
    synchronize(dev)
    t0 = time.perf_counter()
    fn()
    synchronize(dev)
    return time.perf_counter() - t0
