"""Linformer: Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity".

Project the N keys and values to k rows with a (k, N) matrix E: softmax(Q (E K)ᵀ/√d) (E V). The score
matrix is N×k instead of N×N, so cost is O(N·k·d). Linformer learns E; this lab uses a learning-free E:
- ``pool``: fixed segment means (row r averages tokens [r·N/k, (r+1)·N/k)), exact when k = N;
- ``random``: Gaussian entries / √k (the Johnson–Lindenstrauss view of the paper's argument), seeded.
The variant's effective weights on the original tokens are P·E (out = (P E) V), shown in the heatmap.
Linformer has no causal form (a projected row mixes past and future tokens), so causal is refused.
"""
from __future__ import annotations

import math

import torch

from viz_core.attention import register
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError


def projection(n: int, k: int, kind: str = "pool", seed: int = 0) -> torch.Tensor:
    """(k, n) projection matrix along the sequence."""
    if not 1 <= k:
        raise InputError("Linformer's projected length k must be at least 1.")
    k = min(k, n)
    if kind == "pool":
        edges = [round(r * n / k) for r in range(k + 1)]
        e = torch.zeros(k, n)
        for r in range(k):
            e[r, edges[r]:edges[r + 1]] = 1.0 / (edges[r + 1] - edges[r])
        return e
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.randn(k, n, generator=g) / math.sqrt(k)
    raise InputError(f"Unknown Linformer projection {kind!r}; choose 'pool' or 'random'.")


def linformer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg) -> AttentionOutput:
    """q (B, H, N, D), k (B, H, M, D), v (B, H, M, Dv) -> out (B, H, N, Dv). Reads proj_k, proj_kind, seed."""
    if getattr(cfg, "causal", False):
        raise InputError("Linformer has no causal form: each projected row mixes past and future tokens. "
                         "Untick 'causal' to run it.")
    n_kv, d = k.shape[-2], q.shape[-1]
    e = projection(n_kv, int(getattr(cfg, "proj_k", 32)), getattr(cfg, "proj_kind", "pool"),
                   int(getattr(cfg, "seed", 0))).to(device=q.device, dtype=q.dtype)  # (k, M)
    scale = getattr(cfg, "scale", None)
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    kp = torch.matmul(e, k)  # (B, H, k, D)
    vp = torch.matmul(e, v)  # (B, H, k, Dv)
    p = torch.softmax(torch.matmul(q, kp.transpose(-2, -1)) * scale, dim=-1)  # (B, H, N, k)
    out = torch.matmul(p, vp)  # (B, H, N, Dv)
    return AttentionOutput(out=out, weights=None, extras={"projected_weights": p, "projection": e,
                                                          "k": e.shape[0]})


register(AttentionVariant(
    name="linformer",
    fn=linformer_attention,
    exact=False,
    paper="Wang et al. 2020, Linformer: Self-Attention with Linear Complexity",
    time_complexity="O(N·k·d)",
    memory_complexity="O(N·k)",
    summary="Project the N keys and values down to k rows: an N×k score matrix; error falls as k grows toward N.",
    params=("proj_k", "proj_kind", "seed"),
))
