"""Sentences pages show about a result are computed from that result (change the data, the sentence follows)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from viz_core.labs import drop_redundancy, low_bit, speculative, trained_vit


def test_most_confused_names_the_largest_off_diagonal_cells():
    classes = ("a", "b", "c")
    conf = np.array([[50, 7, 0], [1, 40, 0], [0, 12, 30]])
    s = trained_vit.most_confused(conf, classes, k=2)
    assert s.startswith("Most frequent confusions here: c taken for b (12×); a taken for b (7×)")
    assert "95% of the 20 errors" in s
    assert trained_vit.most_confused(np.diag([5, 5, 5]), classes) == "No test image was misclassified."


def test_layer_sentence_follows_the_similarities():
    s = drop_redundancy.layer_sentence(SimpleNamespace(attn_similarity=np.array([0.99, 0.61, 0.97, 0.995])))
    assert "layer 1 changes its input most (cosine 0.610)" in s and "layer 3 least (0.995)" in s


def test_qat_sentence_from_losses():
    res = SimpleNamespace(schemes=("fp32", "ternary (post-training)", "ternary (trained, STE)"),
                          val_loss=np.array([1.5, 3.0, 1.53]))
    s = low_bit.qat_sentence(res)
    assert "+2.0% vs fp32" in s and "+100.0%" in s


def test_speculative_cost_sentence_from_times():
    # plain: 64 target steps in 0.64 s -> 10 ms each; speculative: 20 verify calls of 12 ms and 80 draft calls
    # of 2 ms (20% of a plain step, with 5% of the parameters): a round = 4 × 2 + 12 = 20 ms for 3.2 tokens,
    # against 32 ms plain: 1.6×
    res = SimpleNamespace(plain_s=0.64, plain_target_calls=64, spec_s=0.40, target_calls=20, draft_calls=80,
                          draft_params=50, target_params=1000, gamma=4, tokens_per_target_call=3.2, speedup=1.6,
                          device="cpu", draft_ran_as="eager", draft_step_s=0.002, verify_s=0.012)
    s = speculative.cost_sentence(res)
    assert "20.0% of a plain target step" in s and "5% of the target's parameters" in s
    assert "1.20× a plain step" in s and "per-call cost" in s and "≈ 1.60×" in s
    gpu = SimpleNamespace(**{**vars(res), "draft_step_s": 0.0004, "device": "cuda"})
    assert "follows model size" in speculative.cost_sentence(gpu)
    compiled = SimpleNamespace(**{**vars(res), "draft_step_s": 0.0002, "draft_ran_as": "compiled"})
    s = speculative.cost_sentence(compiled)  # 0.2 ms per draft step = 2% of a plain step
    assert "2.0% of a plain target step" in s and "one compiled call per step" in s
    assert "not measured" in speculative.cost_sentence(SimpleNamespace(**{**vars(res), "verify_s": float("nan")}))
