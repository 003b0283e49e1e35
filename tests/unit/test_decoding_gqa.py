"""GQA/MQA conversion by mean-pooling KV heads (Ainslie et al. 2023)."""
import pytest
import torch

from viz_core.decoding.gqa_convert import convert, held_out_loss, uptrain
from viz_core.models.kv_cache import KVCache
from viz_core.errors import InputError
from viz_core.models.gpt import GPTConfig, TinyGPT


def _model():
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(n_layer=2, d_model=64, n_head=4, n_kv_head=4, max_seq_len=64)).eval()


def test_pooling_is_the_group_mean():
    m = _model()
    g = convert(m, 2)
    w = m.blocks[0].attn.wk.weight.view(4, 16, 64)
    torch.testing.assert_close(g.blocks[0].attn.wk.weight.view(2, 16, 64),
                               torch.stack([(w[0] + w[1]) / 2, (w[2] + w[3]) / 2]))  # consecutive heads pooled
    assert g.cfg.n_kv_head == 2 and torch.equal(g.blocks[1].attn.wq.weight, m.blocks[1].attn.wq.weight)


def test_conversion_is_exact_when_heads_in_a_group_agree():
    m = _model()
    with torch.no_grad():
        for blk in m.blocks:
            for lin in (blk.attn.wk, blk.attn.wv):
                w = lin.weight.view(4, 16, 64)
                w[1] = w[0]
                w[3] = w[2]
    x = torch.randint(0, 256, (2, 30))
    with torch.no_grad():
        torch.testing.assert_close(convert(m, 2)(x)[0], m(x)[0], atol=1e-5, rtol=1e-5)


def test_mqa_changes_the_model_and_shrinks_the_cache():
    m = _model()
    mqa = convert(m, 1)
    toks = list(range(256)) * 2
    assert held_out_loss(mqa, toks, 64, 4) != pytest.approx(held_out_loss(m, toks, 64, 4), abs=1e-6)
    full = KVCache.empty(m.cfg, max_len=64).nbytes
    assert KVCache.empty(mqa.cfg, max_len=64).nbytes * 4 == full


def test_uptraining_recovers_quality_and_leaves_the_original_alone():
    m = _model()
    toks = list(b"the cat sat on the mat. " * 40)
    mqa = convert(m, 1)
    before = held_out_loss(mqa, toks, 64, 4)
    w0 = mqa.blocks[0].attn.wk.weight.clone()
    up = uptrain(mqa, toks, 30, lr=3e-3, batch=4, seq=64)
    assert held_out_loss(up, toks, 64, 4) < before - 0.5
    assert torch.equal(mqa.blocks[0].attn.wk.weight, w0) and not up.training


def test_bad_input():
    with pytest.raises(InputError):
        convert(_model(), 3)
    with pytest.raises(InputError):
        held_out_loss(_model(), [1, 2, 3], 64, 4)
