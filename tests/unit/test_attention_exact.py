"""GQA / MQA / differential attention against the reference; the exact variants against float64 attention
written in the test live in test_attention_float64.py."""
import pytest
import torch

from viz_core.attention import all_variants
from viz_core.attention.grouped import gqa_attention, mqa_attention, pool_heads
from viz_core.attention.reference import reference_attention
from viz_core.attention.types import AttnConfig

SIZES = [(1, 1), (1, 8), (7, 1), (37, 5), (100, 16)]  # (N, D): N=1, D=1, N not a multiple of blocks


def _qkv(n, d, h=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, h, n, d, generator=g) for _ in range(3))


# full / causal / sdpa / flash_tiled and the sparse variants are checked against float64 attention written in
# the test (not against reference_attention, which full and causal call): tests/unit/test_attention_float64.py


def test_registry_declares_every_variant_of_this_lab():
    v = all_variants()
    for name in ("full", "causal", "sliding_window", "strided", "longformer", "bigbird", "block_sparse", "linear",
                 "performer", "linformer", "gqa", "mqa", "differential", "hierarchical"):
        assert name in v, name
        assert v[name].paper and v[name].time_complexity and v[name].memory_complexity
    exact = {n for n, x in v.items() if x.exact}
    assert {"full", "sliding_window", "bigbird"} <= exact and "linear" not in exact


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [1, 19])
def test_gqa_with_all_heads_equals_mha(causal, n):
    q, k, v = _qkv(n, 8, h=4)
    out = gqa_attention(q, k, v, cfg=AttnConfig(kv_heads=4, causal=causal))
    ref = reference_attention(q, k, v, causal=causal)
    torch.testing.assert_close(out.out, ref.out, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(out.weights, ref.weights, atol=2e-6, rtol=1e-5)


def test_mqa_equals_gqa_with_one_group_and_shares_one_kv_head():
    q, k, v = _qkv(21, 8, h=4)
    mqa = mqa_attention(q, k, v, cfg=AttnConfig(causal=True)).out
    gqa1 = gqa_attention(q, k, v, cfg=AttnConfig(kv_heads=1, causal=True)).out
    torch.testing.assert_close(mqa, gqa1)
    # with one pooled K/V head, it equals reference attention against that head repeated
    k1, v1 = pool_heads(k, 1).expand_as(k), pool_heads(v, 1).expand_as(v)
    torch.testing.assert_close(mqa, reference_attention(q, k1, v1, causal=True).out, atol=2e-6, rtol=1e-5)


def test_gqa_takes_fewer_kv_heads_directly():
    q, _, _ = _qkv(10, 8, h=6)
    k, v = (torch.randn(2, 2, 10, 8) for _ in range(2))
    out = gqa_attention(q, k, v, cfg=AttnConfig(kv_heads=2)).out
    ref = reference_attention(q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1)).out
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


def test_gqa_rejects_uneven_groups():
    from viz_core.errors import InputError

    q, k, v = _qkv(5, 4, h=4)
    with pytest.raises(InputError, match="evenly"):
        gqa_attention(q, k, v, cfg=AttnConfig(kv_heads=3))


def test_differential_with_zero_lambda_is_softmax_on_half_the_dims():
    q, k, v = _qkv(16, 8)
    out = all_variants()["differential"].fn(q, k, v, cfg=AttnConfig(lam=0.0)).out
    ref = reference_attention(q[..., :4], k[..., :4], v).out
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)
    o = all_variants()["differential"].fn(q, k, v, cfg=AttnConfig(lam=0.5))
    torch.testing.assert_close(o.weights.sum(-1), torch.full((2, 3, 16), 0.5), atol=1e-5, rtol=0)


def test_differential_rejects_odd_head_size():
    from viz_core.errors import InputError

    q, k, v = _qkv(4, 5)
    with pytest.raises(InputError, match="odd"):
        all_variants()["differential"].fn(q, k, v, cfg=AttnConfig())
