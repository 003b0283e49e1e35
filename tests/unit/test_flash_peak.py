"""FlashAttention '% of peak' is against a real, named compute roof; a value above 100 % is re-measured and, if it
stays above, flagged as noise and never shown. Expected values are recomputed here from the JSON files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from viz_core.labs import flash as flash_lab
from viz_core.labs import flash_peak
from viz_core.plots import flash as plots


def _row(method, n, tflops):
    return {"n": n, "method": method, "heads": 4, "d": 64, "dtype": "float32", "causal": False, "device": "cpu",
            "time_ms": 1.0, "tflops": tflops, "pct_peak": 151.0, "peak_source": "measured fp32 matmul"}


def test_recorded_cpu_run_is_against_the_recorded_roof_and_never_over_100():
    rec_path, roofs_path = flash_lab.ASSETS_BENCH / "flash-cpu.json", flash_peak.RECORDED_ROOFS
    if not (rec_path.exists() and roofs_path.exists()):
        pytest.skip("no recorded CPU run or roofs")
    rows = json.loads(rec_path.read_text())["rows"]
    roofs = json.loads(roofs_path.read_text())["roofs"]
    assert any((r.get("pct_peak") or 0) > 100 for r in rows)  # the file's own "peak" was not one
    res = flash_lab.load_recorded(str(rec_path))
    roof = roofs["compute_flops"]["float32"]
    assert f"{roof / 1e9:.3g} GFLOP/s float32 roof measured on {roofs['name']}" in res.peak_source
    assert "thread CPU time" in res.peak_source
    expect = 100 * res.tflops * 1e12 / roof
    shown = np.isfinite(res.pct_peak)
    assert shown.any()
    np.testing.assert_allclose(res.pct_peak[shown], expect[shown], rtol=1e-12)
    assert (res.pct_peak[shown] <= 100).all()
    assert np.array_equal(shown, np.isfinite(expect) & (expect <= 100))  # only the over-roof cells are hidden
    fig = plots.throughput_figure(res)
    assert res.peak_source in fig.layout.title.text and "% of roof" in fig.data[0].text[0]


def test_over_the_roof_is_hidden_as_noise_and_named():
    roof = flash_peak.FlopRoof(1e11, "the 100 GFLOP/s float32 roof measured on a test CPU, 1 thread(s)")
    rows = [_row("reference", 256, 0.05), _row("sdpa", 256, 0.15)]  # 50 % and 150 % of the roof
    res = flash_lab.rows_to_result(rows, device_label="test", source="recorded", roof=roof)
    assert res.pct_peak[0, 0] == pytest.approx(50.0)
    assert np.isnan(res.pct_peak[1, 0])
    assert len(res.over_roof) == 1 and "N=256" in res.over_roof[0] and "150 %" in res.over_roof[0]
    assert res.peak_source == roof.label
    text = plots.throughput_figure(res).layout.title.text
    assert "noise" in text and res.over_roof[0] in text
    unknown = flash_lab.rows_to_result(rows, device_label="test", source="recorded",
                                       roof=flash_peak.FlopRoof(None, "no roof"))
    assert np.isnan(unknown.pct_peak).all() and not unknown.over_roof


@pytest.mark.parametrize("roof_flops, over", [(1.0, True), (1e18, False)])
def test_live_measure_remeasures_a_result_above_the_roof(monkeypatch, roof_flops, over):
    calls = []
    real = flash_lab.time_fn

    def counting(*a, **k):
        calls.append(k.get("repeats"))
        return real(*a, **k)

    monkeypatch.setattr(flash_lab, "time_fn", counting)
    monkeypatch.setattr(flash_lab, "flop_roof", lambda *a, **k: flash_peak.FlopRoof(roof_flops, "test roof"))
    rows = flash_lab.measure_rows(flash_lab.MeasureConfig(ns=(32,), methods=("sdpa",), memory=False, repeats=1,
                                                          device="cpu"))
    (r,) = rows
    assert r["remeasured"] == (2 if over else 0) and r["over_roof"] is over
    assert calls == ([1, 2, 2] if over else [1])  # re-measured with twice the repeats
    assert r["pct_peak"] == pytest.approx(100 * r["tflops"] * 1e12 / roof_flops)
    res = flash_lab.rows_to_result(rows, device_label="test", source="measured now")
    assert np.isnan(res.pct_peak).all() == over and len(res.over_roof) == int(over)


def test_flop_roof_names_a_real_peak(tmp_path):
    h = flash_peak.flop_roof("cuda", "float16", name="NVIDIA H100 80GB HBM3")
    assert h.flops == 989e12 and h.label == "the 989 TFLOP/s float16 spec-sheet peak of NVIDIA H100 80GB HBM3"
    assert flash_peak.flop_roof("cuda", "float16", name="Some Unknown GPU").flops is None
    roofs = {"device": "cpu", "name": "Test CPU", "threads": 1, "compute_flops": {"float32": 9.3e10},
             "clock": "thread", "measured_at": "2026-11-30T03:25:09"}
    p = tmp_path / "roofs.json"
    p.write_text(json.dumps({"roofs": roofs}))
    r = flash_peak.flop_roof("cpu", "float32", threads=1, name="Test CPU", live=False, recorded=p)
    assert r.flops == 9.3e10
    assert r.label == "the 93 GFLOP/s float32 roof measured on Test CPU, 1 thread(s) (thread CPU time, 2026-11-30)"
    # another CPU model or thread count: the recorded roof is not this machine's, so no % without measuring
    assert flash_peak.flop_roof("cpu", "float32", threads=2, name="Test CPU", live=False, recorded=p).flops is None
    assert flash_peak.flop_roof("cpu", "float32", threads=1, name="Other", live=False, recorded=p).flops is None
