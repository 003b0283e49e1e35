"""Running a sparse mask three ways: dense-masked eager, block-sparse gather, FlexAttention.

Papers: Child et al. 2019, "Generating Long Sequences with Sparse Transformers" (strided, fixed);
Beltagy et al. 2020, "Longformer"; Zaheer et al. 2020, "Big Bird"; FlexAttention: Dong et al. 2024,
"Flex Attention: A Programming Model for Generating Optimized Attention Kernels".

1. ``dense``: the spec. softmax(QKᵀ/√d masked) V over the full (N, N) score matrix: O(N²) whatever the mask.
2. ``blocks``: cut Q and K into blocks, keep only the (query block, key block) pairs that hold an allowed
   pair (the *layout*, computed once per pattern and length and cached, like FlexAttention's BlockMask),
   gather those key blocks, and compute scores only there. Work and memory ∝ active blocks, so a sliding
   window really runs in O(N·W) on a CPU. Query blocks with the same number of active key blocks are
   batched together.
3. ``flex``: ``torch.nn.attention.flex_attention`` with a ``BlockMask`` from ``create_block_mask``, compiled
   with ``torch.compile`` (on CPU the first call compiles for 20-30 s; that time is reported separately and
   never counted as run time).

All three return exactly the same output as ``reference_attention(q, k, v, mask=dense_mask)`` up to float
rounding (tests check it).
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass

import torch

from viz_core.attention import register
from viz_core.attention.masks import KINDS, MaskSpec, block_layout, dense_mask, spec_from_cfg
from viz_core.attention.reference import reference_attention
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError

IMPLS = ("dense", "blocks", "flex")
FLEX_BLOCK = 128  # FlexAttention's block size (its default)


# ----------------------------------------------------------------------------------------- block-sparse
@dataclass
class Bucket:
    q_blocks: torch.Tensor  # (nb,) query block ids
    kv_index: torch.Tensor  # (nb, A*block) token index of every gathered key (padding points at 0)
    allowed: torch.Tensor | None  # (nb, block, A*block) bool, None when every gathered pair is allowed
    empty_rows: bool  # some query row has no allowed key (padding rows) -> zero them


@dataclass
class BlockPlan:
    n_q: int
    n_kv: int
    block: int
    layout: torch.Tensor  # (nqb, nkb) bool
    buckets: list[Bucket]
    build_s: float

    @property
    def active_blocks(self) -> int:
        return int(self.layout.sum())

    @property
    def block_density(self) -> float:
        return self.active_blocks / max(1, self.layout.numel())


@functools.lru_cache(maxsize=32)
def block_plan(spec: MaskSpec, n_q: int, n_kv: int, block: int, device: str = "cpu") -> BlockPlan:
    """Layout and gather indices for ``spec`` at these lengths (cached: build once, run many times)."""
    t0 = time.perf_counter()
    dev = torch.device(device)
    mod = spec.mask_mod(n_q, n_kv, dev)
    layout = block_layout(mod, n_q, n_kv, block, dev)  # (nqb, nkb)
    counts = layout.sum(dim=1)
    zero = torch.zeros((), dtype=torch.long, device=dev)
    ar = torch.arange(block, device=dev)
    buckets: list[Bucket] = []
    for a in sorted(set(counts.tolist())):
        if a == 0:
            continue
        qids = torch.nonzero(counts == a).flatten()  # (nb,)
        kblocks = torch.stack([torch.nonzero(layout[i]).flatten() for i in qids.tolist()])  # (nb, a)
        kv_index = (kblocks[:, :, None] * block + ar).reshape(len(qids), a * block)  # (nb, a*block)
        q_tok = (qids[:, None] * block + ar)[:, :, None]  # (nb, block, 1)
        kv_tok = kv_index[:, None, :]  # (nb, 1, a*block)
        allowed = mod(zero, zero, q_tok, kv_tok) & (q_tok < n_q) & (kv_tok < n_kv)
        allowed = allowed.expand(len(qids), block, a * block).contiguous()
        empty = bool((~allowed.any(dim=-1)).any())
        buckets.append(Bucket(qids, kv_index.clamp(max=n_kv - 1) if n_kv else kv_index,
                              None if bool(allowed.all()) else allowed, empty))
    return BlockPlan(n_q, n_kv, block, layout, buckets, time.perf_counter() - t0)


def block_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: MaskSpec, *,
                           block: int, scale: float | None = None,
                           chunk_bytes: int = 8 * 2**20) -> tuple[torch.Tensor, BlockPlan]:
    """q (B, H, N, D), k (B, H, M, D), v (B, H, M, Dv) -> out (B, H, N, Dv), computing only active blocks."""
    B, H, n_q, D = q.shape
    n_kv, Dv = k.shape[-2], v.shape[-1]
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    plan = block_plan(spec, n_q, n_kv, block, str(q.device))
    nqb = plan.layout.shape[0]
    pad_q = nqb * block - n_q
    qp = torch.nn.functional.pad(q, (0, 0, 0, pad_q)).view(B, H, nqb, block, D) if pad_q else \
        q.view(B, H, nqb, block, D)
    out = torch.zeros(B, H, nqb, block, Dv, dtype=q.dtype, device=q.device)
    for bk in plan.buckets:
        nb, width = bk.kv_index.shape
        # slices of query blocks keep the gathered K/V and the scores small (cache-friendly, low peak memory)
        per_block = B * H * width * (2 * D + 2 * block) * q.element_size()
        step = max(1, min(nb, chunk_bytes // max(1, per_block)))
        for a in range(0, nb, step):
            sl = slice(a, min(nb, a + step))
            qids, kidx = bk.q_blocks[sl], bk.kv_index[sl]
            qb = qp[:, :, qids]  # (B, H, nb, block, D)
            kg = k[:, :, kidx]  # (B, H, nb, A*block, D)
            vg = v[:, :, kidx]  # (B, H, nb, A*block, Dv)
            s = torch.matmul(qb, kg.transpose(-2, -1)).mul_(scale)  # (B, H, nb, block, A*block)
            if bk.allowed is not None:
                s.masked_fill_(~bk.allowed[sl], float("-inf"))
            p = torch.softmax(s, dim=-1)
            if bk.empty_rows:
                p = torch.nan_to_num(p, nan=0.0)
            out[:, :, qids] = torch.matmul(p, vg)  # (B, H, nb, block, Dv)
    return out.view(B, H, nqb * block, Dv)[:, :, :n_q], plan


# ------------------------------------------------------------------------------------------------ flex
FLEX_COMPILE_S: dict[tuple, float] = {}  # (shape, dtype, device, spec) -> seconds of the latest compiling call
FLEX_RECOMPILE_LIMIT = 64  # shapes × patterns one process may compile before Dynamo's cache is reset


@functools.lru_cache(maxsize=1)
def _compiled_flex():
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR",
                          os.path.join(os.path.dirname(__file__), "..", "..", ".cache", "inductor"))
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


@functools.lru_cache(maxsize=16)
def flex_block_mask(spec: MaskSpec, n_q: int, n_kv: int, device: str = "cpu"):
    """FlexAttention ``BlockMask`` for the pattern (cached; costs seconds on CPU)."""
    from torch.nn.attention.flex_attention import create_block_mask

    mod = spec.mask_mod(n_q, n_kv, torch.device(device))
    return create_block_mask(mod, None, None, n_q, n_kv, device=device, BLOCK_SIZE=FLEX_BLOCK)


def _flex_call(fn, q, k, v, bm, scale):
    """One compiled call that fails loudly instead of silently running eager once Dynamo's recompile limit
    is reached (every new shape compiles again with ``dynamic=False``)."""
    import torch._dynamo.config as dynamo_config

    with dynamo_config.patch(recompile_limit=FLEX_RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True):
        return fn(q, k, v, block_mask=bm, scale=scale)


def flex_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: MaskSpec, *,
                          scale: float | None = None) -> tuple[torch.Tensor, float | None]:
    """(B, H, N, D) -> (B, H, N, Dv) through compiled FlexAttention. Returns (out, compile seconds or None).

    The compile seconds are the time of a call during which torch.compile compiled (the first call for a
    shape, or any later recompile); None when the call ran compiled code only. Past the recompile limit
    Dynamo's cache is reset and the call compiles again: it never falls back to eager FlexAttention.
    """
    from torch._dynamo.exc import FailOnRecompileLimitHit

    from viz_core.measure.timer import compile_count

    n_q, n_kv = q.shape[-2], k.shape[-2]
    bm = flex_block_mask(spec, n_q, n_kv, str(q.device))
    fn = _compiled_flex()
    key = (tuple(q.shape), tuple(k.shape), tuple(v.shape), str(q.dtype), str(q.device), spec)
    c0, t0 = compile_count(), time.perf_counter()
    try:
        out = _flex_call(fn, q, k, v, bm, scale)
    except FailOnRecompileLimitHit:
        torch._dynamo.reset()  # drop every compiled shape, then compile this one afresh
        c0, t0 = compile_count(), time.perf_counter()
        out = _flex_call(fn, q, k, v, bm, scale)
    if q.device.type == "cuda":
        torch.cuda.synchronize(q.device)
    if compile_count() == c0:
        return out, None
    FLEX_COMPILE_S[key] = time.perf_counter() - t0
    return out, FLEX_COMPILE_S[key]


# -------------------------------------------------------------------------------------------- variants
def run_sparse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: MaskSpec, *, impl: str = "blocks",
               block: int = 16, scale: float | None = None, return_weights: bool = False) -> AttentionOutput:
    """Run pattern ``spec`` with one of ``IMPLS``. q, k, v (B, H, N, D)."""
    n_q, n_kv = q.shape[-2], k.shape[-2]
    if k.shape[1] != q.shape[1]:
        raise InputError("Sparse variants need as many key/value heads as query heads.")
    spec.validate(min(n_q, n_kv))
    if impl == "dense":
        m = dense_mask(spec.mask_mod(n_q, n_kv, q.device), n_q, n_kv, q.device)  # (N, M)
        o = reference_attention(q, k, v, mask=m, scale=scale, return_weights=return_weights)
        return AttentionOutput(o.out, o.weights, {"impl": "dense"})
    if impl == "blocks":
        out, plan = block_sparse_attention(q, k, v, spec, block=block, scale=scale)
        return AttentionOutput(out, None, {"impl": "blocks", "block_density": plan.block_density,
                                           "layout_build_s": plan.build_s, "block": block})
    if impl == "flex":
        out, compile_s = flex_sparse_attention(q, k, v, spec, scale=scale)
        return AttentionOutput(out, None, {"impl": "flex", "compile_s": compile_s})
    raise InputError(f"Unknown sparse implementation {impl!r}; choose one of {', '.join(IMPLS)}.")


def _make(kind: str):
    def fn(q, k, v, *, cfg) -> AttentionOutput:
        spec = spec_from_cfg(kind, cfg)
        return run_sparse(q, k, v, spec, impl=getattr(cfg, "sparse_impl", "blocks"),
                          block=int(getattr(cfg, "block", 16)), scale=getattr(cfg, "scale", None))

    fn.__name__ = fn.__qualname__ = f"sparse_{kind}"
    return fn


_PAPERS = {
    "sliding_window": "Beltagy et al. 2020, Longformer (sliding window); Child et al. 2019",
    "strided": "Child et al. 2019, Generating Long Sequences with Sparse Transformers",
    "longformer": "Beltagy, Peters & Cohan 2020, Longformer: The Long-Document Transformer",
    "bigbird": "Zaheer et al. 2020, Big Bird: Transformers for Longer Sequences",
    "block_sparse": "Child et al. 2019, Sparse Transformers (fixed pattern, block granularity)",
}
_PARAMS = {
    "sliding_window": ("window", "causal"),
    "strided": ("window", "stride", "causal"),
    "longformer": ("window", "n_global", "causal"),
    "bigbird": ("window", "n_global", "n_random", "block", "seed", "causal"),
    "block_sparse": ("block", "stride", "causal"),
}
_COST = {
    "sliding_window": ("O(N·W·d)", "O(N·W)"),
    "strided": ("O(N·(W + N/s)·d)", "O(N·(W + N/s))"),
    "longformer": ("O(N·(W + g)·d)", "O(N·(W + g))"),
    "bigbird": ("O(N·(W + g + r·b)·d)", "O(N·(W + g + r·b))"),
    "block_sparse": ("O(N·(b + N/s)·d)", "O(N·(b + N/s))"),
}

for _kind in _PAPERS:
    register(AttentionVariant(
        name=_kind, fn=_make(_kind), exact=True, paper=_PAPERS[_kind],
        time_complexity=_COST[_kind][0], memory_complexity=_COST[_kind][1],
        summary=f"Sparse mask: {KINDS[_kind]}. Exact for its mask; runs dense-masked, block-sparse or FlexAttention.",
        params=_PARAMS[_kind] + ("sparse_impl",),
    ))
