"""Reference attention: the eager spec every other variant is tested against.

Vaswani et al. 2017, "Attention Is All You Need": softmax(QKᵀ/√d + mask) V.
Materialises the full (B, H, N, M) score matrix on purpose: that is what efficient variants avoid.
"""
from __future__ import annotations

import math

import torch

from viz_core.attention.masks import causal, dense_mask
from viz_core.attention.types import AttentionOutput


def causal_mask(n_q: int, n_kv: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, M) bool, True where query i may attend key j. With M > N the queries are the last N positions."""
    return dense_mask(causal(n_kv - n_q), n_q, n_kv, device or "cpu")


def reference_attention(
    q: torch.Tensor,  # (B, H, N, D)
    k: torch.Tensor,  # (B, H, M, D)
    v: torch.Tensor,  # (B, H, M, Dv)
    *,
    mask: torch.Tensor | None = None,  # bool, broadcastable to (B, H, N, M); True = attend
    causal: bool = False,
    scale: float | None = None,
    return_weights: bool = True,
) -> AttentionOutput:
    """Eager attention in the inputs' dtype (compute in float32 for half inputs, cast back).

    Rows whose mask is all False get zero output and zero weights (not NaN).
    """
    d = q.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    orig = q.dtype
    if orig in (torch.float16, torch.bfloat16):
        q, k, v = q.float(), k.float(), v.float()
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale  # (B, H, N, M)
    allowed = None
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2], q.device)
    if mask is not None:
        allowed = mask if allowed is None else (allowed & mask)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if allowed is not None:
        weights = torch.nan_to_num(weights, nan=0.0)  # fully-masked rows
    out = torch.matmul(weights, v)  # (B, H, N, Dv)
    return AttentionOutput(out=out.to(orig), weights=weights.to(orig) if return_weights else None)
