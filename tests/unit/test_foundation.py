"""viz_core foundations: device choice, timer, memory measurement, FLOP formulas, claims, bench runner."""
import json

import pytest
import torch

from viz_core import claims, device
from viz_core.cli import runner
from viz_core.labs import benchmarks as results
from viz_core.measure import flops, memory, timer
from viz_core.errors import BudgetError, InputError, human_bytes, human_count


def test_device_resolution():
    assert device.resolve_device("cpu").type == "cpu"
    assert device.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            device.resolve_device("cuda")
    with pytest.raises(InputError):
        device.resolve_device("tpu")
    assert device.resolve_dtype("float16", "cpu") is torch.bfloat16
    assert device.resolve_dtype("float32", "cpu") is torch.float32
    assert device.dtype_bytes("bfloat16") == 2


def test_describe_cpu():
    hw = device.describe("cpu", measure_cpu_peak=True)
    assert hw.device == "cpu" and hw.name and hw.threads >= 1
    assert hw.peak_flops_fp32 and hw.peak_flops_fp32 > 1e8
    assert hw.peak_flops_source == "measured fp32 matmul"
    assert "torch" in hw.summary()


def test_gpu_spec_lookup_prefers_specific_names():
    assert device._gpu_spec("NVIDIA H100 PCIe")[2] == 2.0e12
    assert device._gpu_spec("NVIDIA H100 80GB HBM3")[2] == 3.35e12
    assert device._gpu_spec("Mystery GPU") is None


def test_timer_reports_median_and_spread():
    calls = []
    t = timer.time_fn(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7 and t.repeats == 5
    assert t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s
    assert t.spread_s >= 0 and "ms" in t.label()


def test_timer_stops_early_on_time_budget():
    import time

    t = timer.time_fn(lambda: time.sleep(0.02), warmup=0, repeats=100, max_seconds=0.05)
    assert 1 <= t.repeats < 100
    assert t.median_s >= 0.019


def test_flop_formulas():
    assert flops.attention_flops(1, 1, 512, 64) == 4 * 512 * 512 * 64
    assert flops.attention_flops(2, 8, 100, 32, causal=True) == 4 * 2 * 8 * 100 * 100 * 32 / 2
    assert flops.attention_flops(1, 1, 10, 8, density=0.25) == 4 * 100 * 8 * 0.25
    assert flops.score_matrix_bytes(512) == 512 * 512 * 4 == 1 << 20  # claim #1: 1 MiB at 512
    assert flops.achieved_fraction(1e12, 1.0, 2e12) == 0.5
    assert flops.achieved_fraction(1e12, 1.0, None) is None


def big_alloc(mib: int = 64, device: str = "cpu"):
    """Factory for the subprocess probe: allocates and touches ``mib`` MiB when called."""
    def run():
        x = torch.ones(mib * 1024 * 1024 // 4)
        return float(x[::4096].sum())
    return run


def test_subprocess_peak_rss_sees_tensor_memory():
    m = memory.measure_peak("tests.unit.test_foundation", "big_alloc", {"mib": 96}, device="cpu", threads=1)
    assert m.method.startswith("peak RSS growth")
    assert 80 * 2**20 < m.peak_bytes < 200 * 2**20


def test_budget_check_refuses_with_a_clear_message():
    memory.check_budget(1000, what="x", budget_bytes=2000)
    with pytest.raises(BudgetError, match="more than"):
        memory.check_budget(3 * 2**30, what="The score matrix", budget_bytes=2**30)
    assert memory.available_bytes("cpu") > 0


def test_human_units():
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(10) == "10 B"
    assert human_count(12_345_678) == "12.3 M"


def test_claims_table_and_verdicts():
    # the claims of ../shared/CLAIMS.md, each with its judge (flip tests: tests/unit/test_claim_judges.py)
    assert sorted(claims.CLAIMS) == list(range(1, 23)) == sorted(claims.JUDGES)
    assert claims.judge_4(3.0, 10.0, True).verdict is claims.Verdict.HOLDS
    assert claims.judge_4(1.2, 10.0, True).verdict is claims.Verdict.PARTLY
    assert claims.judge_4(0.5, 1.0, True).verdict is claims.Verdict.NOT_HERE


def test_runner_table_and_files(tmp_path):
    rows = [{"n": 1, "method": "a", "time_ms": 1.5}, {"n": 2, "method": "b", "time_ms": 2.25, "extra": None}]
    table = runner.format_table(rows)
    assert "method" in table.splitlines()[0] and "2.25" in table
    csv_path, json_path = runner.write_results(rows, {"suite": "t"}, tmp_path, "t-cpu")
    assert csv_path.read_text().splitlines()[0] == "n,method,time_ms,extra"
    meta, back = runner.load_results(json_path)
    assert meta["suite"] == "t" and back == rows
    assert set(runner.available_suites()) >= {"attention", "flash", "decode"}


def test_recorded_runs_load():
    runs = results.list_runs()
    assert runs, "assets/bench/ should hold recorded runs"
    for r in runs:
        assert r.rows and r.suite and r.device in ("cpu", "cuda")
        assert results.numeric_columns(r.rows)


def test_thread_setting():
    before = torch.get_num_threads()
    try:
        assert device.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert device.set_threads(10_000) == device.cpu_count()
        assert device.set_threads(0) == 1
        assert 1 <= device.recommended_threads() <= device.cpu_count()
    finally:
        torch.set_num_threads(before)
