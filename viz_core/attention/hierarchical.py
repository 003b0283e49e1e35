"""Hierarchical (multi-scale) attention: exact attention nearby, pooled summaries far away.

After Zhu & Soricut 2021, "H-Transformer-1D: Fast One-Dimensional Hierarchical Attention for Sequences"
(the hierarchical-matrix partition), in a learning-free form.

Tokens are cut into blocks of ``block`` tokens (level 0); level c groups them into segments of
block·2^(c-1) tokens. A query in block p attends
- exactly to every token in blocks p-1, p, p+1 (its neighbourhood), and
- to one *summary* (mean key, mean value) per farther segment, taken at the coarsest level whose parent
  segment is still a neighbour of the query's: nearby far tokens are summarised finely, distant ones
  coarsely. With ``levels`` = L coarse levels, everything beyond level L-1's neighbourhood is summarised
  at segment size block·2^(L-1). levels = 0 is plain block-local attention.
Each token is covered exactly once (fine or inside one summary). A summary's logit gets + log(size), so a
segment of identical keys gets exactly the weight its tokens would get together (exact in that case).
Keys per query: 3·block + O(3·L) + N / (block·2^(L-1)), so O(N log N) overall for L ~ log(N/block).
Causal: fine tokens j <= i; only segments entirely in the past are summarised.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from viz_core.attention import register
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError


@dataclass
class HierPlan:
    fine_idx: torch.Tensor  # (nqb, 3*block) token ids (clamped), per query block
    fine_ok: torch.Tensor  # (nqb, block, 3*block) bool
    sum_idx: torch.Tensor  # (nqb, S) ids into the concatenated summaries
    sum_ok: torch.Tensor  # (nqb, S) bool
    seg_sizes: tuple[int, ...]  # segment size of each level, finest first
    seg_counts: tuple[int, ...]  # segments per level
    log_size: torch.Tensor  # (total segments,) log of the number of real tokens in each segment


@functools.lru_cache(maxsize=16)
def hier_plan(n: int, block: int, levels: int, causal: bool, device: str = "cpu") -> HierPlan:
    nqb = -(-n // block)
    ar = torch.arange(block)
    # fine neighbourhood: blocks p-1, p, p+1
    p = torch.arange(nqb)
    nb = torch.stack([p - 1, p, p + 1], dim=1)  # (nqb, 3)
    tok = (nb[:, :, None] * block + ar).reshape(nqb, 3 * block)  # (nqb, 3*block)
    q_tok = (p[:, None] * block + ar)[:, :, None]  # (nqb, block, 1)
    ok = (tok >= 0) & (tok < n)
    fine_ok = ok[:, None, :] & (q_tok < n)
    if causal:
        fine_ok = fine_ok & (tok[:, None, :] <= q_tok)
    fine_ok = fine_ok.expand(nqb, block, 3 * block).contiguous()
    sizes = [block * 2 ** c for c in range(levels)]  # coarse level c+1 summarises segments of sizes[c]
    counts = [-(-n // s) for s in sizes]
    offsets = [sum(counts[:c]) for c in range(levels)]
    lists: list[list[int]] = []
    for qb in range(nqb):
        ids: list[int] = []
        for c in range(levels):  # segments at level c (size sizes[c]); query's segment there:
            pc = qb >> c
            for j in range(counts[c]):
                if abs(pc - j) <= 1:
                    continue  # covered finer
                if c < levels - 1 and abs((qb >> (c + 1)) - (j >> 1)) > 1:
                    continue  # covered coarser
                if causal and j >= pc - 1:
                    continue  # not entirely in the past
                ids.append(offsets[c] + j)
        lists.append(ids)
    s_max = max([len(x) for x in lists] + [1])
    sum_idx = torch.zeros(nqb, s_max, dtype=torch.long)
    sum_ok = torch.zeros(nqb, s_max, dtype=torch.bool)
    for i, ids in enumerate(lists):
        sum_idx[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        sum_ok[i, :len(ids)] = True
    log_size = []
    for s, cnt in zip(sizes, counts):
        real = [min(s, n - j * s) for j in range(cnt)]
        log_size += [math.log(r) for r in real]
    dev = torch.device(device)
    return HierPlan(tok.clamp(0, n - 1).to(dev), fine_ok.to(dev), sum_idx.to(dev), sum_ok.to(dev),
                    tuple(sizes), tuple(counts), torch.tensor(log_size or [0.0]).to(dev))


def segment_means(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, N, D) -> (B, H, ceil(N/size), D): mean over the real tokens of each segment."""
    B, H, N, D = x.shape
    ns = -(-N // size)
    pad = ns * size - N
    xs = torch.nn.functional.pad(x, (0, 0, 0, pad)).view(B, H, ns, size, D).sum(dim=3)
    cnt = torch.full((ns,), float(size), dtype=x.dtype, device=x.device)
    cnt[-1] = size - pad
    return xs / cnt[:, None]


def hierarchical_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg) -> AttentionOutput:
    """q, k (B, H, N, D), v (B, H, N, Dv) -> out (B, H, N, Dv). Reads block, levels, causal."""
    B, H, N, D = q.shape
    if k.shape[-2] != N:
        raise InputError("Hierarchical attention here is self-attention: as many keys as queries.")
    block = int(getattr(cfg, "block", 16))
    levels = int(getattr(cfg, "levels", 2))
    if block < 1:
        raise InputError("The block size must be at least 1 token.")
    if not 0 <= levels <= 12:
        raise InputError("Levels must be between 0 and 12.")
    causal = bool(getattr(cfg, "causal", False))
    scale = getattr(cfg, "scale", None)
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    plan = hier_plan(N, block, levels, causal, str(q.device))
    nqb = plan.fine_idx.shape[0]
    pad = nqb * block - N
    qb = torch.nn.functional.pad(q, (0, 0, 0, pad)).view(B, H, nqb, block, D)
    kf, vf = k[:, :, plan.fine_idx], v[:, :, plan.fine_idx]  # (B, H, nqb, 3*block, D)
    s_f = torch.matmul(qb, kf.transpose(-2, -1)) * scale  # (B, H, nqb, block, 3*block)
    s_f = s_f.masked_fill(~plan.fine_ok, float("-inf"))
    parts_s, parts_v = [s_f], [vf]
    if levels:
        ks = torch.cat([segment_means(k, s) for s in plan.seg_sizes], dim=2)  # (B, H, S_total, D)
        vs = torch.cat([segment_means(v, s) for s in plan.seg_sizes], dim=2)
        kg, vg = ks[:, :, plan.sum_idx], vs[:, :, plan.sum_idx]  # (B, H, nqb, S, D)
        s_s = torch.matmul(qb, kg.transpose(-2, -1)) * scale + plan.log_size[plan.sum_idx][:, None, :].to(q.dtype)
        s_s = s_s.masked_fill(~plan.sum_ok[:, None, :], float("-inf"))  # (B, H, nqb, block, S)
        parts_s.append(s_s)
        parts_v.append(vg)
    s = torch.cat(parts_s, dim=-1)
    p = torch.nan_to_num(torch.softmax(s, dim=-1), nan=0.0)  # padded rows only
    vcat = torch.cat(parts_v, dim=-2)  # (B, H, nqb, 3*block + S, Dv)
    out = torch.matmul(p, vcat).reshape(B, H, nqb * block, v.shape[-1])[:, :, :N]
    keys_per_query = 3 * block + int(plan.sum_ok.sum(dim=1).float().mean()) if levels else 3 * block
    return AttentionOutput(out=out, weights=None, extras={"keys_per_query": keys_per_query,
                                                          "segment_sizes": plan.seg_sizes})


register(AttentionVariant(
    name="hierarchical", fn=hierarchical_attention, exact=False,
    paper="Zhu & Soricut 2021, H-Transformer-1D: Fast One-Dimensional Hierarchical Attention for Sequences",
    time_complexity="O(N·(3b + 3L + N/(b·2^(L-1)))·d)", memory_complexity="same as time without d",
    summary="Exact attention to nearby blocks plus attention to mean-pooled summaries of farther segments, "
            "coarser with distance.",
    params=("block", "levels", "causal"),
))
