"""Multi-query and grouped-query attention.

MQA: Shazeer 2019, "Fast Transformer Decoding: One Write-Head is All You Need" (one K/V head for all).
GQA: Ainslie et al. 2023, "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
Checkpoints" (G groups of query heads share one K/V head each).

Given k, v with fewer heads (B, G, M, D), each K/V head serves H/G consecutive query heads. Given k, v with
as many heads as queries (how the lab drives every variant from one Q, K, V), they are first converted to
G heads by mean-pooling each group, as the GQA paper converts a multi-head checkpoint. With G = H this is
exactly multi-head attention; G = 1 is MQA. The KV cache shrinks by H/G.
"""
from __future__ import annotations

import math

import torch

from viz_core.attention import register
from viz_core.attention.reference import causal_mask
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError


def pool_heads(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, H, M, D) -> (B, G, M, D): mean of each group of H/G consecutive heads."""
    B, H, M, D = x.shape
    if groups < 1 or H % groups:
        raise InputError(f"{H} heads cannot be split into {groups} key/value groups evenly; "
                         f"pick a divisor of {H}.")
    return x.reshape(B, groups, H // groups, M, D).mean(dim=2)  # reshape: any strides


def grouped_attention_core(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                           scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """q (B, H, N, D), k (B, G, M, D), v (B, G, M, Dv) -> (out (B, H, N, Dv), weights (B, H, N, M))."""
    B, H, N, D = q.shape
    G, M = k.shape[1], k.shape[-2]
    if H % G:
        raise InputError(f"{H} query heads cannot share {G} key/value heads evenly.")
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    qg = q.reshape(B, G, H // G, N, D)  # query heads grouped by the K/V head they share (any strides)
    s = torch.matmul(qg, k.unsqueeze(2).transpose(-2, -1)) * scale  # (B, G, H/G, N, M)
    if causal:
        s = s.masked_fill(~causal_mask(N, M, q.device), float("-inf"))
    p = torch.softmax(s, dim=-1)
    out = torch.matmul(p, v.unsqueeze(2))  # (B, G, H/G, N, Dv)
    return out.reshape(B, H, N, v.shape[-1]), p.reshape(B, H, N, M)


def _grouped(q, k, v, *, cfg, groups: int) -> AttentionOutput:
    H = q.shape[1]
    if k.shape[1] == H and groups != H:
        k, v = pool_heads(k, groups), pool_heads(v, groups)
    elif k.shape[1] != groups and k.shape[1] != H:
        raise InputError(f"Got {k.shape[1]} key/value heads, expected {groups} (or {H} to pool).")
    out, w = grouped_attention_core(q, k, v, causal=bool(getattr(cfg, "causal", False)),
                                    scale=getattr(cfg, "scale", None))
    return AttentionOutput(out=out, weights=w, extras={"kv_heads": k.shape[1], "kv_cache_ratio": H / k.shape[1]})


def gqa_attention(q, k, v, *, cfg) -> AttentionOutput:
    """Reads kv_heads (G), causal."""
    return _grouped(q, k, v, cfg=cfg, groups=int(getattr(cfg, "kv_heads", 2)))


def mqa_attention(q, k, v, *, cfg) -> AttentionOutput:
    """One K/V head shared by every query head. Reads causal."""
    return _grouped(q, k, v, cfg=cfg, groups=1)


register(AttentionVariant(
    name="gqa", fn=gqa_attention, exact=False,
    paper="Ainslie et al. 2023, GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints",
    time_complexity="O(N² d)", memory_complexity="O(N²) scores; KV cache ÷ H/G",
    summary="Groups of query heads share one key/value head: the KV cache shrinks by heads / kv_heads.",
    params=("kv_heads", "causal"),
))
register(AttentionVariant(
    name="mqa", fn=mqa_attention, exact=False,
    paper="Shazeer 2019, Fast Transformer Decoding: One Write-Head is All You Need",
    time_complexity="O(N² d)", memory_complexity="O(N²) scores; KV cache ÷ H",
    summary="All query heads share one key and one value head: the KV cache is H times smaller.",
    params=("causal",),
))
