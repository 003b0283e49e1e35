"""Types shared by every attention variant."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch


@dataclass
class AttentionOutput:
    out: torch.Tensor  # (B, H, N, Dv)
    weights: torch.Tensor | None = None  # (B, H, N, M) row-stochastic, when the variant has explicit weights
    extras: dict[str, Any] = field(default_factory=dict)  # variant-specific diagnostics


class AttentionFn(Protocol):
    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg: Any) -> AttentionOutput: ...


@dataclass(frozen=True)
class AttentionVariant:
    name: str
    fn: Callable[..., AttentionOutput]
    exact: bool  # equals reference attention (for its mask) up to float rounding
    paper: str  # citation, e.g. "Vaswani et al. 2017, Attention Is All You Need"
    time_complexity: str  # e.g. "O(N² d)"
    memory_complexity: str  # e.g. "O(N²)"
    summary: str = ""  # one-line teaching text
    params: tuple[str, ...] = ()  # names of the config fields it reads
