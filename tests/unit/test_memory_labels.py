"""Every memory number names how it was measured: torch-profiler tensor bytes, process RSS growth in a fresh
subprocess, or the CUDA allocator's peak (the method strings are those viz_core.measure.memory returns)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from viz_core.labs import flash as flash_lab
from viz_core.plots import attention as aplots
from viz_core.plots import flash as fplots

METHODS = [("peak tensor bytes (torch profiler)", "torch-profiler tensor bytes"),
           ("peak RSS growth, fresh subprocess", "process RSS growth, fresh subprocess"),
           ("cuda max_memory_allocated", "CUDA allocator peak")]


def _variant(name, method):
    cost = NS(score_entries=1e4, flops=1e6, bytes=4e4)
    return NS(name=name, ok=True, exact=True, density=1.0, max_abs_err=0.0, rel_err=0.0, row_kl=0.0, cost=cost,
              time_s=1e-3, peak_bytes=2.0**20, compile_s=None, message="", memory_method=method)


@pytest.mark.parametrize("method, label", METHODS)
def test_attention_lab_table_and_cost_figure_name_the_memory_method(method, label):
    res = NS(variants=[_variant("sliding_window", method), _variant("linear", method)], heads=2, n=64,
             head_dim=16, exact_time_s=1e-3, exact_peak_bytes=2.0**21)
    rows = aplots.results_table(res)
    mem_cols = [c for c in rows[0] if "memory" in c]
    assert mem_cols == [f"peak memory ({label})"]
    titles = [a.text for a in aplots.cost_figure(res).layout.annotations]
    assert f"peak memory (MiB): {label}" in titles


@pytest.mark.parametrize("method, label", METHODS)
def test_scaling_and_flash_memory_axes_name_the_method(method, label):
    pts = [NS(variant="full", stopped=False, n=n, time_s=1e-3, time_iqr_s=0.0, peak_bytes=n * 1e4) for n in (64, 128)]
    fig = aplots.scaling_figure(pts, {"full": 2}, "memory", memory_method=method)
    assert label in fig.layout.yaxis.title.text and label in fig.layout.title.text
    rows = [{"n": n, "method": "reference", "heads": 2, "d": 16, "dtype": "float32", "peak_bytes": n * 1e4,
             "memory_method": method} for n in (64, 128)]
    res = flash_lab.rows_to_result(rows, device_label="test", source="recorded")
    assert label in fplots.memory_figure(res).layout.yaxis.title.text


def test_unknown_method_is_said_not_hidden():
    pts = [NS(variant="full", stopped=False, n=64, time_s=1e-3, time_iqr_s=0.0, peak_bytes=1e5)]
    assert "method not recorded" in aplots.scaling_figure(pts, {}, "memory").layout.yaxis.title.text
