"""Contiguous key/value cache for autoregressive decoding.

During generation each new token's keys and values are appended once and reused by every later step, so a
step costs O(N) instead of recomputing the whole prefix (the standard Transformer decoder trick, see Pope et al.
2022, "Efficiently Scaling Transformer Inference", §2 for the memory arithmetic).

The cache is an explicit object, never stored on a model: the model is shared and read-only, the cache is
per-run state. Tensors are preallocated once:

    k, v: (L, B, H_kv, max_len, head_dim)     L = layers, H_kv = KV heads (GQA/MQA: fewer than query heads)

and ``length`` says how many positions are filled. ``truncate(n)`` rolls back (speculative decoding rejects
draft tokens that way) and ``clone()`` copies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from viz_core.errors import BudgetError, InputError


def cache_bytes(n_layer: int, batch: int, n_kv_head: int, max_len: int, head_dim: int,
                dtype: torch.dtype = torch.float32) -> int:
    """Bytes of K and V for the given shape: 2·L·B·H_kv·max_len·head_dim·bytes(dtype)."""
    return 2 * n_layer * batch * n_kv_head * max_len * head_dim * torch.empty((), dtype=dtype).element_size()


@dataclass
class KVCache:
    k: torch.Tensor  # (L, B, H_kv, max_len, head_dim)
    v: torch.Tensor  # (L, B, H_kv, max_len, head_dim)
    length: int = 0  # positions 0 … length−1 are filled

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, cfg: Any, batch: int = 1, max_len: int | None = None,
              device: torch.device | str | None = "cpu", dtype: torch.dtype = torch.float32) -> "KVCache":
        """A zeroed cache for a model config with fields n_layer, n_kv_head, head_dim (or d_model/n_head)
        and max_seq_len. ``max_len`` defaults to cfg.max_seq_len."""
        n_layer = int(cfg.n_layer)
        n_kv = int(getattr(cfg, "n_kv_head", None) or cfg.n_head)
        head_dim = int(getattr(cfg, "head_dim", None) or cfg.d_model // cfg.n_head)
        max_len = int(max_len if max_len is not None else cfg.max_seq_len)
        if batch < 1 or max_len < 1:
            raise InputError(f"A KV cache needs batch ≥ 1 and max_len ≥ 1 (got batch={batch}, max_len={max_len}).")
        nbytes = cache_bytes(n_layer, batch, n_kv, max_len, head_dim, dtype)
        if nbytes > 8 * 1024**3:
            raise BudgetError(f"A KV cache of {nbytes / 1024**3:.1f} GiB is beyond this lab's 8 GiB limit; "
                              "use a shorter max_len or a smaller batch.", required_bytes=nbytes,
                              budget_bytes=8 * 1024**3)
        shape = (n_layer, batch, n_kv, max_len, head_dim)
        return cls(k=torch.zeros(shape, device=device, dtype=dtype),
                   v=torch.zeros(shape, device=device, dtype=dtype), length=0)

    # ------------------------------------------------------------------ properties
    @property
    def n_layer(self) -> int:
        return self.k.shape[0]

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    @property
    def n_kv_head(self) -> int:
        return self.k.shape[2]

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    @property
    def head_dim(self) -> int:
        return self.k.shape[4]

    @property
    def nbytes(self) -> int:
        """Bytes allocated (the whole preallocated buffer, K and V)."""
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    @property
    def used_nbytes(self) -> int:
        """Bytes holding filled positions (K and V, 0 … length−1)."""
        return self.nbytes * self.length // self.max_len

    @property
    def remaining(self) -> int:
        return self.max_len - self.length

    # ------------------------------------------------------------------ use
    def update(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k_new, v_new (B, H_kv, n, head_dim) at positions length … length+n−1 of ``layer`` and
        return views of all filled keys and values (B, H_kv, length+n, head_dim).

        ``length`` is NOT advanced here (every layer writes at the same positions); call ``advance(n)``
        once after the last layer. ``TinyGPT.forward`` and ``Llama.forward`` do that.
        """
        n = k_new.shape[-2]
        end = self.length + n
        if end > self.max_len:
            raise BudgetError(f"The KV cache holds {self.max_len} positions; {self.length} are used and "
                              f"{n} more do not fit. Start a new cache with a larger max_len.")
        self.k[layer, :, :, self.length:end] = k_new.to(self.k.dtype)
        self.v[layer, :, :, self.length:end] = v_new.to(self.v.dtype)
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        if self.length + n > self.max_len:
            raise BudgetError(f"Cannot advance the KV cache past its {self.max_len} positions.")
        self.length += int(n)

    def truncate(self, n: int) -> "KVCache":
        """Forget positions n … length−1 (roll back rejected draft tokens). Returns self."""
        if not 0 <= n <= self.length:
            raise InputError(f"Can only truncate a KV cache of length {self.length} to 0 … {self.length} (got {n}).")
        self.length = int(n)
        return self

    def clone(self) -> "KVCache":
        return KVCache(k=self.k.clone(), v=self.v.clone(), length=self.length)

    def keys(self, layer: int) -> torch.Tensor:
        """Filled keys of one layer (B, H_kv, length, head_dim)."""
        return self.k[layer, :, :, : self.length]

    def values(self, layer: int) -> torch.Tensor:
        return self.v[layer, :, :, : self.length]
