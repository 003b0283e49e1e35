"""Roofline: placements equal their formulas (written out here), roofs measured on tiny sizes are sane."""
from __future__ import annotations

import math

import pytest
import torch

from viz_core.errors import InputError
from viz_core.measure import roofline as R


def _roofs(peak=100e9, bw=20e9, peak16=300e9):
    return R.Roofs(device="cpu", name="test", threads=1, compute_flops={"float32": peak, "bfloat16": peak16},
                   compute_source={"float32": "given"}, copy_bytes_per_s=bw * 0.9, triad_bytes_per_s=bw)


def test_place_memory_bound_point_equals_formula():
    roofs = _roofs()
    f, q, t = 1e6, 4e6, 1e-3  # intensity 0.25 FLOP/B, far left of the ridge (5 FLOP/B)
    p = R.place(f, q, t, roofs)
    assert p.intensity == pytest.approx(0.25)
    assert p.bound == "memory"
    assert p.roof_time_s == pytest.approx(4e6 / 20e9)
    assert p.attainable_flops == pytest.approx(20e9 * 0.25)
    assert p.achieved_flops == pytest.approx(1e9)
    assert p.pct_of_roof == pytest.approx(100 * (4e6 / 20e9) / 1e-3)
    # % of roof is also achieved / attainable
    assert p.pct_of_roof == pytest.approx(100 * p.achieved_flops / p.attainable_flops)


def test_place_compute_bound_point_and_ridge():
    roofs = _roofs()
    assert roofs.ridge("float32") == pytest.approx(100e9 / 20e9)
    assert roofs.bandwidth_bytes_per_s == 20e9  # the better of copy and triad
    p = R.place(2e9, 1e6, 0.05, roofs)
    assert p.bound == "compute" and p.roof_time_s == pytest.approx(2e9 / 100e9)
    assert p.pct_of_roof == pytest.approx(100 * 0.02 / 0.05)
    assert R.place(2e9, 1e6, 0.05, roofs, "bfloat16").roof_time_s == pytest.approx(2e9 / 300e9)
    assert roofs.peak("float16") == 300e9  # fp16 shares the 16-bit roof
    # exactly on the ridge both limits agree
    assert roofs.attainable(roofs.ridge()) == pytest.approx(100e9)


def test_place_rejects_nonsense():
    with pytest.raises(InputError):
        R.place(1.0, 0.0, 1.0, _roofs())
    with pytest.raises(InputError):
        R.place(1.0, 1.0, 0.0, _roofs())
    with pytest.raises(InputError):
        _roofs().peak("int8")


def test_annotate_rows_uses_each_suites_time_column():
    roofs = _roofs()
    rows = [{"flops": 1e9, "bytes_moved": 1e6, "time_ms": 20.0, "dtype": "float32"},
            {"flops": 1e6, "bytes_moved": 4e6, "median_s": 1e-3},
            {"flops": 1e6, "bytes_moved": 4e6, "note": "skipped"},
            {"label": "no formula"}]
    R.annotate_rows(rows, roofs)
    assert rows[0]["roof_time_s"] == pytest.approx(1e9 / 100e9)
    assert rows[0]["pct_of_roof"] == pytest.approx(100 * 0.01 / 0.02, rel=1e-3)
    assert rows[0]["roof_bound"] == "compute"
    assert rows[1]["pct_of_roof"] == pytest.approx(100 * (4e6 / 20e9) / 1e-3, rel=1e-3)
    assert rows[1]["roof_bound"] == "memory" and rows[1]["intensity_flop_per_byte"] == pytest.approx(0.25)
    assert "roof_time_s" in rows[2] and "pct_of_roof" not in rows[2]  # the limit is known, nothing was timed
    assert "roof_time_s" not in rows[3]


def test_roofs_round_trip_through_dict():
    r = _roofs()
    d = r.to_dict()
    assert d["bandwidth_bytes_per_s"] == 20e9
    assert R.Roofs.from_dict(d) == r


def test_measured_roofs_on_tiny_sizes_are_sane():
    torch.set_num_threads(1)
    roofs = R.measure_roofs("cpu", matmul_n=128, stream_bytes=4 * 2**20, repeats=2)
    for dt in ("float32", "bfloat16"):
        assert 1e7 < roofs.compute_flops[dt] < 1e13, roofs.compute_flops  # 10 MFLOP/s .. 10 TFLOP/s on 1 thread
        assert roofs.compute_source[dt].startswith("measured")
    assert 1e8 < roofs.copy_bytes_per_s < 1e12 and 1e8 < roofs.triad_bytes_per_s < 1e12
    assert roofs.threads == 1 and roofs.measured_at
    assert math.isfinite(roofs.ridge())


def test_measure_matmul_counts_2n_cubed():
    # FLOP/s times our own best time for the same matmul (same clock: this thread's CPU time) gives back 2n³
    import time

    torch.set_num_threads(1)
    n = 128
    fl = R.measure_matmul(n, repeats=5)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(20):
        t0 = time.thread_time()
        a @ b
        best = min(best, time.thread_time() - t0)
    assert 0.2 < fl * max(best, 1e-9) / (2 * n**3) < 5


def test_bad_sizes_are_input_errors():
    with pytest.raises(InputError):
        R.measure_matmul(0)
    with pytest.raises(InputError):
        R.measure_stream(2)


def test_one_cpu_thread_is_timed_in_thread_cpu_time():
    torch.set_num_threads(1)
    assert R.default_clock(torch.device("cpu")) == "thread"
    roofs = R.measure_roofs("cpu", dtypes=("float32",), matmul_n=64, stream_bytes=2**20, repeats=2)
    assert roofs.clock == "thread" and "thread CPU time" in roofs.compute_source["float32"]
    assert R.Roofs.from_dict(roofs.to_dict()) == roofs
