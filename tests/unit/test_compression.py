"""Compression: ternary/int8 quantisers and packing, layer and token dropping on the trained tiny models."""
import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from viz_core.compression import quantize as qz
from viz_core.labs import low_bit
from viz_core.compression import redundancy as red
from viz_core.labs import drop_redundancy
from viz_core.errors import InputError
from viz_core.models.gpt import load_tiny_gpt
from viz_core.models.vit import load_tiny_vit


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 23), st.integers(0, 2**31 - 1))
def test_pack_unpack_ternary_roundtrip(rows, cols, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(-1, 2, (rows, cols), generator=g).to(torch.int8)
    packed = qz.pack_ternary(q)
    assert packed.dtype == torch.uint8 and packed.shape == (rows, (cols + 3) // 4)
    assert torch.equal(qz.unpack_ternary(packed, cols), q)


def test_absmean_ternary_and_int8():
    w = torch.randn(64, 48)
    q, gamma = qz.ternary_quantize(w)
    assert set(q.unique().tolist()) <= {-1, 0, 1}
    assert gamma == pytest.approx(float(w.abs().mean()))
    # round(W/γ) clipped: entries with |W| < γ/2 become 0, beyond 1.5γ saturate at ±1
    assert torch.equal(q[w.abs() < gamma / 2], torch.zeros_like(q[w.abs() < gamma / 2]))
    q8, s = qz.int8_quantize(w)
    assert (q8.float() * s[:, None] - w).abs().max() <= s.max() / 2 + 1e-6


def test_bitlinear_uses_ternary_weights_and_passes_gradients():
    lin = qz.BitLinear(8, 4, bias=False)
    x = torch.randn(3, 8, requires_grad=True)
    lin(x).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
    q, g = qz.ternary_quantize(lin.weight.detach())
    expected = torch.nn.functional.linear(qz.activation_int8(x.detach()), q.float() * g)
    torch.testing.assert_close(lin(x.detach()), expected)


def test_storage_bytes():
    model, _, _ = load_tiny_gpt()
    n = sum(l.weight.numel() for _, l in qz.quantizable_linears(model))
    assert qz.storage_bytes(model, "fp32") == 4 * n
    assert qz.storage_bytes(model, "ternary (post-training)") < n / 4 + 1000


def test_trained_ternary_checkpoint_is_really_ternary():
    model, _, cfg, meta = qz.load_ternary()
    for _, lin in qz.quantizable_linears(model):
        w = lin.weight
        gamma = w.abs().max()
        assert set(torch.unique(torch.round(w / gamma)).tolist()) <= {-1.0, 0.0, 1.0}
    assert meta["steps"] > 0 and "qat_val_loss_with_int8_activations" in meta


def test_skip_list_equals_manual_computation_and_is_real():
    """model(idx, skip_attn=S) against the pre-norm block written out here, in float64."""
    model, tok, _ = load_tiny_gpt()
    idx = torch.tensor([tok.encode("To be, or not to be: that is the question.")])
    with torch.no_grad():
        full = model(idx)[0]
        torch.testing.assert_close(model(idx, skip_attn=())[0], full)
        skipped = model(idx, skip_attn={1, 3})[0]
        m = copy.deepcopy(model).double()
        x = m.tok_emb(idx)
        cos, sin = m.rope_tables(0, idx.shape[1], x.device, x.dtype)
        for i, blk in enumerate(m.blocks):
            if i not in (1, 3):
                q, k, v = blk.attn.qkv(blk.ln1(x), cos, sin)
                k, v = k.repeat_interleave(m.cfg.group_size, 1), v.repeat_interleave(m.cfg.group_size, 1)
                s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
                s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), float("-inf"))
                o = (s.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
                x = x + blk.attn.wo(o)
            x = x + blk.mlp(blk.ln2(x))
        ref = m.head(m.ln_f(x))
    torch.testing.assert_close(skipped.double(), ref, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(skipped, full)
    with pytest.raises(InputError):
        model(idx, skip_attn={7})


def test_gpt_intermediates_shapes_and_similarities():
    model, tok, cfg = load_tiny_gpt()
    idx = torch.tensor([tok.encode("Now is the winter of our discontent")] * 2)
    b, n = idx.shape
    with torch.no_grad():
        logits, cache, inter = model(idx, intermediates=True, return_attn=True)
        torch.testing.assert_close(logits, model(idx)[0])
        # the last hidden state is what the head reads
        torch.testing.assert_close(model.head(model.ln_f(inter.hiddens[-1])), logits)
    assert cache is None and len(inter.hiddens) == cfg.n_layer + 1 and len(inter.post_attn) == cfg.n_layer
    assert all(h.shape == (b, n, cfg.d_model) for h in inter.hiddens + inter.post_attn)
    assert len(inter.attn) == cfg.n_layer and all(a.shape == (b, cfg.n_head, n, n) for a in inter.attn)
    assert model(idx, intermediates=True)[2].attn is None
    sims = red.sublayer_similarities(model, idx)
    x, y = inter.hiddens[0], inter.post_attn[0]
    manual = (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))
    torch.testing.assert_close(sims[0][0], manual.flatten(), atol=1e-5, rtol=1e-5)


def test_vit_intermediates_and_token_drop_argument():
    from viz_core.models.data import load_fashion_test_subset
    from viz_core.models.vit import TokenDrop, normalize_images

    model, cfg, _ = load_tiny_vit()
    x = normalize_images(load_fashion_test_subset()[0][:4])
    with torch.no_grad():
        logits, inter = model(x, intermediates=True)
        assert len(inter.hiddens) == cfg.n_layer + 1 and inter.attn is None
        assert inter.kept.shape == (4, cfg.grid**2)
        keep = torch.arange(0, cfg.grid**2, 2).expand(4, -1)  # every other patch, chosen by the caller
        drop = TokenDrop(after=2, select=lambda h, cls_attn: keep)
        part, inter = model(x, token_drop=drop, intermediates=True, return_attn=True)
        assert torch.equal(inter.kept, keep)
        n_keep = 1 + keep.shape[1]
        assert [h.shape[1] for h in inter.hiddens] == [cfg.n_tokens] * 3 + [n_keep] * (cfg.n_layer - 2)
        assert inter.attn[1].shape[-1] == cfg.n_tokens and inter.attn[2].shape[-1] == n_keep
        # manual: run the first two blocks, gather, run the rest
        h = inter.hiddens[2]
        idx = torch.cat((torch.zeros(4, 1, dtype=torch.long), keep + 1), 1)
        h = h.gather(1, idx[..., None].expand(-1, -1, h.shape[-1]))
        for blk in model.blocks[2:]:
            h, _ = blk(h)
        torch.testing.assert_close(part, model.head(model.ln_f(h[:, 0])))


def test_layer_drop_result():
    res = drop_redundancy.layer_drop(drop_redundancy.LayerDropConfig(windows=2, seq=64))
    L = res.n_layer
    assert res.loss.shape == (L + 1,) and sorted(res.drop_order.tolist()) == list(range(L))
    assert res.loss[0] == res.loss_reverse[0] and res.loss[L] == pytest.approx(res.loss_reverse[L])
    assert np.all((res.attn_similarity > -1) & (res.attn_similarity <= 1))
    assert res.kv_bytes_per_token[0] > res.kv_bytes_per_token[-1] == 0
    assert res.attn_similarity[res.drop_order[0]] == res.attn_similarity.max()


def test_similarity_selection_drops_duplicates_first():
    torch.manual_seed(0)
    x = torch.randn(1, 1 + 6, 16)
    x[0, 4] = x[0, 2] * 1.01  # token 3 (patch index) duplicates patch 1
    kept = red._select(x, 5, "similarity", None, torch.Generator())
    dropped = set(range(6)) - set(kept[0].tolist())
    assert dropped & {1, 3} and len(dropped) == 1


def test_vit_keep_all_equals_model_and_dropping_is_real():
    from viz_core.models.data import load_fashion_test_subset
    from viz_core.models.vit import normalize_images

    model, cfg, _ = load_tiny_vit()
    imgs, _ = load_fashion_test_subset()
    x = normalize_images(imgs[:8])
    full, kept = red.vit_forward_dropping(model, x, cfg.grid**2, 1, "similarity")
    torch.testing.assert_close(full, model(x), atol=1e-5, rtol=1e-5)
    part, kept = red.vit_forward_dropping(model, x, 10, 1, "cls-attention")
    assert kept.shape == (8, 10) and not torch.allclose(part, full)


def test_token_drop_and_claims():
    res = drop_redundancy.token_drop(drop_redundancy.TokenDropConfig(n_images=40, keep_fractions=(1.0, 0.5, 0.25)))
    accs = {m: a[0] for m, a in res.accuracy.items()}
    assert len(set(accs.values())) == 1  # keeping every token: all methods equal the model
    assert res.forward_flops[0] > res.forward_flops[1] > res.forward_flops[2]
    for m in red.TOKEN_METHODS:
        assert res.example_kept[m].sum() == round(res.grid**2 * 0.5)
    c = drop_redundancy.token_claim(res)
    assert c.claim.id == 18 and "fewer forward FLOPs" in c.measured


def test_quant_run_small():
    res = low_bit.run(low_bit.QuantConfig(windows=2, seq=64, layer_in=256, layer_out=128))
    s = {n: i for i, n in enumerate(res.schemes)}
    assert res.val_loss[s["int8"]] == pytest.approx(res.val_loss[s["fp32"]], abs=0.02)
    assert res.val_loss[s["ternary (post-training)"]] > res.val_loss[s["fp32"]]
    assert res.weight_error[s["fp32"]] == 0
    k = {n: i for i, n in enumerate(res.kernels)}
    assert res.kernel_max_err[k["fp32 matmul"]] == 0 and res.kernel_max_err[k["bf16 matmul"]] < 0.05
    assert low_bit.bitnet_claim(res).claim.id == 19
