"""Run a benchmark suite live, point by point (the Benchmarks page's "Run live"), in the CLI's schema.

- ``plan(cfg, roofs)``: every point of the sweep with its memory and time estimated *before* it runs; a
  point over the memory budget or the time limit carries the reason it will be skipped.
- ``live_sweep(cfg, roofs, timed=...)``: runs the points one by one through the same suite code as
  ``python -m viz_core bench`` (so rows have the CLI's schema), each timed point inside ``timed()`` (the
  measurement queue), and yields each row as it finishes; skipped and failed points yield a row saying why.

It lives in ``cli`` because it runs the suites themselves; recorded runs, uploads and formulas are in
``viz_core.labs.benchmarks`` and ``viz_core.labs.bench_formulas``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from viz_core.cli.runner import load_suite, make_meta
from viz_core.errors import InputError, LabError
from viz_core.labs import bench_formulas as BF
from viz_core.measure import roofline as R
from viz_core.device import resolve_device
from viz_core.measure.budget import request_budget_bytes
from viz_core.measure.memory import default_budget_bytes

VARIANTS = {
    "attention": ("reference", "sdpa", "sliding_window", "linear", "performer", "linformer"),
    "flash": ("reference", "sdpa", "tiled"),
    "rope": ("half", "interleaved"),
    "decode": ("uncached (recompute)", "KV cache", "speculative"),
    "ssm": ("sequential", "chunked", "parallel", "SDPA attention"),  # prefill of one tiny-Mamba layer
}
MAX_N = 65536
ASSUMED_EFFICIENCY = 0.25  # fraction of the roof assumed for a point's first time estimate


@dataclass(frozen=True)
class LiveConfig:
    suite: str = "attention"
    ns: tuple[int, ...] = (128, 256, 512)
    variants: tuple[str, ...] = ("reference", "sdpa")
    heads: int = 4
    head_dim: int = 64
    dtype: str = "float32"
    device: str = "cpu"
    threads: int = 1
    repeats: int = 3
    max_seconds: float = 30.0  # a point predicted to take longer is skipped
    budget_bytes: int | None = None  # None: half of free memory, at most 8 GiB
    new_tokens: int = 32  # decode
    gamma: int = 3  # decode, speculative


@dataclass(frozen=True)
class Point:
    variant: str
    n: int
    flops: float
    bytes_moved: float
    est_bytes: float  # peak working memory, estimated
    est_seconds: float  # all repeats and the warm-up, estimated
    skip: str | None = None  # why it will not run


def validate(cfg: LiveConfig) -> None:
    if cfg.suite not in VARIANTS:
        raise InputError(f"Unknown suite {cfg.suite!r}; choose one of {', '.join(VARIANTS)}.")
    bad = [v for v in cfg.variants if v not in VARIANTS[cfg.suite]]
    if bad or not cfg.variants:
        raise InputError(f"Choose variants of {cfg.suite} among {', '.join(VARIANTS[cfg.suite])} (got {bad or 'none'}).")
    if cfg.suite != "decode" and (not cfg.ns or any(not 1 <= n <= MAX_N for n in cfg.ns)):
        raise InputError(f"Sequence lengths must be between 1 and {MAX_N}.")
    if not 1 <= cfg.heads <= 128 or not 1 <= cfg.head_dim <= 512 or cfg.head_dim % 2:
        raise InputError("Heads must be 1–128 and the head dimension an even number 2–512.")
    if not 1 <= cfg.repeats <= 50 or cfg.max_seconds <= 0:
        raise InputError("Repeats must be 1–50 and the time limit positive.")
    if cfg.suite == "decode" and not (1 <= cfg.new_tokens <= 1024 and 1 <= cfg.gamma <= 16):
        raise InputError("Decode: 1–1024 new tokens and γ between 1 and 16.")
    if cfg.dtype not in ("float32", "bfloat16", "float16"):
        raise InputError(f"Unknown dtype {cfg.dtype!r}; choose float32, bfloat16 or float16.")


def _formulas(cfg: LiveConfig, variant: str, n: int) -> tuple[float, float, float]:
    """(FLOPs, bytes moved, peak working bytes) of one point, by formula (viz_core.labs.bench_formulas)."""
    h, d = cfg.heads, cfg.head_dim
    if cfg.suite == "attention":
        label = "sliding_window@256" if variant == "sliding_window" else variant
        fl, q, mem, _ = BF.attention_point(label, n, h, d, cfg.dtype)
        return fl, q, mem
    if cfg.suite == "flash":
        from viz_core.labs.flash import estimate_bytes

        row = BF.flash_row({"n": n, "heads": h, "d": d, "dtype": cfg.dtype, "method": variant})
        return row["flops"], row["bytes_moved"], float(estimate_bytes(variant, n, h, d, BF.dtype_bytes(cfg.dtype)))
    if cfg.suite == "rope":
        fl, q = BF.rope_point(1, h, n, d, cfg.dtype)
        return fl, q, 2.0 * q
    return 0.0, 0.0, 0.0


def plan(cfg: LiveConfig, roofs: R.Roofs | None, measured: dict | None = None) -> list[Point]:
    """Every point with its estimates; ``measured`` maps variant -> (flops, seconds) of its last point."""
    validate(cfg)
    budget = cfg.budget_bytes or default_budget_bytes(cfg.device)
    measured = measured or {}
    if cfg.suite == "decode":
        return [Point("decode", cfg.new_tokens, 0.0, 0.0, 0.0, 0.0)]
    if cfg.suite == "ssm":
        return [_ssm_point(cfg, n, roofs, budget) for n in sorted(set(cfg.ns))]
    points = []
    for variant in cfg.variants:
        for n in sorted(set(cfg.ns)):
            fl, q, mem = _formulas(cfg, variant, n)
            if variant in measured and measured[variant][0] > 0:  # scale the last measured point by FLOPs
                per_call = measured[variant][1] * fl / measured[variant][0]
            elif roofs is not None:
                per_call = R.roof_time(fl, q, roofs, cfg.dtype) / ASSUMED_EFFICIENCY
            else:
                per_call = 0.0
            est = per_call * (cfg.repeats + 1)
            skip = None
            if mem > budget:
                skip = f"skipped: needs ~{mem / 2**20:,.0f} MiB, over the {budget / 2**20:,.0f} MiB budget"
            elif est > cfg.max_seconds:
                skip = f"skipped: estimated {est:.1f} s, over the {cfg.max_seconds:g} s limit per point"
            points.append(Point(variant, n, fl, q, mem, est, skip))
            if skip is None and variant in measured:
                measured = {**measured, variant: (fl, per_call)}  # chain the estimate to the next N
    return points


def _ssm_point(cfg: LiveConfig, n: int, roofs: R.Roofs | None, budget: float) -> Point:
    """One length: every selected scan (and SDPA) in one call of the ssm suite, so one point per N."""
    from viz_core.ssm.scan import work_depth

    fl = q = est = 0.0
    for v in cfg.variants:
        row = {"kind": "prefill", "method": v, "n": n}
        if v != "SDPA attention":
            row["work"] = work_depth(v, n)[0]
        BF.ssm_row(row)
        fl, q = fl + row["flops"], q + row["bytes_moved"]
    est = 60e-6 * n * 4 * (cfg.repeats + 1)  # the sequential loop, ~60 µs per token measured here, dominates
    if roofs is not None:
        est = max(est, R.roof_time(fl, q, roofs) / ASSUMED_EFFICIENCY * (cfg.repeats + 1))
    from viz_core.labs.ssm import prefill_bytes  # here: the lab imports the model code

    mem = prefill_bytes(n)  # the scans' peak tensor bytes (labs.ssm.mixers' budget check)
    skip = None
    if mem > budget:
        skip = f"skipped: needs ~{mem / 2**20:,.0f} MiB, over the {budget / 2**20:,.0f} MiB budget"
    elif est > cfg.max_seconds:
        skip = f"skipped: estimated {est:.1f} s, over the {cfg.max_seconds:g} s limit per point"
    return Point("prefill", n, fl, q, mem, est, skip)


def _suite_args(suite: str, **overrides) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--out-dir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    load_suite(suite).add_arguments(p)
    args = p.parse_args([])
    for k, v in overrides.items():
        setattr(args, k, v)
    return args


def run_point(cfg: LiveConfig, point: Point, progress: Callable[[str], None] = lambda m: None) -> list[dict]:
    """Measure one point with the suite's own code; rows in the CLI's schema (without roof columns)."""
    common = dict(device=cfg.device, threads=cfg.threads, repeats=cfg.repeats, heads=cfg.heads,
                  head_dim=cfg.head_dim, dtype=cfg.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        if cfg.suite == "attention":
            args = _suite_args("attention", **common, lengths=str(point.n), variants=point.variant, rss_at=0,
                               no_claims=True, out_dir=Path(tmp), max_seconds=cfg.max_seconds,
                               quadratic_max_n=MAX_N, batch=1)
        elif cfg.suite == "flash":
            args = _suite_args("flash", **common, ns=(point.n,), methods=point.variant, no_memory=True,
                               budget_gib=(cfg.budget_bytes / 2**30) if cfg.budget_bytes else None)
        elif cfg.suite == "rope":
            args = _suite_args("rope", **common, lengths=str(point.n), factors="")
        elif cfg.suite == "ssm":
            args = _suite_args("ssm", device=cfg.device, threads=cfg.threads, repeats=cfg.repeats,
                               lengths=str(point.n), contexts="", dtype=cfg.dtype)
        else:
            args = _suite_args("decode", **common, new_tokens=cfg.new_tokens, long_prompt_tokens=0,
                               gammas=str(cfg.gamma) if "speculative" in cfg.variants else "",
                               drafts="tiny-gpt-draft-distilled", draft_runs_as="compiled",
                               fast_paths="", fast_gammas="")
        rows = load_suite(cfg.suite).run(args, progress)
    if cfg.suite == "rope":
        rows = [r for r in rows if r.get("layout") == point.variant]
    if cfg.suite in ("decode", "ssm"):
        rows = [r for r in rows if r.get("method") in cfg.variants]
    return rows


def skipped_row(cfg: LiveConfig, point: Point, reason: str) -> dict:
    return {"variant": point.variant, "n": point.n, "heads": cfg.heads, "head_dim": cfg.head_dim,
            "dtype": cfg.dtype, "device": cfg.device, "flops": point.flops, "bytes_moved": point.bytes_moved,
            "est_mib": round(point.est_bytes / 2**20, 2), "est_seconds": round(point.est_seconds, 3), "note": reason}


def live_sweep(cfg: LiveConfig, roofs: R.Roofs | None, *,
               timed: Callable[[str], ContextManager] | None = None,
               progress: Callable[[str], None] = lambda m: None) -> Iterator[dict]:
    """Run the sweep point by point, yielding each row as it finishes (skipped ones with a reason).

    ``timed(label)`` wraps each measured point (the page passes the measurement queue); rows are annotated
    with ``roof_time_s`` and ``pct_of_roof`` against ``roofs``.
    """
    timed = timed or (lambda label: contextlib.nullcontext({}))
    measured: dict = {}
    done: set = set()
    while True:
        todo = [p for p in plan(cfg, roofs, measured) if (p.variant, p.n) not in done]
        if not todo:
            return
        point = todo[0]
        done.add((point.variant, point.n))
        if point.skip:
            yield skipped_row(cfg, point, point.skip)
            continue
        progress(f"{cfg.suite}: {point.variant} N={point.n} (estimated {point.est_seconds:.2g} s)")
        t0 = time.perf_counter()
        try:
            with timed(f"{cfg.suite} {point.variant} N={point.n}") as held:
                rows = run_point(cfg, point, progress)
        except (LabError, RuntimeError) as e:  # a backend that cannot run here, out of memory, ...
            yield skipped_row(cfg, point, f"failed: {str(e).splitlines()[0][:160]}")
            continue
        rec = held.get("record") if isinstance(held, dict) else None
        for r in rows:
            if roofs is not None:
                R.annotate_rows([r], roofs)
            if rec is not None:
                r.update(measured_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(rec.finished)),
                         contended=rec.contended)
            yield r
        secs = [R.row_seconds(r) for r in rows if R.row_seconds(r)]
        if secs and point.flops:
            measured[point.variant] = (point.flops, min(secs))
        elif not rows:
            yield skipped_row(cfg, point, f"no rows (took {time.perf_counter() - t0:.1f} s)")


def measure_roofs_now(device: str) -> R.Roofs:
    """Measure the roofs (call inside the measurement queue, which sets the threads). On the CPU the stream
    arrays are sized to the request's memory budget (``roofline.stream_bytes_within``; the CLI's
    ``scripts/measure_roofs.py`` uses 256 MiB arrays)."""
    if resolve_device(device).type == "cpu":
        return R.measure_roofs(device, stream_bytes=R.stream_bytes_within(request_budget_bytes()))
    return R.measure_roofs(device)


def live_meta(cfg: LiveConfig, roofs: R.Roofs | None, started: str, seconds: float, record=None) -> dict:
    """The run's meta block, as the CLI writes it."""
    from dataclasses import asdict

    from viz_core.device import describe

    hw = describe(cfg.device)
    if hw.device == "cpu":
        hw = replace(hw, threads=cfg.threads)
    meta = make_meta(cfg.suite, hw, ["live", json.dumps(asdict(cfg))], started, seconds, roofs, record)
    return meta
