"""Temperature / top-k / top-p: the distributions are what the definitions say."""
from __future__ import annotations

import pytest
import torch

from viz_core.errors import InputError
from viz_core.sampling import SamplingConfig, describe, filtered_probs, sample

LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])


def test_temperature_one_is_softmax_and_zero_is_greedy():
    torch.testing.assert_close(filtered_probs(LOGITS, SamplingConfig()), torch.softmax(LOGITS, -1))
    p0 = filtered_probs(LOGITS, SamplingConfig(temperature=0.0))
    assert p0.tolist() == [1, 0, 0, 0, 0, 0]


def test_temperature_sharpens_and_flattens():
    ent = [describe(LOGITS, SamplingConfig(temperature=t)).entropy_bits for t in (0.3, 1.0, 3.0)]
    assert ent[0] < ent[1] < ent[2]


def test_top_k_keeps_k():
    p = filtered_probs(LOGITS, SamplingConfig(top_k=2))
    assert (p > 0).sum() == 2 and torch.isclose(p.sum(), torch.tensor(1.0))
    q = torch.softmax(LOGITS, -1)[:2]
    torch.testing.assert_close(p[:2], q / q.sum())


def test_top_p_smallest_set_reaching_mass():
    q = torch.softmax(LOGITS, -1)  # ≈ [.53, .20, .12, .07, .03, .004]
    for top_p in (0.5, 0.6, 0.8, 0.95):
        p = filtered_probs(LOGITS, SamplingConfig(top_p=top_p))
        k = int((p > 0).sum())
        assert q[:k].sum() >= top_p - 1e-6 and (k == 1 or q[: k - 1].sum() < top_p)


def test_seeded_sampling_is_repeatable_and_follows_distribution():
    cfg = SamplingConfig(temperature=1.0, top_k=3)
    g = torch.Generator().manual_seed(5)
    draws = sample(LOGITS.expand(4000, -1), cfg, g)
    assert set(draws.tolist()) <= {0, 1, 2}
    freq = torch.bincount(draws, minlength=6).float() / 4000
    torch.testing.assert_close(freq, filtered_probs(LOGITS, cfg), atol=0.03, rtol=0)
    g2 = torch.Generator().manual_seed(5)
    assert torch.equal(draws, sample(LOGITS.expand(4000, -1), cfg, g2))


@pytest.mark.parametrize("kw", [{"temperature": -1}, {"top_k": -2}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_settings(kw):
    with pytest.raises(InputError):
        SamplingConfig(**kw)
