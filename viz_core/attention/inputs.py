"""Inputs the attention lab, the scaling sweep and the attention benchmark share: Q, K, V from a seed.

``random`` inputs are i.i.d. Gaussian; ``structured`` ones follow a smooth random walk per head so that
attention concentrates near the diagonal, as it does in trained models.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from viz_core.device import resolve_device, resolve_dtype
from viz_core.errors import InputError


@dataclass(frozen=True)
class InputConfig:
    n: int = 128
    heads: int = 4
    head_dim: int = 32
    batch: int = 1
    kind: str = "structured"  # "random" or "structured"
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"


def make_qkv(cfg: InputConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q, K, V (B, H, N, D) drawn from ``cfg.seed`` on CPU, then moved to the device.

    ``random``: i.i.d. N(0, 1). ``structured``: each head follows a smooth random walk (AR(1) with
    correlation ρ_h from 0.80 to 0.98 across heads), q and k are the walk plus small noise, so nearby tokens
    are similar and attention concentrates near the diagonal, wider in heads with larger ρ.
    """
    if cfg.n < 1 or cfg.heads < 1 or cfg.head_dim < 1 or cfg.batch < 1:
        raise InputError("Length, heads, head size and batch must all be at least 1.")
    if cfg.kind not in ("random", "structured"):
        raise InputError(f"Unknown input kind {cfg.kind!r}; choose 'random' or 'structured'.")
    dev = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, dev)
    g = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.batch, cfg.heads, cfg.n, cfg.head_dim)
    if cfg.kind == "random":
        q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    else:
        rho = torch.linspace(0.80, 0.98, cfg.heads).view(1, cfg.heads, 1) if cfg.heads > 1 else \
            torch.full((1, 1, 1), 0.9)
        eps = torch.randn(shape, generator=g)
        x = torch.empty(shape)
        x[:, :, 0] = eps[:, :, 0]
        a = torch.sqrt(1 - rho**2)
        for t in range(1, cfg.n):  # x_t = ρ x_{t-1} + √(1-ρ²) ε_t  (unit variance)
            x[:, :, t] = rho * x[:, :, t - 1] + a * eps[:, :, t]
        q = x + 0.3 * torch.randn(shape, generator=g)
        k = x + 0.3 * torch.randn(shape, generator=g)
        v = torch.randn(shape, generator=g)
    return tuple(t.to(device=dev, dtype=dtype) for t in (q, k, v))  # type: ignore[return-value]
