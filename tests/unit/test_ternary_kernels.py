"""Ternary GEMV kernels equal the dequantized float matmul (float64 reference written here), odd shapes."""
from __future__ import annotations

import numpy as np
import pytest

from viz_core.compression import ternary_kernels as tk
from viz_core.errors import InputError

pytestmark = pytest.mark.skipif(not tk.kernels_available(), reason="numba missing")

SHAPES = [(1, 1), (3, 5), (7, 13), (37, 53), (64, 130), (129, 255), (5, 1027), (3, 4096)]


def _ternary(rng, out, n, p_zero=0.3):
    q = rng.choice(np.array([-1, 0, 1], np.int8), size=(out, n), p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2])
    return q.astype(np.int8)


def _reference(q, gamma, x):
    """y = x · (γ·Q)ᵀ in float64: the dequantized float matmul, written independently of the kernels."""
    w = q.astype(np.float64) * np.float64(np.float32(gamma))
    return np.asarray(x, np.float64) @ w.T


def _tol(q, x):
    # fp32 accumulation over n terms: bound by n·eps·Σ|w||x| with margin
    return 1e-6 * q.shape[1] * (np.abs(x).max() + 1) + 1e-6


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", tk.KERNELS)
def test_kernel_equals_dequantized_matmul(shape, kernel):
    rng = np.random.default_rng(hash(shape) % 2**32)
    q = _ternary(rng, *shape)
    gamma = 0.037
    m = tk.TernaryMatrix(q, gamma)
    x = rng.standard_normal(shape[1]).astype(np.float32)
    y = m.matvec(x, kernel)
    assert y.shape == (shape[0],) and y.dtype == np.float32
    np.testing.assert_allclose(y, _reference(q, gamma, x), rtol=0, atol=_tol(q, x) * gamma)


@pytest.mark.parametrize("kernel", tk.KERNELS)
def test_batched_tokens(kernel):
    rng = np.random.default_rng(1)
    q = _ternary(rng, 33, 70)
    x = rng.standard_normal((5, 70)).astype(np.float32) * 3
    y = tk.TernaryMatrix(q, 1.5).matvec(x, kernel)
    assert y.shape == (5, 33)
    np.testing.assert_allclose(y, _reference(q, 1.5, x), rtol=0, atol=_tol(q, x) * 1.5)


def test_lut_reference_equals_matmul_for_every_group_size():
    rng = np.random.default_rng(2)
    q = _ternary(rng, 19, 23)
    x = rng.standard_normal(23)
    for g in range(1, 6):
        y = tk.lut_gemv_reference(tk.pack_lut(q, g), x, 0.5, g)
        np.testing.assert_allclose(y, _reference(q, 0.5, x), rtol=1e-12, atol=1e-12)


def test_all_zero_and_all_sign_rows():
    q = np.array([[0] * 9, [1] * 9, [-1] * 9], np.int8)
    x = np.arange(9, dtype=np.float32)
    m = tk.TernaryMatrix(q, 2.0)
    for k in tk.KERNELS:
        np.testing.assert_allclose(m.matvec(x, k), [0.0, 72.0, -72.0], atol=1e-4)


def test_packing_round_trips_and_sizes():
    rng = np.random.default_rng(3)
    q = _ternary(rng, 6, 11)
    p = tk.pack_2bit(q)
    assert p.shape == (6, 3) and p.dtype == np.uint8
    np.testing.assert_array_equal(tk.unpack_2bit(p, 11), q)
    idx = tk.pack_lut(q, 4)
    assert idx.shape == (6, 3) and int(idx.max()) < 81
    pats = tk.lut_patterns(4)
    rebuilt = pats[idx].reshape(6, 12)[:, :11]  # each index names the pattern of its group
    np.testing.assert_array_equal(rebuilt, q)
    m = tk.TernaryMatrix(q)
    assert m.weight_bytes("int8") == 66 + 4 and m.weight_bytes("2bit") == 18 + 4


def test_patterns_are_every_ternary_pattern_once():
    pats = tk.lut_patterns(3)
    assert pats.shape == (27, 3)
    assert len({tuple(r) for r in pats}) == 27 and set(np.unique(pats)) == {-1, 0, 1}


def test_bad_input_is_refused():
    with pytest.raises(InputError):
        tk.TernaryMatrix(np.array([[2, 0]]))
    with pytest.raises(InputError):
        tk.TernaryMatrix(np.zeros(4))
    m = tk.TernaryMatrix(np.zeros((2, 4), np.int8))
    with pytest.raises(InputError):
        m.matvec(np.zeros(5, np.float32))
    with pytest.raises(InputError):
        m.matvec(np.zeros(4, np.float32), "fp4")
    with pytest.raises(InputError):
        tk.pack_lut(np.zeros((2, 4), np.int8), 6)


@pytest.mark.parametrize("kernel", tk.KERNELS)
def test_ternary_gpt_through_kernel_equals_float_ternary_model(kernel):
    import torch

    from viz_core.compression.quantize import load_ternary
    from viz_core.compression.ternary_model import kernel_model

    model = load_ternary()[0]
    fast = kernel_model(model, kernel)
    idx = torch.tensor([list(b"ROMEO: But soft, what light")])
    with torch.no_grad():
        ref, got = model(idx)[0].double(), fast(idx)[0].double()
    assert (got - ref).abs().max().item() < 1e-3 * ref.abs().max().item()
    assert torch.equal(got.argmax(-1), ref.argmax(-1))


def test_kernel_linear_refuses_float_weights():
    import torch

    from viz_core.compression.ternary_model import KernelLinear

    with pytest.raises(InputError):
        KernelLinear(torch.nn.Linear(4, 3), "int8")


def test_kernel_lab_measure_and_claim_22():
    from viz_core.claims import Verdict
    from viz_core.labs import low_bit_kernels as kl

    rows = kl.measure([(64, 96)], cycle_mib=0.05, repeats=1)
    assert [r["kernel"] for r in rows] == ["fp32", "int8", "2bit", "lut"]
    assert rows[0]["weight_bytes"] == 4 * 64 * 96 and rows[2]["weight_bytes"] == 64 * 24 + 4
    assert all(r["copies_cycled"] >= 2 and r["median_ms"] > 0 for r in rows)
    res = kl._from_rows(rows, "64x96", "measured live", None)
    assert "ns per lookup" in kl.lut_explanation(res)

    assert all(r["max_rel_err"] < 1e-5 for r in rows)  # every kernel's output vs the float64 product
    assert kl.lut_claim(res).claim.id == 22

    def fake(lut_ms, err=1e-7):  # fp32 4 ms, int8 1 ms, 2-bit 0.8 ms, LUT as given
        ms = np.array([4.0, 1.0, 0.8, lut_ms])
        return kl.KernelResult("4096x4096", ("fp32", "int8", "2bit", "lut"), ms, ms * 0, ms * 0 + 1, 4.0 / ms, ms,
                               4.0 / ms,
                               np.array([0, 1e-7, 1e-7, err]), 1, "test", None)
    assert kl.lut_claim(fake(2.0)).verdict is Verdict.HOLDS  # exact, and faster than fp32
    assert kl.lut_claim(fake(8.0)).verdict is Verdict.PARTLY  # exact, but slower than fp32
    assert kl.lut_claim(fake(2.0, err=1e-2)).verdict is Verdict.NOT_HERE  # not the product
    with pytest.raises(InputError):
        kl.measure([(4, 4)], kernels=("fp64",))


def test_balanced_prefixes_recover_every_packed_byte():
    """The 2-bit kernel's identity, checked for all 81 bytes a ternary row can pack: with g = f − 85 and
    Dₛ = rint(g/4ˢ), the digits are qₛ = Dₛ − 4·Dₛ₊₁ (D₄ = 0), so Σ qₛxₛ = Σ Dₛ(xₛ − 4xₛ₋₁)."""
    q = tk.lut_patterns(4)  # (81, 4): every pattern of four ternary weights
    f = tk.pack_2bit(q.reshape(81, 4)).astype(np.float64)[:, 0]  # one byte per pattern (n = 4, n4 = 1)
    d = np.stack([np.rint((f - 85) / 4.0 ** s) for s in range(4)] + [np.zeros(81)], axis=1)
    np.testing.assert_array_equal(d[:, :4] - 4 * d[:, 1:], q)


def test_2bit_kernel_at_decode_width_with_large_activations():
    rng = np.random.default_rng(4)
    q = _ternary(rng, 4, 4096)
    x = (rng.standard_normal(4096) * 50).astype(np.float32)
    np.testing.assert_allclose(tk.TernaryMatrix(q, 0.25).matvec(x, "2bit"), _reference(q, 0.25, x),
                               rtol=0, atol=_tol(q, x) * 0.25)
