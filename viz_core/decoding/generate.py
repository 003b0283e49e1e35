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

from viz_core.claims import ClaimCheck, check_ratio, CLAIMS, Verdict
from viz_core.decoding.kv_cache import KVCache
from viz_core.device import resolve_device, resolve_dtype, synchronize
from viz_core.errors import InputError

MAX_NEW_TOKENS = 1024
PAGE_THREADS = 1  # tiny models: one CPU thread is faster than two on a shared 2-core machine


@contextlib.contextmanager
def torch_threads(n: int | None = PAGE_THREADS):
    """Run the block with ``n`` torch CPU threads, then restore (None: leave as is)."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


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


# ---------------------------------------------------------------------------------------------- page runner
@dataclass(frozen=True)
class DecodeConfig:
    prompt: str = "ROMEO: But soft, what light"
    new_tokens: int = 64
    model: str = "tiny-gpt"
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    repeats: int = 3  # timed runs; each step's latency is the median over them
    run_id: int = 0  # change to re-measure (results are cached by config)


@dataclass(frozen=True)
class DecodeResult:
    prompt_tokens: int
    new_tokens: int
    text_cached: str
    text_uncached: str
    identical: bool  # same tokens both ways
    first_mismatch: int  # −1 when identical
    max_logit_diff: float  # max |Δlogit| over all steps (fp32 rounding only)
    step_s_cached: np.ndarray  # (N,)
    step_s_uncached: np.ndarray  # (N,)
    kv_rows_cached: np.ndarray  # (N,) per layer
    kv_rows_uncached: np.ndarray  # (N,) per layer
    cache_bytes: np.ndarray  # (N,) measured bytes held after each step
    formula_bytes: np.ndarray  # (N,) 2 × layers × kv_heads × head_dim × tokens × bytes
    n_layer: int
    n_kv_head: int
    head_dim: int
    bytes_per_value: int
    context: int
    non_ascii_bytes: int  # prompt bytes ≥ 128 (multi-byte characters the byte model rarely saw)
    device: str
    threads: int
    repeats: int


def run(cfg: DecodeConfig) -> DecodeResult:
    """The KV-cache page: generate the same continuation with and without the cache; time and count it."""
    with torch_threads():
        return _run(cfg)


def _run(cfg: DecodeConfig) -> DecodeResult:
    dev = resolve_device(cfg.device)
    model, tok, mcfg = load_model(cfg.model, dev.type, cfg.dtype)
    ids = encode_prompt(tok, cfg.prompt)
    check_length(len(ids), cfg.new_tokens, mcfg.max_seq_len)
    if cfg.temperature < 0:
        raise InputError("The temperature must be ≥ 0 (0 means greedy).")
    kw = dict(temperature=cfg.temperature, top_k=cfg.top_k, seed=cfg.seed)
    generate(model, ids[:4], 2, use_cache=True)  # warm-up (first-call allocations), not timed
    c, u = generate_interleaved(model, ids, cfg.new_tokens, **kw)
    if cfg.repeats > 1:  # per-step median over repeats: robust to load spikes on a shared CPU
        more = [generate_interleaved(model, ids, cfg.new_tokens, count_kv=False, **kw) for _ in range(cfg.repeats - 1)]
        c.step_s = np.median(np.stack([c.step_s] + [m[0].step_s for m in more]), axis=0)
        u.step_s = np.median(np.stack([u.step_s] + [m[1].step_s for m in more]), axis=0)
    same = c.tokens == u.tokens
    mism = -1 if same else next(i for i, (a, b) in enumerate(zip(c.tokens, u.tokens)) if a != b)
    upto = len(c.tokens) if same else mism + 1  # logits agree until the paths diverge
    diff = float(np.abs(c.logits[:upto] - u.logits[:upto]).max())
    bpv = next(model.parameters()).element_size()
    tokens_held = len(ids) + np.arange(cfg.new_tokens)  # after step i the cache holds P + i tokens
    formula = 2 * mcfg.n_layer * mcfg.n_kv_head * mcfg.head_dim * tokens_held * bpv
    return DecodeResult(
        prompt_tokens=len(ids), new_tokens=cfg.new_tokens, text_cached=tok.decode(c.tokens),
        text_uncached=tok.decode(u.tokens), identical=same, first_mismatch=mism, max_logit_diff=diff,
        step_s_cached=c.step_s, step_s_uncached=u.step_s, kv_rows_cached=c.kv_rows, kv_rows_uncached=u.kv_rows,
        cache_bytes=c.cache_bytes, formula_bytes=formula.astype(np.int64), n_layer=mcfg.n_layer,
        n_kv_head=mcfg.n_kv_head, head_dim=mcfg.head_dim, bytes_per_value=bpv, context=mcfg.max_seq_len,
        non_ascii_bytes=sum(1 for i in ids if i >= 128), device=str(dev), threads=torch.get_num_threads(),
        repeats=max(1, cfg.repeats))


@dataclass(frozen=True)
class Claim9Result:
    check: ClaimCheck
    rows_uncached: int
    rows_cached: int
    time_uncached_s: float
    time_cached_s: float


def claim_9(model_name: str = "tiny-gpt", device: str = "auto", dtype: str = "float32", n: int = 100) -> Claim9Result:
    """Claim #9 made real: a 1-token prompt and n = 100 new tokens, counted by hooks and timed."""
    with torch_threads():
        return _claim_9(model_name, device, dtype, n)


def _claim_9(model_name: str, device: str, dtype: str, n: int) -> Claim9Result:
    dev = resolve_device(device)
    model, tok, mcfg = load_model(model_name, dev.type, dtype)
    n = min(n, mcfg.max_seq_len - 1)
    ids = tok.encode("T")[:1]
    generate(model, ids, 2, use_cache=True)  # warm-up
    c, u = generate_interleaved(model, ids, n)
    rc, ru = int(c.kv_rows.sum()), int(u.kv_rows.sum())
    tc, tu = float(c.step_s.sum()), float(u.step_s.sum())
    speed = tu / tc
    measured = (f"{n} tokens from a 1-token prompt: {ru:,} K/V projections per layer without the cache, {rc:,} "
                f"with it ({ru / rc:.1f}×, counted by hooks); time {tu * 1e3:.0f} ms vs {tc * 1e3:.0f} ms = "
                f"{speed:.1f}× faster ({dev.type}, {torch.get_num_threads()} thread(s))")
    counts_ok = ru == n * (n + 1) // 2 and rc == n
    chk = check_ratio(9, speed, 50.0, None, measured=measured,
                      why_holds="the counts are exactly n(n+1)/2 vs n and the time ratio reaches the claim",
                      why_not=("the counts are exactly n(n+1)/2 vs n, but time is not proportional to them: "
                               "a step also pays for Q, the MLP and fixed per-call overhead, so the speed-up "
                               "is far smaller than the count ratio at this length"))
    if not counts_ok:
        chk = ClaimCheck(CLAIMS[9], measured, Verdict.NOT_HERE, "the measured counts differ from n(n+1)/2 vs n")
    return Claim9Result(chk, ru, rc, tu, tc)
