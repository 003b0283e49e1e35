"""Sparse attention patterns, each defined ONCE as a mask function ``(b, h, q_idx, kv_idx) -> bool``.

The same functions feed three consumers: dense boolean masks by broadcasting (``dense_mask``), the
block-sparse kernel's block layout (``sparse.py``) and FlexAttention's ``create_block_mask``
(torch.nn.attention.flex_attention). They only use tensor ops (comparisons, ``&``, ``|``, ``%``, indexing a
captured table), which is what FlexAttention can compile.

Papers:
- sliding window (local): Beltagy et al. 2020, "Longformer"; Child et al. 2019 (local part)
- strided / dilated: Child et al. 2019, "Generating Long Sequences with Sparse Transformers"
- Longformer: Beltagy, Peters & Cohan 2020, "Longformer: The Long-Document Transformer" (window + global)
- BigBird: Zaheer et al. 2020, "Big Bird: Transformers for Longer Sequences" (window + global + random)
- fixed block layout: Child et al. 2019 ("fixed" pattern, at block granularity)

Each pattern is one small factory in the attention-gym style (``causal()``, ``sliding_window(w)``,
``strided(w, s)``, ``longformer(w, g)``, ``bigbird(...)``, ``block_sparse(b, s)``, combined with
``and_masks`` / ``or_masks``); ``MaskSpec`` names a pattern with its parameters and ``build_mask_mod`` calls
its factory. ``dense_mask`` and ``block_layout`` turn any mask_mod into an (N, M) boolean mask or a block
layout.

Conventions: a query sees about ``window`` keys: non-causal ``|i-j| <= window//2``, causal
``0 <= i-j < window``. With N queries over M keys the queries are the LAST N positions (query q is at
position i = q + M − N), as in decoding with a KV cache. Masks are head- and batch-independent (b and h are
accepted and ignored).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from viz_core.errors import InputError

MaskMod = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

KINDS: dict[str, str] = {
    "full": "every query sees every key",
    "causal": "query i sees keys j <= i",
    "sliding_window": "each query sees its neighbours within the window",
    "strided": "window plus every stride-th key (Sparse Transformer, strided)",
    "longformer": "window plus global tokens that see and are seen by all",
    "bigbird": "window plus global tokens plus random key blocks",
    "block_sparse": "fixed block layout: own block plus one summary block per stride blocks",
}


@dataclass(frozen=True)
class MaskSpec:
    """A pattern with its parameters (hashable, so layouts can be cached per spec and length)."""
    kind: str
    causal: bool = False
    window: int = 32
    stride: int = 8
    n_global: int = 2
    n_random: int = 1
    block: int = 16
    seed: int = 0

    def validate(self, n: int) -> None:
        if self.kind not in KINDS:
            raise InputError(f"Unknown mask {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if n < 1:
            raise InputError("The sequence needs at least one token.")
        if self.window < 1:
            raise InputError("The window must be at least 1 token.")
        if self.stride < 1:
            raise InputError("The stride must be at least 1.")
        if self.block < 1:
            raise InputError("The block size must be at least 1 token.")
        if self.n_global < 0 or self.n_random < 0:
            raise InputError("Global tokens and random blocks cannot be negative.")

    def mask_mod(self, n_q: int, n_kv: int | None = None, device: torch.device | str = "cpu") -> MaskMod:
        """The mask function for sequences of these lengths (BigBird needs the length for its random table)."""
        n_kv = n_q if n_kv is None else n_kv
        self.validate(min(n_q, n_kv))
        return build_mask_mod(self, n_q, n_kv, device)


def spec_from_cfg(kind: str, cfg) -> MaskSpec:
    """MaskSpec from an ``AttnConfig`` (or anything with the same attribute names)."""
    return MaskSpec(kind=kind, causal=bool(getattr(cfg, "causal", False)), window=int(getattr(cfg, "window", 32)),
                    stride=int(getattr(cfg, "stride", 8)), n_global=int(getattr(cfg, "n_global", 2)),
                    n_random=int(getattr(cfg, "n_random", 1)), block=int(getattr(cfg, "block", 16)),
                    seed=int(getattr(cfg, "seed", 0)))


# ------------------------------------------------------------------------------------------ mask factories
# Each factory returns mask_mod(b, h, q_idx, kv_idx) -> bool tensor. Queries are the LAST n_q of n_kv key
# positions: query q sits at absolute position q + offset, offset = n_kv − n_q (0 when N = M), so causal
# means q + offset >= kv (a prompt chunk appended to a KV cache sees the whole prefix).
def and_masks(*mods: MaskMod) -> MaskMod:
    """Allowed where every mask allows."""
    def mod(b, h, q, kv):
        m = mods[0](b, h, q, kv)
        for other in mods[1:]:
            m = m & other(b, h, q, kv)
        return m

    return mod


def or_masks(*mods: MaskMod) -> MaskMod:
    """Allowed where any mask allows."""
    def mod(b, h, q, kv):
        m = mods[0](b, h, q, kv)
        for other in mods[1:]:
            m = m | other(b, h, q, kv)
        return m

    return mod


def full() -> MaskMod:
    """Every query sees every key."""
    def mod(b, h, q, kv):
        return (q >= 0) & (kv >= 0)

    return mod


def causal(offset: int = 0) -> MaskMod:
    """Query q (absolute position q + offset) sees keys kv <= q + offset."""
    def mod(b, h, q, kv):
        return kv <= q + offset

    return mod


def _causal_if(mod: MaskMod, is_causal: bool, offset: int) -> MaskMod:
    return and_masks(mod, causal(offset)) if is_causal else mod


def sliding_window(window: int, *, is_causal: bool = False, offset: int = 0) -> MaskMod:
    """About ``window`` neighbours: causal 0 <= i−j < window, else |i−j| <= window//2 (i = q + offset)."""
    half = window // 2

    def mod(b, h, q, kv):
        d = q + offset - kv
        if is_causal:
            return (d >= 0) & (d < window)
        return (d <= half) & (d >= -half)

    return mod


def global_tokens(n_global: int, offset: int = 0) -> MaskMod:
    """The first ``n_global`` positions see, and are seen by, every position."""
    def mod(b, h, q, kv):
        return (q + offset < n_global) | (kv < n_global)

    return mod


def strided(window: int, stride: int, *, is_causal: bool = False, offset: int = 0) -> MaskMod:
    """Sparse Transformer (strided): the window plus every stride-th key counting back from the query."""
    def every_stride(b, h, q, kv):
        return (q + offset - kv) % stride == 0

    return _causal_if(or_masks(sliding_window(window, is_causal=is_causal, offset=offset), every_stride),
                      is_causal, offset)


def longformer(window: int, n_global: int, *, is_causal: bool = False, offset: int = 0) -> MaskMod:
    """Longformer: the window plus global tokens."""
    return _causal_if(or_masks(sliding_window(window, is_causal=is_causal, offset=offset),
                               global_tokens(n_global, offset)), is_causal, offset)


def bigbird_random_table(n_q: int, n_kv: int, block: int, n_random: int, seed: int) -> torch.Tensor:
    """(query blocks, key blocks) bool: ``n_random`` distinct key blocks per query block, drawn with ``seed``."""
    nqb, nkb = -(-n_q // block), -(-n_kv // block)
    g = torch.Generator().manual_seed(seed)
    table = torch.zeros(nqb, nkb, dtype=torch.bool)
    r = min(n_random, nkb)
    if r:
        picks = torch.rand(nqb, nkb, generator=g).argsort(dim=1)[:, :r]  # (nqb, r) distinct per row
        table.scatter_(1, picks, True)
    return table


def bigbird(window: int, n_global: int, n_random: int, block: int, seed: int, n_q: int, n_kv: int, *,
            is_causal: bool = False, device: torch.device | str = "cpu") -> MaskMod:
    """BigBird: window + global tokens + ``n_random`` random key blocks per query block (a seeded table over
    absolute positions, so a query sees the same blocks with or without a cache; a captured tensor, which
    FlexAttention can index)."""
    if n_q > n_kv:
        raise InputError(f"BigBird needs the queries to be the last of the keys ({n_q} queries > {n_kv} keys).")
    offset = n_kv - n_q
    table = bigbird_random_table(n_kv, n_kv, block, n_random, seed).to(device)  # (nkb, nkb)

    last = table.shape[0] - 1  # padded positions (block layouts, FlexAttention) clamp to the last block

    def random_blocks(b, h, q, kv):
        return table[((q + offset) // block).clamp(max=last), (kv // block).clamp(max=last)]

    return _causal_if(or_masks(sliding_window(window, is_causal=is_causal, offset=offset),
                               global_tokens(n_global, offset), random_blocks), is_causal, offset)


def block_sparse(block: int, stride: int, *, is_causal: bool = False, offset: int = 0) -> MaskMod:
    """Sparse Transformer (fixed) at block granularity: own block plus every stride-th "summary" block."""
    def mod(b, h, q, kv):
        qb, kb = (q + offset) // block, kv // block
        return (qb == kb) | (kb % stride == stride - 1)

    return _causal_if(mod, is_causal, offset)


# MaskSpec kind -> mask_mod for n_q queries (the last ones) over n_kv keys
_FACTORIES: dict[str, Callable[[MaskSpec, int, int, object], MaskMod]] = {
    "full": lambda s, nq, nk, dev: causal(nk - nq) if s.causal else full(),
    "causal": lambda s, nq, nk, dev: causal(nk - nq),
    "sliding_window": lambda s, nq, nk, dev: sliding_window(s.window, is_causal=s.causal, offset=nk - nq),
    "strided": lambda s, nq, nk, dev: strided(s.window, s.stride, is_causal=s.causal, offset=nk - nq),
    "longformer": lambda s, nq, nk, dev: longformer(s.window, s.n_global, is_causal=s.causal, offset=nk - nq),
    "bigbird": lambda s, nq, nk, dev: bigbird(s.window, s.n_global, s.n_random, s.block, s.seed, nq, nk,
                                              is_causal=s.causal, device=dev),
    "block_sparse": lambda s, nq, nk, dev: block_sparse(s.block, s.stride, is_causal=s.causal, offset=nk - nq),
}


def build_mask_mod(spec: MaskSpec, n_q: int, n_kv: int, device: torch.device | str = "cpu") -> MaskMod:
    """The factory for ``spec.kind`` called with the spec's parameters (queries: the last n_q of n_kv)."""
    if spec.kind not in _FACTORIES:
        raise InputError(f"Unknown mask {spec.kind!r}; choose one of {', '.join(KINDS)}.")
    mod = _FACTORIES[spec.kind](spec, n_q, n_kv, device)
    mod.__name__ = f"mask_{spec.kind}"
    return mod


def dense_mask(mod: MaskMod, n_q: int, n_kv: int | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, M) bool by broadcasting the mask function over all index pairs. O(N·M): for small N and tests.

    Evaluated over blocks of rows (~1M pairs each): over all pairs at once, the mask function's int64
    temporaries took ~300 MiB at N = 4096, 16× the bool mask itself.
    """
    n_kv = n_q if n_kv is None else n_kv
    zero = torch.zeros((), dtype=torch.long, device=device)
    kv = torch.arange(n_kv, device=device)[None, :]  # (1, M)
    out = torch.empty(n_q, n_kv, dtype=torch.bool, device=device)
    step = max(1, (1 << 20) // max(1, n_kv))
    for start in range(0, n_q, step):
        q = torch.arange(start, min(n_q, start + step), device=device)[:, None]  # (rows, 1)
        out[start:start + len(q)] = mod(zero, zero, q, kv)
    return out


def row_counts(mod: MaskMod, n_q: int, n_kv: int | None = None, device: torch.device | str = "cpu",
               max_pairs: int = 1 << 20) -> torch.Tensor:
    """(N,) int64: allowed keys per query row, evaluated over blocks of rows of at most ``max_pairs`` pairs, so
    the mask function's int64 temporaries stay a few MiB at any length (``dense_mask`` at N = 4096 takes
    ~300 MiB of them)."""
    n_kv = n_q if n_kv is None else n_kv
    zero = torch.zeros((), dtype=torch.long, device=device)
    kv = torch.arange(n_kv, device=device)[None, :]  # (1, M)
    out = torch.empty(n_q, dtype=torch.long, device=device)
    step = max(1, max_pairs // max(1, n_kv))
    for start in range(0, n_q, step):
        q = torch.arange(start, min(n_q, start + step), device=device)[:, None]  # (rows, 1)
        out[start:start + len(q)] = mod(zero, zero, q, kv).expand(len(q), n_kv).sum(-1)
    return out


def block_layout(mod: MaskMod, n_q: int, n_kv: int, block: int, device: torch.device | str = "cpu",
                 max_elems: int = 1 << 22) -> torch.Tensor:
    """(query blocks, key blocks) bool: True where a block holds at least one allowed pair.

    Evaluated in row chunks so memory stays ~``max_elems`` booleans at any length.
    """
    nqb, nkb = -(-n_q // block), -(-n_kv // block)
    zero = torch.zeros((), dtype=torch.long, device=device)
    kv = torch.arange(nkb * block, device=device)
    out = torch.zeros(nqb, nkb, dtype=torch.bool, device=device)
    rows_per = max(1, max_elems // max(1, nkb * block * block))
    for start in range(0, nqb, rows_per):
        stop = min(nqb, start + rows_per)
        q = torch.arange(start * block, stop * block, device=device)
        m = mod(zero, zero, q[:, None], kv[None, :])
        m = m & (q[:, None] < n_q) & (kv[None, :] < n_kv)  # padding is never allowed
        out[start:stop] = m.view(stop - start, block, nkb, block).any(dim=3).any(dim=1)
    return out


def density(mask: torch.Tensor) -> float:
    """Fraction of allowed (query, key) pairs."""
    return int(mask.sum()) / mask.numel() if mask.numel() else 0.0


def window_density_formula(n: int, window: int, causal: bool) -> float:
    """Closed form of the sliding-window density (edges included), to check ``dense_mask`` against."""
    if causal:
        # row i sees min(i+1, window) keys
        w = min(window, n)
        total = w * (w + 1) // 2 + (n - w) * window
    else:
        hw = window // 2
        # row i sees min(i, hw) + min(n-1-i, hw) + 1 keys
        total = n + 2 * sum(min(i, hw) for i in range(n))
    return total / (n * n)


def causal_density_formula(n: int) -> float:
    return (n + 1) / (2 * n)


def longformer_density_formula(n: int, window: int, n_global: int) -> float:
    """Non-causal Longformer: window pairs, plus global rows/columns not already in the window."""
    g = min(n_global, n)
    hw = window // 2
    count = 0
    for i in range(n):
        if i < g:
            count += n
            continue
        lo, hi = max(0, i - hw), min(n - 1, i + hw)
        in_window = hi - lo + 1
        globals_outside = sum(1 for j in range(g) if j < lo or j > hi)
        count += in_window + globals_outside
    return count / (n * n)
