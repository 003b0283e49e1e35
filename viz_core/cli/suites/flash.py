"""FlashAttention suite: time and peak memory of reference attention vs SDPA (each backend) vs the tiled
pure-PyTorch forward, as N grows; achieved TFLOP/s and % of a named compute roof (``pct_peak``, ``peak_source``).

Dao et al. 2022, FlashAttention; Dao 2023, FlashAttention-2. CPU: peak memory is the peak-RSS growth of a
fresh subprocess per point and the compute roof is the measured roofline roof (recorded roofs-cpu.json of this
CPU at these threads, else measured now in thread CPU time). CUDA: the allocator's peak and the spec-sheet
peak (tensor-core peak for fp16/bf16). A row above 100 % of its roof is re-measured (``remeasured``) and, if
still above, flagged ``over_roof`` (noise, hidden on the page). Every SDPA backend that runs (flash, efficient,
cudnn, math), probed first.

    python -m viz_core bench flash                       # CPU: N = 256 … 4096, fp32, 1 thread
    python -m viz_core bench flash --device cuda         # GPU: N = 1024 … 16384, fp16
"""
from __future__ import annotations

import argparse

import torch

from viz_core.attention.sdpa import available_backends
from viz_core.device import resolve_device, resolve_dtype
from viz_core.labs.bench_formulas import flash_row
from viz_core.labs.flash import MeasureConfig, measure_rows

HELP = "reference vs SDPA backends vs tiled FlashAttention: time, peak memory, TFLOP/s over N"

CPU_NS = (256, 512, 1024, 2048, 4096)
CUDA_NS = (1024, 2048, 4096, 8192, 16384)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ns", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                   help="comma-separated sequence lengths (default: 256..4096 on CPU, 1024..16384 on CUDA)")
    p.add_argument("--heads", type=int, default=None, help="heads (default 4 on CPU, 16 on CUDA)")
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--dtype", default=None, help="float32 / bfloat16 / float16 (default: float32 CPU, float16 CUDA)")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--block", type=int, default=128, help="Br = Bc of the tiled implementation")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument("--no-tiled", action="store_true", help="leave out the (slow, Python-loop) tiled version")
    p.add_argument("--methods", default=None, help="comma-separated subset of reference,sdpa,sdpa:<backend>,tiled")
    p.add_argument("--budget-gib", type=float, default=None,
                   help="memory a single run may use (default: half of free memory, at most 8 GiB)")


def run(args: argparse.Namespace, progress) -> list[dict]:
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    dtype_name = args.dtype or ("float16" if cuda else "float32")
    dtype = resolve_dtype(dtype_name, dev)
    backends = available_backends(dev, dtype=dtype, head_dim=args.head_dim, causal=args.causal)
    progress(f"SDPA backends that run here ({dtype_name}, d={args.head_dim}): {', '.join(backends)}")
    methods = ["reference", "sdpa", *[f"sdpa:{b}" for b in backends]]
    if not args.no_tiled:
        methods.append("tiled")
    if getattr(args, "methods", None):
        keep = [m.strip() for m in str(args.methods).split(",") if m.strip()]
        methods = [m for m in methods if m in keep]
    threads = args.threads or (1 if not cuda else torch.get_num_threads())
    budget = None
    if args.budget_gib:
        budget = int(args.budget_gib * 2**30)
    elif cuda:
        free, _ = torch.cuda.mem_get_info(dev)
        budget = int(free * 0.8)
    cfg = MeasureConfig(
        ns=args.ns or (CUDA_NS if cuda else CPU_NS), heads=args.heads or (16 if cuda else 4), d=args.head_dim,
        dtype=dtype_name, device=dev.type, causal=args.causal, block=args.block, methods=tuple(methods),
        memory=not args.no_memory, timing=True, repeats=args.repeats, threads=threads, budget_bytes=budget,
        skip_over_budget=True)
    rows = measure_rows(cfg, progress)
    for r in rows:
        flash_row(r, block=args.block)
    # the ratios the claims are about: reference ÷ method at each N
    ref = {r["n"]: r for r in rows if r["method"] == "reference"}
    for r in rows:
        base = ref.get(r["n"])
        if base is None or r is base:
            continue
        if r.get("time_ms") and base.get("time_ms"):
            r["speedup_vs_ref"] = base["time_ms"] / r["time_ms"]
        if r.get("peak_bytes") and base.get("peak_bytes"):
            r["mem_saving_vs_ref"] = base["peak_bytes"] / r["peak_bytes"]
    return rows

