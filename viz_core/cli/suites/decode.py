"""Decoding speed: tokens/s with and without the KV cache, and speculative decoding's speed-up per γ.

The tiny GPT writes ``--new-tokens`` greedy tokens after a short prompt (1) recomputing the whole sequence
each step, (2) with its KV cache, (3) speculatively (Leviathan et al. 2023) for each γ in ``--gammas``, each
draft in ``--drafts`` (trained on the text, or distilled from the target) run eager or compiled (numba) while
the target runs eager, the same code as (2); and, to show that the cache's advantage grows with the context, (1) and (2) again after a
``--long-prompt-tokens`` prompt of held-out text.

On a shared machine the load changes from second to second, so the methods are timed *interleaved*: each
repeat runs every method once, in turn; each method's median and best (min) time over the repeats are
reported (after one untimed warm-up each), with speed-ups from both — the best-of-repeats ratio is the
least disturbed by other processes. Greedy outputs are checked equal across all paths; K/V projections are counted in a
separate untimed run (the counting hooks are not in the timed runs).

Rows with ``part=fast`` compare the eager spec with the fast paths of ``viz_core.decoding.fast`` (torch with
a static cache, then with fused QKV; numba with the whole step in one call), each cached and uncached with
the same code (``viz_core.labs.kv_cache_fast.measure``, interleaved, after a warm-up that also compiles the
numba step: compile time is reported in ``build_or_compile_s``, never inside a timing).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from viz_core.measure.timer import time_once
from viz_core.decoding.generate import generate, load_model
from viz_core.decoding.speculative import GPTSession, plain_generate, session, speculative_generate
from viz_core.device import resolve_device
from viz_core.labs.bench_formulas import decode_row, model_dims

HELP = "tokens/s cached vs uncached (tiny GPT, 256 new tokens) and speculative speed-up per draft length γ"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt", default="ROMEO:")
    p.add_argument("--long-prompt-tokens", type=int, default=250,
                   help="also time cached vs uncached after a prompt this long (held-out text); 0 = skip")
    p.add_argument("--model", default="tiny-gpt")
    p.add_argument("--drafts", default="tiny-gpt-draft-distilled,tiny-gpt-draft",
                   help="comma-separated draft checkpoints (the first also drafts on the fast path)")
    p.add_argument("--draft-runs-as", default="eager,compiled",
                   help="how the draft runs (the target always runs eager): eager, compiled (numba; CPU float32)")
    p.add_argument("--gammas", default="1,2,3,4,5,6,8", help="comma-separated draft lengths")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--fast-paths", default="eager,torch-unfused,torch,numba",
                   help="decode paths for the eager-vs-fast rows (viz_core.labs.kv_cache_fast); '' = skip")
    p.add_argument("--fast-gammas", default="1,2,3,4",
                   help="draft lengths for speculative decoding on the numba fast path ('' = skip)")


def run(args, progress) -> list[dict]:
    dev = resolve_device(args.device)
    model, tok, cfg = load_model(args.model, dev.type, args.dtype)
    n = int(args.new_tokens)
    ids = tok.encode(args.prompt)
    prompts = {"short": ids}
    if args.long_prompt_tokens > 0:  # recomputation re-reads the whole prompt every step
        from viz_core.models.data import load_corpus

        prompts["long"] = tok.encode(load_corpus("val"))[: args.long_prompt_tokens]
    drafts = {}
    for name in [x.strip() for x in str(args.drafts).split(",") if x.strip()]:
        try:
            drafts[name] = load_model(name, dev.type, args.dtype)[0]
        except Exception as e:  # noqa: BLE001 - a missing draft only skips its speculative rows
            progress(f"no draft model {name} ({e}); skipping its rows")
    draft = next(iter(drafts.values()), None)
    runs_as = [x.strip() for x in str(args.draft_runs_as).split(",") if x.strip()]
    if dev.type != "cpu" or args.dtype != "float32":
        runs_as = [x for x in runs_as if x != "compiled"]  # the compiled step is CPU float32 only
    gammas = [int(x) for x in str(args.gammas).split(",") if x.strip()]

    # method key -> (row fields, zero-arg callable returning the generated tokens)
    methods: dict[str, tuple[dict, callable]] = {}
    for which, p_ids in prompts.items():
        for name, use_cache in (("uncached (recompute)", False), ("KV cache", True)):
            methods[f"{which}/{name}"] = (
                {"prompt": which, "prompt_tokens": len(p_ids), "method": name, "gamma": None},
                lambda p_ids=p_ids, u=use_cache: generate(model, p_ids, n, use_cache=u, count_kv=False).tokens)
    total = len(ids) + n
    def spec(dm, how, g):  # target eager (the same code as the KV-cache row); the draft eager or compiled
        return speculative_generate(GPTSession(model, total + g + 2), session(dm, total + g + 2, how), ids, n,
                                    gamma=g, device=dev)

    for dname, dm in drafts.items():
        for how in runs_as:
            for g in gammas:
                methods[f"short/spec/{dname}/{how}/{g}"] = (
                    {"prompt": "short", "prompt_tokens": len(ids), "method": "speculative", "gamma": g,
                     "draft": dname, "draft_runs_as": how},
                    lambda dm=dm, how=how, g=g: spec(dm, how, g))
    progress(f"warm-up of {len(methods)} methods")
    outputs = {}
    for key, (_, fn) in methods.items():
        out = fn()
        outputs[key] = out.tokens if hasattr(out, "tokens") else out
    times: dict[str, list[float]] = {k: [] for k in methods}
    for r in range(max(1, args.repeats)):
        progress(f"repeat {r + 1}/{args.repeats}: every method once, interleaved")
        for key, (_, fn) in methods.items():
            times[key].append(time_once(fn, device=dev))

    # correctness: every short-prompt path writes the same greedy tokens as plain cached decoding
    plain, _ = plain_generate(GPTSession(model, total + 1), ids, n, device=dev)
    counted = {u: generate(model, ids, n, use_cache=u) for u in (False, True)}  # untimed, with counting hooks
    base = dict(device=dev.type, threads=torch.get_num_threads(), dtype=args.dtype, model=args.model, new_tokens=n,
                context_trained=cfg.max_seq_len)
    rows = []
    for key, (fields, _) in methods.items():
        med = float(np.median(times[key]))
        which = fields["prompt"]
        ref_u = float(np.median(times[f"{which}/uncached (recompute)"]))
        ref_c = float(np.median(times[f"{which}/KV cache"]))
        mn = float(np.min(times[key]))
        row = {**base, **fields, "median_s": med, "min_s": mn, "max_s": float(np.max(times[key])),
               "repeats": len(times[key]), "tokens_per_s": n / med, "tokens_per_s_best": n / mn,
               "speedup_vs_uncached": ref_u / med, "speedup_vs_cached": ref_c / med,
               # best-of-repeats ratios: the least disturbed run of each method (robust on a shared CPU)
               "speedup_vs_uncached_min": float(np.min(times[f"{which}/uncached (recompute)"])) / mn,
               "speedup_vs_cached_min": float(np.min(times[f"{which}/KV cache"])) / mn}
        if which == "short":
            row["same_as_target_greedy"] = outputs[key] == plain
        if fields["method"] != "speculative" and which == "short":
            row["kv_rows_per_layer"] = int(counted[fields["method"] == "KV cache"].kv_rows.sum())
        if fields["method"] == "speculative":
            tr = spec(drafts[fields["draft"]], fields["draft_runs_as"], fields["gamma"])
            proposed = sum(len(x.proposed) for x in tr.rounds)
            row.update(acceptance=sum(x.accepted for x in tr.rounds) / max(1, proposed),
                       tokens_per_target_call=n / tr.target_calls, target_calls=tr.target_calls,
                       draft_calls=tr.draft_calls)
        if fields["prompt_tokens"] + n > cfg.max_seq_len:
            row["note"] = (f"runs to {fields['prompt_tokens'] + n} positions, past the {cfg.max_seq_len}-token "
                           "training context (speed only)")
        rows.append(row)
    for r in rows:
        dm = drafts.get(r.get("draft"), draft)
        decode_row(r, {"target": model_dims(model), "draft": model_dims(dm) if dm is not None else None})
    for dname in drafts:
        for how in runs_as:
            spec_rows = [r for r in rows if r.get("draft") == dname and r.get("draft_runs_as") == how]
            if spec_rows:
                best = max(spec_rows, key=lambda r: r["speedup_vs_cached_min"])
                best["best_gamma"] = True
                progress(f"speculative, draft {dname} ({how}): best γ={best['gamma']} "
                         f"{best['speedup_vs_cached_min']:.2f}× vs cached decoding (best runs; medians "
                         f"{best['speedup_vs_cached']:.2f}×), acceptance {best['acceptance']:.0%}")
    paths = [x for x in str(args.fast_paths).split(",") if x.strip()]
    if paths and dev.type == "cpu":
        from viz_core.labs.kv_cache_fast import measure as measure_fast

        progress(f"eager vs fast paths ({', '.join(paths)}), cached and uncached, interleaved")
        for r in measure_fast(model, ids, n, paths, args.repeats, True, progress):
            rows.append({**base, "prompt": "short", "prompt_tokens": len(ids), "method": f"{r['cache']} ({r['path']})",
                         "gamma": None, "part": "fast", **r})
        for r in rows:
            if r.get("part") == "fast" and r["cache"] == "cached":
                progress(f"{r['path']}: {r['tokens_per_s']:.0f} tok/s cached (best {r['tokens_per_s_best']:.0f}), "
                         f"{r['cached_vs_uncached']:.1f}x vs uncached (best runs {r['cached_vs_uncached_best']:.1f}x), "
                         f"{r['ops_per_cached_step']} ops/step")
    fg = [int(x) for x in str(args.fast_gammas).split(",") if x.strip()]
    if fg and draft is not None and dev.type == "cpu" and "numba" in paths:
        from viz_core.labs.kv_cache_fast import measure_speculative

        for r in measure_speculative(model, draft, ids, n, fg, args.repeats, progress):
            rows.append({**base, "prompt": "short", "prompt_tokens": len(ids), "part": "fast-spec", **r})
        best = max((r for r in rows if r.get("part") == "fast-spec" and r["gamma"]),
                   key=lambda r: r["speedup_vs_fast_cached_best"])
        progress(f"speculative on the fast path: best γ={best['gamma']} {best['speedup_vs_fast_cached_best']:.2f}x "
                 f"vs fast cached (best runs; medians {best['speedup_vs_fast_cached']:.2f}x)")
    fast_dims = {"target": model_dims(model), "draft": model_dims(draft) if draft is not None else None}
    for r in rows:
        if r.get("part") in ("fast", "fast-spec"):
            decode_row(r, fast_dims)
    for which in prompts:
        r = [x for x in rows if x["prompt"] == which and x["method"] == "KV cache"][0]
        progress(f"{which} prompt ({r['prompt_tokens']} tokens): cached {r['speedup_vs_uncached_min']:.1f}× faster "
                 f"than uncached (best runs; medians {r['speedup_vs_uncached']:.1f}×; "
                 f"{r['tokens_per_s_best']:.0f} tok/s best)")
    return rows

