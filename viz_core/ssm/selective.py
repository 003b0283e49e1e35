"""The selective state-space layer's inputs: Δ, B and C computed from the token itself, and the zero-order-hold
discretisation of the continuous system.

Continuous system (S4, Gu et al. 2022, "Efficiently Modeling Long Sequences with Structured State Spaces"):

    h'(t) = A h(t) + B x(t),     y(t) = C h(t)

Zero-order hold (the input held constant over a step of length Δ) gives the exact discrete system

    h_t = Ā h_{t−1} + B̄ x_t,   Ā = exp(ΔA),   B̄ = (ΔA)⁻¹ (exp(ΔA) − I) · ΔB

Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", §3.2 and eq. 4)
keeps Ā exact and uses the first-order B̄ ≈ ΔB (the two agree to O(Δ²)). Its key change is *selection*:
Δ, B and C are functions of the current token, so the model chooses per token how much to remember
(small Δ: Ā ≈ 1, the state is kept and the token barely enters) and how much to overwrite (large Δ: Ā ≈ 0,
the state is reset to this token).

Here A is one negative scalar per head, as in Mamba-2 (Dao & Gu 2024, "Transformers are SSMs", §7): a head of
P channels shares A and Δ, and all heads share B and C (one group). That is what makes the chunked SSD form
a matrix product (``scan.scan_chunked``).

Shapes: B batch, L length, H heads, P channels per head, N state size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_inputs(xc: torch.Tensor, w_x: torch.Tensor, dt_bias: torch.Tensor, n_heads: int, d_state: int):
    """xc (B, L, H·P) after the causal conv and SiLU; w_x (H + 2N, H·P) the x-projection; dt_bias (H,).

    Returns dt (B, L, H) > 0, Bm (B, L, N), Cm (B, L, N): all three depend on the token (the selection)."""
    proj = xc @ w_x.T  # (B, L, H + 2N)
    dt_raw, Bm, Cm = torch.split(proj, [n_heads, d_state, d_state], dim=-1)
    dt = F.softplus(dt_raw + dt_bias)  # (B, L, H): softplus keeps the step positive
    return dt, Bm, Cm


def discretize_zoh(dt: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Ā = exp(Δ·A): dt (B, L, H) and A (H,) < 0 -> decay (B, L, H) in (0, 1). Exact for a diagonal A."""
    return torch.exp(dt * A)  # (B, L, H)


def zoh_input_exact(dt: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """The exact ZOH input factor (exp(ΔA) − 1)/A per head, (B, L, H); Mamba uses its first-order form Δ.
    For the page: the two differ by Δ²|A|/2 + O(Δ³)."""
    return torch.expm1(dt * A) / A  # (B, L, H)


def discretize_input(x: torch.Tensor, dt: torch.Tensor, Bm: torch.Tensor) -> torch.Tensor:
    """B̄ x ≈ Δ B x per step: x (B, L, H, P), dt (B, L, H), Bm (B, L, N) -> (B, L, H, P, N)."""
    return (dt[..., None] * x)[..., None] * Bm[:, :, None, None, :]  # (B, L, H, P, N)
