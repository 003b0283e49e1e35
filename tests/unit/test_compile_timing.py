"""Compile time never counts as run time, and FlexAttention sweeps never fall back to eager silently.

torch.compile with ``backend="eager"`` stands in for Inductor (same Dynamo guards, caches and recompile
limit, compiles in milliseconds instead of the 20-30 s FlexAttention needs on this CPU).
"""
from __future__ import annotations

import math

import pytest
import torch

from viz_core.attention import sparse
from viz_core.attention.masks import MaskSpec, dense_mask
from viz_core.measure.timer import compile_count, time_fn


def test_timed_calls_that_recompile_are_discarded():
    f = torch.compile(lambda x: x.sin() + 1, backend="eager", dynamic=False)
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        # the 3rd and 5th calls meet a new shape: Dynamo recompiles inside a timed call
        f(torch.randn(3 + (calls["n"] in (3, 5)) * calls["n"]))

    t = time_fn(fn, warmup=1, repeats=5)
    assert t.repeats == 5 and t.discarded == 2
    assert calls["n"] == 1 + 5 + 2


def test_timing_refuses_when_every_call_compiles():
    f = torch.compile(lambda x: x.cos(), backend="eager", dynamic=False)
    size = iter(range(10, 100))
    with pytest.raises(RuntimeError, match="compile time"):
        time_fn(lambda: f(torch.randn(next(size))), warmup=0, repeats=2)


def _eager_flex(q, k, v, *, block_mask, scale):
    """Stand-in for FlexAttention: dense masked softmax attention (the BlockMask is the dense mask here)."""
    s = q @ k.transpose(-2, -1) * (scale or 1 / math.sqrt(q.shape[-1]))
    return torch.softmax(s.masked_fill(~block_mask, float("-inf")), dim=-1) @ v


def test_flex_sweep_past_the_recompile_limit_compiles_again_and_reports_it(monkeypatch):
    torch._dynamo.reset()
    compiled = torch.compile(_eager_flex, backend="eager", dynamic=False)
    monkeypatch.setattr(sparse, "_compiled_flex", lambda: compiled)
    monkeypatch.setattr(sparse, "flex_block_mask",
                        lambda spec, n_q, n_kv, device: dense_mask(spec.mask_mod(n_q, n_kv), n_q, n_kv))
    monkeypatch.setattr(sparse, "FLEX_RECOMPILE_LIMIT", 2)
    spec = MaskSpec("sliding_window", window=4)
    g = torch.Generator().manual_seed(0)
    for n in (5, 6, 7, 8, 9):  # five shapes, limit 2: Dynamo would fall back to eager from the third on
        q, k, v = (torch.randn(1, 2, n, 8, generator=g) for _ in range(3))
        before = compile_count()
        out, compile_s = sparse.flex_sparse_attention(q, k, v, spec)
        assert compile_count() > before, f"N={n} ran without compiling (silent eager fallback)"
        assert compile_s is not None and compile_s > 0
        ref = _eager_flex(q, k, v, block_mask=dense_mask(spec.mask_mod(n), n), scale=None)
        torch.testing.assert_close(out, ref)
        again, compile_again = sparse.flex_sparse_attention(q, k, v, spec)
        assert compile_again is None  # steady state: no compile, so nothing to report
    torch._dynamo.reset()


def test_flex_reports_a_recompile_after_cache_reset(monkeypatch):
    torch._dynamo.reset()
    compiled = torch.compile(_eager_flex, backend="eager", dynamic=False)
    monkeypatch.setattr(sparse, "_compiled_flex", lambda: compiled)
    monkeypatch.setattr(sparse, "flex_block_mask",
                        lambda spec, n_q, n_kv, device: dense_mask(spec.mask_mod(n_q, n_kv), n_q, n_kv))
    spec = MaskSpec("sliding_window", window=4)
    q, k, v = (torch.randn(1, 1, 6, 4) for _ in range(3))
    assert sparse.flex_sparse_attention(q, k, v, spec)[1] is not None
    assert sparse.flex_sparse_attention(q, k, v, spec)[1] is None
    torch._dynamo.reset()  # evicted (e.g. by another sweep): the next call compiles and must say so
    assert sparse.flex_sparse_attention(q, k, v, spec)[1] is not None
    torch._dynamo.reset()
