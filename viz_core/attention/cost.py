"""Theoretical cost of each attention variant: score entries, forward FLOPs and working bytes (formulas,
not measurements; the lab and the benchmark print them beside what they measure)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from viz_core.attention.masks import MaskSpec
from viz_core.attention.types import AttnConfig

SPARSE = ("sliding_window", "strided", "longformer", "bigbird", "block_sparse")


@dataclass(frozen=True)
class Cost:
    score_entries: float  # attention scores computed (all batches and heads)
    flops: float  # forward FLOPs (multiply-add = 2)
    bytes: float  # working memory beyond Q, K, V (theoretical estimate)


def theoretical_cost(name: str, b: int, h: int, n: int, d: int, attn: AttnConfig, elem: int = 4) -> Cost:
    """Score entries, FLOPs and working bytes of ``name`` at these sizes (formulas, not measurements)."""
    bh = b * h
    causal = attn.causal
    full_entries = bh * (n * (n + 1) / 2 if causal else n * n)
    out_bytes = bh * n * d * elem
    if name in ("full", "causal", "reference", "gqa", "mqa"):
        e = bh * n * (n + 1) / 2 if name == "causal" else full_entries
        return Cost(e, 4 * e * d, 2 * bh * n * n * elem + out_bytes)
    if name in ("sdpa", "flash_tiled"):
        return Cost(full_entries, 4 * full_entries * d, out_bytes + bh * n * 4)
    if name == "differential":
        # two score maps, their softmaxes, the difference and the λ-scaled copy live at once (measured: 6×)
        return Cost(2 * full_entries, 4 * full_entries * d, 6 * bh * n * n * elem + out_bytes)
    if name in SPARSE:
        dens = sparse_density(MaskSpec(name, causal, attn.window, attn.stride, attn.n_global, attn.n_random,
                                       attn.block, attn.seed), n)
        e = bh * n * n * dens
        if attn.sparse_impl == "dense":
            mem = 3 * bh * n * n * elem
        else:
            mem = 3 * e * elem * 1.3 + 2 * e / max(1, attn.block) * d * elem
        return Cost(e, 4 * e * d, mem + out_bytes)
    if name == "linear":
        f = d
        st = bh * f * d * elem if not causal else (
            bh * n * f * d * elem if attn.linear_form == "prefix" else bh * (n * attn.chunk + n / attn.chunk * f * d) * elem)
        # φ(Q), φ(K), the numerator and its normaliser live at once (measured peak ≈ 4 N·f tensors)
        return Cost(0, bh * (4 * n * f * d + 4 * n * f) + 2 * bh * n * d, st + 4 * bh * n * f * elem + out_bytes)
    if name == "performer":
        m = attn.features
        st = bh * m * d * elem if not causal else bh * (n * attn.chunk + n / attn.chunk * m * d) * elem
        # feature maps of Q and K, their exponent temporaries and the normaliser: the tensor peak is ~4.5 (N, m)
        # maps, and the process grew by ~7 of them (N = 2048, H = 8, m = 256: 112-153 MiB, fp32 and bf16)
        return Cost(0, bh * (4 * n * m * d + 4 * n * m + 4 * n * m * d), st + 7 * bh * n * m * elem + out_bytes)
    if name == "linformer":
        k = min(attn.proj_k, n)
        e = bh * n * k
        return Cost(e, 4 * e * d + 4 * bh * k * n * d, 2 * e * elem + 2 * bh * k * d * elem + out_bytes)
    if name == "hierarchical":
        per_q = min(n, 3 * attn.block + 3 * max(0, attn.levels - 1) + (
            n / (attn.block * 2 ** (attn.levels - 1)) if attn.levels else 0))
        e = bh * n * per_q
        # fine and summary scores (+ masked copies), their concatenation, softmax and nan_to_num: 5 score-sized;
        # gathered keys and values, the contiguous copy matmul makes of the keys, and the concatenated values: 4
        return Cost(e, 4 * e * d, 5 * e * elem + 4 * e / max(1, attn.block) * d * elem + out_bytes)
    return Cost(full_entries, 4 * full_entries * d, 2 * bh * n * n * elem + out_bytes)


def sparse_density(spec: MaskSpec, n: int, max_pairs: int = 1 << 20) -> float:
    """Fraction of allowed pairs; counted exactly for n <= 4096, else from 512 evenly spaced rows.

    The mask function is evaluated over blocks of rows of at most ``max_pairs`` (query, key) pairs, so its
    int64 index temporaries stay at a few MiB at any length (over all 4096² pairs at once they took
    ~300 MiB: more than the attention run whose memory this estimates).
    """
    mod = spec.mask_mod(n, n)
    zero = torch.zeros((), dtype=torch.long)
    rows = torch.arange(n) if n <= 4096 else torch.linspace(0, n - 1, 512).long()
    kv = torch.arange(n)[None, :]  # (1, N)
    step = max(1, max_pairs // max(1, n))
    allowed = 0
    for start in range(0, len(rows), step):
        q = rows[start:start + step, None]  # (rows, 1)
        allowed += int(mod(zero, zero, q, kv).expand(len(q), n).sum())
    return allowed / (len(rows) * n) if n else 0.0
