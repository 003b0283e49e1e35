"""State-space models vs attention: prefill (the three scans and causal SDPA, one layer) and decoding (tiny
Mamba's fixed state vs the tiny GPT's KV cache) as the sequence / context grows.

Targets reported, not asserted (issue #15): the parallel scan ≥ 5× faster than the sequential loop at N=4096 on
one CPU thread; Mamba's per-token decode latency at context 4096 within 1.2× of context 64 while the GPT's grows.
Both models are measured in the same run, interleaved token by token; medians and IQRs over the steps (the CPU
may be shared: the IQR says how much).
"""
from __future__ import annotations

import argparse
import os

from viz_core.labs.bench_formulas import ssm_dims, ssm_row
from viz_core.labs.ssm import DecodeConfig, MixerConfig, decode, mixers

HELP = "prefill (3 scans vs SDPA) and decode (Mamba state vs GPT KV cache) scaling with N"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lengths", default="64,256,1024,4096", help="prefill sequence lengths")
    p.add_argument("--contexts", default="64,256,1024,4096", help="decode context lengths")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=32, help="timed decode steps per context")
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--dtype", default="float32")


def _ints(s: str) -> tuple:
    return tuple(int(x) for x in str(s).split(",") if x.strip())


def run(args, progress) -> list[dict]:
    rows = []
    load = lambda: round(os.getloadavg()[0], 2)  # noqa: E731 - other processes on the CPU, recorded per row
    progress("prefill: three scans and SDPA")
    m = mixers(MixerConfig(lengths=_ints(args.lengths), repeats=args.repeats, chunk=args.chunk, device=args.device))
    for i, name in enumerate(m.names):
        for j, n in enumerate(m.lengths):
            rows.append({"kind": "prefill", "method": name, "n": int(n), "median_ms": m.time_s[i, j] * 1e3,
                         "iqr_ms": m.iqr_s[i, j] * 1e3,
                         "speedup_vs_sequential": m.time_s[0, j] / m.time_s[i, j],
                         "work": m.work[i, j] if i < 3 else None, "depth": m.depth[i, j] if i < 3 else None,
                         "rel_err_vs_sequential": m.max_diff[i, j] if i < 3 else None,
                         "device": m.device, "threads": m.threads, "dims": m.dims, "load_1min": load()})
    contexts = _ints(args.contexts)
    d = None
    if contexts:  # '' skips decoding (the live sweep on the Benchmarks page times the prefill only)
        progress("decode: tiny Mamba step vs tiny GPT with KV cache")
        d = decode(DecodeConfig(contexts=contexts, steps=args.steps, device=args.device, dtype=args.dtype))
        for name, s, iqr, by in (("tiny-mamba", d.mamba_s, d.mamba_iqr_s, d.mamba_state_bytes),
                                 ("tiny-gpt", d.gpt_s, d.gpt_iqr_s, d.gpt_cache_bytes)):
            for j, c in enumerate(d.contexts):
                rows.append({"kind": "decode", "method": name, "n": int(c), "median_ms": s[j] * 1e3,
                             "iqr_ms": iqr[j] * 1e3, "latency_vs_first_context": s[j] / s[0],
                             "state_bytes": int(by[j]), "steps": d.steps, "device": d.device, "threads": d.threads,
                             "load_1min": load()})
    try:
        dims = ssm_dims()
    except Exception:  # noqa: BLE001 - decode rows then go without formulas; prefill rows need none
        dims = None
    for r in rows:  # FLOPs and bytes by formula, for the roofline columns the runner adds
        ssm_row(r, dims)
        r.setdefault("dtype", "float32")
    par = [r for r in rows if r["kind"] == "prefill" and r["method"] == "parallel"]
    if par:
        progress(f"target: parallel/sequential speed-up at N={par[-1]['n']}: {par[-1]['speedup_vs_sequential']:.2f}× "
                 "(target ≥ 5×)")
    if d is not None:
        progress(f"target: Mamba latency ×{d.mamba_s[-1] / d.mamba_s[0]:.2f} from {d.contexts[0]} to "
                 f"{d.contexts[-1]} (target ≤ 1.2×); GPT ×{d.gpt_s[-1] / d.gpt_s[0]:.2f}")
    return rows
