"""Rotary position embedding (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding").

Each pair of dimensions (2i, 2i+1) of q and k is rotated by the angle pos·θᵢ with θᵢ = base^(−2i/d), so
q_m·k_n depends only on m − n. Two memory layouts exist:
- "half":        pairs are (i, i + d/2)   (GPT-NeoX, Hugging Face Llama)
- "interleaved": pairs are (2i, 2i + 1)   (the paper, llama.cpp / GGUF, Meta's original Llama code)
Angles are computed in float64 so that huge positions do not lose precision, then cast.

Also here: 2D axial RoPE for patch grids (Heo et al. 2024) and context-length scaling as transforms of the
frequency table — position interpolation (Chen et al. 2023), NTK-aware scaling (bloc97 2023) and YaRN
(Peng et al. 2023). The page runners are in ``viz_core.labs.rope`` and ``rope_scaling``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
    check_positions(pos)
    c, s = cos_sin(pos, d, base, dtype=x.dtype, device=x.device)
    return apply_rope(x, c, s, layout)


def interleaved_to_half(x: torch.Tensor) -> torch.Tensor:
    """Permute the last dim from (x0, x1, x2, x3, …) pair order to (x0, x2, …, x1, x3, …)."""
    return torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1)


def half_to_interleaved(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1]
    return torch.stack((x[..., : d // 2], x[..., d // 2 :]), dim=-1).flatten(-2)


# ----------------------------------------------------------------------------------------------------------
# Positions: validation. Angles pos·θᵢ are computed in float64 with θᵢ ≤ 1; θᵢ (a pow), the product and the
# range reduction of cos/sin together keep the relative error below 2^-51, so the absolute angle error stays
# below pos·2^-51. Positions are bounded where that is at most MAX_ANGLE_ERROR (checked against 60-digit
# arithmetic in tests/unit/test_rope.py). At 2^53, where integers stop being exact, errors of ~0.5 rad were measured.

MAX_ANGLE_ERROR = 1e-3  # radians
MAX_POSITION = int(MAX_ANGLE_ERROR * 2 ** 51)  # 2,251,799,813,685 ≈ 2.25e12


def check_positions(positions: torch.Tensor) -> None:
    if positions.numel() == 0:
        return
    lo, hi = float(positions.min()), float(positions.max())
    if lo < 0:
        raise InputError(f"Positions must be ≥ 0 (got {lo:g}).")
    if hi >= MAX_POSITION:
        raise InputError(f"Positions must be below {MAX_POSITION:.3g} (got {hi:.3g}): beyond that, float64 angles "
                         f"pos·θ may be off by more than {MAX_ANGLE_ERROR:g} rad.")


def wavelengths(d: int, base: float = 10000.0) -> torch.Tensor:
    """Tokens per full turn of each pair, 2π/θᵢ, float64. (d/2,)"""
    return 2 * torch.pi / inv_freq(d, base)


# ----------------------------------------------------------------------------------------------------------
# 2D axial RoPE for a grid of image patches (as in Heo et al. 2024, "Rotary Position Embedding for Vision
# Transformer", RoPE-Axial): the first half of the head dimension is rotated by the patch's row, the second
# half by its column, each half with ordinary 1D RoPE of dimension d/2. Then q·k depends only on
# (Δrow, Δcol), and with every column equal to 0 the first half is exactly 1D RoPE along the rows.


def check_head_dim_2d(d: int) -> None:
    if d <= 0 or d % 4:
        raise InputError(f"2D RoPE rotates pairs in each half of the head dimension, so it must be a positive "
                         f"multiple of 4 (got {d}).")


def axial_angles(rows: torch.Tensor, cols: torch.Tensor, d: int, base: float = 10000.0) -> torch.Tensor:
    """Angles (N, d/2), float64: first d/4 pairs (first half of the vector) rows·θ, last d/4 cols·θ."""
    check_head_dim_2d(d)
    if rows.shape != cols.shape:
        raise InputError("rows and cols must have the same shape.")
    return torch.cat((angles(rows, d // 2, base), angles(cols, d // 2, base)), dim=-1)


def apply_rope_2d(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, base: float = 10000.0,
                  layout: str = "half") -> torch.Tensor:
    """Rotate x (..., N, D): x[..., :D/2] by the row positions, x[..., D/2:] by the column positions (N,)."""
    d = x.shape[-1]
    check_head_dim_2d(d)
    if rows.shape != (x.shape[-2],) or cols.shape != (x.shape[-2],):
        raise InputError(f"Need one row and one column per token: {x.shape[-2]} tokens, "
                         f"{tuple(rows.shape)} rows, {tuple(cols.shape)} cols.")
    check_positions(rows)
    check_positions(cols)
    cr, sr = cos_sin(rows, d // 2, base, dtype=x.dtype, device=x.device)
    cc, sc = cos_sin(cols, d // 2, base, dtype=x.dtype, device=x.device)
    return torch.cat((apply_rope(x[..., : d // 2], cr, sr, layout), apply_rope(x[..., d // 2:], cc, sc, layout)),
                     dim=-1)


def grid_positions(n_rows: int, n_cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of each token of an n_rows × n_cols grid in row-major (raster) order. Each (N,)."""
    r = torch.arange(n_rows).repeat_interleave(n_cols)
    c = torch.arange(n_cols).repeat(n_rows)
    return r, c


# ----------------------------------------------------------------------------------------------------------
# Context-length scaling as transforms of the frequency table θᵢ (s = factor = new context / trained context)
# - "linear": position interpolation (Chen et al. 2023, "Extending Context Window of Large Language Models via
#   Positional Interpolation"): positions divided by s, i.e. every θᵢ -> θᵢ/s. All angles change.
# - "ntk": NTK-aware scaling (bloc97, 2023; analysed in Peng et al. 2023): base -> base·s^(d/(d−2)). The highest
#   frequency θ₀ = 1 is unchanged, the lowest is divided by exactly s, the rest in between (geometrically).
# - "yarn": YaRN (Peng et al. 2023, "YaRN: Efficient Context Window Extension of Large Language Models"),
#   "NTK-by-parts": with r = L/λᵢ the number of turns pair i makes inside the trained context L,
#   pairs with r > β keep θᵢ exactly, pairs with r < α are interpolated (θᵢ/s) like PI, and a linear ramp
#   blends in between; attention logits are also scaled by (0.1·ln s + 1)² (q and k each by 0.1·ln s + 1).
#   This is the paper's formulation (ramp in r); Hugging Face's implementation rounds the ramp ends to
#   whole dimension indices, which moves the boundary by at most one pair.

SCALING_METHODS = ("none", "linear", "ntk", "yarn")
SCALING_LABELS = {"none": "no scaling", "linear": "position interpolation (PI)", "ntk": "NTK-aware",
                  "yarn": "YaRN"}


@dataclass(frozen=True)
class RopeScaling:
    method: str = "none"
    factor: float = 1.0  # s: the new context length / the trained context length
    original_context: int = 2048  # L: the context length the model was trained on
    beta_fast: float = 32.0  # YaRN β: pairs turning more than β times within L keep their frequency
    beta_slow: float = 1.0  # YaRN α: pairs turning fewer than α times within L are fully interpolated


def check_scaling(sc: RopeScaling) -> None:
    if sc.method not in SCALING_METHODS:
        raise InputError(f"Unknown RoPE scaling {sc.method!r}; choose one of {SCALING_METHODS}.")
    if not (sc.factor >= 1.0 and math.isfinite(sc.factor)):
        raise InputError(f"The context scaling factor must be a finite number ≥ 1 (got {sc.factor}).")
    if sc.original_context < 1:
        raise InputError(f"The trained context length must be at least 1 token (got {sc.original_context}).")
    if not 0 < sc.beta_slow < sc.beta_fast:
        raise InputError(f"YaRN needs 0 < α < β (got α={sc.beta_slow}, β={sc.beta_fast}).")


def yarn_ramp(d: int, base: float, sc: RopeScaling) -> torch.Tensor:
    """γᵢ ∈ [0, 1] per pair, float64 (d/2,): 1 keeps θᵢ (high frequency), 0 interpolates θᵢ/s."""
    turns = sc.original_context / wavelengths(d, base)  # r = L/λ
    return ((turns - sc.beta_slow) / (sc.beta_fast - sc.beta_slow)).clamp(0.0, 1.0)


def scaled_inv_freq(d: int, base: float = 10000.0, scaling: RopeScaling | None = None) -> torch.Tensor:
    """The frequency table after context scaling, float64 (d/2,). Pass it as ``freqs=`` to angles/cos_sin."""
    sc = scaling or RopeScaling()
    check_scaling(sc)
    theta = inv_freq(d, base)
    s = float(sc.factor)
    if sc.method == "none" or s == 1.0:
        return theta
    if sc.method == "linear":
        return theta / s
    if sc.method == "ntk":
        return inv_freq(d, base * s ** (d / (d - 2))) if d > 2 else theta / s
    gamma = yarn_ramp(d, base, sc)
    return (1.0 - gamma) * theta / s + gamma * theta


def attention_factor(scaling: RopeScaling | None = None) -> float:
    """Multiplier on q and on k (YaRN: 0.1·ln s + 1, so logits scale by its square); 1 for the others."""
    sc = scaling or RopeScaling()
    check_scaling(sc)
    return 0.1 * math.log(sc.factor) + 1.0 if sc.method == "yarn" and sc.factor > 1.0 else 1.0
