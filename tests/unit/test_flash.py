"""Tiled FlashAttention forward: exact vs the reference at odd sizes, and its trace's byte counts."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from viz_core.attention import all_variants
from viz_core.attention.flash import (
    STAT_BYTES,
    flash_forward,
    flash_tiled_attention,
    io_bound_elements,
    naive_hbm_bytes,
    tiled_hbm_bytes,
)
from viz_core.attention.reference import reference_attention
from viz_core.errors import InputError


def _qkv(b=1, h=2, n=7, m=None, d=5, dv=None, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    dv = d if dv is None else dv
    return (torch.randn(b, h, n, d, generator=g).to(dtype), torch.randn(b, h, m, d, generator=g).to(dtype),
            torch.randn(b, h, m, dv, generator=g).to(dtype))


CASES = [  # (n, m, d, br, bc): N not a multiple of blocks, N=1, D=1, blocks > N, N != M
    (1, 1, 1, 1, 1),
    (1, 1, 8, 64, 64),
    (7, 7, 1, 3, 2),
    (13, 13, 5, 4, 6),
    (13, 13, 3, 64, 64),
    (33, 33, 7, 8, 5),
    (5, 11, 4, 2, 3),
    (64, 64, 16, 16, 16),
]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n,m,d,br,bc", CASES)
def test_tiled_equals_reference_fp32(n, m, d, br, bc, causal):
    q, k, v = _qkv(n=n, m=m, d=d)
    ref = reference_attention(q, k, v, causal=causal).out
    out, _ = flash_forward(q, k, v, block_q=br, block_k=bc, causal=causal)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 9), br=st.integers(1, 50), bc=st.integers(1, 50),
       causal=st.booleans(), seed=st.integers(0, 10_000))
def test_tiled_equals_reference_property(n, d, br, bc, causal, seed):
    q, k, v = _qkv(n=n, d=d, seed=seed)
    ref = reference_attention(q, k, v, causal=causal).out
    out, tr = flash_forward(q, k, v, block_q=br, block_k=bc, causal=causal, trace=True)
    assert (out - ref).abs().max().item() <= 1e-5
    read, write = tiled_hbm_bytes(n, n, d, d, br, bc, causal=causal, elem_bytes=4, batch_heads=2)
    assert (tr.read_bytes, tr.write_bytes) == (read, write)


def test_value_head_size_differs_and_large_logits_stay_finite():
    q, k, v = _qkv(n=9, d=4, dv=6)
    q = q * 200  # scores in the hundreds: a naive exp would overflow, the online max keeps it finite
    ref = reference_attention(q, k, v).out
    out, _ = flash_forward(q, k, v, block_q=4, block_k=2)
    assert torch.isfinite(out).all()
    assert (out - ref).abs().max().item() <= 1e-4


def test_mask_and_fully_masked_rows_give_zeros():
    q, k, v = _qkv(n=10, d=4)
    mask = torch.rand(10, 10, generator=torch.Generator().manual_seed(3)) > 0.5
    mask[4] = False
    ref = reference_attention(q, k, v, mask=mask, causal=True).out
    out, _ = flash_forward(q, k, v, block_q=3, block_k=4, causal=True, mask=mask)
    assert (out - ref).abs().max().item() <= 1e-5
    assert out[:, :, 4].abs().max().item() == 0.0


def test_half_precision_is_close():
    q, k, v = _qkv(n=20, d=8, dtype=torch.bfloat16)
    ref = reference_attention(q, k, v, causal=True).out.float()
    out, _ = flash_forward(q, k, v, block_q=8, block_k=8, causal=True)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max().item() <= 2e-2


def test_trace_bytes_match_formula_by_hand():
    # N=10, D=4, Br=4, Bc=3, fp32, one head, not causal: Tr=3 query blocks, each reads all of K and V.
    q, k, v = _qkv(b=1, h=1, n=10, d=4)
    _, tr = flash_forward(q, k, v, block_q=4, block_k=3, trace=True)
    assert len(tr.steps) == 3 * 4
    assert tr.read_bytes == (10 * 4 + 3 * 10 * (4 + 4)) * 4  # Q once + K,V once per query block
    assert tr.write_bytes == 10 * 4 * 4 + 10 * STAT_BYTES  # O and the logsumexp, once
    assert tr.read_bytes == tiled_hbm_bytes(10, 10, 4, 4, 4, 3, causal=False, elem_bytes=4)[0]
    assert sum(s.q_loaded for s in tr.steps) == 3 and sum(s.o_written for s in tr.steps) == 3
    # every score entry was computed on chip exactly once
    assert sum(s.score_bytes_on_chip for s in tr.steps) == 10 * 10 * 4


def test_causal_trace_skips_tiles_above_the_diagonal():
    q, k, v = _qkv(b=2, h=3, n=16, d=4)
    _, tr = flash_forward(q, k, v, block_q=4, block_k=4, causal=True, trace=True)
    assert len(tr.steps) == 1 + 2 + 3 + 4 and len(tr.skipped) == 6
    assert all(j > i for i, j in tr.skipped)
    read, write = tiled_hbm_bytes(16, 16, 4, 4, 4, 4, causal=True, elem_bytes=4, batch_heads=6)
    assert (tr.read_bytes, tr.write_bytes) == (read, write)
    assert read == 6 * 4 * (16 * 4 + 4 * 8 * (1 + 2 + 3 + 4))


def test_trace_final_state_is_the_output_and_softmax_stats():
    q, k, v = _qkv(b=1, h=1, n=9, d=3)
    ref = reference_attention(q, k, v, causal=True)
    out, tr = flash_forward(q, k, v, block_q=4, block_k=2, causal=True, trace=True)
    s_full = (q[0, 0] @ k[0, 0].T / np.sqrt(3)).numpy()
    for st_ in tr.steps:
        if st_.o_written:
            r0, r1 = st_.rows
            np.testing.assert_allclose(st_.o, ref.out[0, 0, r0:r1].numpy(), atol=1e-5)
            rows_scores = np.where(np.tril(np.ones((9, 9), bool)), s_full, -np.inf)[r0:r1]
            np.testing.assert_allclose(st_.m, rows_scores.max(1), atol=1e-5)
            np.testing.assert_allclose(st_.l, np.exp(rows_scores - rows_scores.max(1, keepdims=True)).sum(1),
                                       rtol=1e-5)


def test_naive_bytes_and_io_bound():
    r, w = naive_hbm_bytes(8, 8, 2, 2, elem_bytes=4)
    assert r == (16 + 16 + 64 + 64 + 16) * 4 and w == (64 + 64 + 16) * 4
    assert io_bound_elements(1024, 64, 64 * 1024) == 1024 * 1024 * 64 * 64 / (64 * 1024)
    # the tiled traffic grows like N²d²/M: doubling N about quadruples the K/V reads for fixed blocks
    r1 = tiled_hbm_bytes(1024, 1024, 64, 64, 64, 64, causal=False, elem_bytes=2)[0]
    r2 = tiled_hbm_bytes(2048, 2048, 64, 64, 64, 64, causal=False, elem_bytes=2)[0]
    assert 3.8 < r2 / r1 < 4.1


def test_bad_inputs_are_clear():
    q, k, v = _qkv(n=4)
    with pytest.raises(InputError, match="at least 1"):
        flash_forward(q, k, v, block_q=0)
    with pytest.raises(InputError, match="head size"):
        flash_forward(q, k[..., :2], v)
    with pytest.raises(InputError, match="too long"):
        flash_forward(*_qkv(n=200, d=2), block_q=1, block_k=1, trace=True)


def test_registered_variant_reads_cfg():
    @dataclass(frozen=True)
    class Cfg:
        causal: bool = True
        block_q: int = 3
        block_k: int = 5

    var = all_variants()["flash_tiled"]
    assert var.exact and var.fn is flash_tiled_attention
    q, k, v = _qkv(n=11)
    out = var.fn(q, k, v, cfg=Cfg()).out
    assert (out - reference_attention(q, k, v, causal=True).out).abs().max().item() <= 1e-5
    out2 = var.fn(q, k, v, cfg=None).out  # defaults: not causal, 64×64 blocks (clipped to N)
    assert (out2 - reference_attention(q, k, v).out).abs().max().item() <= 1e-5
