"""Autoregressive generation with and without a KV cache, timed per token, with K/V projections counted.

Without a cache every step re-runs the model over the whole sequence, so step i recomputes the keys and
values of all P + i tokens (P = prompt length): over N new tokens that is Σ (P + i) projections per layer,
n(n+1)/2 when P = 1. With a cache (the standard decoder trick; Pope et al. 2022, "Efficiently Scaling
Transformer Inference") the prompt is projected once and each step projects only the new token: P + N − 1.
Both paths produce the same tokens (tested) and logits within fp32 rounding.

The counts are measured, not computed: a forward hook on every layer's K projection counts the rows it
actually processed. Latency is wall-clock per generated token (device synchronised).

Context limit: the tiny GPT was trained on ``max_seq_len`` tokens. Asking for prompt + new tokens beyond
that is refused with a clear message (``allow_beyond_context=True`` lifts it for speed benchmarks only —
RoPE runs at any position, but quality beyond the training context is not promised).
"""
from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from viz_core.models.kv_cache import KVCache
from viz_core.device import resolve_device, resolve_dtype, synchronize
from viz_core.errors import InputError

MAX_NEW_TOKENS = 1024


@functools.lru_cache(maxsize=8)
def load_model(name: str = "tiny-gpt", device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer, cfg) loaded once per (name, device, dtype); shared and never mutated."""
    from viz_core.models.gpt import load_tiny_gpt

    dev = resolve_device(device)
    return load_tiny_gpt(name, device=dev, dtype=resolve_dtype(dtype, dev))


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Tokenise with clear messages for bad input (empty prompt, characters the tokenizer cannot encode)."""
    if prompt is None or prompt == "":
        raise InputError("The prompt is empty: type at least one character.")
    try:
        ids = tokenizer.encode(prompt)
    except (KeyError, ValueError, UnicodeError) as e:
        raise InputError(f"The prompt contains characters this model's tokenizer cannot encode ({e}).") from e
    vocab = int(getattr(tokenizer, "vocab_size", 0) or 0)
    bad = [i for i in ids if vocab and not 0 <= int(i) < vocab]
    if bad:
        raise InputError(f"The prompt maps to token ids outside the vocabulary of {vocab}: {bad[:5]}.")
    if not ids:
        raise InputError("The prompt is empty after tokenisation.")
    return [int(i) for i in ids]


def check_length(prompt_len: int, new_tokens: int, context: int, *, allow_beyond_context: bool = False) -> None:
    if new_tokens < 1:
        raise InputError("Ask for at least one new token.")
    if new_tokens > MAX_NEW_TOKENS:
        raise InputError(f"At most {MAX_NEW_TOKENS} new tokens per run (asked for {new_tokens}).")
    if not allow_beyond_context and prompt_len >= context:
        raise InputError(
            f"The prompt is {prompt_len} tokens, but this model was trained on a {context}-token context, so no "
            f"room is left for a new token. Shorten the prompt to at most {max(1, context - new_tokens)} tokens to get "
            f"{new_tokens} new ones (or to {context - 1} tokens for one).")
    if not allow_beyond_context and prompt_len + new_tokens > context:
        raise InputError(
            f"The prompt ({prompt_len} tokens) plus {new_tokens} new tokens is {prompt_len + new_tokens} tokens, "
            f"beyond the {context}-token context this model was trained on. Shorten the prompt or ask for at "
            f"most {max(0, context - prompt_len)} new tokens.")


def pick_token(logits: torch.Tensor, *, temperature: float, top_k: int, u: float) -> int:
    """Greedy when temperature == 0, else sample from softmax(logits / T) (top-k filtered) with the uniform
    draw ``u`` by inverse CDF — the same ``u`` gives the same token for the same logits."""
    if temperature <= 0:
        return int(torch.argmax(logits))
    z = logits.float() / temperature
    if 0 < top_k < z.numel():
        kth = torch.topk(z, top_k).values[-1]
        z = z.masked_fill(z < kth, float("-inf"))
    p = torch.softmax(z, dim=-1)
    c = torch.cumsum(p, dim=-1)
    target = torch.tensor(u * float(c[-1]), dtype=c.dtype, device=c.device)
    return int(min(int(torch.searchsorted(c, target, right=True)), p.numel() - 1))


@dataclass
class Trace:
    tokens: list[int]  # generated ids (prompt excluded)
    step_s: np.ndarray  # (N,) wall seconds to produce each token (first includes the prompt's prefill)
    kv_rows: np.ndarray  # (N,) K-projection rows computed per step, per layer (measured by hook)
    cache_bytes: np.ndarray  # (N,) bytes of K/V held after each step (cached run; 0 without cache)
    logits: np.ndarray | None = None  # (N, V) float32 logits that chose each token
    extras: dict = field(default_factory=dict)


class _KCounter:
    """Counts rows entering each layer's K projection (forward hooks), i.e. K/V vectors computed.

    Hooks are attached only while ``counting()`` is active, so two generations interleaved on the same
    (shared) model never count each other's work."""

    def __init__(self, model):
        self.model = model
        self.rows = 0
        self.layers = max(1, len(getattr(model, "blocks", None) or []))

    def _hook(self, _mod, inputs, _out):
        x = inputs[0]
        self.rows += int(x.numel() // x.shape[-1])

    @contextlib.contextmanager
    def counting(self):
        blocks = getattr(self.model, "blocks", None) or []
        handles = [blk.attn.wk.register_forward_hook(self._hook) for blk in blocks]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def take(self) -> int:
        r, self.rows = self.rows, 0
        return r // self.layers


@torch.no_grad()
def steps(model, prompt_ids: list[int], new_tokens: int, *, use_cache: bool, temperature: float = 0.0,
          top_k: int = 0, seed: int = 0, cache_dtype: torch.dtype | None = None, max_len: int | None = None,
          count_kv: bool = True):
    """Generator: one (token, seconds, kv_rows, cache_bytes, logits (V,) tensor) per generated token.

    Without a cache each step runs the model on the full sequence so far and keeps the last logits; with
    one, the prompt is prefilled at the first step and each later step feeds one token.
    """
    if not prompt_ids:
        raise InputError("The prompt is empty: give at least one token.")
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    us = np.random.default_rng(seed).random(new_tokens)  # one uniform per step, shared by both paths
    seq = torch.tensor([prompt_ids], dtype=torch.long, device=dev)  # (1, P)
    cache = None
    if use_cache:
        cache = KVCache.empty(model.cfg, batch=1, max_len=max_len or (len(prompt_ids) + new_tokens),
                              device=dev, dtype=cache_dtype or dtype)
    counter = _KCounter(model)
    for i in range(new_tokens):
        with counter.counting() if count_kv else contextlib.nullcontext():
            synchronize(dev)
            t0 = time.perf_counter()
            if use_cache:
                inp = seq if i == 0 else seq[:, -1:]  # prefill the prompt once, then one token per step
                logits, cache = model(inp, cache=cache)
            else:
                logits, _ = model(seq)
            last = logits[0, -1]  # (V,)
            tok = pick_token(last, temperature=temperature, top_k=top_k, u=float(us[i]))
            seq = torch.cat([seq, torch.tensor([[tok]], device=dev)], dim=1)
            synchronize(dev)
            dt = time.perf_counter() - t0
        yield tok, dt, counter.take(), (cache.used_nbytes if cache is not None else 0), last


def _collect(records, record_logits: bool) -> Trace:
    out, times, rows, held, logs = [], [], [], [], []
    for tok, dt, r, h, last in records:
        out.append(tok)
        times.append(dt)
        rows.append(r)
        held.append(h)
        if record_logits:
            logs.append(last.float().cpu().numpy())
    return Trace(tokens=out, step_s=np.array(times), kv_rows=np.array(rows, dtype=np.int64),
                 cache_bytes=np.array(held, dtype=np.int64), logits=np.stack(logs) if record_logits else None)


def generate(model, prompt_ids: list[int], new_tokens: int, *, use_cache: bool, temperature: float = 0.0,
             top_k: int = 0, seed: int = 0, record_logits: bool = False, cache_dtype: torch.dtype | None = None,
             max_len: int | None = None, count_kv: bool = True) -> Trace:
    """Generate ``new_tokens`` after ``prompt_ids`` with (``use_cache``) or without a KV cache (see ``steps``).
    ``count_kv=False`` leaves out the counting hooks (for pure speed measurements; ``kv_rows`` is then 0)."""
    return _collect(steps(model, prompt_ids, new_tokens, use_cache=use_cache, temperature=temperature, top_k=top_k,
                          seed=seed, cache_dtype=cache_dtype, max_len=max_len, count_kv=count_kv), record_logits)


def generate_interleaved(model, prompt_ids: list[int], new_tokens: int, **kw) -> tuple[Trace, Trace]:
    """(cached, uncached) traces generated in lockstep — step i of one, then step i of the other — so that
    both see the same machine load at the same point (fairer per-token timing on a shared CPU)."""
    a = steps(model, prompt_ids, new_tokens, use_cache=True, **kw)
    b = steps(model, prompt_ids, new_tokens, use_cache=False, **kw)
    ra, rb = [], []
    for x, y in zip(a, b):
        ra.append(x)
        rb.append(y)
    return _collect(ra, True), _collect(rb, True)
