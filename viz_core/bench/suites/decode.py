"""Decoding speed: tokens/s with and without the KV cache, and speculative decoding's speed-up per γ.

The tiny GPT writes ``--new-tokens`` greedy tokens after a short prompt (1) recomputing the whole sequence
each step, (2) with its KV cache, (3) speculatively with the draft model for each γ in ``--gammas``.
Times are medians of ``--repeats`` runs after a warm-up. Greedy outputs are checked equal across all paths.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from viz_core.bench.timer import time_fn
from viz_core.decoding.generate import generate, load_model
from viz_core.decoding.speculative import GPTSession, plain_generate, speculative_generate
from viz_core.device import resolve_device

HELP = "tokens/s cached vs uncached (tiny GPT, 256 new tokens) and speculative speed-up per draft length γ"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt", default="ROMEO:")
    p.add_argument("--model", default="tiny-gpt")
    p.add_argument("--draft", default="tiny-gpt-draft")
    p.add_argument("--gammas", default="1,2,3,4,5,6,8", help="comma-separated draft lengths")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", default="float32")


def run(args, progress) -> list[dict]:
    dev = resolve_device(args.device)
    model, tok, cfg = load_model(args.model, dev.type, args.dtype)
    ids = tok.encode(args.prompt)
    n = int(args.new_tokens)
    total = len(ids) + n
    note = "" if total <= cfg.max_seq_len else f"runs past the {cfg.max_seq_len}-token training context (speed only)"
    base = dict(device=dev.type, threads=torch.get_num_threads(), model=args.model, prompt_tokens=len(ids),
                new_tokens=n)
    rows = []
    outs = {}
    for name, use_cache in (("uncached (recompute)", False), ("KV cache", True)):
        progress(f"{name}: {n} tokens")
        box = {}

        def call(use_cache=use_cache, box=box):  # timed without the counting hooks
            box["t"] = generate(model, ids, n, use_cache=use_cache, count_kv=False)

        t = time_fn(call, device=dev, warmup=1, repeats=args.repeats)
        outs[name] = box["t"].tokens
        counted = generate(model, ids, n, use_cache=use_cache)  # untimed run that counts K/V projections
        assert counted.tokens == outs[name]
        rows.append({**base, "method": name, "gamma": None, "median_s": t.median_s, "iqr_s": t.spread_s,
                     "tokens_per_s": n / t.median_s, "kv_rows_per_layer": int(counted.kv_rows.sum()),
                     "note": note})
    cached_s = rows[1]["median_s"]
    for r in rows:
        r["speedup_vs_uncached"] = rows[0]["median_s"] / r["median_s"]
    try:
        draft, _, dcfg = load_model(args.draft, dev.type, args.dtype)
    except Exception as e:  # noqa: BLE001 - a missing draft only skips the speculative rows
        progress(f"no draft model ({e}); skipping speculative decoding")
        return rows
    plain, _ = plain_generate(GPTSession(model, total + 1), ids, n, device=dev)
    assert plain == outs["KV cache"] == outs["uncached (recompute)"], "greedy outputs differ between paths"
    for g in [int(x) for x in str(args.gammas).split(",") if x.strip()]:
        progress(f"speculative γ={g}")
        box = {}

        def call(g=g, box=box):
            box["t"] = speculative_generate(GPTSession(model, total + g + 2), GPTSession(draft, total + g + 2), ids,
                                            n, gamma=g, device=dev)

        t = time_fn(call, device=dev, warmup=1, repeats=args.repeats)
        tr = box["t"]
        proposed = sum(len(r.proposed) for r in tr.rounds)
        rows.append({**base, "method": "speculative", "gamma": g, "median_s": t.median_s, "iqr_s": t.spread_s,
                     "tokens_per_s": n / t.median_s, "speedup_vs_uncached": rows[0]["median_s"] / t.median_s,
                     "speedup_vs_cached": cached_s / t.median_s,
                     "acceptance": sum(r.accepted for r in tr.rounds) / max(1, proposed),
                     "tokens_per_target_call": n / tr.target_calls, "target_calls": tr.target_calls,
                     "draft_calls": tr.draft_calls, "same_as_target_greedy": tr.tokens == plain, "note": note})
    spec = [r for r in rows if r["method"] == "speculative"]
    if spec:
        best = max(spec, key=lambda r: r["speedup_vs_cached"])
        progress(f"best γ={best['gamma']}: {best['speedup_vs_cached']:.2f}× vs cached decoding")
        best["best"] = True
    progress(f"cached vs uncached: {rows[0]['median_s'] / cached_s:.1f}× ({np.round(rows[1]['tokens_per_s'])} tok/s)")
    return rows
