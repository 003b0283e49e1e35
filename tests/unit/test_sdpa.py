"""SDPA wrapper: equals the reference (causal, masked, N != M, GQA, fully-masked rows) on every backend."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from viz_core.attention import all_variants
from viz_core.attention.reference import reference_attention
from viz_core.attention.sdpa import available_backends, sdpa_attention, sdpa_with_backend
from viz_core.errors import InputError


@dataclass(frozen=True)
class Cfg:
    causal: bool = False


def _qkv(b=2, h=3, n=7, m=None, d=5, hkv=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    hkv = h if hkv is None else hkv
    return (torch.randn(b, h, n, d, generator=g), torch.randn(b, hkv, m, d, generator=g),
            torch.randn(b, hkv, m, d, generator=g))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n,m", [(1, 1), (7, 7), (5, 11), (33, 33)])
def test_sdpa_equals_reference(causal, n, m):
    q, k, v = _qkv(n=n, m=m)
    ref = reference_attention(q, k, v, causal=causal).out
    out = sdpa_attention(q, k, v, cfg=Cfg(causal=causal)).out
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5


def test_sdpa_with_mask_and_fully_masked_row():
    q, k, v = _qkv(n=6, m=6)

    @dataclass(frozen=True)
    class MaskCfg:
        causal: bool = True
        mask: object = None

    mask = torch.rand(6, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[2] = False  # a row with nothing to attend to -> zeros, as in the reference
    ref = reference_attention(q, k, v, causal=True, mask=mask).out
    out = sdpa_attention(q, k, v, cfg=MaskCfg(mask=mask)).out
    assert torch.isfinite(out).all()
    assert (out - ref).abs().max().item() <= 1e-5
    assert out[:, :, 2].abs().max().item() == 0.0


def test_sdpa_gqa_matches_repeated_heads():
    q, k, v = _qkv(h=4, hkv=2, n=9)
    ref = reference_attention(q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)).out
    out = sdpa_attention(q, k, v, cfg=None).out
    assert (out - ref).abs().max().item() <= 1e-5


def test_cpu_backends_probe_and_agree():
    names = available_backends("cpu")
    assert "math" in names and "flash" in names
    assert "efficient" not in names and "cudnn" not in names  # they raise on CPU
    q, k, v = _qkv(n=13, d=8)
    ref = reference_attention(q, k, v, causal=True).out
    for name in names:
        out = sdpa_with_backend(q, k, v, name, causal=True)
        assert (out - ref).abs().max().item() <= 1e-5, name


def test_unavailable_backend_is_a_clear_error():
    q, k, v = _qkv()
    with pytest.raises(InputError, match="efficient"):
        sdpa_with_backend(q, k, v, "efficient")
    with pytest.raises(InputError, match="Unknown SDPA backend"):
        sdpa_with_backend(q, k, v, "warp-speed")


def test_registered():
    var = all_variants()["sdpa"]
    assert var.exact and var.fn is sdpa_attention
