"""Sparse masks: one definition, three implementations that agree, densities that match their formulas."""
import pytest
import torch

from viz_core.attention import masks as M
from viz_core.attention.masks import (MaskSpec, block_layout, causal_density_formula, dense_mask, density,
                                      longformer_density_formula, window_density_formula)
from viz_core.attention.reference import causal_mask, reference_attention
from viz_core.attention.sparse import block_plan, run_sparse
from viz_core.errors import InputError

KINDS = ["sliding_window", "strided", "longformer", "bigbird", "block_sparse"]


def _qkv(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, 2, n, d, generator=g) for _ in range(3))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n,d,block", [(1, 4, 8), (37, 1, 8), (100, 8, 16), (64, 8, 64)])
def test_block_sparse_equals_dense_masked_reference(kind, causal, n, d, block):
    spec = MaskSpec(kind, causal=causal, window=10, stride=4, n_global=2, n_random=2, block=block, seed=3)
    q, k, v = _qkv(n, d)
    m = dense_mask(spec.mask_mod(n), n)
    ref = reference_attention(q, k, v, mask=m).out
    dense = run_sparse(q, k, v, spec, impl="dense", block=block).out
    blocks = run_sparse(q, k, v, spec, impl="blocks", block=block).out
    torch.testing.assert_close(dense, ref)
    torch.testing.assert_close(blocks, ref, atol=2e-6, rtol=1e-5)


def test_block_sparse_really_skips_empty_blocks():
    spec = MaskSpec("sliding_window", window=32, block=16)
    plan = block_plan(spec, 1024, 1024, 16)
    # a query block of 16 rows with |i-j| <= 16 touches at most 4 key blocks out of 64
    assert plan.layout.sum(dim=1).max() <= 4
    assert plan.block_density < 0.07
    assert sum(b.kv_index.numel() for b in plan.buckets) <= 64 * 4 * 16


@pytest.mark.parametrize("n,w", [(1, 4), (10, 4), (50, 7), (64, 64), (33, 200)])
@pytest.mark.parametrize("causal", [False, True])
def test_window_density_matches_formula(n, w, causal):
    m = dense_mask(MaskSpec("sliding_window", causal=causal, window=w).mask_mod(n), n)
    assert density(m) == pytest.approx(window_density_formula(n, w, causal), abs=1e-12)
    if causal:  # never a future key, always itself
        assert not (m & ~causal_mask(n, n)).any() and m.diagonal().all()


def test_causal_and_longformer_density_match_formula():
    for n in (1, 9, 40):
        m = dense_mask(MaskSpec("causal").mask_mod(n), n)
        assert density(m) == pytest.approx(causal_density_formula(n))
        m = dense_mask(MaskSpec("longformer", window=6, n_global=3).mask_mod(n), n)
        assert density(m) == pytest.approx(longformer_density_formula(n, 6, 3))


def test_bigbird_random_blocks_are_seeded_and_counted():
    a = dense_mask(MaskSpec("bigbird", window=2, n_global=0, n_random=2, block=8, seed=1).mask_mod(64), 64)
    b = dense_mask(MaskSpec("bigbird", window=2, n_global=0, n_random=2, block=8, seed=1).mask_mod(64), 64)
    c = dense_mask(MaskSpec("bigbird", window=2, n_global=0, n_random=2, block=8, seed=2).mask_mod(64), 64)
    assert torch.equal(a, b) and not torch.equal(a, c)
    win = dense_mask(MaskSpec("sliding_window", window=2).mask_mod(64), 64)
    layout = block_layout(MaskSpec("bigbird", window=2, n_global=0, n_random=2, block=8, seed=1).mask_mod(64),
                          64, 64, 8)
    # each query block holds its 2 random blocks (plus the window's diagonal blocks)
    assert (layout.sum(1) >= 2).all()
    assert (a | win).sum() == a.sum()


def test_block_layout_matches_dense_mask():
    spec = MaskSpec("strided", window=6, stride=5)
    mod = spec.mask_mod(50)
    m = dense_mask(mod, 50)
    lay = block_layout(mod, 50, 50, 8, max_elems=100)  # tiny chunks exercise the chunked loop
    pad = torch.nn.functional.pad(m, (0, 6, 0, 6))
    expect = pad.view(7, 8, 7, 8).any(3).any(1)
    assert torch.equal(lay, expect)


def test_bad_mask_parameters_are_plain_errors():
    q, k, v = _qkv(8, 4)
    with pytest.raises(InputError, match="window"):
        run_sparse(q, k, v, MaskSpec("sliding_window", window=0))
    with pytest.raises(InputError, match="Unknown mask"):
        run_sparse(q, k, v, MaskSpec("nope"))
    with pytest.raises(InputError, match="implementation"):
        run_sparse(q, k, v, MaskSpec("sliding_window"), impl="magic")


@pytest.mark.slow
def test_flex_attention_equals_dense_masked_reference(tmp_path):
    """FlexAttention with a BlockMask (compiled; 20-30 s cold on CPU, so one small shape)."""
    spec = MaskSpec("longformer", window=16, n_global=3, causal=True)
    n = 200  # not a multiple of Flex's 128-token blocks
    q, k, v = _qkv(n, 16)
    ref = reference_attention(q, k, v, mask=dense_mask(spec.mask_mod(n), n)).out
    out = run_sparse(q, k, v, spec, impl="flex")
    assert out.extras["compile_s"] is not None and out.extras["compile_s"] > 0
    torch.testing.assert_close(out.out, ref, atol=2e-5, rtol=1e-4)
    again = run_sparse(q, k, v, spec, impl="flex")
    assert again.extras["compile_s"] is None  # compiled once; later calls are steady state


def test_block_sparse_slices_give_the_same_result():
    from viz_core.attention.sparse import block_sparse_attention

    spec = MaskSpec("bigbird", window=12, n_global=2, n_random=2, block=8, seed=0)
    q, k, v = _qkv(130, 8)
    a, _ = block_sparse_attention(q, k, v, spec, block=8, chunk_bytes=1)  # one query block at a time
    b, _ = block_sparse_attention(q, k, v, spec, block=8, chunk_bytes=1 << 40)  # all at once
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- factories vs written-out rules
def _rule(kind, i, j, *, causal, w, s, g, blk, table=None):
    """One (query position i, key j) pair by the pattern's definition, in plain Python."""
    d = i - j
    win = (0 <= d < w) if causal else (abs(d) <= w // 2)
    if kind == "full":
        ok = True
    elif kind == "causal":
        return j <= i
    elif kind == "sliding_window":
        return win
    elif kind == "strided":
        ok = win or d % s == 0
    elif kind == "longformer":
        ok = win or i < g or j < g
    elif kind == "bigbird":
        ok = win or i < g or j < g or bool(table[i // blk, j // blk])
    else:  # block_sparse
        ok = i // blk == j // blk or (j // blk) % s == s - 1
    return ok and (j <= i if causal else True)


@pytest.mark.parametrize("kind", list(M.KINDS))
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n_q,n_kv", [(37, 37), (5, 37), (1, 20)])
def test_factories_dense_equal_the_written_out_rule_and_align_queries_last(kind, causal, n_q, n_kv):
    w, s, g, r, blk, seed = 7, 3, 2, 2, 4, 5
    spec = MaskSpec(kind, causal=causal, window=w, stride=s, n_global=g, n_random=r, block=blk, seed=seed)
    table = M.bigbird_random_table(n_kv, n_kv, blk, r, seed)
    m = dense_mask(spec.mask_mod(n_q, n_kv), n_q, n_kv)
    off = n_kv - n_q  # query row q is position q + off
    ref = torch.tensor([[_rule(kind, q + off, j, causal=causal, w=w, s=s, g=g, blk=blk, table=table)
                         for j in range(n_kv)] for q in range(n_q)])
    assert m.shape == (n_q, n_kv) and torch.equal(m, ref)
    if n_q < n_kv:  # the last rows of the square mask: a chunk after a KV cache sees what the full pass sees
        assert torch.equal(m, dense_mask(spec.mask_mod(n_kv, n_kv), n_kv, n_kv)[off:])
    lay = block_layout(spec.mask_mod(n_q, n_kv), n_q, n_kv, blk)
    pad = torch.zeros(-(-n_q // blk) * blk, -(-n_kv // blk) * blk, dtype=torch.bool)
    pad[:n_q, :n_kv] = ref
    assert torch.equal(lay, pad.view(lay.shape[0], blk, lay.shape[1], blk).any(3).any(1))


def test_causal_factory_with_n_not_m_and_composition():
    c = dense_mask(M.causal(offset=4), 3, 7)
    assert torch.equal(c, causal_mask(3, 7))
    assert c[0].tolist() == [True] * 5 + [False] * 2 and c[-1].all()
    both = dense_mask(M.and_masks(M.causal(), M.sliding_window(3, is_causal=False)), 6, 6)
    i, j = torch.arange(6)[:, None], torch.arange(6)[None, :]
    assert torch.equal(both, (j <= i) & (i - j <= 1))
    either = dense_mask(M.or_masks(M.causal(), M.global_tokens(1)), 4, 4)
    assert torch.equal(either, (j[:, :4] <= i[:4]) | (i[:4] < 1) | (j[:, :4] < 1))


def test_sparse_run_with_fewer_queries_than_keys_matches_dense_reference():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 9, 8), torch.randn(1, 2, 40, 8), torch.randn(1, 2, 40, 8)
    spec = MaskSpec("longformer", window=8, n_global=2, causal=True, block=8)
    ref = reference_attention(q, k, v, mask=dense_mask(spec.mask_mod(9, 40), 9, 40)).out
    torch.testing.assert_close(run_sparse(q, k, v, spec, impl="blocks", block=8).out, ref, atol=1e-5, rtol=1e-5)
