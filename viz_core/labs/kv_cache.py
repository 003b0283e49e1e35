"""The KV-cache page: cached vs uncached generation timed and counted, the cache-size calculator for real
model shapes, MHA -> GQA -> MQA conversion of the tiny GPT, and claims #9, #10, #11.

The algorithms are in ``viz_core.decoding`` (generation with and without a cache, the memory formula, head
pooling) and ``viz_core.models.kv_cache``; this module runs them for the page and returns numpy arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.claims import ClaimCheck, judge_9, judge_10, judge_11
from viz_core.decoding.generate import check_length, encode_prompt, generate, generate_interleaved, load_model
from viz_core.decoding.gqa_convert import convert, held_out_loss, uptrain
from viz_core.decoding.memory import BYTES_PER_VALUE, MODEL_SHAPES, kv_cache_bytes, popular_formula_bytes
from viz_core.device import resolve_device
from viz_core.errors import InputError, human_bytes
from viz_core.measure.threads import PAGE_THREADS, with_threads
from viz_core.models.data import load_corpus
from viz_core.models.kv_cache import KVCache


# ------------------------------------------------------------------------------- cached vs uncached
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


@with_threads(PAGE_THREADS)
def run(cfg: DecodeConfig) -> DecodeResult:
    """The KV-cache page: generate the same continuation with and without the cache; time and count it."""
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


@with_threads(PAGE_THREADS)
def claim_9(model_name: str = "tiny-gpt", device: str = "auto", dtype: str = "float32", n: int = 100) -> Claim9Result:
    """Claim #9 made real: a 1-token prompt and n = 100 new tokens, counted by hooks and timed."""
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
    chk = judge_9(ru / rc, speed, n, measured=measured,
                  provenance=f"measured live ({dev.type}, {torch.get_num_threads()} thread(s), {dtype})")
    return Claim9Result(chk, ru, rc, tu, tc)


# ---------------------------------------------------------------------------------- memory calculator
@dataclass(frozen=True)
class CalculatorConfig:
    context: int = 4096  # tokens per sequence
    batch: int = 1
    dtype: str = "float16"  # key of BYTES_PER_VALUE
    models: tuple[str, ...] = ("Llama-2-7B", "Llama-2-70B", "Falcon-7B", "SmolLM2-135M")


@dataclass(frozen=True)
class CalculatorResult:
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    layers: np.ndarray
    heads: np.ndarray
    kv_heads: np.ndarray
    head_dim: np.ndarray
    bytes_actual: np.ndarray  # with the model's own kv_heads
    bytes_if_mha: np.ndarray  # same model with kv_heads = heads
    bytes_if_mqa: np.ndarray  # same model with one KV head
    bytes_per_token: np.ndarray  # per sequence, actual
    division: np.ndarray  # bytes_if_mha / bytes_actual = heads / kv_heads
    sources: tuple[str, ...]
    context: int
    batch: int
    bytes_per_value: float


def calculate(cfg: CalculatorConfig) -> CalculatorResult:
    """KV-cache bytes of real model shapes at a context and batch, and what MQA/GQA divide it by."""
    if cfg.context < 1:
        raise InputError("The context must be at least one token.")
    if cfg.batch < 1:
        raise InputError("The batch must be at least one sequence.")
    if cfg.dtype not in BYTES_PER_VALUE:
        raise InputError(f"Unknown cache dtype {cfg.dtype!r}; choose one of {', '.join(BYTES_PER_VALUE)}.")
    unknown = [m for m in cfg.models if m not in MODEL_SHAPES]
    if unknown:
        raise InputError(f"Unknown model(s): {', '.join(unknown)}; choose from {', '.join(MODEL_SHAPES)}.")
    if not cfg.models:
        raise InputError("Pick at least one model.")
    bpv = BYTES_PER_VALUE[cfg.dtype]
    shapes = [MODEL_SHAPES[m] for m in cfg.models]
    act = np.array([kv_cache_bytes(s.layers, s.kv_heads, s.head_dim, cfg.context, bpv, cfg.batch) for s in shapes])
    mha = np.array([kv_cache_bytes(s.layers, s.heads, s.head_dim, cfg.context, bpv, cfg.batch) for s in shapes])
    mqa = np.array([kv_cache_bytes(s.layers, 1, s.head_dim, cfg.context, bpv, cfg.batch) for s in shapes])
    per_tok = np.array([kv_cache_bytes(s.layers, s.kv_heads, s.head_dim, 1, bpv, 1) for s in shapes])
    return CalculatorResult(
        names=tuple(s.name for s in shapes), kinds=tuple(s.kind for s in shapes),
        layers=np.array([s.layers for s in shapes]), heads=np.array([s.heads for s in shapes]),
        kv_heads=np.array([s.kv_heads for s in shapes]), head_dim=np.array([s.head_dim for s in shapes]),
        bytes_actual=act, bytes_if_mha=mha, bytes_if_mqa=mqa, bytes_per_token=per_tok, division=mha / act,
        sources=tuple(s.source for s in shapes), context=cfg.context, batch=cfg.batch, bytes_per_value=bpv)


def claim_10_check(context: int = 4096, dtype: str = "float16") -> ClaimCheck:
    """Claim #10: the popular formula equals ours for MHA (Llama-2-7B), and over-counts GQA (Llama-2-70B)."""
    bpv = BYTES_PER_VALUE[dtype]
    s7, s70 = MODEL_SHAPES["Llama-2-7B"], MODEL_SHAPES["Llama-2-70B"]
    ours7 = kv_cache_bytes(s7.layers, s7.kv_heads, s7.head_dim, context, bpv)
    pop7 = popular_formula_bytes(s7.layers, context, s7.d_model, bpv)
    ours70 = kv_cache_bytes(s70.layers, s70.kv_heads, s70.head_dim, context, bpv)
    pop70 = popular_formula_bytes(s70.layers, context, s70.d_model, bpv)
    measured = (f"{context} tokens, {dtype}: Llama-2-7B (MHA) {human_bytes(ours7)} by layers×kv_heads×head_dim, "
                f"{human_bytes(pop7)} by the claim's formula; Llama-2-70B (GQA-8) {human_bytes(ours70)} vs "
                f"{human_bytes(pop70)} by the claim's formula ({pop70 / ours70:.0f}× too much)")
    return judge_10(pop7 / ours7, pop70 / ours70, measured=measured, provenance="computed (published model shapes)")


TINY_GPTS = ("tiny-gpt", "tiny-gpt-gqa", "tiny-gpt-mqa")


@with_threads(PAGE_THREADS)
def tiny_gpt_cache_bytes(device: str = "cpu", tokens: int = 16) -> dict[str, tuple[int, int, int]]:
    """name -> (bytes of K/V held after generating ``tokens`` tokens with the cache, n_head, n_kv_head), measured
    on the trained MHA, GQA and MQA tiny GPTs (assets/models) in float32."""
    out = {}
    for name in TINY_GPTS:
        model, tok, cfg = load_model(name, resolve_device(device).type, "float32")
        trace = generate(model, tok.encode("To be, or not")[:8], tokens, use_cache=True, count_kv=False)
        out[name] = (int(trace.cache_bytes[-1]), int(cfg.n_head), int(cfg.n_kv_head or cfg.n_head))
    return out


def claim_11_check(measured_bytes: dict[str, tuple[int, int, int]] | None = None, device: str = "cpu") -> ClaimCheck:
    """Claim #11 judged on measured cache bytes of the trained tiny GPTs: MHA vs MQA (one K/V head), with the
    GQA model's ratio beside it. ``measured_bytes`` is ``tiny_gpt_cache_bytes()`` (measured here when None)."""
    m = measured_bytes if measured_bytes is not None else tiny_gpt_cache_bytes(device)
    (mha, h, _), (gqa, _, g), (mqa, _, one) = (m[n] for n in TINY_GPTS)
    measured = (f"tiny GPTs after 8 + 16 tokens, fp32: MHA ({h} K/V heads) {human_bytes(mha)}, GQA ({g}) "
                f"{human_bytes(gqa)} ({mha / gqa:.3g}×), MQA ({one}) {human_bytes(mqa)} ({mha / mqa:.3g}× smaller)")
    return judge_11(mha, mqa, h, one, measured=measured,
                    provenance=f"measured live (KV cache tensors, {resolve_device(device).type})")


# ----------------------------------------------------------------------------------- MHA -> GQA -> MQA
@dataclass(frozen=True)
class GQAConfig:
    model: str = "tiny-gpt"
    windows: int = 8  # held-out windows of the model's context
    context: int = 256  # tokens for the cache-size column
    uptrain_steps: int = 0  # extra training steps given to EVERY variant (the original too, for fairness)
    device: str = "auto"
    dtype: str = "float32"
    kv_heads: tuple[int, ...] = ()  # only these variants (empty: all); the page runs one at a time for progress


@dataclass(frozen=True)
class GQAResult:
    kv_heads: np.ndarray  # (K,) the original first
    labels: tuple[str, ...]  # "MHA (4 KV heads)", "GQA-2", "MQA"
    loss: np.ndarray  # nats/token on held-out text
    perplexity: np.ndarray  # exp(loss), per byte-token
    cache_bytes: np.ndarray  # measured nbytes of a KVCache for `context` tokens
    n_head: int
    context: int
    eval_tokens: int
    trained: np.ndarray  # bool: natively trained checkpoint (True) or converted by pooling (False)
    uptrain_steps: int


@with_threads(PAGE_THREADS)
def gqa_variants(mcfg) -> list[int]:
    """KV-head counts a model can be pooled to (its own first): divisors of both head counts."""
    return [k for k in range(mcfg.n_kv_head, 0, -1) if mcfg.n_kv_head % k == 0 and mcfg.n_head % k == 0]


def gqa_variant_options(cfg: GQAConfig) -> tuple[int, ...]:
    _, _, mcfg = load_model(cfg.model, "cpu", "float32")
    return tuple(gqa_variants(mcfg))


def merge_gqa(parts: list[GQAResult]) -> GQAResult:
    """One result from per-variant runs (same config otherwise), in the order given."""
    cat = lambda f: np.concatenate([getattr(p, f) for p in parts])  # noqa: E731
    p0 = parts[0]
    return GQAResult(kv_heads=cat("kv_heads"), labels=tuple(x for p in parts for x in p.labels), loss=cat("loss"),
                     perplexity=cat("perplexity"), cache_bytes=cat("cache_bytes"), n_head=p0.n_head,
                     context=p0.context, eval_tokens=p0.eval_tokens, trained=cat("trained"),
                     uptrain_steps=p0.uptrain_steps)


def estimate_gqa_s(cfg: GQAConfig) -> float:
    """Seconds ``run_gqa(cfg)`` will take here: one uptraining step and one held-out window, timed now."""
    import time

    dev = resolve_device(cfg.device)
    model, tok, mcfg = load_model(cfg.model, dev.type, cfg.dtype)
    tokens = tok.encode(load_corpus("val")[: 4 * mcfg.max_seq_len])
    t0 = time.perf_counter()
    held_out_loss(model, tokens, mcfg.max_seq_len, 1)
    eval_s = (time.perf_counter() - t0) * max(1, cfg.windows)
    step_s = 0.0
    if cfg.uptrain_steps:
        with torch.enable_grad():
            uptrain(model, tokens, 1)  # warm-up: allocations, optimizer state
            t0 = time.perf_counter()
            uptrain(model, tokens, 2)
            step_s = (time.perf_counter() - t0) / 2
    n = len(cfg.kv_heads) if cfg.kv_heads else len(gqa_variants(mcfg))
    return n * (cfg.uptrain_steps * step_s + eval_s)


def run_gqa(cfg: GQAConfig) -> GQAResult:
    dev = resolve_device(cfg.device)
    model, tok, mcfg = load_model(cfg.model, dev.type, cfg.dtype)
    if not 1 <= cfg.windows <= 128:
        raise InputError("Use between 1 and 128 held-out windows.")
    if not 0 <= cfg.uptrain_steps <= 500:
        raise InputError("Uptrain for 0 to 500 steps.")
    tokens = tok.encode(load_corpus("val"))
    train_tokens = tok.encode(load_corpus("train")) if cfg.uptrain_steps else []
    seq = mcfg.max_seq_len
    ks = gqa_variants(mcfg)
    if cfg.kv_heads:
        if not set(cfg.kv_heads) <= set(ks):
            raise InputError(f"KV-head counts must be among {ks}.")
        ks = [k for k in ks if k in cfg.kv_heads]
    losses, sizes, labels = [], [], []
    for k in ks:
        m = model if k == mcfg.n_kv_head else convert(model, k)
        if cfg.uptrain_steps:
            with torch.enable_grad():
                m = uptrain(m, train_tokens, cfg.uptrain_steps, seed=k)
        losses.append(held_out_loss(m, tokens, seq, cfg.windows))
        sizes.append(KVCache.empty(m.cfg, batch=1, max_len=cfg.context, device="meta").nbytes)
        labels.append("MHA" if k == mcfg.n_head else ("MQA" if k == 1 else f"GQA-{k}"))
        labels[-1] += f" ({k} KV head{'s' if k > 1 else ''})"
    loss = np.array(losses)
    return GQAResult(kv_heads=np.array(ks), labels=tuple(labels), loss=loss, perplexity=np.exp(loss),
                     cache_bytes=np.array(sizes), n_head=mcfg.n_head, context=cfg.context,
                     eval_tokens=min(cfg.windows, (len(tokens) - 1) // seq) * seq,
                     trained=np.array([k == mcfg.n_kv_head for k in ks]), uptrain_steps=cfg.uptrain_steps)


# ------------------------------------------------------------------ the page's computed sentences and tables
def projection_sentence(res: DecodeResult) -> str:
    """K/V rows counted by the hooks, beside the two sums they must equal."""
    p, n = res.prompt_tokens, res.new_tokens
    return (f"Counted by a hook on every layer's K projection: **{int(res.kv_rows_uncached.sum()):,}** K/V rows per "
            f"layer without the cache against **{int(res.kv_rows_cached.sum()):,}** with it (P = {p} prompt tokens, "
            f"n = {n}: Σ (P + i) = {n * p + n * (n - 1) // 2:,} and P + n − 1 = {p + n - 1:,}).")


def cache_formula_sentence(res: DecodeResult) -> str:
    """The cache-size formula with this model's numbers, and the measured size of the filled cache."""
    per_tok = 2 * res.n_layer * res.n_kv_head * res.head_dim * res.bytes_per_value
    return (f"bytes = 2 × layers × kv_heads × head_dim × tokens × bytes/value = 2 × {res.n_layer} × {res.n_kv_head} × "
            f"{res.head_dim} × tokens × {res.bytes_per_value} = **{per_tok:,} B per token**; after "
            f"{res.prompt_tokens + res.new_tokens - 1} tokens the filled cache holds {human_bytes(res.cache_bytes[-1])} "
            "(measured from the cache tensors).")


def calculator_table(cr: CalculatorResult) -> dict:
    return {"model": cr.names, "attention": cr.kinds, "layers": cr.layers, "heads": cr.heads, "kv_heads": cr.kv_heads,
            "head_dim": cr.head_dim, "per token": [human_bytes(b) for b in cr.bytes_per_token],
            "KV cache (GB)": [round(b / 1e9, 3) for b in cr.bytes_actual],
            "÷ vs MHA": [f"{d:g}×" for d in cr.division], "source": cr.sources}


def gqa_table(g: GQAResult) -> dict:
    return {"variant": g.labels, "KV heads": g.kv_heads, "held-out loss (nats/byte)": g.loss.round(4),
            "perplexity": g.perplexity.round(4), "cache at 256 tokens": [human_bytes(b) for b in g.cache_bytes],
            "cache ÷": [f"{g.cache_bytes[0] / b:g}×" for b in g.cache_bytes]}


def summary_metrics(res: DecodeResult) -> list[tuple]:
    """(label, value[, help]) for the page's metric row."""
    tc, tu = res.step_s_cached.sum(), res.step_s_uncached.sum()
    return [("Same tokens both ways", "yes ✅" if res.identical else f"no ❌ (from #{res.first_mismatch})"),
            ("Max |Δ logit|", f"{res.max_logit_diff:.1e}",
             "largest logit difference between the two runs: rounding in the chosen precision only"),
            ("Time without cache", f"{tu * 1e3:.0f} ms"), ("Time with cache", f"{tc * 1e3:.0f} ms"),
            ("Speed-up", f"{tu / tc:.1f}×", f"{res.device}, {res.threads} torch thread(s)")]
