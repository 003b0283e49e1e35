"""Performer, FAVOR+: Choromanski et al. 2021, "Rethinking Attention with Performers" (ICLR).

exp(q·k) = E_ω[ φ(q)·φ(k) ] with positive random features φ(x) = exp(ωᵀx − |x|²/2) / √m,
ω ~ N(0, I) drawn as blocks of *orthogonal* rows (lower variance), each row rescaled to a chi-distributed
norm. With q, k scaled by d^(-1/4) this is an unbiased estimate of softmax's exp(q·k/√d); attention is
then linear attention (see linear.py) with this φ. More features m -> smaller error (tested).
Numerical stability: a per-query-row and a global key maximum are subtracted inside exp; both factors
cancel in the row normalisation.
"""
from __future__ import annotations

import functools
import math

import torch

from viz_core.attention import register
from viz_core.attention.linear import kernel_attention
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError


@functools.lru_cache(maxsize=32)
def orthogonal_gaussian(m: int, d: int, seed: int) -> torch.Tensor:
    """(m, d) random features: stacked d×d orthogonal blocks, rows scaled by chi(d) norms. Seeded, on CPU."""
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(-(-m // d)):
        qmat, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
        blocks.append(qmat.T)  # rows orthonormal
    w = torch.cat(blocks, dim=0)[:m]
    norms = torch.randn(m, d, generator=g).norm(dim=1, keepdim=True)  # chi(d), like Gaussian row norms
    out = w * norms
    out.requires_grad_(False)
    return out  # cached: callers must not modify it in place


def favor_features(x: torch.Tensor, omega: torch.Tensor, *, is_query: bool) -> torch.Tensor:
    """Positive random features. x (B, H, N, D) already scaled; omega (m, D) -> (B, H, N, m)."""
    proj = torch.matmul(x, omega.T)  # (B, H, N, m)
    sq = 0.5 * (x * x).sum(-1, keepdim=True)  # (B, H, N, 1)
    if is_query:
        stab = proj.amax(dim=-1, keepdim=True)  # per row: cancels in the row normalisation
    else:
        stab = proj.amax(dim=(-1, -2), keepdim=True)  # one constant per head: cancels too
    return torch.exp(proj - sq - stab.detach()) / math.sqrt(omega.shape[0])


def performer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg) -> AttentionOutput:
    """q, k (B, H, N, D), v (B, H, N, Dv) -> out (B, H, N, Dv). Reads features, seed, causal, chunk."""
    m = int(getattr(cfg, "features", 64))
    if m < 1:
        raise InputError("Performer needs at least one random feature.")
    d = q.shape[-1]
    scale = getattr(cfg, "scale", None)
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    omega = orthogonal_gaussian(m, d, int(getattr(cfg, "seed", 0))).to(device=q.device, dtype=torch.float32)
    r = math.sqrt(scale)  # q·k·scale = (r q)·(r k)
    qf, kf = (q.float() * r), (k.float() * r)
    pq = favor_features(qf, omega, is_query=True)
    pk = favor_features(kf, omega, is_query=False)
    causal = bool(getattr(cfg, "causal", False))
    out = kernel_attention(pq, pk, v.float(), causal=causal, form=getattr(cfg, "linear_form", "chunked"),
                           chunk=int(getattr(cfg, "chunk", 64)))
    return AttentionOutput(out=out.to(q.dtype), weights=None, extras={"features": m, "phi_q": pq, "phi_k": pk})


register(AttentionVariant(
    name="performer",
    fn=performer_attention,
    exact=False,
    paper="Choromanski et al. 2021, Rethinking Attention with Performers (FAVOR+)",
    time_complexity="O(N·m·d)",
    memory_complexity="O(m·d) state",
    summary="Positive orthogonal random features estimate exp(q·k/√d) without bias; m features trade cost for error.",
    params=("features", "seed", "causal"),
))
