"""The FlashAttention page's step-through: the tiled forward on one small head, tile by tile.

Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness".
``step_through`` runs ``viz_core.attention.flash.flash_forward`` with a trace and returns, per tile, the score
tile, the running m and l, the partial output, and the bytes moved, beside the naive algorithm's traffic and
the Θ(N²d²/M) IO bound. ``state_at`` is the picture after one step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.attention.flash import (
    flash_forward,
    io_bound_elements,
    n_blocks,
    naive_hbm_bytes,
    sram_tile_bytes,
    tiled_hbm_bytes,
)
from viz_core.attention.reference import reference_attention
from viz_core.device import resolve_dtype
from viz_core.errors import InputError

MAX_STEP_N = 128
MAX_STEP_D = 32
MAX_STEPS = 1024


# ----------------------------------------------------------------------------------------- step-through
@dataclass(frozen=True)
class StepConfig:
    n: int = 24  # sequence length (queries = keys)
    d: int = 8  # head size
    block_q: int = 8  # Br
    block_k: int = 8  # Bc
    causal: bool = False
    seed: int = 0
    dtype: str = "float32"


@dataclass
class StepResult:
    n: int
    d: int
    block_q: int  # effective Br (clipped to N)
    block_k: int  # effective Bc
    causal: bool
    elem_bytes: int
    q: np.ndarray  # (N, D)
    k: np.ndarray  # (N, D)
    v: np.ndarray  # (N, D)
    reference_out: np.ndarray  # (N, D)
    tiled_out: np.ndarray  # (N, D)
    max_abs_error: float  # |tiled - reference|, max over all entries
    # per step s (S steps); tiles padded to (Br, Bc) with NaN
    q_block: np.ndarray  # (S,) int
    kv_block: np.ndarray  # (S,) int
    rows: np.ndarray  # (S, 2) [r0, r1)
    cols: np.ndarray  # (S, 2) [c0, c1)
    scores: np.ndarray  # (S, Br, Bc) scaled scores, -inf masked, NaN padding
    probs: np.ndarray  # (S, Br, Bc) exp(S - m)
    m: np.ndarray  # (S, Br) running max after the step
    l: np.ndarray  # (S, Br) running sum after the step
    o: np.ndarray  # (S, Br, D) current estimate of the block's output rows
    read_bytes: np.ndarray  # (S,) HBM reads in the step
    write_bytes: np.ndarray  # (S,) HBM writes in the step
    score_bytes_on_chip: np.ndarray  # (S,)
    skipped: np.ndarray  # (K, 2) causal tiles never loaded
    sram_bytes: int  # working set of one full tile
    # totals
    tiled_read: int
    tiled_write: int
    formula_read: int  # closed form, for the same Br, Bc
    formula_write: int
    naive_read: int
    naive_write: int
    io_bound_bytes: float  # N²d²/M · bytes per value, M = the tile's SRAM working set in values
    sram_values: float  # M
    # the same counts as N grows (fixed d, Br, Bc): for the side chart
    curve_n: np.ndarray  # (P,)
    curve_naive: np.ndarray  # (P,) bytes read + written
    curve_tiled: np.ndarray  # (P,)
    curve_bound: np.ndarray  # (P,)

    @property
    def n_steps(self) -> int:
        return len(self.q_block)


def _traffic_curve(d: int, br: int, bc: int, causal: bool, e: int) -> tuple[np.ndarray, ...]:
    ns = np.array([2**p for p in range(7, 16)])  # 128 .. 32768
    m_vals = sram_tile_bytes(br, bc, d, d, e) / e
    naive = np.array([sum(naive_hbm_bytes(int(n), int(n), d, d, elem_bytes=e)) for n in ns], dtype=float)
    tiled = np.array([sum(tiled_hbm_bytes(int(n), int(n), d, d, br, bc, causal=causal, elem_bytes=e))
                      for n in ns], dtype=float)
    bound = np.array([io_bound_elements(int(n), d, m_vals) * e for n in ns], dtype=float)
    return ns, naive, tiled, bound


def step_through(cfg: StepConfig) -> StepResult:
    """Run the tiled forward on one head of random Q, K, V with a trace; compare with the reference."""
    if not 1 <= cfg.n <= MAX_STEP_N:
        raise InputError(f"The step-through shows 1 to {MAX_STEP_N} tokens (got {cfg.n}).")
    if not 1 <= cfg.d <= MAX_STEP_D:
        raise InputError(f"The step-through shows head sizes 1 to {MAX_STEP_D} (got {cfg.d}).")
    if cfg.block_q < 1 or cfg.block_k < 1:
        raise InputError("Block sizes Br and Bc must be at least 1.")
    br, bc = min(cfg.block_q, cfg.n), min(cfg.block_k, cfg.n)
    if n_blocks(cfg.n, br) * n_blocks(cfg.n, bc) > MAX_STEPS:
        raise InputError(f"{n_blocks(cfg.n, br)}×{n_blocks(cfg.n, bc)} tiles are too many to step through "
                         f"(at most {MAX_STEPS}); choose larger blocks.")
    dtype = resolve_dtype(cfg.dtype, "cpu")
    g = torch.Generator().manual_seed(cfg.seed)
    q, k, v = (torch.randn(1, 1, cfg.n, cfg.d, generator=g).to(dtype) for _ in range(3))  # (1, 1, N, D)
    ref = reference_attention(q, k, v, causal=cfg.causal, return_weights=False).out
    out, tr = flash_forward(q, k, v, block_q=br, block_k=bc, causal=cfg.causal, trace=True)
    e = tr.elem_bytes
    s = len(tr.steps)
    scores = np.full((s, br, bc), np.nan, np.float32)
    probs = np.full((s, br, bc), np.nan, np.float32)
    m = np.full((s, br), np.nan, np.float32)
    ll = np.full((s, br), np.nan, np.float32)
    o = np.full((s, br, cfg.d), np.nan, np.float32)
    for idx, st in enumerate(tr.steps):
        r, c = st.scores.shape
        scores[idx, :r, :c], probs[idx, :r, :c] = st.scores, st.probs
        m[idx, :r], ll[idx, :r], o[idx, :r] = st.m, st.l, st.o
    fr, fw = tiled_hbm_bytes(cfg.n, cfg.n, cfg.d, cfg.d, br, bc, causal=cfg.causal, elem_bytes=e)
    nr, nw = naive_hbm_bytes(cfg.n, cfg.n, cfg.d, cfg.d, elem_bytes=e)
    sram = sram_tile_bytes(br, bc, cfg.d, cfg.d, e)
    cn, cnaive, ctiled, cbound = _traffic_curve(cfg.d, br, bc, cfg.causal, e)
    f32 = lambda t: t[0, 0].float().numpy()  # noqa: E731
    return StepResult(
        n=cfg.n, d=cfg.d, block_q=br, block_k=bc, causal=cfg.causal, elem_bytes=e,
        q=f32(q), k=f32(k), v=f32(v), reference_out=f32(ref), tiled_out=f32(out),
        max_abs_error=float((out.float() - ref.float()).abs().max()),
        q_block=np.array([st.q_block for st in tr.steps]), kv_block=np.array([st.kv_block for st in tr.steps]),
        rows=np.array([st.rows for st in tr.steps]).reshape(s, 2),
        cols=np.array([st.cols for st in tr.steps]).reshape(s, 2),
        scores=scores, probs=probs, m=m, l=ll, o=o,
        read_bytes=np.array([st.read_bytes for st in tr.steps]),
        write_bytes=np.array([st.write_bytes for st in tr.steps]),
        score_bytes_on_chip=np.array([st.score_bytes_on_chip for st in tr.steps]),
        skipped=np.array(tr.skipped, dtype=int).reshape(-1, 2),
        sram_bytes=sram, tiled_read=tr.read_bytes, tiled_write=tr.write_bytes, formula_read=fr,
        formula_write=fw, naive_read=nr, naive_write=nw,
        io_bound_bytes=io_bound_elements(cfg.n, cfg.d, sram / e) * e, sram_values=sram / e,
        curve_n=cn, curve_naive=cnaive, curve_tiled=ctiled, curve_bound=cbound,
    )


def state_at(res: StepResult, step: int) -> dict[str, np.ndarray]:
    """Per-row picture after ``step``: m, l (N,), output estimate (N, D) and row status (N,).

    status: 0 not started, 1 in progress (current query block), 2 finished and written to HBM.
    """
    step = int(np.clip(step, 0, res.n_steps - 1))
    n = res.n
    m = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    o = np.full((n, res.d), np.nan)
    status = np.zeros(n, int)
    cur_block = res.q_block[step]
    for s in range(step + 1):  # the last state of every block seen so far
        r0, r1 = res.rows[s]
        k = r1 - r0
        m[r0:r1], ll[r0:r1], o[r0:r1] = res.m[s, :k], res.l[s, :k], res.o[s, :k]
    for s in range(step + 1):
        r0, r1 = res.rows[s]
        done = res.q_block[s] != cur_block or (s == step and _is_last_of_block(res, s))
        status[r0:r1] = 2 if done else 1
    return {"m": m, "l": ll, "o": o, "status": status}


def _is_last_of_block(res: StepResult, s: int) -> bool:
    return s == res.n_steps - 1 or res.q_block[s + 1] != res.q_block[s]
