"""FlashAttention's forward pass in plain PyTorch: tiles, online softmax, and a trace of every step.

Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness" (the
tiling and the online softmax, Algorithm 1; IO complexity Θ(N²d²/M) HBM accesses for SRAM size M, against
Θ(Nd + N²) for standard attention); Dao 2023, "FlashAttention-2" (the loop order used here: the outer loop
over query blocks, so each block of output rows is finished, normalised and written exactly once).

For every query block Q_i (Br rows) the kernel loads Q_i into SRAM once, then streams key/value blocks
K_j, V_j (Bc rows each) through SRAM. With a running row max m, a running sum l of exp(s - m), and an
unnormalised output accumulator Õ, each tile updates

    m_new = max(m, rowmax(S_ij)),   P = exp(S_ij - m_new),   α = exp(m - m_new)
    l     = α·l + rowsum(P),        Õ = α·Õ + P V_j

and at the end O_i = Õ / l. The N×M score matrix never exists: only one Br×Bc tile at a time. The result
equals softmax(QKᵀ/√d) V exactly (up to float rounding), which ``tests/unit/test_flash.py`` checks.

The trace counts bytes the way a GPU kernel would move them: "HBM" reads/writes of Q, K, V, O and the row
logsumexp (kept for the backward pass, fp32), against what stays in on-chip "SRAM" (the tiles, S, P, m, l).
Causal tiles that are entirely above the diagonal are skipped, as the real kernels do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from viz_core.attention import register
from viz_core.attention.types import AttentionOutput, AttentionVariant
from viz_core.errors import InputError

STAT_BYTES = 4  # m, l and the logsumexp are fp32 in real kernels, whatever the input dtype
MAX_TRACE_STEPS = 4096  # a trace keeps one tile per step; beyond this the page would not show it anyway


@dataclass
class FlashStep:
    """One tile (i, j) of the tiled forward, shown for batch 0, head 0; bytes are for all B·H heads."""

    q_block: int  # i
    kv_block: int  # j (-1: a query block with no key it may attend to; only O is written)
    rows: tuple[int, int]  # [r0, r1) query rows of this tile
    cols: tuple[int, int]  # [c0, c1) key columns of this tile
    scores: np.ndarray  # (Br, Bc) scaled scores S_ij, -inf where masked
    probs: np.ndarray  # (Br, Bc) P = exp(S_ij - m_new) (unnormalised)
    m: np.ndarray  # (Br,) running row max after this tile
    l: np.ndarray  # (Br,) running row sum after this tile (in units of exp(-m))
    o: np.ndarray  # (Br, Dv) current estimate of the output rows Õ / l
    read_bytes: int  # HBM -> SRAM in this step
    write_bytes: int  # SRAM -> HBM in this step
    sram_bytes: int  # bytes resident on chip for this tile (per head): Q_i, K_j, V_j, S, P, Õ, m, l
    score_bytes_on_chip: int  # bytes of S_ij (all heads) computed on chip and never written to HBM
    q_loaded: bool  # Q_i came from HBM in this step (first tile of the block)
    o_written: bool  # O_i went to HBM in this step (last tile of the block)


@dataclass
class FlashTrace:
    n: int
    m: int
    d: int
    dv: int
    block_q: int
    block_k: int
    causal: bool
    elem_bytes: int
    batch_heads: int
    steps: list[FlashStep] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)  # causal tiles never loaded

    @property
    def read_bytes(self) -> int:
        return sum(s.read_bytes for s in self.steps)

    @property
    def write_bytes(self) -> int:
        return sum(s.write_bytes for s in self.steps)


def n_blocks(n: int, block: int) -> int:
    return -(-n // block)


def _check_blocks(n: int, m: int, block_q: int, block_k: int) -> tuple[int, int]:
    if n < 1 or m < 1:
        raise InputError("Attention needs at least one query and one key.")
    if int(block_q) < 1 or int(block_k) < 1:
        raise InputError(f"Block sizes must be at least 1 (got Br={block_q}, Bc={block_k}).")
    # A block larger than the sequence is allowed: it is clipped to the sequence (one tile).
    return min(int(block_q), n), min(int(block_k), m)


def sram_tile_bytes(block_q: int, block_k: int, d: int, dv: int, elem_bytes: int) -> int:
    """On-chip working set of one tile, per head: Q_i, K_j, V_j, S and P, Õ (Br·Dv), and m, l (fp32)."""
    return (block_q * d + block_k * d + block_k * dv + 2 * block_q * block_k + block_q * dv) * elem_bytes \
        + 2 * block_q * STAT_BYTES


def tiled_hbm_bytes(n: int, m: int, d: int, dv: int, block_q: int, block_k: int, *, causal: bool,
                    elem_bytes: int, batch_heads: int = 1) -> tuple[int, int]:
    """(read, write) HBM bytes of the tiled forward, from the closed form (not from running it).

    Per head: each query block with at least one visible key reads Q_i once (Br·d) and K_j, V_j for every
    visible key block (Bc·(d+Dv) each); every query block writes O_i (Br·Dv) and its logsumexp (Br, fp32).
    Non-causal: reads = N·d + ⌈N/Br⌉·M·(d+Dv), writes = N·Dv + N (times bytes per value).
    """
    br, bc = _check_blocks(n, m, block_q, block_k)
    if not causal:
        reads = (n * d + n_blocks(n, br) * m * (d + dv)) * elem_bytes
        writes = n * dv * elem_bytes + n * STAT_BYTES
        return reads * batch_heads, writes * batch_heads
    offset = m - n  # bottom-right aligned causal mask, as in reference.py
    reads = 0
    for i in range(n_blocks(n, br)):
        r0, r1 = i * br, min(n, (i + 1) * br)
        visible_cols = min(m, max(0, r1 + offset))  # last row of the block sees keys [0, r1-1+offset]
        kv_blocks = n_blocks(visible_cols, bc) if visible_cols > 0 else 0
        if kv_blocks:
            reads += (r1 - r0) * d * elem_bytes
        cols_loaded = min(m, kv_blocks * bc)  # whole key blocks; only the sequence's last block is partial
        reads += cols_loaded * (d + dv) * elem_bytes
    writes = n * dv * elem_bytes + n * STAT_BYTES
    return reads * batch_heads, writes * batch_heads


def naive_hbm_bytes(n: int, m: int, d: int, dv: int, *, elem_bytes: int, batch_heads: int = 1) -> tuple[int, int]:
    """(read, write) HBM bytes of standard attention (Dao et al. 2022, Algorithm 0), Θ(Nd + N²).

    S = QKᵀ: read Q, K, write S; P = softmax(S): read S, write P; O = PV: read P, V, write O.
    """
    reads = (n * d + m * d + n * m + n * m + m * dv) * elem_bytes
    writes = (n * m + n * m + n * dv) * elem_bytes
    return reads * batch_heads, writes * batch_heads


def io_bound_elements(n: int, d: int, sram_elements: float) -> float:
    """Θ(N²d²/M) of Dao et al. 2022 (Theorem 2), without its constant: HBM accesses for SRAM size M."""
    return n * n * d * d / max(float(sram_elements), 1.0)


def flash_forward(
    q: torch.Tensor,  # (B, H, N, D)
    k: torch.Tensor,  # (B, H, M, D)
    v: torch.Tensor,  # (B, H, M, Dv)
    *,
    block_q: int = 64,
    block_k: int = 64,
    causal: bool = False,
    mask: torch.Tensor | None = None,  # bool, broadcastable to (B, H, N, M); True = attend
    scale: float | None = None,
    trace: bool = False,
) -> tuple[torch.Tensor, FlashTrace | None]:
    """Tiled exact attention. Returns (out (B, H, N, Dv), trace or None). Half inputs compute in fp32."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise InputError("q, k and v must be shaped (batch, heads, length, head size).")
    b, h, n, d = q.shape
    m, dv = k.shape[-2], v.shape[-1]
    if k.shape[-1] != d:
        raise InputError(f"q and k need the same head size, got {d} and {k.shape[-1]}.")
    if v.shape[-2] != m:
        raise InputError(f"k and v need the same length, got {m} and {v.shape[-2]}.")
    if k.shape[1] != h:
        if h % k.shape[1]:
            raise InputError(f"{h} query heads cannot share {k.shape[1]} key/value heads evenly.")
        rep = h // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    br, bc = _check_blocks(n, m, block_q, block_k)
    tr, tc = n_blocks(n, br), n_blocks(m, bc)
    if trace and tr * tc > MAX_TRACE_STEPS:
        raise InputError(f"A trace of {tr}×{tc} = {tr * tc} tiles is too long to step through; "
                         f"use larger blocks or a shorter sequence (at most {MAX_TRACE_STEPS} tiles).")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    orig = q.dtype
    e = q.element_size()
    if orig in (torch.float16, torch.bfloat16):
        q, k, v = q.float(), k.float(), v.float()
    if mask is not None:
        mask = mask.to(device=q.device, dtype=torch.bool)
        if mask.dim() < 2:
            raise InputError("A mask must have at least two dimensions (queries × keys).")
        mask = mask.expand(*mask.shape[:-2], n, m)  # (..., N, M) so tiles can be sliced
    offset = m - n
    bh = b * h
    out = torch.empty(b, h, n, dv, dtype=q.dtype, device=q.device)  # (B, H, N, Dv) in HBM
    tr_obj = FlashTrace(n, m, d, dv, br, bc, bool(causal), e, bh) if trace else None
    neg_inf = float("-inf")
    for i in range(tr):
        r0, r1 = i * br, min(n, (i + 1) * br)
        rows = r1 - r0
        qi = q[:, :, r0:r1]  # (B, H, Br, D): loaded once per query block
        m_i = torch.full((b, h, rows), neg_inf, dtype=q.dtype, device=q.device)  # running max
        l_i = torch.zeros(b, h, rows, dtype=q.dtype, device=q.device)  # running sum
        acc = torch.zeros(b, h, rows, dv, dtype=q.dtype, device=q.device)  # unnormalised Õ
        last_col = r1 - 1 + offset  # the last row of the block may see keys [0, last_col]
        js = [j for j in range(tc) if not causal or j * bc <= last_col]
        if tr_obj is not None:
            tr_obj.skipped += [(i, j) for j in range(tc) if j not in js]
        for step_idx, j in enumerate(js):
            c0, c1 = j * bc, min(m, (j + 1) * bc)
            kj, vj = k[:, :, c0:c1], v[:, :, c0:c1]  # (B, H, Bc, D), (B, H, Bc, Dv)
            s = torch.matmul(qi, kj.transpose(-2, -1)) * scale  # (B, H, Br, Bc): only in SRAM
            allowed = None
            if causal and c1 - 1 > r0 + offset:  # the tile crosses the diagonal
                allowed = (torch.arange(c0, c1, device=q.device)[None, :]
                           <= torch.arange(r0, r1, device=q.device)[:, None] + offset)  # (Br, Bc)
            if mask is not None:
                tile_mask = mask[..., r0:r1, c0:c1]
                allowed = tile_mask if allowed is None else (allowed & tile_mask)
            if allowed is not None:
                s = s.masked_fill(~allowed, neg_inf)
            m_new = torch.maximum(m_i, s.amax(dim=-1))  # (B, H, Br)
            m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)  # rows with no key yet
            p = torch.exp(s - m_safe[..., None])  # (B, H, Br, Bc); masked -> 0
            alpha = torch.exp(m_i - m_safe)  # rescales what was summed under the old max; -inf -> 0
            l_i = alpha * l_i + p.sum(dim=-1)
            acc = alpha[..., None] * acc + torch.matmul(p, vj)
            m_i = m_new
            if tr_obj is not None:
                first, last = step_idx == 0, step_idx == len(js) - 1
                cols = c1 - c0
                read = (cols * (d + dv) + (rows * d if first else 0)) * e * bh
                write = (rows * dv * e + rows * STAT_BYTES) * bh if last else 0
                l0, a0 = l_i[0, 0], acc[0, 0]
                est = torch.where(l0[:, None] > 0, a0 / l0.clamp_min(1e-30)[:, None], torch.zeros_like(a0))
                tr_obj.steps.append(FlashStep(
                    q_block=i, kv_block=j, rows=(r0, r1), cols=(c0, c1),
                    scores=s[0, 0].detach().cpu().numpy().copy(), probs=p[0, 0].detach().cpu().numpy().copy(),
                    m=m_i[0, 0].detach().cpu().numpy().copy(), l=l0.detach().cpu().numpy().copy(),
                    o=est.detach().cpu().numpy().copy(), read_bytes=int(read), write_bytes=int(write),
                    sram_bytes=sram_tile_bytes(rows, cols, d, dv, e), score_bytes_on_chip=rows * cols * e * bh,
                    q_loaded=first, o_written=last))
        if not js and tr_obj is not None:  # no visible key at all: the kernel writes zeros and stops
            tr_obj.steps.append(FlashStep(
                q_block=i, kv_block=-1, rows=(r0, r1), cols=(0, 0), scores=np.zeros((rows, 0), np.float32),
                probs=np.zeros((rows, 0), np.float32), m=np.full(rows, -np.inf, np.float32),
                l=np.zeros(rows, np.float32), o=np.zeros((rows, dv), np.float32), read_bytes=0,
                write_bytes=int((rows * dv * e + rows * STAT_BYTES) * bh), sram_bytes=0, score_bytes_on_chip=0,
                q_loaded=False, o_written=True))
        o_i = torch.where(l_i[..., None] > 0, acc / l_i.clamp_min(1e-30)[..., None], torch.zeros_like(acc))
        out[:, :, r0:r1] = o_i  # written to HBM once per query block
    return out.to(orig), tr_obj


def flash_tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, cfg: Any = None) -> AttentionOutput:
    """Registered variant "flash_tiled". Reads cfg.causal, cfg.mask, cfg.block_q, cfg.block_k, cfg.scale."""
    out, _ = flash_forward(
        q, k, v,
        block_q=int(getattr(cfg, "block_q", 64) or 64),
        block_k=int(getattr(cfg, "block_k", 64) or 64),
        causal=bool(getattr(cfg, "causal", False)),
        mask=getattr(cfg, "mask", None),
        scale=getattr(cfg, "scale", None),
    )
    return AttentionOutput(out=out, weights=None, extras={"block_q": getattr(cfg, "block_q", 64),
                                                          "block_k": getattr(cfg, "block_k", 64)})


register(AttentionVariant(
    name="flash_tiled",
    fn=flash_tiled_attention,
    exact=True,
    paper="Dao et al. 2022, FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
    time_complexity="O(N² d)",
    memory_complexity="O(N d) (one Br×Bc score tile at a time)",
    summary="Exact attention tile by tile with an online softmax: the N×N score matrix is never stored.",
    params=("causal", "block_q", "block_k"),
))
