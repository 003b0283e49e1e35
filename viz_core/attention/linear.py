"""Linear attention: Katharopoulos et al. 2020, "Transformers are RNNs: Fast Autoregressive Transformers
with Linear Attention".

Replace exp(q·k) by a kernel φ(q)·φ(k) with φ(x) = elu(x) + 1 > 0. Then
    out_i = φ(q_i) Σ_j φ(k_j)ᵀ v_j  /  φ(q_i) · Σ_j φ(k_j)
and the sums are computed once (non-causal: an F×Dv matrix) instead of an N×N score matrix: O(N·F·Dv).
Causal: the sums run over j <= i, i.e. prefix sums. Two forms:
- ``prefix``: a cumulative sum per token (the RNN view; O(N·F·Dv) memory),
- ``chunked``: exact quadratic attention inside chunks of C tokens plus the prefix state of earlier chunks
  (O(N·C + (N/C)·F·Dv) memory; the form used in practice).
This is a different function from softmax attention (approximate): its implied weights are
φ(Q)φ(K)ᵀ, row-normalised, which ``implied_weights`` returns for the heatmap.
The core here (``kernel_attention``) is shared with Performer (performer.py), which only changes φ.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from viz_core.attention import register
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError

EPS = 1e-30  # guards 0/0 only (padded rows); an additive 1e-6 would bias tiny Performer features


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1, elementwise and positive. (B, H, N, D) -> (B, H, N, D)."""
    return F.elu(x) + 1.0


def _noncausal(pq: torch.Tensor, pk: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    kv = torch.matmul(pk.transpose(-2, -1), v)  # (B, H, F, Dv)
    z = pk.sum(dim=-2)  # (B, H, F)
    num = torch.matmul(pq, kv)  # (B, H, N, Dv)
    den = torch.matmul(pq, z.unsqueeze(-1))  # (B, H, N, 1)
    return num / den.clamp_min(EPS)


def _causal_prefix(pq: torch.Tensor, pk: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    s = torch.cumsum(pk.unsqueeze(-1) * v.unsqueeze(-2), dim=2)  # (B, H, N, F, Dv): state after token i
    z = torch.cumsum(pk, dim=2)  # (B, H, N, F)
    num = torch.einsum("bhnf,bhnfd->bhnd", pq, s)
    den = (pq * z).sum(-1, keepdim=True)
    return num / den.clamp_min(EPS)


def _causal_chunked(pq: torch.Tensor, pk: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    B, H, N, Fd = pq.shape
    Dv = v.shape[-1]
    c = max(1, min(chunk, N))
    nc = -(-N // c)
    pad = nc * c - N
    if pad:  # zero features add nothing to any sum
        pq, pk, v = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (pq, pk, v))
    qc = pq.view(B, H, nc, c, Fd)
    kc = pk.view(B, H, nc, c, Fd)
    vc = v.view(B, H, nc, c, Dv)
    kv = torch.matmul(kc.transpose(-2, -1), vc)  # (B, H, nc, F, Dv) per chunk
    state = torch.cumsum(kv, dim=2) - kv  # exclusive prefix: chunks before this one
    zc = kc.sum(dim=-2)  # (B, H, nc, F)
    zstate = torch.cumsum(zc, dim=2) - zc
    a = torch.matmul(qc, kc.transpose(-2, -1))  # (B, H, nc, c, c) intra-chunk kernel
    a = a * torch.ones(c, c, dtype=torch.bool, device=a.device).tril()
    num = torch.matmul(a, vc) + torch.matmul(qc, state)  # (B, H, nc, c, Dv)
    den = a.sum(-1, keepdim=True) + torch.matmul(qc, zstate.unsqueeze(-1))  # (B, H, nc, c, 1)
    out = (num / den.clamp_min(EPS)).reshape(B, H, nc * c, Dv)
    return out[:, :, :N]


def kernel_attention(pq: torch.Tensor, pk: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                     form: str = "chunked", chunk: int = 64) -> torch.Tensor:
    """out_i = Σ_j (φq_i·φk_j) v_j / Σ_j φq_i·φk_j over allowed j. pq, pk (B, H, N, F), v (B, H, N, Dv).

    Half-precision inputs are summed in float32 (a bf16 running sum stops growing once it is ~256× a term)
    and the result is cast back to v's dtype."""
    if pk.shape[-2] != v.shape[-2]:
        raise InputError("k and v need the same length.")
    orig = v.dtype
    if orig in (torch.float16, torch.bfloat16) or pq.dtype in (torch.float16, torch.bfloat16):
        pq, pk, v = pq.float(), pk.float(), v.float()
    if not causal:
        return _noncausal(pq, pk, v).to(orig)
    if pq.shape[-2] != pk.shape[-2]:
        raise InputError("Causal linear attention needs as many queries as keys.")
    if form == "prefix":
        return _causal_prefix(pq, pk, v).to(orig)
    if form == "chunked":
        if chunk < 1:
            raise InputError("The chunk length must be at least 1.")
        return _causal_chunked(pq, pk, v, chunk).to(orig)
    raise InputError(f"Unknown causal form {form!r}; choose 'chunked' or 'prefix'.")


def implied_weights(pq: torch.Tensor, pk: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """φ(Q)φ(K)ᵀ row-normalised: the (B, H, N, M) weights linear attention implicitly uses. O(N²): small N."""
    a = torch.matmul(pq, pk.transpose(-2, -1))  # (B, H, N, M)
    if causal:
        n, m = a.shape[-2:]
        a = a * torch.ones(n, m, dtype=torch.bool, device=a.device).tril(m - n)
    return a / a.sum(-1, keepdim=True).clamp_min(EPS)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg) -> AttentionOutput:
    """q, k (B, H, N, D), v (B, H, N, Dv) -> out (B, H, N, Dv). Reads causal, linear_form, chunk."""
    pq, pk = elu_feature_map(q), elu_feature_map(k)
    causal = bool(getattr(cfg, "causal", False))
    out = kernel_attention(pq, pk, v, causal=causal, form=getattr(cfg, "linear_form", "chunked"),
                           chunk=int(getattr(cfg, "chunk", 64)))
    return AttentionOutput(out=out, weights=None, extras={"features": pq.shape[-1], "phi_q": pq, "phi_k": pk})


register(AttentionVariant(
    name="linear",
    fn=linear_attention,
    exact=False,
    paper="Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention",
    time_complexity="O(N·d²)",
    memory_complexity="O(d²) state (causal: O(N·C) chunked)",
    summary="Kernel φ(x)=elu(x)+1 instead of exp: associativity turns N×N scores into a d×d running sum.",
    params=("causal", "linear_form", "chunk"),
))
