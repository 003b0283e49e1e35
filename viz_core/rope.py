"""Rotary position embedding (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding").

Each pair of dimensions (2i, 2i+1) of q and k is rotated by the angle pos·θᵢ with θᵢ = base^(−2i/d), so
q_m·k_n depends only on m − n. Two memory layouts exist:
- "half":        pairs are (i, i + d/2)   (GPT-NeoX, Hugging Face Llama)
- "interleaved": pairs are (2i, 2i + 1)   (the paper, llama.cpp / GGUF, Meta's original Llama code)
Angles are computed in float64 so that huge positions do not lose precision, then cast.
"""
from __future__ import annotations

import torch

from viz_core.errors import InputError

LAYOUTS = ("half", "interleaved")


def check_head_dim(d: int) -> None:
    if d <= 0 or d % 2:
        raise InputError(f"RoPE rotates pairs of dimensions, so the head dimension must be even and > 0 (got {d}).")


def check_base(base: float) -> None:
    if not base > 1.0:
        raise InputError(f"The RoPE base must be greater than 1 (got {base}); frequencies base^(-2i/d) need it.")


def inv_freq(d: int, base: float = 10000.0) -> torch.Tensor:
    """θᵢ = base^(−2i/d) for i = 0 … d/2−1, float64. (d/2,)"""
    check_head_dim(d)
    check_base(base)
    i = torch.arange(0, d // 2, dtype=torch.float64)
    return base ** (-2.0 * i / d)


def angles(positions: torch.Tensor, d: int, base: float = 10000.0,
           freqs: torch.Tensor | None = None) -> torch.Tensor:
    """pos·θᵢ in float64. positions (N,) -> (N, d/2). ``freqs`` overrides the frequency table (scaling)."""
    f = inv_freq(d, base) if freqs is None else freqs.to(torch.float64)
    return positions.to(torch.float64)[:, None] * f[None, :]


def cos_sin(positions: torch.Tensor, d: int, base: float = 10000.0, *, dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None, freqs: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, each (N, d/2), in ``dtype`` on ``device``."""
    a = angles(positions.cpu(), d, base, freqs)
    return a.cos().to(dtype=dtype, device=device), a.sin().to(dtype=dtype, device=device)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str = "half") -> torch.Tensor:
    """Rotate x (..., N, D) by tables (N, D/2). Returns a new tensor in x's dtype."""
    d = x.shape[-1]
    check_head_dim(d)
    if layout == "half":
        x1, x2 = x[..., : d // 2], x[..., d // 2 :]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    if layout == "interleaved":
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., N, D/2, 2)
        return out.flatten(-2)
    raise InputError(f"Unknown RoPE layout {layout!r}; choose one of {LAYOUTS}.")


def rope(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0,
         layout: str = "half") -> torch.Tensor:
    """Convenience: rotate x (B, H, N, D) at ``positions`` (default 0…N−1)."""
    n, d = x.shape[-2], x.shape[-1]
    pos = torch.arange(n) if positions is None else positions
    c, s = cos_sin(pos, d, base, dtype=x.dtype, device=x.device)
    return apply_rope(x, c, s, layout)


def interleaved_to_half(x: torch.Tensor) -> torch.Tensor:
    """Permute the last dim from (x0, x1, x2, x3, …) pair order to (x0, x2, …, x1, x3, …)."""
    return torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1)


def half_to_interleaved(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1]
    return torch.stack((x[..., : d // 2], x[..., d // 2 :]), dim=-1).flatten(-2)
