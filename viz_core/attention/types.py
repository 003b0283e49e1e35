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


@dataclass(frozen=True)
class AttnConfig:
    """One frozen (hashable) set of parameters every variant reads from: the page and the benchmark build one
    and pass it to any variant as ``cfg``. A variant reads only the fields listed in its ``params``.
    """
    causal: bool = False  # query i sees keys j <= i only
    scale: float | None = None  # default 1/sqrt(D)
    window: int = 32  # sliding window: |i-j| <= window//2 (causal: 0 <= i-j < window) -> ~window keys per query
    stride: int = 8  # strided (Sparse Transformer): also keys with (i-j) % stride == 0; fixed layout: block period
    n_global: int = 2  # Longformer/BigBird: the first n_global tokens attend to and are attended by all
    n_random: int = 1  # BigBird: random key blocks per query block (seeded)
    block: int = 16  # block size of block-sparse layouts, the block-sparse kernel and hierarchical attention
    block_q: int = 64  # tiled FlashAttention: query rows per tile (Br)
    block_k: int = 64  # tiled FlashAttention: key columns per tile (Bc)
    sparse_impl: str = "blocks"  # how sparse masks run: "dense" (masked eager), "blocks" (skip empty), "flex"
    features: int = 64  # Performer: number of random features
    proj_k: int = 32  # Linformer: projected length k
    proj_kind: str = "pool"  # Linformer projection: "pool" (fixed segment means) or "random" (Gaussian)
    kv_heads: int = 2  # GQA: number of key/value heads (MQA: 1)
    lam: float = 0.5  # differential attention: lambda
    levels: int = 2  # hierarchical: number of coarse levels
    chunk: int = 64  # causal linear attention: chunk length
    linear_form: str = "chunked"  # causal linear attention: "chunked" (prefix sums over chunks) or "prefix" (per token)
    seed: int = 0  # random features, random projections, random blocks
