"""Every exact attention variant against attention written here in float64 (numpy), masks written here too.

Nothing from viz_core computes the expected values: the masks follow the documented definitions
(``AttnConfig``: window |i-j| <= w//2, causal 0 <= i-j < w; queries are the LAST N of M positions when N != M),
and softmax(QKᵀ/√d) V is evaluated row by row in float64. Only BigBird's random block table is taken from
the library (it is seeded randomness, not arithmetic).
Also here: causal hierarchical attention and causal Performer against float64 loops of their definitions.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from viz_core.attention import all_variants
from viz_core.attention.types import AttnConfig


def attention64(q, k, v, allowed, scale=None):
    """q (B,H,N,D), k (B,H,M,D), v (B,H,M,Dv) numpy float64; allowed (N, M) bool. Empty rows give zeros."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                js = np.nonzero(allowed[i])[0]
                if not len(js):
                    continue
                s = np.array([q[b, h, i] @ k[b, h, j] for j in js]) * scale
                w = np.exp(s - s.max())
                out[b, h, i] = (w / w.sum()) @ v[b, h, js]
    return out


def mask64(kind, n, m, cfg, table=None):
    """(N, M) allowed pairs from the definitions; query i sits at absolute position i + (M - N)."""
    off = m - n
    i = np.arange(n)[:, None] + off
    j = np.arange(m)[None, :]
    d = i - j
    causal = (j <= i) if cfg.causal else np.ones((n, m), bool)
    if cfg.causal:
        window = (d >= 0) & (d < cfg.window)
    else:
        window = np.abs(d) <= cfg.window // 2
    glob = (i < cfg.n_global) | (j < cfg.n_global)
    if kind in ("full", "sdpa", "flash_tiled"):
        return causal
    if kind == "causal":
        return j <= i
    if kind == "sliding_window":
        return window
    if kind == "strided":
        return (window | (d % cfg.stride == 0)) & causal
    if kind == "longformer":
        return (window | glob) & causal
    if kind == "bigbird":
        rnd = table[(i // cfg.block), (j // cfg.block)]
        return (window | glob | rnd) & causal
    if kind == "block_sparse":
        qb, kb = i // cfg.block, j // cfg.block
        return ((qb == kb) | (kb % cfg.stride == cfg.stride - 1)) & causal
    raise AssertionError(kind)


EXACT = ["full", "causal", "sdpa", "flash_tiled", "sliding_window", "strided", "longformer", "bigbird",
         "block_sparse"]
SIZES = [(1, 1), (7, 3), (37, 5), (70, 16)]  # (N, D): N=1, D=1, N not a multiple of any block


def _qkv(n, d, m=None, h=2, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    return (torch.randn(2, h, n, d, generator=g, dtype=dtype), torch.randn(2, h, m, d, generator=g, dtype=dtype),
            torch.randn(2, h, m, d + 1, generator=g, dtype=dtype))


def test_every_exact_variant_is_covered():
    assert {n for n, v in all_variants().items() if v.exact} == set(EXACT)


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("n,d", SIZES)
@pytest.mark.parametrize("causal", [False, True])
def test_exact_variant_equals_float64_attention(name, n, d, causal):
    cfg = AttnConfig(causal=causal, window=6, stride=4, n_global=2, n_random=1, block=8, sparse_impl="blocks",
                     block_q=16, block_k=8)
    q, k, v = _qkv(n, d)
    table = None
    if name == "bigbird":
        from viz_core.attention.masks import bigbird_random_table

        table = bigbird_random_table(n, n, cfg.block, cfg.n_random, cfg.seed).numpy()
    expect = attention64(q.numpy(), k.numpy(), v.numpy(), mask64(name, n, n, cfg, table))
    out = all_variants()[name].fn(q, k, v, cfg=cfg).out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)


@pytest.mark.parametrize("impl", ["dense", "blocks"])
@pytest.mark.parametrize("name", ["sliding_window", "strided", "longformer", "block_sparse"])
def test_sparse_implementations_equal_float64(name, impl):
    cfg = AttnConfig(causal=True, window=10, stride=3, n_global=3, block=4, sparse_impl=impl)
    q, k, v = _qkv(45, 8)
    expect = attention64(q.numpy(), k.numpy(), v.numpy(), mask64(name, 45, 45, cfg))
    out = all_variants()[name].fn(q, k, v, cfg=cfg).out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)


# ---------------------------------------------------------------- causal with N != M: the last N of M
@pytest.mark.parametrize("n,m", [(1, 9), (5, 23), (16, 40)])
@pytest.mark.parametrize("name", ["full", "sdpa", "flash_tiled"])
def test_causal_queries_are_the_last_n_of_m_positions(name, n, m):
    cfg = AttnConfig(causal=True, block_q=4, block_k=8)
    q, k, v = _qkv(n, 8, m=m)
    expect = attention64(q.numpy(), k.numpy(), v.numpy(), mask64("full", n, m, cfg))
    out = all_variants()[name].fn(q, k, v, cfg=cfg).out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)


def test_reference_causal_with_n_not_m():
    from viz_core.attention.reference import reference_attention

    q, k, v = _qkv(6, 4, m=11)
    expect = attention64(q.numpy(), k.numpy(), v.numpy(), mask64("full", 6, 11, AttnConfig(causal=True)))
    out = reference_attention(q, k, v, causal=True).out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)


@pytest.mark.slow
def test_flex_causal_with_n_not_m():
    """FlexAttention (compiled, 20-30 s on CPU): the causal mask puts the queries at the end, like the rest."""
    from viz_core.attention.masks import MaskSpec
    from viz_core.attention.sparse import run_sparse

    n, m = 40, 200
    q, k, v = _qkv(n, 16, m=m, h=1)
    cfg = AttnConfig(causal=True, window=64)
    expect = attention64(q.numpy(), k.numpy(), v.numpy(), mask64("sliding_window", n, m, cfg))
    out = run_sparse(q, k, v, MaskSpec("sliding_window", causal=True, window=64), impl="flex").out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-5, rtol=1e-4)


def test_flash_block_sizes_come_from_the_config(monkeypatch):
    from viz_core.attention import flash

    seen = []
    real = flash.flash_forward

    def spy(*a, **kw):
        seen.append((kw["block_q"], kw["block_k"]))
        return real(*a, **kw)

    monkeypatch.setattr(flash, "flash_forward", spy)
    q, k, v = _qkv(33, 4)
    for bq, bk in ((1, 1), (5, 7), (64, 64)):
        o = all_variants()["flash_tiled"].fn(q, k, v, cfg=AttnConfig(block_q=bq, block_k=bk))
        assert seen[-1] == (bq, bk) and (o.extras["block_q"], o.extras["block_k"]) == (bq, bk)
        expect = attention64(q.numpy(), k.numpy(), v.numpy(), np.ones((33, 33), bool))
        np.testing.assert_allclose(o.out.double().numpy(), expect, atol=3e-6, rtol=1e-5)


# ---------------------------------------------------------------- hierarchical, causal and not
def hierarchical64(q, k, v, block, levels, causal):
    """Per query, from the module's definition: exact keys in blocks p-1..p+1 (causal: j <= i); one summary
    (mean key, mean value, logit + log size) per farther segment at the coarsest level whose parent is still
    a neighbour of the query's; causal summaries only of segments wholly before the query's neighbourhood."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    B, H, n, d = q.shape
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    covered = np.zeros((n, n), int)
    for i in range(n):
        p = i // block
        fine = [j for j in range(n) if abs(j // block - p) <= 1 and (not causal or j <= i)]
        segs = []  # (token ids)
        for c in range(levels):
            size = block * 2**c
            pc = p >> c
            for s in range(-(-n // size)):
                if abs(pc - s) <= 1:
                    continue
                if c < levels - 1 and abs((p >> (c + 1)) - (s >> 1)) > 1:
                    continue
                if causal and s >= pc - 1:
                    continue
                segs.append(list(range(s * size, min(n, (s + 1) * size))))
        for j in fine:
            covered[i, j] += 1
        for seg in segs:
            covered[i, seg] += 1
        for b in range(B):
            for h in range(H):
                logits = [q[b, h, i] @ k[b, h, j] / math.sqrt(d) for j in fine]
                vals = [v[b, h, j] for j in fine]
                for seg in segs:
                    logits.append(q[b, h, i] @ k[b, h, seg].mean(0) / math.sqrt(d) + math.log(len(seg)))
                    vals.append(v[b, h, seg].mean(0))
                w = np.exp(np.array(logits) - max(logits))
                out[b, h, i] = (w / w.sum()) @ np.array(vals)
    return out, covered


@pytest.mark.parametrize("levels", [0, 1, 2, 3])
@pytest.mark.parametrize("causal", [True, False])
def test_hierarchical_equals_float64_definition(levels, causal):
    from viz_core.attention.hierarchical import hierarchical_attention

    n, block = 53, 4
    q, k, v = _qkv(n, 6, h=1)
    expect, covered = hierarchical64(q.numpy(), k.numpy(), v.numpy(), block, levels, causal)
    out = hierarchical_attention(q, k, v, cfg=AttnConfig(block=block, levels=levels, causal=causal)).out
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)
    if levels:  # with summaries every allowed token is covered exactly once (fine or inside one summary)
        allowed = np.tril(np.ones((n, n), int)) if causal else np.ones((n, n), int)
        np.testing.assert_array_equal(covered, allowed)


# ---------------------------------------------------------------- Performer, causal
def test_performer_causal_equals_float64_prefix_sums_of_its_features():
    """FAVOR+ features φ(x) = exp(ωᵀx − |x|²/2)/√m with x = q·d^(-1/4), then causal linear attention
    out_i = Σ_{j≤i} φ(q_i)·φ(k_j) v_j / Σ_{j≤i} φ(q_i)·φ(k_j), all in float64 here."""
    from viz_core.attention.performer import orthogonal_gaussian, performer_attention

    n, d, m = 37, 8, 64
    q, k, v = _qkv(n, d, h=2)
    q, k = q * 0.5, k * 0.5
    omega = orthogonal_gaussian(m, d, 3).double().numpy()  # seeded random directions, drawn by the library
    r = d ** -0.25

    def phi(x):
        x = np.asarray(x, np.float64) * r
        return np.exp(x @ omega.T - 0.5 * (x * x).sum(-1, keepdims=True)) / math.sqrt(m)

    pq, pk, vv = phi(q.numpy()), phi(k.numpy()), v.double().numpy()
    expect = np.zeros(vv.shape[:-2] + (n, vv.shape[-1]))
    for i in range(n):
        a = np.einsum("bhf,bhjf->bhj", pq[:, :, i], pk[:, :, :i + 1])  # (B, H, i+1)
        expect[:, :, i] = np.einsum("bhj,bhjd->bhd", a, vv[:, :, :i + 1]) / a.sum(-1, keepdims=True)
    for form, chunk in (("chunked", 8), ("chunked", 64), ("prefix", 1)):
        out = performer_attention(q, k, v, cfg=AttnConfig(features=m, seed=3, causal=True, linear_form=form,
                                                          chunk=chunk)).out
        np.testing.assert_allclose(out.double().numpy(), expect, atol=2e-5, rtol=1e-4)
    # and it estimates causal softmax attention: error shrinks with more features
    exact = attention64(q.numpy(), k.numpy(), v.numpy(), np.tril(np.ones((n, n), bool)))

    def err(feat):
        o = performer_attention(q, k, v, cfg=AttnConfig(features=feat, seed=0, causal=True)).out.double().numpy()
        return np.linalg.norm(o - exact) / np.linalg.norm(exact)

    assert err(1024) < err(16)


# ---------------------------------------------------------------- half inputs, strides
@pytest.mark.parametrize("form", ["prefix", "chunked"])
@pytest.mark.parametrize("dtype,n", [(torch.float16, 50_000), (torch.bfloat16, 2048)])
def test_causal_linear_attention_sums_half_inputs_in_float32(form, dtype, n):
    """Half inputs: the running sums Σφ(k) grow like N (≈ 1.5·N here), past fp16's 65504 at N = 50,000; summed
    in float32, the output is within half-precision rounding of float64 on the same inputs."""
    from viz_core.attention.linear import linear_attention

    q, k, v = (x.to(dtype) for x in _qkv(n, 4, h=1))
    out = linear_attention(q, k, v, cfg=AttnConfig(causal=True, linear_form=form, chunk=64)).out
    assert out.dtype == dtype
    q64, k64, v64 = (x.double().numpy() for x in (q, k, v))
    phi = lambda x: np.where(x > 0, x + 1, np.exp(x))  # noqa: E731  elu(x) + 1
    pq, pk = phi(q64), phi(k64)
    num = np.cumsum(pk[..., :, :, None] * v64[..., :, None, :], axis=2)  # (B, H, N, F, Dv)
    den = np.cumsum(pk, axis=2)
    expect = np.einsum("bhnf,bhnfd->bhnd", pq, num) / np.einsum("bhnf,bhnf->bhn", pq, den)[..., None]
    got = out.double().numpy()
    assert np.isfinite(got).all()
    err = np.abs(got - expect).max() / np.abs(expect).max()
    assert err < 1e-2, err


def test_gqa_accepts_non_contiguous_q():
    """GQA on a transposed q equals float64 attention. Not a guard against ``.view`` in grouped.py: splitting one
    dimension (H -> G, H/G) is a valid view for every stride, so ``.view`` and ``.reshape`` agree on any 4-D q
    (checked on transposed, permuted, expanded and sliced q, k, v with every reshape turned back into view)."""
    from viz_core.attention.grouped import gqa_attention

    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 9, 4, 8, generator=g).transpose(1, 2)  # (B, H, N, D) view with swapped strides
    k, v = torch.randn(2, 2, 9, 8, generator=g), torch.randn(2, 2, 9, 8, generator=g)
    assert not q.is_contiguous()
    out = gqa_attention(q, k, v, cfg=AttnConfig(kv_heads=2, causal=True)).out
    kk, vv = (x.repeat_interleave(2, dim=1).numpy() for x in (k, v))
    expect = attention64(q.numpy(), kk, vv, np.tril(np.ones((9, 9), bool)))
    np.testing.assert_allclose(out.double().numpy(), expect, atol=3e-6, rtol=1e-5)
