"""FlashAttention page runners: step-through arrays, the measured memory story, recorded runs, claim verdicts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from viz_core.labs import flash as flash_lab, flash_steps
from viz_core.cli.runner import main as bench_main
from viz_core.claims import Verdict
from viz_core.errors import InputError
from viz_core.plots import flash as plots, flash_walk as walk


@pytest.mark.parametrize("cfg", [
    flash_steps.StepConfig(),
    flash_steps.StepConfig(n=1, d=1, block_q=64, block_k=64),
    flash_steps.StepConfig(n=13, d=3, block_q=4, block_k=5, causal=True),
    flash_steps.StepConfig(n=10, d=7, block_q=20, block_k=3, causal=False, seed=3),
])
def test_step_through_is_exact_and_counts_match(cfg):
    res = flash_steps.step_through(cfg)
    assert res.max_abs_error <= 1e-5
    np.testing.assert_allclose(res.tiled_out, res.reference_out, atol=1e-5)
    assert (res.tiled_read, res.tiled_write) == (res.formula_read, res.formula_write)
    assert res.read_bytes.sum() == res.tiled_read and res.write_bytes.sum() == res.tiled_write
    assert res.block_q <= cfg.n and res.block_k <= cfg.n
    # the last state equals the final output, every row finished
    last = flash_steps.state_at(res, res.n_steps - 1)
    assert (last["status"] == 2).all()
    np.testing.assert_allclose(last["o"], res.reference_out, atol=1e-5)
    # the browser walk: one frame per step, each frame's O, m and l equal the state after that step
    frames = walk.walk_figure(res).to_dict()["frames"]
    assert len(frames) == res.n_steps
    for k in range(res.n_steps):
        want = flash_steps.state_at(res, k)
        o, grid, tile, m, ll = (d for d in frames[k]["data"])
        np.testing.assert_allclose(np.array(o["z"], dtype=float), np.round(want["o"], 3), atol=1e-9)
        np.testing.assert_allclose(np.array(m["y"], dtype=float), np.round(want["m"], 3), atol=1e-9)
        np.testing.assert_allclose(np.array(ll["y"], dtype=float), np.round(want["l"], 3), atol=1e-9)
        assert sum(v == "current tile" for row in grid["text"] for v in row) == (res.kv_block[k] >= 0)
    assert plots.traffic_figure(res).data


def test_state_at_fills_rows_block_by_block():
    res = flash_steps.step_through(flash_steps.StepConfig(n=12, d=2, block_q=4, block_k=6))
    assert res.n_steps == 6
    s1 = flash_steps.state_at(res, 1)  # query block 0 finished
    assert list(s1["status"]) == [2] * 4 + [0] * 8
    assert np.isnan(s1["o"][4:]).all() and np.isfinite(s1["o"][:4]).all()
    s2 = flash_steps.state_at(res, 2)  # block 1 half-way: rows in progress hold a partial (not final) output
    assert list(s2["status"]) == [2] * 4 + [1] * 4 + [0] * 4
    assert not np.allclose(s2["o"][4:8], res.reference_out[4:8], atol=1e-4)


def test_tiled_traffic_beats_naive_at_larger_n():
    res = flash_steps.step_through(flash_steps.StepConfig(n=128, d=8, block_q=32, block_k=32))
    assert res.tiled_read + res.tiled_write < res.naive_read + res.naive_write
    assert (res.curve_tiled < res.curve_naive).all()


@pytest.mark.parametrize("bad", [flash_steps.StepConfig(n=0), flash_steps.StepConfig(n=500),
                                 flash_steps.StepConfig(d=0), flash_steps.StepConfig(block_q=0),
                                 flash_steps.StepConfig(n=128, block_q=1, block_k=1)])
def test_step_through_bad_input(bad):
    with pytest.raises(InputError):
        flash_steps.step_through(bad)


def test_measure_timing_only_and_claims():
    res = flash_lab.measure(flash_lab.MeasureConfig(ns=(32, 64), methods=("reference", "sdpa", "tiled"),
                                                    memory=False, repeats=1, device="cpu"))
    assert res.time_ms.shape == (3, 2) and np.isfinite(res.time_ms).all()
    assert np.isfinite(res.tflops).all() and np.isnan(res.peak_bytes).all()
    ids = [c.claim.id for c in flash_lab.claim_checks(res)]
    assert ids[:2] == [1, 3] and 4 in ids and 5 in ids
    for fig in (plots.time_figure(res), plots.throughput_figure(res), plots.memory_figure(res)):
        assert fig.data


def test_cpu_memory_story_reference_stores_the_scores():
    # One fresh subprocess per point: the reference's peak must exceed its N×N scores; SDPA's must not.
    res = flash_lab.measure(flash_lab.MeasureConfig(ns=(1024,), methods=("reference", "sdpa"), timing=False,
                                                    device="cpu", heads=4))
    ref, sdpa = res.peak_bytes[:, 0]
    assert ref >= res.score_bytes[0]  # 4 heads × 1024² × 4 B = 16 MiB, plus the softmax copy
    assert sdpa < ref / 4


def _rows(mem_ratio: float, speed: float) -> list[dict]:
    base = dict(heads=4, d=64, dtype="float32", causal=False)
    return [dict(base, n=2048, method="reference", time_ms=10.0 * speed, peak_bytes=100.0 * mem_ratio),
            dict(base, n=2048, method="sdpa:flash", time_ms=10.0, peak_bytes=100.0)]


@pytest.mark.parametrize("mem,speed,verdict4,verdict5", [
    (10, 3, Verdict.HOLDS, Verdict.PARTLY),
    (10, 6, Verdict.HOLDS, Verdict.HOLDS),
    (10, 1.2, Verdict.PARTLY, Verdict.NOT_HERE),
    (1.1, 0.5, Verdict.NOT_HERE, Verdict.NOT_HERE),
])
def test_claim_verdicts_are_computed(mem, speed, verdict4, verdict5):
    # "measured now": the exact part of claim #4 is checked on this device against float64
    res = flash_lab.rows_to_result(_rows(mem, speed), device_label="test cpu", source="measured now")
    checks = {c.claim.id: c for c in flash_lab.claim_checks(res)}
    assert checks[4].verdict == verdict4, checks[4]
    assert checks[5].verdict == verdict5, checks[5]
    assert f"{mem:.1f}× less peak memory" in checks[4].measured
    assert "measured now" in checks[4].provenance
    # a recorded run did not check exactness here: at best "holds partly", and the why says so
    rec = flash_lab.rows_to_result(_rows(mem, speed), device_label="test cpu", source="recorded 2026-11-22")
    c4 = {c.claim.id: c for c in flash_lab.claim_checks(rec)}[4]
    assert c4.verdict is (Verdict.PARTLY if verdict4 is Verdict.HOLDS else verdict4)
    assert "recorded" in c4.provenance and ("exact" in c4.why or c4.verdict is Verdict.NOT_HERE)


def test_arithmetic_claims_hold():
    checks = {c.claim.id: c for c in flash_lab.claim_checks(None)}
    assert checks[1].verdict == Verdict.HOLDS and "256 MiB" in checks[1].measured
    assert checks[3].verdict == Verdict.HOLDS and "144 GiB" in checks[3].measured


def test_recorded_cpu_run_loads():
    if not (flash_lab.ASSETS_BENCH / "flash-cpu.json").exists():
        pytest.skip("no recorded run")
    res = flash_lab.load_recorded()
    assert "reference" in res.methods and "tiled" in res.methods
    assert res.source.startswith("recorded") and res.device_label
    i = res.methods.index("reference")
    assert np.nanmax(res.peak_bytes[i]) > 0


def test_bench_suite_runs(tmp_path):
    assert bench_main(["bench", "flash", "--device", "cpu", "--ns", "32,48", "--repeats", "1", "--no-memory",
                       "--out-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "flash-cpu.json").read_text())
    methods = {r["method"] for r in data["rows"]}
    assert {"reference", "sdpa", "sdpa:flash", "sdpa:math", "tiled"} <= methods
    assert all(r.get("time_ms", 0) > 0 for r in data["rows"])
    res = flash_lab.rows_to_result(data["rows"], device_label="cpu", source="test")
    assert list(res.ns) == [32, 48]


@pytest.mark.parametrize("causal", [False, True])
def test_standard_attention_baseline_equals_reference(causal):
    import torch

    from viz_core.attention.reference import reference_attention
    from viz_core.measure.baseline import eager_attention

    q, k, v = flash_lab.make_inputs(37, 2, 8, "float32", "cpu", seed=4)
    out = eager_attention(q, k, v, causal=causal)
    assert (out - reference_attention(q, k, v, causal=causal).out).abs().max().item() <= 1e-5
    for method in ("reference", "sdpa", "sdpa:flash", "sdpa:math", "tiled"):
        got = flash_lab.attention_call(method, q, k, v, causal=causal, block=16)()
        assert torch.allclose(got, out, atol=1e-5), method
