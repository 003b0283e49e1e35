"""Generation with and without the KV cache: identical tokens, logits within fp32 rounding, counted K/V work."""
import numpy as np
import pytest
import torch

from viz_core.decoding.generate import check_length, encode_prompt, generate, pick_token
from viz_core.errors import InputError
from viz_core.models.gpt import ByteTokenizer, GPTConfig, TinyGPT


def _model(**kw):
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(n_layer=2, d_model=64, n_head=4, max_seq_len=128, **kw)).eval()


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cached_equals_uncached(n_kv_head, temperature):
    m = _model(n_kv_head=n_kv_head)
    ids = list(b"To be, or not")
    c = generate(m, ids, 40, use_cache=True, temperature=temperature, top_k=20, seed=3, record_logits=True)
    u = generate(m, ids, 40, use_cache=False, temperature=temperature, top_k=20, seed=3, record_logits=True)
    assert c.tokens == u.tokens
    np.testing.assert_allclose(c.logits, u.logits, atol=1e-4, rtol=0)
    # and the cached run's logits are those of one full forward pass over the final sequence
    with torch.no_grad():
        full, _ = m(torch.tensor([ids + c.tokens]))
    np.testing.assert_allclose(c.logits, full[0, len(ids) - 1:-1].numpy(), atol=1e-4, rtol=0)


def test_sampling_really_samples():
    m = _model()
    ids = list(b"abc")
    a = generate(m, ids, 30, use_cache=True, temperature=1.0, seed=1).tokens
    b = generate(m, ids, 30, use_cache=True, temperature=1.0, seed=2).tokens
    g = generate(m, ids, 30, use_cache=True, temperature=0.0).tokens
    assert a != b and a != g


@pytest.mark.parametrize("p,n", [(1, 100), (7, 20)])
def test_kv_projection_counts(p, n):
    m = _model()
    ids = list(range(65, 65 + p))
    u = generate(m, ids, n, use_cache=False)
    c = generate(m, ids, n, use_cache=True)
    assert int(u.kv_rows.sum()) == sum(p + i for i in range(n))
    assert int(c.kv_rows.sum()) == p + n - 1
    if p == 1 and n == 100:
        assert (int(u.kv_rows.sum()), int(c.kv_rows.sum())) == (5050, 100)


def test_cache_bytes_follow_formula():
    m = _model(n_kv_head=2)
    ids = list(b"hello")
    c = generate(m, ids, 10, use_cache=True)
    cfg = m.cfg
    tokens = len(ids) + np.arange(10)
    np.testing.assert_array_equal(c.cache_bytes, 2 * cfg.n_layer * cfg.n_kv_head * cfg.head_dim * tokens * 4)


def test_pick_token_greedy_and_topk():
    logits = torch.tensor([0.0, 3.0, 1.0, 2.0])
    assert pick_token(logits, temperature=0.0, top_k=0, u=0.5) == 1
    picks = {pick_token(logits, temperature=1.0, top_k=2, u=u) for u in np.linspace(0, 0.999, 50)}
    assert picks == {1, 3}


def test_bad_input():
    tok = ByteTokenizer()
    with pytest.raises(InputError, match="empty"):
        encode_prompt(tok, "")
    assert encode_prompt(tok, "é😀\x00") == list("é😀\x00".encode())  # no unknown characters for bytes
    with pytest.raises(InputError, match="context"):
        check_length(200, 100, 256)
    check_length(200, 100, 256, allow_beyond_context=True)
    with pytest.raises(InputError):
        check_length(5, 0, 256)
    with pytest.raises(InputError):
        generate(_model(), [], 3, use_cache=True)


def test_interleaved_generation_counts_each_run_separately():
    from viz_core.decoding.generate import generate_interleaved

    m = _model()
    ids = list(b"abcde")
    c, u = generate_interleaved(m, ids, 12)
    assert c.tokens == u.tokens == generate(m, ids, 12, use_cache=True).tokens
    assert int(c.kv_rows.sum()) == 5 + 11 and int(u.kv_rows.sum()) == sum(5 + i for i in range(12))
    np.testing.assert_allclose(c.logits, u.logits, atol=1e-4, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cached_equals_uncached_on_cuda():
    m = _model(n_kv_head=2).cuda()
    ids = list(b"To be, or not")
    c = generate(m, ids, 30, use_cache=True, record_logits=True)
    u = generate(m, ids, 30, use_cache=False, record_logits=True)
    assert c.tokens == u.tokens
    np.testing.assert_allclose(c.logits, u.logits, atol=1e-3, rtol=0)
