"""The attention scaling page: time and peak memory vs sequence length, and the fitted log-log slopes.

``measure_point`` / ``sweep``: each point checks the memory budget (and a time limit predicted from the
previous point) before it runs, so a sweep stops cleanly instead of running out of memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from viz_core.attention import all_variants
from viz_core.attention.cost import theoretical_cost
from viz_core.attention.inputs import InputConfig, make_qkv
from viz_core.attention.types import AttnConfig
from viz_core.device import dtype_bytes, resolve_device, resolve_dtype, without_onednn_for_low_precision
from viz_core.errors import BudgetError, InputError, LabError
from viz_core.measure.baseline import eager_attention
from viz_core.measure.budget import ALLOCATOR_SLACK
from viz_core.measure.memory import check_budget, default_budget_bytes, tensor_peak_bytes
from viz_core.measure.threads import with_threads
from viz_core.measure.timer import time_fn

# Expected slope of time vs N on a log-log plot (N² methods: 2, linear-in-N methods: 1). Hierarchical attention
# with a fixed number of levels keeps N / (block·2^(L-1)) coarsest summaries per query, so it is O(N²) too.
EXPECTED_SLOPE = {"full": 2, "causal": 2, "reference": 2, "sdpa": 2, "flash_tiled": 2, "gqa": 2, "mqa": 2,
                  "differential": 2, "sliding_window": 1, "strided": 2, "longformer": 1, "bigbird": 1,
                  "block_sparse": 2, "linear": 1, "performer": 1, "linformer": 1, "hierarchical": 2}


@dataclass(frozen=True)
class SweepConfig:
    variants: tuple[str, ...] = ("sdpa", "full", "sliding_window", "linear")
    lengths: tuple[int, ...] = (128, 256, 512, 1024)
    heads: int = 4
    head_dim: int = 32
    batch: int = 1
    device: str = "auto"
    dtype: str = "float32"
    seed: int = 0
    attn: AttnConfig = AttnConfig()
    repeats: int = 3
    measure_memory: bool = True
    threads: int | None = None  # torch CPU threads while measuring (None: leave torch's setting)
    budget_bytes: int | None = None  # None: half the free memory, at most 8 GiB
    max_seconds: float = 20.0  # stop a variant when its next point is predicted to take longer than this


@dataclass
class SweepPoint:
    variant: str
    n: int
    time_s: float = float("nan")
    time_iqr_s: float = float("nan")
    peak_bytes: float | None = None
    estimated_bytes: float = 0.0
    flops: float = 0.0
    stopped: bool = False  # not run: the budget (or time limit) would be exceeded
    message: str = ""
    remeasured: int = 0  # times this point was measured again because it contradicted the longer N (noise)


@dataclass
class SweepResult:
    points: list[SweepPoint]
    slopes: dict[str, float]  # fitted log-log slope of time vs N, per variant
    memory_slopes: dict[str, float]
    expected: dict[str, int]
    messages: list[str]
    device: str
    threads: int
    memory_method: str


# bf16 on the CPU runs without oneDNN, which keeps a kernel for every new matmul shape (viz_core.device)
@with_threads(lambda cfg, *_, **__: cfg.threads)
@without_onednn_for_low_precision(lambda cfg, *_, **__: (cfg.dtype, cfg.device))
def measure_point(cfg: SweepConfig, variant: str, n: int, prev_n: int | None = None,
                  prev_time_s: float | None = None) -> SweepPoint:
    """One (variant, N) point: budget check, inputs, timing, peak memory. Never raises for budget: a point
    that would not fit comes back with ``stopped=True`` and a plain message. ``prev_n``/``prev_time_s``
    (the variant's previous point) predict this point's time for the time limit."""
    variants = all_variants()
    if variant not in variants:
        raise InputError(f"Unknown attention variant {variant!r}.")
    dev = resolve_device(cfg.device)
    elem = dtype_bytes(resolve_dtype(cfg.dtype, dev))
    name = "full" if variant == "reference" else variant
    # working memory at fp32 at least: linear, Performer and softmax paths compute in fp32 from bf16 inputs
    # (measured: Performer at N = 8192 in bf16 peaked at 288 MiB, its bf16 formula said 210)
    cost = theoretical_cost(name, cfg.batch, cfg.heads, n, cfg.head_dim, cfg.attn, max(elem, 4))
    inputs_bytes = 4 * cfg.batch * cfg.heads * n * cfg.head_dim * elem
    need = (cost.bytes + inputs_bytes) * ALLOCATOR_SLACK  # RSS grows past the tensor bytes (allocator caching)
    pt = SweepPoint(variant, n, estimated_bytes=need, flops=cost.flops)
    budget = cfg.budget_bytes if cfg.budget_bytes is not None else default_budget_bytes(dev)
    try:
        check_budget(need, what=f"{variant} at N = {n}", budget_bytes=budget, device=dev)
    except BudgetError as e:
        pt.stopped, pt.message = True, str(e)
        return pt
    if prev_n and prev_time_s and prev_time_s == prev_time_s:
        predicted = prev_time_s * (n / prev_n) ** EXPECTED_SLOPE.get(variant, 2) * (1 + max(1, cfg.repeats))
        if predicted > cfg.max_seconds:
            pt.stopped = True
            pt.message = (f"{variant} at N = {n} would take about {predicted:.0f} s "
                          f"(more than the {cfg.max_seconds:.0f} s limit per point); stopped here.")
            return pt
    q, k, v = make_qkv(InputConfig(n, cfg.heads, cfg.head_dim, cfg.batch, "random", cfg.seed, cfg.device, cfg.dtype))
    causal = name == "causal"

    def eager(q, k, v, *, cfg):
        return eager_attention(q, k, v, causal=causal or cfg.causal, scale=cfg.scale)

    # full/causal are timed with THE eager baseline: it stays in the input dtype (no fp32 upcast)
    fn = eager if name in ("full", "causal") else variants[name].fn
    attn = cfg.attn
    try:
        t = time_fn(lambda: fn(q, k, v, cfg=attn), device=dev, warmup=1, repeats=cfg.repeats,
                    max_seconds=cfg.max_seconds)
    except LabError as e:
        pt.stopped, pt.message = True, str(e)
        return pt
    pt.time_s, pt.time_iqr_s = t.median_s, t.spread_s
    if cfg.measure_memory:
        pt.peak_bytes, _ = tensor_peak_bytes(lambda: fn(q, k, v, cfg=attn), dev)
    return pt


def fit_slope(ns, ys) -> float:
    """Least-squares slope of log y vs log N (NaN with fewer than two positive points)."""
    pts = [(math.log(n), math.log(y)) for n, y in zip(ns, ys) if y and y == y and y > 0]
    if len(pts) < 2:
        return float("nan")
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def summarize(cfg: SweepConfig, points: list[SweepPoint]) -> SweepResult:
    dev = resolve_device(cfg.device)
    slopes, mslopes, msgs = {}, {}, []
    for var in cfg.variants:
        pts = [p for p in points if p.variant == var and not p.stopped]
        # fit on the upper half of the lengths, where the asymptotic term dominates
        top = pts[len(pts) // 2 - (1 if len(pts) % 2 == 0 and len(pts) > 2 else 0):] if len(pts) > 2 else pts
        slopes[var] = fit_slope([p.n for p in top], [p.time_s for p in top])
        mslopes[var] = fit_slope([p.n for p in top], [p.peak_bytes or float("nan") for p in top])
        msgs += [p.message for p in points if p.variant == var and p.stopped][:1]
    method = "cuda max_memory_allocated" if dev.type == "cuda" else "peak tensor bytes (torch profiler)"
    return SweepResult(points, slopes, mslopes, {v: EXPECTED_SLOPE.get(v, 2) for v in cfg.variants}, msgs,
                       dev.type, cfg.threads or torch.get_num_threads(), method)


def contradicts(shorter: SweepPoint, longer: SweepPoint) -> bool:
    """True when a longer sequence took clearly less time than a shorter one (beyond both IQRs): impossible for
    the work of attention, so the shorter point's timing was disturbed."""
    a, b = shorter.time_s, longer.time_s
    if not (a == a and b == b):
        return False
    spread = (shorter.time_iqr_s if shorter.time_iqr_s == shorter.time_iqr_s else 0) + \
             (longer.time_iqr_s if longer.time_iqr_s == longer.time_iqr_s else 0)
    return a - b > spread


def sweep(cfg: SweepConfig, _progress=None) -> SweepResult:
    """All points, shortest first per variant; a variant stops at its first point over budget or time.

    ``_progress(fraction, text)`` is called after each point (leading underscore: caches ignore it).
    """
    if not cfg.lengths or min(cfg.lengths) < 1:
        raise InputError("Give at least one sequence length of at least 1.")
    points: list[SweepPoint] = []
    total = len(cfg.variants) * len(cfg.lengths)
    done = 0
    for var in cfg.variants:
        prev = None
        for n in sorted(cfg.lengths):
            if prev is not None and prev.stopped:
                done += 1
                continue
            pt = measure_point(cfg, var, n, prev.n if prev else None, prev.time_s if prev else None)
            if prev is not None and not pt.stopped and contradicts(prev, pt):
                # more work took clearly less time: the shorter point was disturbed (load); measure it again
                again = measure_point(cfg, var, prev.n)
                if not again.stopped:
                    again.remeasured = prev.remeasured + 1
                    if contradicts(again, pt):
                        again.message = (f"still slower than N = {n} after re-measuring: noise from other load "
                                         "on this machine, not a finding")
                    points[points.index(prev)] = again
            points.append(pt)
            prev = pt
            done += 1
            if _progress is not None:
                _progress(done / total, f"{var} N={n}: " + (pt.message if pt.stopped else f"{pt.time_s * 1e3:.3g} ms"))
    return summarize(cfg, points)
