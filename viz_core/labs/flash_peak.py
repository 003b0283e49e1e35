"""The compute roof behind the FlashAttention lab's "% of peak", named wherever it is shown.

A percentage of peak is only meaningful against a real peak. On CPU that is the measured roofline compute roof
(``viz_core.measure.roofline``: the best of large square matmuls, timed in the measuring thread's CPU time at one
thread): the recorded roofs in ``assets/bench/roofs-cpu.json`` when they were measured on this CPU model at these
threads, else measured now (once per process). On CUDA it is the named GPU's spec-sheet peak (tensor-core peak for
fp16/bf16). Attention cannot run faster than the machine's compute roof, so a run above 100 % of it contradicts
its bound: it is load noise (timer or scheduler), re-measured by the lab and never shown as a finding.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from viz_core.errors import InputError
from viz_core.measure import roofline as R

RECORDED_ROOFS = Path(__file__).resolve().parents[2] / "assets" / "bench" / "roofs-cpu.json"
BOUND_PCT = 100.0  # achieved / compute roof × 100 can never exceed this except by measurement noise


@dataclass(frozen=True)
class FlopRoof:
    flops: float | None  # FLOP/s; None when no real peak is known (then no % is shown)
    label: str  # e.g. "the 92.8 GFLOP/s float32 roof measured on AMD EPYC, 1 thread (thread CPU time, 2026-11-30)"


def _fmt(flops: float) -> str:
    return f"{flops / 1e12:.3g} TFLOP/s" if flops >= 1e12 else f"{flops / 1e9:.3g} GFLOP/s"


def roof_of(roofs: R.Roofs, dtype: str) -> FlopRoof:
    """The compute roof of ``roofs`` in ``dtype``, with a label naming what it is and where it came from."""
    try:
        flops = roofs.peak(dtype)
    except InputError:
        return FlopRoof(None, f"no {dtype} compute roof known for {roofs.name}")
    if roofs.device == "cuda" and "spec" in roofs.compute_source.get(R._dtype_key(dtype), "spec sheet"):
        return FlopRoof(flops, f"the {_fmt(flops)} {dtype} spec-sheet peak of {roofs.name}")
    clock = "thread CPU time" if roofs.clock == "thread" else "wall-clock"
    when = f", {roofs.measured_at[:10]}" if roofs.measured_at else ""
    return FlopRoof(flops, f"the {_fmt(flops)} {dtype} roof measured on {roofs.name}, {roofs.threads} thread(s) "
                           f"({clock}{when})")


def recorded_cpu_roofs(path: Path = RECORDED_ROOFS) -> R.Roofs | None:
    try:
        return R.Roofs.from_dict(json.loads(path.read_text(encoding="utf-8"))["roofs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def flop_roof(device: str, dtype: str, *, threads: int = 1, name: str | None = None, live: bool = True,
              recorded: Path = RECORDED_ROOFS) -> FlopRoof:
    """The real compute peak for ``device``/``dtype``. CPU: recorded roofs of the same CPU model and threads, else
    (``live``) measured now with ``threads`` torch threads already set. CUDA: the spec sheet of GPU ``name``."""
    if device == "cuda":
        if name is None:
            import torch

            name = torch.cuda.get_device_name()
        roofs = R.spec_roofs(name)
        return roof_of(roofs, dtype) if roofs else FlopRoof(None, f"no spec-sheet peak known for {name}")
    if name is None:
        from viz_core.device import _cpu_model

        name = _cpu_model()
    rec = recorded_cpu_roofs(recorded)
    if rec is not None and rec.threads == threads and rec.name == name:
        return roof_of(rec, dtype)
    if live:
        return roof_of(R.cached_roofs("cpu", threads), dtype)
    return FlopRoof(None, f"no CPU roof recorded for {name} at {threads} thread(s)")


def pct_of_roof(flops: float, seconds: float, roof: FlopRoof) -> float | None:
    """Achieved FLOP/s as % of the roof, or None without a real roof."""
    return 100.0 * flops / seconds / roof.flops if roof.flops and seconds > 0 else None


def over_bound(pct: float | None) -> bool:
    """True when a % of the compute roof is above 100: impossible, so noise."""
    return pct is not None and math.isfinite(pct) and pct > BOUND_PCT
