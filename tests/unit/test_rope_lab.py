"""Page-facing RoPE runners (viz_core/labs/rope.py, rope_scaling.py): results are real measurements with the right properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from viz_core import rope as R
from viz_core.labs import rope as L
from viz_core.labs import rope_scaling as LS
from viz_core.claims import Verdict
from viz_core.errors import InputError


def test_rotation_angle_is_measured_from_the_vectors():
    for pos in (0, 3, 1000, 10 ** 12):
        r = L.rotation(L.RotationConfig(head_dim=16, pair=2, position=pos))
        tol = 1e-9 + r.angle * 2.0 ** -40  # float64 angle m·θ ≈ 1e11 rad carries ~1e-5 rad of rounding
        diff = abs(r.measured_angle - r.angle % (2 * math.pi))
        assert min(diff, 2 * math.pi - diff) < tol
        assert r.norm_after == pytest.approx(r.norm_before, rel=1e-12)
        assert np.hypot(*r.after) == pytest.approx(np.hypot(*r.before), rel=1e-12)
    assert r.clock_angles.shape == (48, 8)
    np.testing.assert_allclose(r.clock_angles[5], (10 ** 12 + 5) * r.freqs, rtol=1e-15)


def test_rotation_frames_agree_with_a_float64_rotation():
    """Every animation frame: the pair after RoPE at m equals the 2×2 rotation by m·θ (numpy, float64)."""
    r = L.rotation(L.RotationConfig(head_dim=16, pair=3, position=1000, n_frames=12, seed=1))
    theta = 10000.0 ** (-2 * 3 / 16)
    assert list(r.positions) == list(range(1000, 1012))
    for k, m in enumerate(r.positions):
        a = m * theta
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        np.testing.assert_allclose(r.frame_pair[k], rot @ r.before, atol=1e-12)
        assert r.frame_angle[k] == pytest.approx(a, rel=1e-15)
        diff = abs(r.frame_measured[k] - a % (2 * math.pi))
        assert min(diff, 2 * math.pi - diff) < 1e-9
        assert r.frame_norm[k] == pytest.approx(r.norm_before, rel=1e-12)


def test_spectrum_counts_pairs_that_turn_within_the_context():
    sp = L.spectrum(L.SpectrumConfig(head_dim=64, base=10000.0, context=4096))
    assert sp.n_full_turn == int((2 * math.pi * 10000 ** (np.arange(32) * 2 / 64) <= 4096).sum())
    assert sp.wavelengths[0] == pytest.approx(2 * math.pi)


def test_relative_property_rope_vs_additive_embeddings():
    rel = L.relative(L.RelativeConfig(head_dim=32, n=24, device="cpu"))
    dev = dict(zip(rel.methods, rel.diag_deviation / rel.score_scale))
    spread = dict(zip(rel.methods, rel.diag_spread))
    assert dev["rope"] < 1e-5 and rel.rope_deviation_float64 / rel.score_scale < 1e-12
    assert dev["sinusoidal"] > 1e-2 and dev["learned"] > 1e-2  # absolute positions leak in
    assert dev["none"] < 1e-6 and spread["none"] < 1e-5 < spread["rope"]  # constant: no position information
    assert rel.float32_angle_error < 1e-4  # small positions: float32 angles are fine


def test_huge_offsets_float64_angles_keep_the_property_float32_angles_do_not():
    rel = L.relative(L.RelativeConfig(head_dim=32, n=16, offset=10 ** 9, device="cpu"))
    assert rel.diag_deviation[0] / rel.score_scale < 1e-4
    assert rel.float32_angle_error > 1e-2 * rel.score_scale


def test_scaling_summary_matches_what_each_method_claims():
    sc = LS.scaling(LS.ScalingConfig(head_dim=64, train_context=2048, factor=4.0))
    i = {m: k for k, m in enumerate(sc.methods)}
    assert sc.unseen_pairs[i["none"]] > 0  # plain RoPE past L: unseen rotations
    assert sc.unseen_pairs[i["linear"]] == 0 and sc.unseen_pairs[i["yarn"]] == 0
    assert sc.inside_changed[i["none"]] == 0 and sc.inside_changed[i["linear"]] == 32
    assert sc.inside_changed[i["yarn"]] < 32 and sc.inside_changed[i["ntk"]] == 31
    np.testing.assert_allclose(sc.freq_ratio[i["linear"]], 0.25)
    assert sc.attention_factor[i["yarn"]] == pytest.approx(0.1 * math.log(4) + 1)
    # decay: the mean similarity starts at 1 (a vector with itself) and the RoFormer bound at (d/2+1)/2
    assert np.allclose(sc.decay_mean[:, 0], 1.0) and np.allclose(sc.decay_bound[:, 0], 16.5)
    assert (sc.decay_mean[i["none"], -50:].mean() < 0.5)


def test_decay_mean_equals_the_closed_form():
    f = R.inv_freq(16)
    r = torch.tensor([0, 1, 7, 100])
    mean, _ = LS.decay_curves(16, f, r)
    np.testing.assert_allclose(mean, (torch.cos(r[:, None].double() * f).sum(-1) * 2 / 16).numpy(), atol=1e-12)


def test_claim16_verdict_is_computed():
    rel = L.relative(L.RelativeConfig(head_dim=32, n=16, device="cpu"))
    sc = LS.scaling(LS.ScalingConfig(head_dim=32, train_context=256))
    c = LS.claim16(rel, sc)
    assert c.claim.id == 16 and c.verdict is Verdict.PARTLY and "pairs" in c.measured
    sc1 = LS.scaling(LS.ScalingConfig(head_dim=32, base=2.0, train_context=4096, factor=2.0))  # every pair turns
    assert LS.claim16(rel, sc1).verdict is Verdict.HOLDS
    broken = L.RelativeResult(**{**rel.__dict__, "diag_deviation": rel.diag_deviation + rel.score_scale * 0.1})
    assert LS.claim16(broken, sc).verdict is Verdict.NOT_HERE


def _tiny_model():
    from viz_core.models.gpt import GPTConfig, TinyGPT

    torch.manual_seed(0)
    return TinyGPT(GPTConfig(n_layer=2, n_head=2, n_kv_head=1, d_model=32, max_seq_len=16)).eval()


def test_model_forward_with_unit_scaling_is_the_plain_forward():
    model = _tiny_model()
    idx = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        ref, _ = model(idx)
        torch.testing.assert_close(model(idx, rope_scaling=R.RopeScaling())[0], ref)
        pi = model(idx, rope_scaling=R.RopeScaling("linear", 4.0, 16))[0]
    assert (pi - ref).abs().max() > 1e-4  # scaling really changes the computation


def test_long_context_evaluation_shapes_and_bins():
    model = _tiny_model()
    tokens = torch.randint(0, 256, (2, 65))
    res = LS.evaluate_long_context(model, tokens, 16, LS.LongContextConfig(factor=4.0, n_bins=8), torch.device("cpu"))
    assert res.loss.shape == (4, 8) and res.eval_len == 64 and res.n_tokens == 128
    assert np.isfinite(res.loss).all() and (res.loss_beyond > 0).all()
    # the 'none' row equals the model's own cross-entropy
    with torch.no_grad():
        logits, _ = model(tokens[:, :-1])
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none").mean(0)
    assert res.loss_inside[0] == pytest.approx(float(ce[:16].mean()), rel=1e-5)


def test_bad_inputs():
    with pytest.raises(InputError, match="even"):
        L.rotation(L.RotationConfig(head_dim=7))
    with pytest.raises(InputError, match="greater than 1"):
        L.spectrum(L.SpectrumConfig(base=0.5))
    with pytest.raises(InputError, match="pair"):
        L.rotation(L.RotationConfig(head_dim=8, pair=4))
    with pytest.raises(InputError, match="exact to"):
        L.relative(L.RelativeConfig(offset=2 ** 53))
    with pytest.raises(InputError, match="≥ 1"):
        LS.scaling(LS.ScalingConfig(factor=0.5))
    with pytest.raises(InputError):
        LS.long_context_gpt(LS.LongContextConfig(factor=100.0))


def test_patch_rope_2d_vs_1d_neighbours():
    pr = L.patch_rope("chelsea", L.PatchRopeConfig(image_size=224, patch_size=16, row=6, col=6, base=100.0))
    assert pr.grid == (14, 14) and pr.image.shape == (224, 224, 3)
    s2, s1 = pr.score_2d, pr.score_1d
    assert s2[6, 6] == pytest.approx(1.0) and s1[6, 6] == pytest.approx(1.0)  # a patch with itself
    assert pr.offset_only_error < 1e-12  # the map only depends on (Δrow, Δcol)
    # 2D: the patch below is as near as the patch to the right (same |offset|, symmetric axes) ...
    assert s2[7, 6] == pytest.approx(s2[6, 7], abs=1e-12)
    # ... in 1D reading order the patch below is 14 tokens away and looks much farther than the one to the right
    assert s1[7, 6] < s1[6, 7] - 0.3
    # the 2D map is separable: row term + column term (the '+' shape of axial RoPE)
    np.testing.assert_allclose(s2[3, 9] + s2[6, 6], s2[3, 6] + s2[6, 9], atol=1e-12)


def test_patch_rope_bad_inputs():
    with pytest.raises(InputError, match="outside"):
        L.patch_rope("chelsea", L.PatchRopeConfig(row=20))
    with pytest.raises(InputError, match="multiple of 4"):
        L.patch_rope("chelsea", L.PatchRopeConfig(head_dim=30))
    with pytest.raises(InputError, match="patches"):
        L.patch_rope("chelsea", L.PatchRopeConfig(image_size=512, patch_size=4))
    with pytest.raises(InputError):
        L.patch_rope(b"not an image", L.PatchRopeConfig())


def test_bench_suite_rope_runs_small():
    import argparse

    from viz_core.cli.suites import rope as suite

    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    suite.add_arguments(p)
    args = p.parse_args(["--lengths", "32", "--factors", "", "--repeats", "2"])
    rows = suite.run(args, lambda msg: None)
    assert [r["layout"] for r in rows] == list(R.LAYOUTS)
    assert all(r["time_s"] > 0 and r["N"] == 32 for r in rows)


def test_model_forward_scaling_equals_scaled_tables_by_hand_and_with_a_cache():
    """YaRN through TinyGPT.forward == the blocks run on cos/sin built here; chunked with a cache == at once."""
    from viz_core.models.kv_cache import KVCache

    model = _tiny_model()
    cfg = model.cfg
    idx = torch.randint(0, 256, (2, 40))
    sc = R.RopeScaling("yarn", 4.0, 16)
    with torch.no_grad():
        out = model(idx, rope_scaling=sc)[0]
        theta = R.scaled_inv_freq(cfg.head_dim, cfg.rope_base, sc)  # float64 (hd/2,)
        ang = torch.arange(40, dtype=torch.float64)[:, None] * theta[None, :]
        a = 0.1 * math.log(4.0) + 1.0
        cos, sin = (ang.cos() * a).float(), (ang.sin() * a).float()
        x = model.tok_emb(idx)
        for blk in model.blocks:
            x, _, _ = blk(x, cos, sin)
        torch.testing.assert_close(out, model.head(model.ln_f(x)), atol=1e-5, rtol=1e-5)
        cache = KVCache.empty(cfg, batch=2, max_len=64)
        first, cache = model(idx[:, :25], cache=cache, rope_scaling=sc)
        second, cache = model(idx[:, 25:], cache=cache, rope_scaling=sc)
    torch.testing.assert_close(torch.cat([first, second], 1), out, atol=1e-5, rtol=1e-5)
