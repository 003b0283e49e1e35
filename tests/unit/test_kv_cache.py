"""KV cache: cached decoding equals the uncached forward pass; truncate/clone; byte counts."""
from __future__ import annotations

import pytest
import torch

from viz_core.models.kv_cache import KVCache, cache_bytes
from viz_core.errors import BudgetError, InputError
from viz_core.models.gpt import GPTConfig, TinyGPT


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_cached_equals_uncached(n_kv_head):
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=2, n_head=4, n_kv_head=n_kv_head, d_model=32, max_seq_len=64)
    model = TinyGPT(cfg).eval()
    idx = torch.randint(0, 256, (2, 20))
    full, _ = model(idx)
    cache = KVCache.empty(cfg, batch=2, max_len=32)
    # prefill 7 tokens, then one at a time, then a chunk of 5
    pieces = [idx[:, :7]] + [idx[:, i:i + 1] for i in range(7, 15)] + [idx[:, 15:20]]
    outs = []
    for p in pieces:
        lg, cache = model(p, cache=cache)
        outs.append(lg)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 20


def test_return_attn_matches_sdpa_path_and_is_causal():
    torch.manual_seed(1)
    cfg = GPTConfig(n_layer=2, n_head=4, n_kv_head=2, d_model=32)
    model = TinyGPT(cfg).eval()
    idx = torch.randint(0, 256, (1, 12))
    a, _ = model(idx)
    b, _, attn = model(idx, return_attn=True)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert len(attn) == 2 and attn[0].shape == (1, 4, 12, 12)
    w = attn[1][0, 3]
    assert torch.allclose(w.sum(-1), torch.ones(12))
    assert torch.all(w.triu(1) == 0)


def test_truncate_clone_roll_back():
    torch.manual_seed(2)
    cfg = GPTConfig(n_layer=1, n_head=2, n_kv_head=1, d_model=16)
    model = TinyGPT(cfg).eval()
    idx = torch.randint(0, 256, (1, 10))
    cache = KVCache.empty(cfg, 1, 16)
    _, cache = model(idx[:, :6], cache=cache)
    snap = cache.clone()
    lg_a, _ = model(idx[:, 6:8], cache=cache)  # accepted path
    _, cache = model(torch.tensor([[1, 2, 3]]), cache=cache.truncate(6))  # "rejected" tokens ...
    cache.truncate(6)  # ... rolled back
    lg_b, _ = model(idx[:, 6:8], cache=cache)
    torch.testing.assert_close(lg_a, lg_b)
    assert snap.length == 6 and not snap.k.data_ptr() == cache.k.data_ptr()
    with pytest.raises(InputError):
        cache.truncate(99)


def test_bytes_and_overflow():
    cfg = GPTConfig(n_layer=3, n_head=4, n_kv_head=2, d_model=32)
    c = KVCache.empty(cfg, batch=2, max_len=10)
    assert c.nbytes == cache_bytes(3, 2, 2, 10, 8) == 2 * 3 * 2 * 2 * 10 * 8 * 4
    assert c.used_nbytes == 0
    model = TinyGPT(cfg).eval()
    model(torch.zeros(2, 4, dtype=torch.long), cache=c)
    assert c.used_nbytes == c.nbytes * 4 // 10
    with pytest.raises(BudgetError):
        model(torch.zeros(2, 7, dtype=torch.long), cache=c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cached_equals_uncached_on_cuda(dtype):
    from viz_core.models.gpt import load_tiny_gpt

    model, tok, cfg = load_tiny_gpt("tiny-gpt", device="cuda", dtype=dtype)
    idx = torch.tensor([tok.encode("HAMLET:\nTo be, or not to be")], device="cuda")
    full, _ = model(idx)
    cache = KVCache.empty(cfg, 1, 64, device="cuda", dtype=dtype)
    a, cache = model(idx[:, :10], cache=cache)
    outs = [a] + [model(idx[:, i:i + 1], cache=cache)[0] for i in range(10, idx.shape[1])]
    tol = 1e-4 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(torch.cat(outs, 1).float(), full.float(), atol=tol * 10, rtol=tol)
    _, _, attn = model(idx, return_attn=True)
    assert attn[0].device.type == "cuda"
