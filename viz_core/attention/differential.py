"""Differential attention: Ye et al. 2024, "Differential Transformer".

Split each head's q and k into two halves (D/2 each) and take the difference of two softmax maps:
    A = softmax(Q₁K₁ᵀ/√(D/2)) − λ · softmax(Q₂K₂ᵀ/√(D/2)),   out = A V.
Common-mode attention (noise both maps share) cancels, like a differential amplifier. The paper also
normalises each head's output (GroupNorm) and scales it by (1 − λ_init); this lab shows the raw A V so
the effect of λ on the map is visible. A has negative entries and rows summing to 1 − λ, so it is not a
probability distribution: the row KL to exact attention is not defined and is not reported.
It is a different operator from softmax attention by design; its "error" to exact attention measures how
different, not how wrong.
"""
from __future__ import annotations

import math

import torch

from viz_core.attention import register
from viz_core.attention.reference import causal_mask
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError


def differential_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg) -> AttentionOutput:
    """q, k (B, H, N, D) with D even, v (B, H, M, Dv) -> out (B, H, N, Dv); weights = A (signed). Reads lam."""
    d = q.shape[-1]
    if d % 2:
        raise InputError(f"Differential attention splits the head size in two halves; head size {d} is odd.")
    lam = float(getattr(cfg, "lam", 0.5))
    h = d // 2
    scale = 1.0 / math.sqrt(h)
    s1 = torch.matmul(q[..., :h], k[..., :h].transpose(-2, -1)) * scale  # (B, H, N, M)
    s2 = torch.matmul(q[..., h:], k[..., h:].transpose(-2, -1)) * scale
    if getattr(cfg, "causal", False):
        m = causal_mask(q.shape[-2], k.shape[-2], q.device)
        s1, s2 = s1.masked_fill(~m, float("-inf")), s2.masked_fill(~m, float("-inf"))
    a1, a2 = torch.softmax(s1, dim=-1), torch.softmax(s2, dim=-1)
    a = a1 - lam * a2
    return AttentionOutput(out=torch.matmul(a, v), weights=a, extras={"lam": lam, "map1": a1, "map2": a2})


register(AttentionVariant(
    name="differential", fn=differential_attention, exact=False,
    paper="Ye et al. 2024, Differential Transformer",
    time_complexity="O(N² d)", memory_complexity="O(N²) (two score maps)",
    summary="Difference of two softmax maps (λ scales the second): shared 'noise' attention cancels.",
    params=("lam", "causal"),
))
