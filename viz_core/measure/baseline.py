"""The one eager attention that timings compare against (the baseline of Dao et al. 2022).

``viz_core.attention.reference.reference_attention`` is the *spec* (it upcasts half inputs and returns the
weights, for tests and weight maps); this is the *timing baseline*: it runs in the inputs' dtype, so on a
GPU fp16 methods are compared with an fp16 baseline, and for fp32 it computes the same thing.
"""
from __future__ import annotations

import torch


def eager_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                    scale: float | None = None) -> torch.Tensor:
    """softmax(QKᵀ·scale) V in the inputs' dtype, materialising the scores. (B, H, N, D) -> (B, H, N, Dv).

    ``scale`` defaults to 1/√d. With ``causal`` and M > N keys, the queries are the last N positions.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale  # (B, H, N, M)
    if causal:
        n, m = q.shape[-2], k.shape[-2]
        i = torch.arange(n, device=q.device)[:, None]
        j = torch.arange(m, device=q.device)[None, :]
        scores = scores.masked_fill(j > i + (m - n), float("-inf"))  # (N, M) mask, True = hidden
    return torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, H, N, Dv)
