"""RoPE: cost of applying it (half-split vs interleaved layout), and the tiny GPT beyond its trained context.

    python -m viz_core bench rope --threads 1                        # CPU: apply timings + 2×/4× context loss
    python -m viz_core bench rope --device cuda --lengths 1024,4096,16384,65536 --factors 2,4,8 --windows 32

Rows ``part=apply``: median time of ``viz_core.rope.apply_rope`` on q of shape (B, H, N, D) for each layout,
with effective bandwidth (x read + written, cos/sin read). Rows ``part=long_context``: the tiny GPT's mean
next-token loss at positions < L and ≥ L with no scaling, position interpolation (Chen et al. 2023), NTK-aware
scaling and YaRN (Peng et al. 2023), applied without fine-tuning (viz_core.labs.rope_scaling.long_context_gpt).
"""
from __future__ import annotations

import torch

from viz_core import rope as R
from viz_core.labs import rope_scaling
from viz_core.measure.flops import rope_flops
from viz_core.measure.memory import check_budget
from viz_core.measure.timer import time_fn
from viz_core.device import dtype_bytes, resolve_device, resolve_dtype
from viz_core.errors import LabError

HELP = "RoPE apply time per layout vs N; tiny GPT loss beyond its context with PI / NTK / YaRN"


def add_arguments(p) -> None:
    p.add_argument("--lengths", default="256,1024,4096,16384", help="comma-separated N for the apply timings")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--factors", default="2,4", help="context multiples for the tiny GPT ('' to skip)")
    p.add_argument("--windows", type=int, default=8, help="validation windows per factor")
    p.add_argument("--model", default="tiny-gpt")


def run(args, progress) -> list[dict]:
    dev = resolve_device(args.device)
    dt = resolve_dtype(args.dtype, dev)
    rows: list[dict] = []
    b, h, d = args.batch, args.heads, args.head_dim
    for n in [int(x) for x in str(args.lengths).split(",") if x.strip()]:
        nbytes = b * h * n * d * dtype_bytes(dt)
        try:
            check_budget(4 * nbytes, what=f"RoPE on {n} tokens", device=dev)
        except LabError as e:
            progress(f"skip N={n}: {e}")
            continue
        x = torch.randn(b, h, n, d, device=dev, dtype=dt)  # (B, H, N, D)
        c, s = R.cos_sin(torch.arange(n), d, dtype=dt, device=dev)  # (N, D/2)
        for layout in R.LAYOUTS:
            progress(f"apply {layout} N={n}")
            t = time_fn(lambda: R.apply_rope(x, c, s, layout), device=dev, warmup=2, repeats=args.repeats)
            moved = 2 * nbytes + 2 * c.numel() * c.element_size()
            rows.append({"part": "apply", "layout": layout, "N": n, "B": b, "H": h, "D": d, "dtype": str(dt)[6:],
                         "time_s": t.median_s, "spread_s": t.spread_s, "GB_per_s": moved / t.median_s / 1e9,
                         "flops": rope_flops(b, h, n, d), "bytes_moved": float(moved),
                         "bytes_formula": "x read + written, cos and sin read",
                         "device": t.device, "threads": t.threads})
        del x
    for f in [float(x) for x in str(args.factors).split(",") if x.strip()]:
        progress(f"tiny GPT at {f:g}× its context, {args.windows} windows")
        try:
            res = rope_scaling.long_context_gpt(rope_scaling.LongContextConfig(model=args.model, factor=f,
                                                                       n_windows=args.windows, device=args.device))
        except LabError as e:
            progress(f"skip tiny GPT: {e}")
            break
        for m, a, z in zip(res.methods, res.loss_inside, res.loss_beyond):
            rows.append({"part": "long_context", "method": R.SCALING_LABELS[m], "factor": f,
                         "train_context": res.train_context, "eval_len": res.eval_len, "windows": args.windows,
                         "loss_inside": round(a, 4), "loss_beyond": round(z, 4), "device": res.device})
    return rows
