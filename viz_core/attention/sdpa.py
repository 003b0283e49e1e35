"""PyTorch's fused ``scaled_dot_product_attention`` (SDPA), with each backend the device supports.

SDPA dispatches to a fused kernel: FlashAttention (Dao et al. 2022, "FlashAttention: Fast and
Memory-Efficient Exact Attention with IO-Awareness"; FlashAttention-2, Dao 2023), memory-efficient
attention (Rabe & Staats 2021, "Self-attention Does Not Need O(n²) Memory"; xFormers), cuDNN's fused
attention, or the eager "math" fallback. All compute exact softmax(QKᵀ/√d + mask) V; the fused ones never
store the (N, M) score matrix.

On CPU only FLASH_ATTENTION (a flash-style CPU kernel) and MATH run; EFFICIENT and CUDNN raise. On CUDA
which backends run depends on the GPU, dtype and head size, so ``available_backends`` probes each one.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from viz_core.attention import register
from viz_core.attention.reference import causal_mask
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError

# Backend names used across the lab -> torch enum. (SDPBackend is not iterable; list them by hand.)
BACKENDS: dict[str, SDPBackend] = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}
BACKEND_LABELS: dict[str, str] = {
    "flash": "FlashAttention kernel",
    "efficient": "memory-efficient (xFormers-style)",
    "cudnn": "cuDNN fused attention",
    "math": "math (eager fallback)",
}


def _allowed_mask(n_q: int, n_kv: int, causal: bool, mask: torch.Tensor | None,
                  device: torch.device) -> torch.Tensor | None:
    """Boolean 'may attend' mask (True = attend), or None when every pair is allowed."""
    allowed = causal_mask(n_q, n_kv, device) if causal else None  # (N, M), bottom-right aligned as reference
    if mask is not None:
        mask = mask.to(device=device, dtype=torch.bool)
        allowed = mask if allowed is None else (allowed & mask)
    return allowed


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool,
          mask: torch.Tensor | None, scale: float | None) -> torch.Tensor:
    """SDPA with the lab's semantics: causal is bottom-right aligned and fully-masked rows give zeros."""
    n_q, n_kv = q.shape[-2], k.shape[-2]
    if q.shape[-1] != k.shape[-1]:
        raise InputError(f"q and k need the same head size, got {q.shape[-1]} and {k.shape[-1]}.")
    if k.shape[-2] != v.shape[-2]:
        raise InputError(f"k and v need the same length, got {k.shape[-2]} and {v.shape[-2]}.")
    kwargs: dict[str, Any] = {"scale": scale}
    if q.shape[-3] != k.shape[-3]:
        if q.shape[-3] % k.shape[-3]:
            raise InputError(f"{q.shape[-3]} query heads cannot share {k.shape[-3]} key/value heads evenly.")
        kwargs["enable_gqa"] = True
    if mask is None and (not causal or n_q == n_kv):
        # The fast path: no explicit mask (SDPA's is_causal is top-left aligned, equal to ours when N == M).
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kwargs)
    allowed = _allowed_mask(n_q, n_kv, causal, mask, q.device)  # broadcastable to (B, H, N, M)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, **kwargs)  # (B, H, N, Dv)
    any_allowed = allowed.any(dim=-1, keepdim=True)  # (..., N, 1): rows with at least one key
    return torch.where(any_allowed, out, torch.zeros((), dtype=out.dtype, device=out.device))


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg: Any = None) -> AttentionOutput:
    """Registered variant "sdpa": q (B, H, N, D), k (B, Hkv, M, D), v (B, Hkv, M, Dv) -> out (B, H, N, Dv).

    Reads ``cfg.causal`` (default False), ``cfg.mask`` (bool, True = attend; default None) and
    ``cfg.scale`` (default 1/√D) when present. PyTorch picks the backend.
    """
    causal = bool(getattr(cfg, "causal", False))
    mask = getattr(cfg, "mask", None)
    if mask is not None and not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask, dtype=torch.bool)
    scale = getattr(cfg, "scale", None)
    out = _sdpa(q, k, v, causal=causal, mask=mask, scale=scale)
    return AttentionOutput(out=out, weights=None, extras={"backend": "auto"})


def backend_enum(name: str) -> SDPBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise InputError(f"Unknown SDPA backend {name!r}; choose one of {', '.join(BACKENDS)}.") from None


def sdpa_with_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str,
                      causal: bool = False, scale: float | None = None) -> torch.Tensor:
    """SDPA forced onto one backend ("flash", "efficient", "cudnn", "math"). (B, H, N, D) -> (B, H, N, Dv).

    Raises ``InputError`` with a plain message when that backend cannot run these inputs on this device.
    """
    enum = backend_enum(backend)
    try:
        with sdpa_kernel([enum]):
            return _sdpa(q, k, v, causal=causal, mask=None, scale=scale)
    except RuntimeError as exc:
        raise InputError(
            f"The SDPA '{backend}' backend cannot run here ({q.device.type}, {str(q.dtype).replace('torch.', '')}, "
            f"head size {q.shape[-1]}): {str(exc).splitlines()[0][:200]}") from exc


@functools.lru_cache(maxsize=16)
def _probe(device: str, dtype_name: str, head_dim: int, causal: bool) -> tuple[str, ...]:
    dev = torch.device(device)
    dtype = getattr(torch, dtype_name)
    g = torch.Generator(device="cpu").manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, head_dim, generator=g).to(dev, dtype) for _ in range(3))
    ok = []
    for name in BACKENDS:
        try:
            out = sdpa_with_backend(q, k, v, name, causal=causal)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if torch.isfinite(out).all():
                ok.append(name)
        except (InputError, RuntimeError):
            continue
    return tuple(ok)


def available_backends(device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                       head_dim: int = 64, causal: bool = False) -> list[str]:
    """Names of the SDPA backends that actually run on ``device`` for this dtype and head size (probed).

    Default dtype: float16 on CUDA (the flash kernel needs half precision), float32 on CPU.
    """
    dev = torch.device(device)
    if dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return list(_probe(str(dev), str(dtype).replace("torch.", ""), int(head_dim), bool(causal)))


register(AttentionVariant(
    name="sdpa",
    fn=sdpa_attention,
    exact=True,
    paper="Dao et al. 2022, FlashAttention (via torch.nn.functional.scaled_dot_product_attention)",
    time_complexity="O(N² d)",
    memory_complexity="O(N) extra (fused kernel; flash/efficient backends)",
    summary="PyTorch's fused attention kernel: same result as the reference, without storing the N×N scores.",
    params=("causal", "mask"),
))
