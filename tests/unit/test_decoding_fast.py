"""The fast decode paths write the eager spec's greedy tokens, token for token, cached and uncached."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from viz_core.decoding import fast as FA
from viz_core.decoding.generate import generate as eager_generate
from viz_core.errors import BudgetError, InputError
from viz_core.models.gpt import GPTConfig, TinyGPT, load_tiny_gpt

KINDS = ["numba", "torch", "torch-unfused"]


@pytest.fixture(scope="module")
def trained():
    return load_tiny_gpt("tiny-gpt")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_tokens_equal_eager_spec(trained, kind, use_cache):
    model, tok, _ = trained
    ids = tok.encode("ROMEO:")
    n = 96 if use_cache else 40
    ref = eager_generate(model, ids, n, use_cache=use_cache, count_kv=False).tokens
    fast = FA.fast_model(model, len(ids) + n, kind)
    assert FA.generate(fast, ids, n, use_cache=use_cache) == ref


@pytest.mark.parametrize("kind", KINDS)
def test_logits_match_eager_forward_with_gqa_and_odd_prompt(kind):
    torch.manual_seed(3)
    cfg = GPTConfig(n_layer=2, n_head=4, n_kv_head=2, d_model=32, max_seq_len=64)
    model = TinyGPT(cfg).eval().requires_grad_(False)
    for p in model.parameters():  # non-trivial norms and biases
        p.add_(0.05 * torch.randn_like(p))
    ids = [5, 77, 3, 200, 9, 14, 31]  # 7 tokens: the 4-token block and the single-token remainder
    fast = FA.fast_model(model, 16, kind)
    with torch.no_grad():
        full = model(torch.tensor([ids]))[0][0].double()  # (N, V) eager, every position
    got = [np.asarray(fast.feed(ids[:3]), np.float64).copy()]  # prefill 3, then one at a time
    for t in range(3, len(ids)):
        got.append(np.asarray(fast.feed([ids[t]]), np.float64).copy())
    np.testing.assert_allclose(got[0], full[2].numpy(), atol=2e-5)
    np.testing.assert_allclose(np.stack(got[1:]), full[3:].numpy(), atol=2e-5)
    fast.reset()
    np.testing.assert_allclose(np.asarray(fast.feed(ids), np.float64), full[-1].numpy(), atol=2e-5)


def test_static_cache_limits_and_bad_input(trained):
    model, _, _ = trained
    fast = FA.fast_model(model, 8, "numba")
    with pytest.raises(BudgetError):
        fast.feed(list(range(9)))
    with pytest.raises(InputError):
        FA.generate(fast, [], 3)
    with pytest.raises(InputError):
        FA.fast_model(model, 8, "tpu")
    with pytest.raises(InputError):
        FA.fast_model(model, 8, "torch", compile=True)  # CUDA graphs only on CUDA


def test_speculative_on_the_fast_path_equals_target_greedy(trained):
    from viz_core.decoding.speculative import speculative_generate

    model, tok, _ = trained
    draft = load_tiny_gpt("tiny-gpt-draft")[0]
    ids = tok.encode("ROMEO:")
    n = 60
    ref = eager_generate(model, ids, n, use_cache=True, count_kv=False).tokens
    for gamma in (1, 3, 6):
        tr = speculative_generate(FA.FastSession(FA.NumbaGPT(model, len(ids) + n + gamma + 2)),
                                  FA.FastSession(FA.NumbaGPT(draft, len(ids) + n + gamma + 2)), ids, n, gamma=gamma)
        assert tr.tokens == ref
        assert tr.target_calls < n  # several tokens per target call
