"""RoPE core (viz_core/rope.py): norms, the relative-position property, layouts, 2D axial RoPE, scaling."""
from __future__ import annotations

import math

import pytest
import torch

from viz_core import rope as R
from viz_core.errors import InputError


def _rand(*shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("layout", R.LAYOUTS)
def test_rotation_preserves_norms(layout):
    x = _rand(2, 3, 17, 32)  # (B, H, N, D)
    y = R.rope(x, layout=layout)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    # ... and it actually rotates: position 0 is untouched, later positions are not
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])
    assert (y[..., 1:, :] - x[..., 1:, :]).abs().max() > 1e-3


@pytest.mark.parametrize("layout", R.LAYOUTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_depends_only_on_distance(layout, seed):
    d, n = 64, 24
    q, k = _rand(d, seed=seed), _rand(d, seed=seed + 100)
    for shift in (0, 5, 1000, 10 ** 9):
        pos = torch.arange(n) + shift
        c, s = R.cos_sin(pos, d, dtype=torch.float64)
        qm = R.apply_rope(q.expand(n, d), c, s, layout)  # (N, D): q at every position
        kn = R.apply_rope(k.expand(n, d), c, s, layout)
        scores = qm @ kn.T  # (N, N): score(m, n)
        # float64 angles near position p carry an absolute error of about p·2⁻⁵³ rad, the only error expected
        tol = 1e-10 + 4 * d * (shift + n) * 2.0 ** -53
        for k_shift in (1, 3, 7):  # score(m, n) == score(m + k, n + k)
            torch.testing.assert_close(scores[k_shift:, k_shift:], scores[:-k_shift, :-k_shift], rtol=0, atol=tol)
        if shift == 0:
            ref = scores
        else:  # and equals the scores at the same distances near position 0 (huge positions: float64 angles)
            torch.testing.assert_close(scores, ref, rtol=0, atol=tol)


def test_no_rope_has_no_position_information_but_rope_does():
    d, n = 32, 16
    q, k = _rand(d), _rand(d, seed=3)
    x = torch.stack((q, k)).unsqueeze(1).expand(2, n, d)  # (2, N, D)
    y = R.rope(x)
    scores = y[0] @ y[1].T
    assert scores.diagonal(0).std() < 1e-9 and abs(scores[0, 0] - scores[0, 5]) > 1e-3


def test_layouts_agree_after_permutation():
    x = _rand(2, 2, 9, 16)
    y_int = R.rope(x, layout="interleaved")
    y_half = R.rope(R.interleaved_to_half(x), layout="half")
    torch.testing.assert_close(R.interleaved_to_half(y_int), y_half)
    torch.testing.assert_close(R.half_to_interleaved(R.interleaved_to_half(x)), x)
    # and both layouts give the same scores once q and k are permuted consistently
    q, k = _rand(9, 16, seed=1), _rand(9, 16, seed=2)
    s_int = R.rope(q, layout="interleaved") @ R.rope(k, layout="interleaved").T
    s_half = R.rope(R.interleaved_to_half(q)) @ R.rope(R.interleaved_to_half(k)).T
    torch.testing.assert_close(s_int, s_half)


def test_frequency_table():
    f = R.inv_freq(8, 100.0)
    torch.testing.assert_close(f, torch.tensor([1.0, 100 ** -0.25, 100 ** -0.5, 100 ** -0.75], dtype=torch.float64))
    torch.testing.assert_close(R.wavelengths(8, 100.0), 2 * math.pi / f)


def test_bad_inputs_have_clear_messages():
    with pytest.raises(InputError, match="even"):
        R.inv_freq(7)
    with pytest.raises(InputError, match="even"):
        R.rope(torch.zeros(1, 1, 3, 5))
    with pytest.raises(InputError, match="greater than 1"):
        R.inv_freq(8, 1.0)
    with pytest.raises(InputError, match="greater than 1"):
        R.inv_freq(8, -3.0)
    with pytest.raises(InputError, match="layout"):
        R.rope(torch.zeros(1, 1, 3, 4), layout="diagonal")
    with pytest.raises(InputError, match="exact|rad"):
        R.rope(torch.zeros(1, 1, 2, 4), positions=torch.tensor([0, 2 ** 60]))
    with pytest.raises(InputError, match="multiple of 4"):
        R.apply_rope_2d(torch.zeros(3, 6), torch.zeros(3), torch.zeros(3))
    with pytest.raises(InputError, match="≥ 1"):
        R.scaled_inv_freq(8, 10000.0, R.RopeScaling("linear", 0.5))
    with pytest.raises(InputError, match="Unknown"):
        R.scaled_inv_freq(8, 10000.0, R.RopeScaling("magic", 2.0))


def test_huge_positions_do_not_overflow():
    pos = torch.tensor([R.MAX_POSITION - 2, R.MAX_POSITION - 1])
    R.check_positions(pos)
    a = R.angles(pos, 8)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a[1] - a[0], R.inv_freq(8), rtol=0, atol=1e-3)  # neighbours still differ by θ
    c, s = R.cos_sin(pos, 8)
    assert torch.isfinite(c).all() and torch.isfinite(s).all()


def _angle_error(pos: int, d: int, base: float) -> float:
    """Largest |angle of (cos, sin) from cos_sin − pos·θᵢ| over the pairs, against 60-digit arithmetic."""
    import math

    import mpmath

    mpmath.mp.dps = 60
    c, s = R.cos_sin(torch.tensor([pos]), d, base, dtype=torch.float64)
    worst = 0.0
    for i in range(d // 2):
        a = mpmath.mpf(pos) * mpmath.mpf(base) ** (-mpmath.mpf(2 * i) / d)
        ce, se, ci, si = float(mpmath.cos(a)), float(mpmath.sin(a)), float(c[0, i]), float(s[0, i])
        worst = max(worst, abs(math.atan2(si * ce - ci * se, ci * ce + si * se)))
    return worst


@pytest.mark.parametrize("d,base", [(8, 10000.0), (64, 10000.0), (128, 500000.0)])
def test_positions_are_bounded_where_angles_stay_exact_to_1e_3_rad(d, base):
    for pos in (R.MAX_POSITION - 1, R.MAX_POSITION // 3, 10 ** 9):
        assert _angle_error(pos, d, base) <= R.MAX_ANGLE_ERROR
    # far enough beyond the bound the angles are measurably wrong, and such positions are refused
    beyond = 10 ** 15 + 123_457  # not a round power of ten: those happen to multiply exactly
    assert _angle_error(beyond, d, base) > R.MAX_ANGLE_ERROR
    with pytest.raises(InputError, match="rad"):
        R.check_positions(torch.tensor([beyond]))
    with pytest.raises(InputError):
        R.check_positions(torch.tensor([R.MAX_POSITION]))


# ---------------------------------------------------------------------------------------------- 2D axial RoPE

def test_2d_reduces_to_1d_along_one_axis():
    d, n = 16, 10
    x = _rand(3, n, d)
    rows, zeros = torch.arange(n), torch.zeros(n, dtype=torch.long)
    y = R.apply_rope_2d(x, rows, zeros)
    torch.testing.assert_close(y[..., : d // 2], R.rope(x[..., : d // 2]))  # rows: 1D RoPE on the first half
    torch.testing.assert_close(y[..., d // 2:], x[..., d // 2:])  # column 0: second half untouched
    y = R.apply_rope_2d(x, zeros, rows, layout="interleaved")
    torch.testing.assert_close(y[..., d // 2:], R.rope(x[..., d // 2:], layout="interleaved"))
    torch.testing.assert_close(y[..., : d // 2], x[..., : d // 2])


def test_2d_score_depends_only_on_row_and_column_offsets():
    d = 32
    rows, cols = R.grid_positions(5, 7)
    assert rows.tolist()[:8] == [0] * 7 + [1] and cols.tolist()[:8] == [0, 1, 2, 3, 4, 5, 6, 0]
    q, k = _rand(d), _rand(d, seed=9)
    n = rows.numel()
    qs = R.apply_rope_2d(q.expand(n, d), rows, cols)
    ks = R.apply_rope_2d(k.expand(n, d), rows, cols)
    torch.testing.assert_close(qs.norm(dim=-1), q.norm().expand(n))
    s = qs @ ks.T  # (N, N)
    by_offset: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in range(n):
            key = (int(rows[i] - rows[j]), int(cols[i] - cols[j]))
            by_offset.setdefault(key, float(s[i, j]))
            assert abs(by_offset[key] - float(s[i, j])) < 1e-9
    assert len(by_offset) == 9 * 13  # all offsets seen, and they differ
    assert abs(by_offset[(1, 0)] - by_offset[(0, 1)]) > 1e-6 or abs(by_offset[(2, 0)] - by_offset[(0, 2)]) > 1e-6


def test_axial_angles_split_rows_and_columns():
    a = R.axial_angles(torch.tensor([2]), torch.tensor([5]), 16, 100.0)
    torch.testing.assert_close(a[0, :4], 2 * R.inv_freq(8, 100.0))
    torch.testing.assert_close(a[0, 4:], 5 * R.inv_freq(8, 100.0))


# ------------------------------------------------------------------------------------------------ scaling

D, BASE, L, S = 64, 10000.0, 512, 4.0


def _freqs(method, factor=S):
    return R.scaled_inv_freq(D, BASE, R.RopeScaling(method, factor, L))


def test_factor_one_changes_nothing():
    for m in R.SCALING_METHODS:
        torch.testing.assert_close(_freqs(m, 1.0), R.inv_freq(D, BASE), rtol=0, atol=0)
    assert R.attention_factor(R.RopeScaling("yarn", 1.0, L)) == 1.0


def test_position_interpolation_maps_the_long_context_onto_the_trained_one():
    theta = R.inv_freq(D, BASE)
    pos = torch.arange(0, int(S * L), 7)
    # PI claims: position p in the extended context gets exactly the angle of p/s in the trained one ...
    torch.testing.assert_close(R.angles(pos, D, freqs=_freqs("linear")), R.angles(pos / S, D, freqs=theta))
    # ... so the longest context never reaches an angle beyond the trained maximum ...
    assert (R.angles(torch.tensor([S * L]), D, freqs=_freqs("linear")) <= L * theta + 1e-9).all()
    # ... and it does NOT claim to keep angles inside the trained context: every pair changes.
    assert (_freqs("linear") < theta).all()


def test_ntk_keeps_the_highest_frequency_and_interpolates_the_lowest():
    theta, f = R.inv_freq(D, BASE), _freqs("ntk")
    assert f[0] == theta[0] == 1.0  # angles of pair 0 identical at every position, inside the context or not
    torch.testing.assert_close(f[-1], theta[-1] / S)  # the lowest frequency is divided by exactly s
    ratio = f / theta
    assert (ratio[1:] < 1).all() and (ratio.diff() < 0).all()  # in between: a smooth (geometric) spread


def test_yarn_keeps_high_frequencies_exactly_and_interpolates_low_ones():
    theta, f = R.inv_freq(D, BASE), _freqs("yarn")
    turns = L / R.wavelengths(D, BASE)
    sc = R.RopeScaling("yarn", S, L)
    fast, slow = turns > sc.beta_fast, turns < sc.beta_slow
    assert fast.any() and slow.any() and (~fast & ~slow).any()
    assert torch.equal(f[fast], theta[fast])  # identical angles at every position for these pairs
    pos = torch.arange(L)
    torch.testing.assert_close(R.angles(pos, D, freqs=f)[:, fast], R.angles(pos, D)[:, fast], rtol=0, atol=0)
    torch.testing.assert_close(f[slow], theta[slow] / S)  # like PI
    mid = ~fast & ~slow
    assert ((f[mid] > theta[mid] / S) & (f[mid] < theta[mid])).all()
    assert R.attention_factor(sc) == pytest.approx(0.1 * math.log(S) + 1)


def test_scaled_freqs_feed_cos_sin_and_keep_the_relative_property():
    f = _freqs("yarn")
    q, k = _rand(D), _rand(D, seed=5)
    pos = torch.arange(40)
    c, s = R.cos_sin(pos, D, dtype=torch.float64, freqs=f)
    sc = R.apply_rope(q.expand(40, D), c, s) @ R.apply_rope(k.expand(40, D), c, s).T
    torch.testing.assert_close(sc[3:, 3:], sc[:-3, :-3])


def test_2d_rope_is_what_the_tiny_vit_runs():
    from viz_core.models.vit import ViTConfig, apply_rope2d, rope2d_tables

    cfg = ViTConfig(image_size=28, patch=4, d_model=64, n_head=4, pos="rope2d")  # 7×7 grid, head dim 16
    x = _rand(2, 4, 1 + 49, 16, dtype=torch.float32)  # (B, H, 1+P, hd): CLS first
    rows, cols = R.grid_positions(7, 7)
    ours = R.apply_rope_2d(x[..., 1:, :], rows, cols, cfg.rope_base)
    torch.testing.assert_close(apply_rope2d(x, rope2d_tables(cfg))[..., 1:, :], ours)
