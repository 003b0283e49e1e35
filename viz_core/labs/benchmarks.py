"""The Benchmarks page's lab: run a suite live point by point, place every point on the roofline, and fill
in the formulas for runs recorded before the roofline columns existed.

- ``plan(cfg, roofs)``: every point of the sweep with its memory and time estimated *before* it runs; a
  point over the memory budget or the time limit carries the reason it will be skipped.
- ``live_sweep(cfg, roofs, timed=...)``: runs the points one by one through the same suite code as
  ``python -m viz_core bench`` (so rows have the CLI's schema), each timed point inside ``timed()`` (the
  measurement queue), and yields each row as it finishes; skipped and failed points yield a row saying why.
- ``with_formulas(run)`` / ``roofs_for_run(run)``: FLOPs and bytes for schema-1 rows, and the roofs a run
  is judged against (its own measured ones, the recorded roofs of this CPU, or a GPU's spec sheet).
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

from viz_core.bench import flops as F
from viz_core.bench.memory import REPO_ROOT, default_budget_bytes
from viz_core.bench.results import BenchRun
from viz_core.device import dtype_bytes
from viz_core.errors import InputError, LabError
from viz_core.measure import roofline as R

VARIANTS = {
    "attention": ("reference", "sdpa", "sliding_window", "linear", "performer", "linformer"),
    "flash": ("reference", "sdpa", "tiled"),
    "rope": ("half", "interleaved"),
    "decode": ("uncached (recompute)", "KV cache", "speculative"),
}
MAX_N = 65536
ASSUMED_EFFICIENCY = 0.25  # fraction of the roof assumed for a point's first time estimate
RECORDED_ROOFS = REPO_ROOT / "assets" / "bench" / "roofs-cpu.json"


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
    """(FLOPs, bytes moved, peak working bytes) of one point, by formula."""
    e = dtype_bytes(cfg.dtype)
    h, d = cfg.heads, cfg.head_dim
    io = 4.0 * h * n * d * e
    if cfg.suite == "attention":
        from viz_core.attention.lab import theoretical_cost
        from viz_core.attention.types import AttnConfig

        name = {"reference": "full", "sliding_window": "sliding_window"}.get(variant, variant)
        cost = theoretical_cost(name, 1, h, n, d, AttnConfig(), e)
        return cost.flops, F.attention_bytes_moved(1, h, n, d, e, max(0.0, cost.bytes - h * n * d * e)), cost.bytes + io
    if cfg.suite == "flash":
        from viz_core.bench.suites.flash import add_formulas
        from viz_core.flash_lab import estimate_bytes

        row = add_formulas({"n": n, "heads": h, "d": d, "dtype": cfg.dtype, "method": variant})
        return row["flops"], row["bytes_moved"], float(estimate_bytes(variant, n, h, d, e))
    if cfg.suite == "rope":
        return F.rope_flops(1, h, n, d), 2.0 * h * n * d * e + n * d * e, 4.0 * h * n * d * e
    return 0.0, 0.0, 0.0


def plan(cfg: LiveConfig, roofs: R.Roofs | None, measured: dict | None = None) -> list[Point]:
    """Every point with its estimates; ``measured`` maps variant -> (flops, seconds) of its last point."""
    validate(cfg)
    budget = cfg.budget_bytes or default_budget_bytes(cfg.device)
    measured = measured or {}
    if cfg.suite == "decode":
        return [Point("decode", cfg.new_tokens, 0.0, 0.0, 0.0, 0.0)]
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


def _suite_args(suite: str, **overrides) -> argparse.Namespace:
    from viz_core.bench.runner import load_suite

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
    from viz_core.bench.runner import load_suite

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
        else:
            args = _suite_args("decode", **common, new_tokens=cfg.new_tokens, long_prompt_tokens=0,
                               gammas=str(cfg.gamma) if "speculative" in cfg.variants else "")
        rows = load_suite(cfg.suite).run(args, progress)
    if cfg.suite == "rope":
        rows = [r for r in rows if r.get("layout") == point.variant]
    if cfg.suite == "decode":
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


# ------------------------------------------------------------------------------------------ recorded runs
def recorded_cpu_roofs(path: Path = RECORDED_ROOFS) -> tuple[R.Roofs, dict] | None:
    """The roofs recorded by scripts/measure_roofs.py and its summary (median, quartiles), if recorded."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return R.Roofs.from_dict(doc["roofs"]), doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def roofs_for_run(run: BenchRun) -> tuple[R.Roofs | None, str]:
    """The roofs a run is judged against, and where they come from."""
    own = run.meta.get("roofline") if isinstance(run.meta, dict) else None
    if isinstance(own, dict):
        try:
            return R.Roofs.from_dict(own), f"measured with the run ({own.get('measured_at', '')})"
        except TypeError:
            pass
    hw = run.meta.get("hardware", {}) if isinstance(run.meta, dict) else {}
    if run.device == "cuda":
        roofs = R.spec_roofs(str(hw.get("name", "")))
        return roofs, "spec sheet of the GPU" if roofs else "unknown GPU: no roof"
    rec = recorded_cpu_roofs()
    threads = {r.get("threads") for r in run.rows if r.get("threads")} or {hw.get("threads")}
    if rec and rec[0].name == hw.get("name") and threads == {rec[0].threads}:
        return rec[0], f"recorded roofs of this CPU, {rec[0].threads} thread ({rec[1].get('measured_at', '')})"
    return None, "no roofs recorded for this CPU and thread count"


def with_formulas(run: BenchRun) -> list[dict]:
    """The run's rows, with FLOPs and bytes filled in from the formulas where missing, roof columns added."""
    rows = [dict(r) for r in run.rows]
    for r in rows:
        if "bytes_moved" in r:
            continue
        try:
            _fill(run.suite, r)
        except (KeyError, ValueError, TypeError, LabError):
            continue
    if run.suite == "decode" and any("bytes_moved" not in r for r in rows):
        try:
            from viz_core.bench.suites import decode
            from viz_core.decoding.generate import load_model

            dims = {"target": decode._dims(load_model("tiny-gpt", "cpu")[0]),
                    "draft": decode._dims(load_model("tiny-gpt-draft", "cpu")[0])}
            rows = [decode.add_formulas(r, dims) if "bytes_moved" not in r else r for r in rows]
        except (LabError, OSError, KeyError):
            pass
    roofs, _ = roofs_for_run(run)
    if roofs is not None and any("pct_of_roof" not in r for r in rows):
        R.annotate_rows(rows, roofs)
    return rows


def _fill(suite: str, r: dict) -> None:
    if suite == "flash":
        from viz_core.bench.suites.flash import add_formulas

        add_formulas(r)
    elif suite == "rope" and r.get("part") == "apply":
        b, h, n, d = (int(r[k]) for k in ("B", "H", "N", "D"))
        e = dtype_bytes(str(r["dtype"]))
        r["flops"], r["bytes_moved"] = F.rope_flops(b, h, n, d), 2.0 * b * h * n * d * e + n * d * e
    elif suite == "attention" and r.get("time_s"):
        label, n = str(r["label"]), int(r["n"])
        variant = label.split("@")[0].split("[")[0].split(":")[0]
        cfg = LiveConfig(suite="attention", heads=int(r["heads"]), head_dim=int(r["head_dim"]), dtype=str(r["dtype"]))
        if variant in VARIANTS["attention"]:
            fl, q, _ = _formulas(cfg, variant if "@" not in label else "sliding_window", n)
            if "@" in label:  # the window of the row, not the default
                from viz_core.attention.lab import theoretical_cost
                from viz_core.attention.types import AttnConfig

                e = dtype_bytes(cfg.dtype)
                cost = theoretical_cost("sliding_window", 1, cfg.heads, n, cfg.head_dim,
                                        replace(AttnConfig(), window=int(label.split("@")[1].split("[")[0])), e)
                fl = cost.flops
                inter = 0.0 if "[flex]" in label else max(0.0, cost.bytes - cfg.heads * n * cfg.head_dim * e)
                q = F.attention_bytes_moved(1, cfg.heads, n, cfg.head_dim, e, inter)  # flex: fused, no scores
            b = int(r.get("batch", 1))
            r.setdefault("flops", fl * b)
            r["bytes_moved"] = q * b


def default_roofs(device: str, threads: int) -> tuple[R.Roofs | None, str]:
    """Roofs to judge against before any are measured in this server: the recorded roofs of this CPU at
    this thread count, or the spec sheet of this GPU."""
    if device == "cuda":
        import torch

        roofs = R.spec_roofs(torch.cuda.get_device_name())
        return roofs, "spec sheet (measure for the measured matmul and bandwidth)" if roofs else "unknown GPU"
    from viz_core.device import _cpu_model

    rec = recorded_cpu_roofs()
    if rec and rec[0].name == _cpu_model() and rec[0].threads == threads:
        return rec[0], f"recorded {rec[1].get('measured_at', '')} by scripts/measure_roofs.py (best of {len(rec[1]['runs'])})"
    return None, f"no roofs recorded for this CPU at {threads} thread(s): measure them"


def measure_roofs_now(device: str) -> R.Roofs:
    """Measure the roofs (call inside the measurement queue, which sets the threads)."""
    return R.measure_roofs(device)


def live_meta(cfg: LiveConfig, roofs: R.Roofs | None, started: str, seconds: float, record=None) -> dict:
    """The run's meta block, as the CLI writes it."""
    from dataclasses import asdict

    from viz_core.bench.runner import make_meta
    from viz_core.device import describe

    hw = describe(cfg.device)
    if hw.device == "cpu":
        hw = replace(hw, threads=cfg.threads)
    meta = make_meta(cfg.suite, hw, ["live", json.dumps(asdict(cfg))], started, seconds, roofs, record)
    return meta
