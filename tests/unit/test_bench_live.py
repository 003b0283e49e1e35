"""Benchmarks: suite rows are well formed for tiny sizes on CPU (with roof columns), skipped and failing
points become records, runs round-trip through CSV and JSON, uploads are validated, old runs still load."""
from __future__ import annotations

import json

import pytest
import torch

from viz_core.cli import live as lab
from viz_core.cli.runner import main
from viz_core.errors import InputError
from viz_core.labs import bench_formulas
from viz_core.labs import benchmarks as results
from viz_core.labs.benchmarks import SCHEMA_VERSION
from viz_core.measure import roofline as R

ROOFS = R.Roofs(device="cpu", name="test", threads=1, compute_flops={"float32": 50e9, "bfloat16": 100e9},
                compute_source={"float32": "given", "bfloat16": "given"}, copy_bytes_per_s=10e9, triad_bytes_per_s=12e9)


def _check_rows(rows, time_key):
    assert rows
    for r in rows:
        assert all(isinstance(k, str) for k in r)
        if r.get(time_key):
            assert r["flops"] > 0 and r["bytes_moved"] > 0 and r["bytes_formula"]
            assert r["roof_time_s"] == pytest.approx(max(r["flops"] / ROOFS.peak(r["dtype"]),
                                                         r["bytes_moved"] / 12e9), rel=1e-3)
            t = R.row_seconds(r)
            assert r["pct_of_roof"] == pytest.approx(100 * r["roof_time_s"] / t, rel=1e-2)


@pytest.mark.parametrize("suite,variants,time_key", [
    ("attention", ("reference", "sdpa", "linear"), "time_s"),
    ("flash", ("reference", "sdpa", "tiled"), "time_ms"),
    ("rope", ("half", "interleaved"), "time_s"),
    ("ssm", ("sequential", "parallel", "SDPA attention"), "median_ms"),
])
def test_live_sweep_rows_well_formed_on_cpu(suite, variants, time_key):
    cfg = lab.LiveConfig(suite=suite, ns=(32, 64), variants=variants, heads=2, head_dim=16, repeats=1, threads=1)
    rows = list(lab.live_sweep(cfg, ROOFS))
    assert len(rows) == len(variants) * 2
    _check_rows(rows, time_key)


def test_attention_formula_matches_algorithm_0():
    n, d, h, e = 64, 16, 3, 4
    fl, q, _, formula = bench_formulas.attention_point("reference", n, h, d, "float32")
    assert fl == 4 * h * n * n * d
    assert q == pytest.approx(4 * h * (n * d + n * n) * e)  # Dao et al. 2022, Algorithm 0 (reads + writes)
    assert "intermediate" in formula
    fl2, q2, _, _ = bench_formulas.attention_point("sdpa", n, h, d, "float32")
    assert fl2 == fl and q2 < q  # the fused kernel: same FLOPs, fewer bytes -> right on the roofline
    _, q3, _, formula3 = bench_formulas.attention_point("sliding_window@16[flex]", n, h, d, "float32")
    assert q3 == pytest.approx(4 * h * n * d * e) and formula3.startswith("fused")


def test_decode_point_rows_well_formed():
    cfg = lab.LiveConfig(suite="decode", variants=("uncached (recompute)", "KV cache"), new_tokens=4, repeats=1)
    rows = list(lab.live_sweep(cfg, ROOFS))
    assert {r["method"] for r in rows} == {"uncached (recompute)", "KV cache"}
    _check_rows(rows, "median_s")
    cached = next(r for r in rows if r["method"] == "KV cache")
    uncached = next(r for r in rows if r["method"] == "uncached (recompute)")
    assert cached["intensity_flop_per_byte"] < uncached["intensity_flop_per_byte"]  # decode: memory side


def test_points_over_budget_or_time_are_skipped_records():
    cfg = lab.LiveConfig(ns=(64, 4096), variants=("reference",), heads=2, head_dim=16, repeats=1,
                         budget_bytes=1_000_000)
    rows = list(lab.live_sweep(cfg, ROOFS))
    assert len(rows) == 2
    assert "time_s" in rows[0]
    assert rows[1]["note"].startswith("skipped: needs") and "budget" in rows[1]["note"]
    slow = lab.LiveConfig(ns=(64,), variants=("reference",), heads=2, head_dim=16, max_seconds=1e-12)
    (row,) = list(lab.live_sweep(slow, ROOFS))
    assert "over the" in row["note"] and "limit" in row["note"] and row["est_seconds"] >= 0


def test_unsupported_point_is_a_record(monkeypatch):
    def boom(cfg, point, progress=None):
        raise RuntimeError("backend cannot run these inputs\nmore")

    monkeypatch.setattr(lab, "run_point", boom)
    cfg = lab.LiveConfig(ns=(32,), variants=("sdpa",), heads=1, head_dim=8)
    (row,) = list(lab.live_sweep(cfg, ROOFS))
    assert row["note"] == "failed: backend cannot run these inputs"


def test_bad_config_is_an_input_error():
    for bad in (dict(suite="nope"), dict(variants=("magic",)), dict(ns=(0,)), dict(head_dim=7), dict(dtype="int3")):
        with pytest.raises(InputError):
            lab.plan(lab.LiveConfig(**bad), ROOFS)


def test_cli_json_carries_schema_roofs_versions(tmp_path, monkeypatch):
    monkeypatch.setattr("viz_core.cli.runner.cached_roofs", lambda device, threads: ROOFS)
    before = torch.get_num_threads()
    main(["bench", "rope", "--threads", "1", "--lengths", "32", "--factors", "", "--repeats", "1",
          "--out-dir", str(tmp_path)])
    assert torch.get_num_threads() == before
    doc = json.loads((tmp_path / "rope-cpu.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == doc["meta"]["schema_version"]
    meta = doc["meta"]
    assert meta["versions"]["torch"] and meta["roofline"]["compute_flops"]["float32"] == 50e9
    assert meta["load"]["threads"] == 1 and meta["hardware"]["threads"] == 1 and meta["device"]
    assert all("pct_of_roof" in r for r in doc["rows"])
    run = results.parse_run((tmp_path / "rope-cpu.json").read_bytes())
    assert run.schema_version == SCHEMA_VERSION and not run.note


def test_csv_and_json_round_trip():
    rows = [{"label": "sdpa", "n": 64, "time_s": 1.5e-4, "causal": False, "note": None},
            {"label": "reference", "n": 128, "time_s": 2.0, "pct_of_roof": 12.5, "bytes_formula": "a, b"}]
    back = results.rows_from_csv(results.rows_to_csv(rows))
    assert back == [{k: v for k, v in r.items() if v is not None} for r in rows]
    meta = {"schema_version": SCHEMA_VERSION, "suite": "attention", "hardware": {"device": "cpu", "name": "x"}}
    run = results.parse_run(results.run_to_json(meta, rows))
    assert list(run.rows) == rows and run.suite == "attention"


@pytest.mark.parametrize("raw,msg", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a JSON"),
    (b"[1, 2, 3]", "meta"),
    (b'{"meta": {}, "rows": []}', "unknown suite"),
    (json.dumps({"schema_version": 99, "meta": {"suite": "flash", "hardware": {"device": "cpu"}},
                 "rows": [{"n": 1}]}).encode(), "schema version"),
    (json.dumps({"schema_version": "2", "meta": {"suite": "flash", "hardware": {"device": "cpu"}},
                 "rows": [{"n": 1}]}).encode(), "schema version"),
    (json.dumps({"meta": {"suite": "flash", "hardware": {"device": "cpu"}},
                 "rows": [{"n": {"__reduce__": "os.system"}}]}).encode(), "flat record"),
    (json.dumps({"meta": {"suite": "flash"}, "rows": [{"n": 1}]}).encode(), "hardware"),
])
def test_upload_validation_rejects_junk(raw, msg):
    with pytest.raises(InputError, match=msg):
        results.parse_run(raw)


def test_upload_validation_rejects_oversized():
    big = b"{" + b" " * (results.MAX_UPLOAD_BYTES + 1) + b"}"
    with pytest.raises(InputError, match="limit"):
        results.parse_run(big)


def test_old_recorded_runs_load_with_formulas():
    runs = results.list_runs()
    assert runs
    for run in runs:
        assert run.schema_version in results.SCHEMA_VERSIONS
        if run.schema_version == 1:
            assert "schema 1" in run.note
    flash = next(r for r in runs if r.suite == "flash" and r.device == "cuda")
    rows = results.with_formulas(flash)
    roofs, src = results.roofs_for_run(flash)
    assert src.startswith("spec sheet") and roofs.compute_flops["float16"] > 1e14
    timed = [r for r in rows if r.get("time_ms")]
    assert timed and all("pct_of_roof" in r for r in timed)


def test_compare_matches_points_and_ratios():
    meta = {"suite": "rope", "hardware": {"device": "cpu", "name": "x"}}
    a = results.parse_run(json.dumps({"meta": meta, "rows": [
        {"part": "apply", "layout": "half", "N": 64, "time_s": 2.0}, {"part": "apply", "layout": "half", "N": 128,
                                                                       "time_s": 4.0}]}))
    b = results.parse_run(json.dumps({"meta": meta, "rows": [
        {"part": "apply", "layout": "half", "N": 64, "time_s": 1.0, "threads": 4}]}))
    (pair,) = results.compare(a, b)
    assert pair["b_over_a"] == pytest.approx(0.5) and "N=64" in pair["point"]
    other = results.parse_run(json.dumps({"meta": {**meta, "suite": "flash"}, "rows": [{"n": 1}]}))
    with pytest.raises(InputError):
        results.compare(a, other)


def test_ssm_rows_get_formulas():
    from viz_core.ssm.scan import work_depth

    n = 256
    seq = bench_formulas.ssm_row({"kind": "prefill", "method": "sequential", "n": n,
                                  "work": work_depth("sequential", n)[0], "median_ms": 1.0})
    assert seq["flops"] == 2 * 3 * n * 8 * 32 * 32  # 3 multiply-adds per state number per token
    assert seq["bytes_moved"] == (2 * n * 8 * 32 + n * 8 + 2 * n * 32) * 4
    par = bench_formulas.ssm_row({"kind": "prefill", "method": "parallel", "n": n,
                                  "work": work_depth("parallel", n)[0], "median_ms": 1.0})
    assert par["bytes_moved"] == seq["bytes_moved"] + 2 * (n // 2) * 8 * 32 * 32 * 4  # the odd tokens' states
    sdpa = bench_formulas.ssm_row({"kind": "prefill", "method": "SDPA attention", "n": n, "median_ms": 1.0})
    assert sdpa["flops"] == 4 * 4 * n * n * 32 / 2
    R.annotate_rows([seq, par, sdpa], ROOFS)
    assert all("pct_of_roof" in r for r in (seq, par, sdpa))


def test_lowbit_gemv_rows_get_formulas_and_recorded_runs_all_load():
    row = bench_formulas.lowbit_row({"shape": "4096x4096", "kernel": "2bit", "weight_bytes": 4096 * 4096 // 4,
                                     "median_ms": 1.0})
    assert row["flops"] == 2 * 4096 * 4096 and row["bytes_moved"] == 4096 * 4096 / 4 + 4 * 8192
    assert bench_formulas.lowbit_row({"shape": "tiny-gpt", "tokens_per_s": 10.0}).get("flops") is None
    import pathlib

    files = {p.stem for p in (pathlib.Path(results.REPO_ROOT) / "assets" / "bench").glob("*.json")
             if "headline" not in p.stem and "roofs" not in p.stem}
    assert files <= {pathlib.Path(r.path).stem for r in results.list_runs()}, "a recorded run no longer loads"
