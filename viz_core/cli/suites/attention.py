"""Attention variants vs sequence length: time, peak memory, FLOP/s, and the headline ratios.

    python -m viz_core bench attention --threads 1                  # CPU, B=1, H=8, d=64, fp32
    python -m viz_core bench attention --device cuda --dtype float16 --lengths 1024,2048,4096,8192,16384

Rows: one per (label, N). ``reference`` is eager softmax(QKᵀ/√d)V (viz_core/attention/reference.py);
``sdpa`` is torch's fused kernel (backend chosen by torch; ``sdpa:<backend>`` forces one, on CUDA by
default); ``sliding_window@W`` runs the block-sparse kernel that skips empty blocks (``[flex]``:
FlexAttention, compile time in ``compile_s``, never in ``time_s``). Peak memory: CUDA allocator peak, or on
CPU the tensor bytes from the torch profiler; ``--rss-at N`` also measures peak-RSS growth in a fresh
subprocess for reference and sdpa at that N (what an OS sees). A headline JSON
(``attention-headline-<device>.json``) gathers the ratios the README quotes.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import torch

from viz_core.attention import all_variants
from viz_core.attention.cost import theoretical_cost
from viz_core.attention.inputs import InputConfig, make_qkv
from viz_core.measure.baseline import eager_attention
from viz_core.attention.types import AttnConfig
from viz_core.labs.bench_formulas import attention_point
from viz_core.measure.memory import default_budget_bytes, measure_peak, tensor_peak_bytes
from viz_core.measure.timer import time_fn
from viz_core.device import dtype_bytes, resolve_device, resolve_dtype
from viz_core.errors import LabError

HELP = "attention variants vs N: time, peak memory, SDPA/sparse/linear speed-ups (headline JSON)"


def add_arguments(p) -> None:
    p.add_argument("--lengths", default="32,64,128,256,512,1024,2048,4096,8192", help="comma-separated N")
    p.add_argument("--variants", default="reference,sdpa,sliding_window,linear,performer,linformer",
                   help="comma-separated registry names (plus 'reference')")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--window", type=int, default=256, help="sliding window W (keys per query)")
    p.add_argument("--block", type=int, default=64, help="block size of the block-sparse kernel")
    p.add_argument("--features", type=int, default=64, help="Performer random features")
    p.add_argument("--proj-k", type=int, default=256, help="Linformer projected length")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=90.0, help="skip a point predicted to take longer")
    p.add_argument("--quadratic-max-n", type=int, default=4096, help="longest N for the eager reference")
    p.add_argument("--rss-at", type=int, default=4096, help="N where reference/sdpa peak RSS is also probed (0: off)")
    p.add_argument("--flex", action="store_true", help="also run the window through FlexAttention (compiles)")
    p.add_argument("--backends", action="store_true", help="also time each SDPA backend (default on CUDA)")
    p.add_argument("--no-claims", action="store_true", help="skip the extra window-128 row at N=2048 (claim 7)")


def _fn(label: str):
    if label == "reference":
        return lambda q, k, v, cfg: eager_attention(q, k, v, causal=cfg.causal, scale=cfg.scale)
    if label.startswith("sdpa:"):
        from viz_core.attention.sdpa import sdpa_with_backend

        backend = label.split(":", 1)[1]
        return lambda q, k, v, cfg: sdpa_with_backend(q, k, v, backend, causal=cfg.causal)
    return all_variants()[label.split("@")[0].split("[")[0]].fn


def rss_workload(label: str, n: int, heads: int, head_dim: int, device: str = "cpu", dtype: str = "float32"):
    """Factory for ``measure.memory.measure_peak``: builds inputs, returns the zero-arg call."""
    q, k, v = make_qkv(InputConfig(n, heads, head_dim, 1, "random", 0, device, dtype))
    fn, cfg = _fn(label), AttnConfig()
    return lambda: fn(q, k, v, cfg=cfg)


def _measure(label, attn, n, args, dev, progress, prev) -> dict:
    elem = dtype_bytes(resolve_dtype(args.dtype, dev))
    name = "full" if label == "reference" or label.startswith("sdpa:math") else label.split("@")[0].split("[")[0]
    name = "sdpa" if label.startswith("sdpa:") and not label.startswith("sdpa:math") else name
    cost = theoretical_cost(name, args.batch, args.heads, n, args.head_dim, attn, elem)
    row = {"label": label, "variant": label.split("@")[0].split("[")[0], "n": n, "heads": args.heads,
           "head_dim": args.head_dim, "batch": args.batch, "dtype": args.dtype, "device": dev.type,
           "threads": torch.get_num_threads(), "flops": cost.flops, "est_mib": round(cost.bytes / 2**20, 2)}
    _, row["bytes_moved"], _, row["bytes_formula"] = attention_point(label, n, args.heads, args.head_dim, args.dtype,
                                                                     args.batch, attn)
    need = cost.bytes + 4 * args.batch * args.heads * n * args.head_dim * elem
    if need > default_budget_bytes(dev):
        row["note"] = f"skipped: needs ~{need / 2**30:.1f} GiB, over the memory budget"
        return row
    if prev is not None:
        slope = 2 if name in ("full", "sdpa", "causal") else 1
        predicted = prev[1] * (n / prev[0]) ** slope * (1 + args.repeats)
        if predicted > args.max_seconds:
            row["note"] = f"skipped: predicted {predicted:.0f} s > --max-seconds"
            return row
    q, k, v = make_qkv(InputConfig(n, args.heads, args.head_dim, args.batch, "random", 0, str(dev), args.dtype))
    fn = _fn(label)
    try:
        if "[flex]" in label:
            t0 = time.perf_counter()
            out = fn(q, k, v, cfg=attn)
            row["compile_s"] = round(out.extras.get("compile_s") or (time.perf_counter() - t0), 2)
        t = time_fn(lambda: fn(q, k, v, cfg=attn), device=dev, warmup=1, repeats=args.repeats,
                    max_seconds=args.max_seconds)
    except (LabError, RuntimeError) as e:
        row["note"] = f"failed: {str(e).splitlines()[0][:160]}"
        return row
    row.update(time_s=t.median_s, time_ms=round(t.median_s * 1e3, 3), iqr_ms=round(t.spread_s * 1e3, 3),
               min_s=t.min_s, repeats=t.repeats,
               gflops_per_s=round(cost.flops / t.median_s / 1e9, 2))
    peak, method = tensor_peak_bytes(lambda: fn(q, k, v, cfg=attn), dev)
    row["peak_mib"] = round(peak / 2**20, 2) if peak is not None else None
    row["peak_method"] = method
    if args.rss_at and n == args.rss_at and dev.type == "cpu" and label in ("reference", "sdpa"):
        m = measure_peak("viz_core.cli.suites.attention", "rss_workload",
                         {"label": label, "n": n, "heads": args.heads, "head_dim": args.head_dim,
                          "dtype": args.dtype}, device="cpu", threads=torch.get_num_threads())
        row["rss_mib"] = round(m.peak_bytes / 2**20, 1)
    progress(f"{label:>22} N={n:>6}: {row['time_ms']:.3g} ms, peak {row['peak_mib']} MiB"
             + (f", RSS +{row['rss_mib']} MiB" if "rss_mib" in row else ""))
    return row


def headline(rows: list[dict], window: int) -> dict:
    """The ratios the project quotes, computed from the rows (None where a row is missing)."""
    def get(label, n, key="time_s"):
        for r in rows:
            if r["label"] == label and r["n"] == n and r.get(key) is not None:
                return float(r[key])
        return None

    def ratio(a, b):
        return round(a / b, 2) if a and b else None

    w = f"sliding_window@{window}"
    out: dict = {
        "note": "time ratios use medians; *_min use the fastest call of each (less sensitive to a shared CPU)",
        "sdpa_vs_reference_time_x_at_4096": ratio(get("reference", 4096), get("sdpa", 4096)),
        "sdpa_vs_reference_peak_tensor_mem_x_at_4096": ratio(get("reference", 4096, "peak_mib"),
                                                             get("sdpa", 4096, "peak_mib")),
        "sdpa_vs_reference_peak_rss_x_at_4096": ratio(get("reference", 4096, "rss_mib"), get("sdpa", 4096, "rss_mib")),
        f"block_sparse_window{window}_vs_sdpa_time_x_at_8192": ratio(get("sdpa", 8192), get(w, 8192)),
        "linear_vs_sdpa_time_x_at_8192": ratio(get("sdpa", 8192), get("linear", 8192)),
        "linear_vs_reference_time_x_at_4096": ratio(get("reference", 4096), get("linear", 4096)),
    }
    out.update({
        "sdpa_vs_reference_time_x_at_4096_min": ratio(get("reference", 4096, "min_s"), get("sdpa", 4096, "min_s")),
        f"block_sparse_window{window}_vs_sdpa_time_x_at_8192_min": ratio(get("sdpa", 8192, "min_s"),
                                                                         get(w, 8192, "min_s")),
        "linear_vs_sdpa_time_x_at_8192_min": ratio(get("sdpa", 8192, "min_s"), get("linear", 8192, "min_s")),
    })
    ns = sorted({r["n"] for r in rows if r["label"] in ("linear", "sdpa")})
    faster = [n for n in ns if get("linear", n) and get("sdpa", n) and get("linear", n) < get("sdpa", n)]
    # the crossover: the shortest N from which linear stays faster at every longer measured N
    cross = None
    for n in ns:
        if all(m in faster for m in ns if m >= n and get("linear", m) and get("sdpa", m)):
            cross = n
            break
    out["linear_overtakes_sdpa_from_n"] = cross
    out["linear_faster_at_n"] = faster
    return out


def run(args, progress) -> list[dict]:
    dev = resolve_device(args.device)
    lengths = [int(x) for x in str(args.lengths).split(",") if x.strip()]
    labels = []
    for v in [x.strip() for x in args.variants.split(",") if x.strip()]:
        if v == "sliding_window":
            labels.append(f"sliding_window@{args.window}")
            if args.flex:
                labels.append(f"sliding_window@{args.window}[flex]")
        else:
            labels.append(v)
    if args.backends or dev.type == "cuda":
        from viz_core.attention.sdpa import available_backends

        labels += [f"sdpa:{b}" for b in available_backends(dev, resolve_dtype(args.dtype, dev), args.head_dim)]
    base = AttnConfig(window=args.window, block=args.block, features=args.features, proj_k=args.proj_k)
    rows: list[dict] = []
    for label in labels:
        attn = base
        if label.startswith("sliding_window@"):
            attn = replace(base, window=int(label.split("@")[1].split("[")[0]),
                           sparse_impl="flex" if "[flex]" in label else "blocks")
        prev = None
        for n in lengths:
            if (label == "reference" or label == "sdpa:math") and n > args.quadratic_max_n:
                continue
            row = _measure(label, attn, n, args, dev, progress, prev)
            rows.append(row)
            if row.get("time_s"):
                prev = (n, row["time_s"])
    if not args.no_claims and 2048 in lengths:  # claim 7: window 128 at N = 2048
        attn = replace(base, window=128)
        rows.append(_measure("sliding_window@128", attn, 2048, args, dev, progress, None))
    h = headline(rows, args.window)
    h.update(device=dev.type, threads=torch.get_num_threads(), heads=args.heads, head_dim=args.head_dim,
             dtype=args.dtype, batch=args.batch)
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"attention-headline-{dev.type}.json").write_text(json.dumps(h, indent=1), encoding="utf-8")
    progress("headline: " + json.dumps({k: v for k, v in h.items() if not isinstance(v, list)}))
    for r in rows:  # keep CSV columns tidy: time_s is for machines, time_ms for people
        for key in ("flops", "bytes_moved"):
            if isinstance(r.get(key), float):
                r[key] = float(f"{r[key]:.4g}")
        for key in ("time_s", "min_s"):
            if isinstance(r.get(key), float) and math.isfinite(r[key]):
                r[key] = float(f"{r[key]:.6g}")
    return rows
