"""The FlashAttention page's measurements: the memory story and backend speeds (the step-through is in
``viz_core.labs.flash_steps``).

Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness";
Dao 2023, "FlashAttention-2". Everything here takes a frozen config and returns numpy arrays and numbers.

- ``measure``: time and peak memory of reference attention vs SDPA (and each SDPA backend) vs the tiled
  implementation as N grows, on this device (CUDA allocator peak, or CPU peak-RSS growth of a fresh
  subprocess per point), with achieved TFLOP/s against the device's peak.
- ``load_recorded``: the same result from a recorded ``python -m viz_core bench flash`` run in assets/bench.
- ``claim_checks``: claims #1, #3, #4, #5 of CLAIMS.md beside the measured ratios, verdict computed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viz_core import claims
from viz_core.attention.flash import STAT_BYTES, flash_forward
from viz_core.attention.sdpa import available_backends, sdpa_attention, sdpa_with_backend
from viz_core.measure.flops import attention_flops, score_matrix_bytes
from viz_core.measure.budget import load_factor
from viz_core.measure.memory import check_budget, measure_peak
from viz_core.measure.baseline import eager_attention
from viz_core.measure.threads import torch_threads
from viz_core.measure.timer import time_fn
from viz_core.device import describe, dtype_bytes, resolve_device, resolve_dtype
from viz_core.errors import BudgetError, InputError
from viz_core.labs.flash_peak import BOUND_PCT, flop_roof, over_bound, pct_of_roof

ASSETS_BENCH = Path(__file__).resolve().parents[2] / "assets" / "bench"

# ------------------------------------------------------------------------------------- the memory story
METHODS = ("reference", "sdpa", "tiled")
METHOD_LABELS = {"reference": "standard attention (materialises N×N)", "sdpa": "SDPA (fused kernel)",
                 "tiled": "tiled, pure PyTorch (this lab)"}


def method_label(method: str) -> str:
    if method.startswith("sdpa:"):
        return f"SDPA {method.split(':', 1)[1]} backend"
    return METHOD_LABELS.get(method, method)


def default_methods(device: str = "auto", dtype: str = "float16") -> tuple[str, ...]:
    """Reference, SDPA and tiled; on CUDA also every SDPA backend that runs for this dtype (probed)."""
    dev = resolve_device(device)
    if dev.type != "cuda":
        return METHODS
    backends = available_backends(dev, dtype=resolve_dtype(dtype, dev))
    return ("reference", "sdpa", *[f"sdpa:{b}" for b in backends], "tiled")


def backends_here(device: str = "auto", dtype: str = "float32") -> list[str]:
    """SDPA backends that run on this device for this dtype (probed with a tiny input)."""
    dev = resolve_device(device)
    return available_backends(dev, dtype=resolve_dtype(dtype, dev))


def make_inputs(n: int, heads: int, d: int, dtype: str, device: str, seed: int = 0):
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    g = torch.Generator(device="cpu").manual_seed(seed)
    return tuple(torch.randn(1, heads, n, d, generator=g).to(dev, dt) for _ in range(3))  # (1, H, N, D) ×3


def attention_call(method: str, q, k, v, *, causal: bool = False, block: int = 128):
    """Zero-arg callable running one attention method on q, k, v (B, H, N, D)."""
    if method == "reference":
        return lambda: eager_attention(q, k, v, causal=causal)
    if method == "sdpa":
        return lambda: sdpa_attention(q, k, v, cfg=_Causal(causal)).out
    if method.startswith("sdpa:"):
        backend = method.split(":", 1)[1]
        return lambda: sdpa_with_backend(q, k, v, backend, causal=causal)
    if method == "tiled":
        return lambda: flash_forward(q, k, v, block_q=block, block_k=block, causal=causal)[0]
    raise InputError(f"Unknown attention method {method!r}.")


@dataclass(frozen=True)
class _Causal:
    causal: bool


def memory_workload(method: str, n: int, heads: int, d: int, dtype: str, device: str, causal: bool = False,
                    block: int = 128):
    """Factory for ``viz_core.measure.memory.measure_peak``: builds inputs, returns the call to measure."""
    q, k, v = make_inputs(n, heads, d, dtype, device)
    with torch.no_grad():
        call = attention_call(method, q, k, v, causal=causal, block=block)

    def run():
        with torch.no_grad():
            return call()

    return run


def estimate_bytes(method: str, n: int, heads: int, d: int, elem: int, block: int = 128) -> int:
    """Rough peak extra bytes, for the budget check before running: reference holds ~3 N×N copies."""
    io = 4 * heads * n * d * elem
    if method in ("reference", "sdpa:math"):  # both materialise the scores (math may upcast to fp32)
        return io + 3 * heads * n * n * max(elem, 4)
    if method == "tiled":
        return io + 4 * heads * block * (block + d) * 4
    return io + heads * n * max(64, d) * 4


@dataclass(frozen=True)
class MeasureConfig:
    ns: tuple[int, ...] = (512, 1024, 2048)
    heads: int = 4
    d: int = 64
    dtype: str = "float32"
    device: str = "auto"
    causal: bool = False
    block: int = 128
    methods: tuple[str, ...] = METHODS  # add "sdpa:<backend>" entries for per-backend rows
    memory: bool = True
    timing: bool = True
    repeats: int = 3
    threads: int = 1
    budget_bytes: int | None = None  # None: bench.memory's default budget
    skip_over_budget: bool = False  # True: a row that would not fit is recorded as skipped, not raised


@dataclass
class MeasureResult:
    ns: np.ndarray  # (K,)
    methods: tuple[str, ...]  # (M,)
    time_ms: np.ndarray  # (M, K) median, NaN where not measured
    time_iqr_ms: np.ndarray  # (M, K)
    peak_bytes: np.ndarray  # (M, K) extra peak bytes, NaN where not measured
    tflops: np.ndarray  # (M, K) achieved TFLOP/s (4·H·N²·d, halved when causal)
    pct_peak: np.ndarray  # (M, K) achieved / device peak × 100, NaN when the peak is unknown
    score_bytes: np.ndarray  # (K,) bytes of one N×N score matrix per head × heads in the dtype
    heads: int
    d: int
    dtype: str
    causal: bool
    device_label: str  # e.g. "Intel Xeon ..., 1 torch threads, torch 2.13"
    memory_method: str
    peak_source: str  # the compute roof % of peak is against, named ("the 92.8 GFLOP/s float32 roof measured on …")
    source: str  # "measured now" or "recorded <date>"
    over_roof: tuple[str, ...] = ()  # "sdpa at N=256 (151 %)": above the roof even after re-measuring -> noise, hidden


def rows_to_result(rows: list[dict], *, device_label: str, source: str, roof=None) -> MeasureResult:
    """Bench-suite rows (one per method × N) -> a MeasureResult (for recorded runs and the page).

    ``roof`` (a ``FlopRoof``): recompute % of peak from the rows' TFLOP/s against it (recorded runs whose "peak" was
    not a real one). A % above 100 of a real roof is noise: it is listed in ``over_roof`` and not shown."""
    if not rows:
        raise InputError("The benchmark has no rows.")
    if roof is not None:
        rows = [{**r, "pct_peak": (100 * float(r["tflops"]) * 1e12 / roof.flops) if roof.flops and r.get("tflops")
                 else None, "peak_source": roof.label} for r in rows]
    ns = sorted({int(r["n"]) for r in rows})
    methods = tuple(dict.fromkeys(r["method"] for r in rows))
    shape = (len(methods), len(ns))
    arrs = {key: np.full(shape, np.nan) for key in ("time_ms", "time_iqr_ms", "peak_bytes", "tflops", "pct_peak")}
    for r in rows:
        i, j = methods.index(r["method"]), ns.index(int(r["n"]))
        for key in arrs:
            val = r.get(key)
            if val not in (None, "", "nan"):
                arrs[key][i, j] = float(val)
    over = np.isfinite(arrs["pct_peak"]) & (arrs["pct_peak"] > BOUND_PCT)
    noise = tuple(f"{method_label(methods[i])} at N={ns[j]} ({arrs['pct_peak'][i, j]:.0f} %)"
                  for i, j in zip(*np.where(over)))
    arrs["pct_peak"][over] = np.nan  # contradicts the roof: never shown as a finding
    r0 = rows[0]
    heads, d = int(r0["heads"]), int(r0["d"])
    dtype = str(r0["dtype"])
    return MeasureResult(
        ns=np.array(ns), methods=methods, **arrs,
        score_bytes=np.array([score_matrix_bytes(n, heads=heads, bytes_per_value=dtype_bytes(dtype)) for n in ns],
                             dtype=float),
        heads=heads, d=d, dtype=dtype, causal=str(r0.get("causal")) in ("True", "true", "1"),
        device_label=device_label, memory_method=str(r0.get("memory_method", "")),
        peak_source=str(r0.get("peak_source", "")), source=source, over_roof=noise)


def measure_rows(cfg: MeasureConfig, progress=None) -> list[dict]:
    """Time and peak memory of each method at each N on this device: one flat dict per (method, N).

    On CPU it runs with ``cfg.threads`` torch threads and restores the previous count afterwards.
    """
    dev = resolve_device(cfg.device)
    with torch_threads(max(1, cfg.threads) if dev.type == "cpu" else None):
        return _measure_rows(cfg, dev, progress)


def _measure_rows(cfg: MeasureConfig, dev: torch.device, progress) -> list[dict]:
    dt = resolve_dtype(cfg.dtype, dev)
    elem = dtype_bytes(dt)
    dt_name = str(dt).replace("torch.", "")
    roof = (flop_roof(dev.type, dt_name, threads=max(1, cfg.threads),
                      name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None)
            if cfg.timing else None)
    rows: list[dict] = []
    for n in cfg.ns:
        if n < 1:
            raise InputError("Sequence lengths must be at least 1.")
        for method in cfg.methods:
            row = {"n": n, "method": method, "heads": cfg.heads, "d": cfg.d, "dtype": str(dt).replace("torch.", ""),
                   "causal": cfg.causal, "device": dev.type,
                   "score_bytes": score_matrix_bytes(n, heads=cfg.heads, bytes_per_value=elem)}
            est = estimate_bytes(method, n, cfg.heads, cfg.d, elem, cfg.block)
            try:
                check_budget(est, what=f"{method_label(method)} at N={n}", device=dev, budget_bytes=cfg.budget_bytes)
            except BudgetError as exc:
                if not cfg.skip_over_budget:
                    raise
                row["error"] = f"skipped: {str(exc)[:100]}"
                rows.append(row)
                continue
            if progress:
                progress(f"{method} N={n}")
            if cfg.timing:
                q, k, v = make_inputs(n, cfg.heads, cfg.d, cfg.dtype, dev.type)
                try:
                    call = attention_call(method, q, k, v, causal=cfg.causal, block=cfg.block)
                    with torch.no_grad():
                        t = time_fn(call, device=dev, warmup=1, repeats=cfg.repeats, max_seconds=20)
                except InputError as exc:  # a backend that cannot run these inputs here
                    row["error"] = str(exc)[:120]
                    rows.append(row)
                    continue
                flops = attention_flops(1, cfg.heads, n, cfg.d, causal=cfg.causal)
                remeasured = 0
                while over_bound(pct_of_roof(flops, t.median_s, roof)) and remeasured < 2:  # above the roof: noise
                    with torch.no_grad():
                        t = time_fn(call, device=dev, warmup=1, repeats=2 * cfg.repeats, max_seconds=20)
                    remeasured += 1
                pct = pct_of_roof(flops, t.median_s, roof)
                row.update(time_ms=t.median_s * 1e3, time_iqr_ms=t.spread_s * 1e3,
                           tflops=flops / t.median_s / 1e12, pct_peak=pct, peak_source=roof.label,
                           remeasured=remeasured, over_roof=over_bound(pct), threads=t.threads)
                del q, k, v, call
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            if cfg.memory:
                try:
                    mm = measure_peak("viz_core.labs.flash", "memory_workload",
                                      dict(method=method, n=n, heads=cfg.heads, d=cfg.d, dtype=cfg.dtype,
                                           device=dev.type, causal=cfg.causal, block=cfg.block),
                                      device=dev, threads=max(1, cfg.threads))
                    row.update(peak_bytes=mm.peak_bytes, memory_method=mm.method)
                except (RuntimeError, InputError) as exc:  # e.g. a backend that cannot run here
                    row["error"] = f"memory: {str(exc).strip().splitlines()[-1][:100]}"
            rows.append(row)
    return rows


# Seconds per (method, N) point of ``measure`` on this 2-core CPU, 1 torch thread, load average ~1.2
# (2026-11-30): N = 256…2048, reference/SDPA/tiled, 9 points in 14.8 s (1.4 to 2.3 s each; most of it the fresh
# Python process of each memory point).
POINT_S = {"memory": 1.3, "timing": 0.35}
POINT_LOAD_PER_CORE = 0.6


def estimate_measure_s(cfg: MeasureConfig) -> float:
    """Seconds ``measure(cfg)`` should take here: per point (method, N) the cost measured on this 2-core CPU
    (``POINT_S``: mostly the fresh Python process of each memory point), scaled by the machine's load now."""
    points = len(cfg.ns) * len(cfg.methods)
    per = POINT_S["memory" if cfg.memory else "timing"] + (POINT_S["timing"] if cfg.memory and cfg.timing else 0)
    return points * per * load_factor(POINT_LOAD_PER_CORE)


def measure(cfg: MeasureConfig, _progress=None) -> MeasureResult:
    """Measure now on this device (seconds: every CPU memory point is a fresh Python process).
    ``_progress(fraction, text)`` is called as each point starts (ui.longrun's Stop raises from it)."""
    total, done = max(1, len(cfg.ns) * len(cfg.methods)), [0]

    def step(text: str) -> None:
        if _progress is not None:
            _progress(done[0] / total, text)
        done[0] += 1

    rows = measure_rows(cfg, step)
    hw = describe(resolve_device(cfg.device).type)
    label = hw.summary() if hw.device == "cuda" else f"{hw.name}, {max(1, cfg.threads)} torch thread(s)"
    return rows_to_result(rows, device_label=label, source="measured now")


def recorded_runs() -> list[Path]:
    return sorted(ASSETS_BENCH.glob("flash-*.json"))


def load_recorded(path: str | None = None) -> MeasureResult:
    """A recorded ``python -m viz_core bench flash`` run (default: the CPU one in assets/bench)."""
    p = Path(path) if path else ASSETS_BENCH / "flash-cpu.json"
    if not p.exists():
        raise InputError(f"No recorded run at {p.name}; run `python -m viz_core bench flash` first.")
    data = json.loads(p.read_text(encoding="utf-8"))
    meta, rows = data.get("meta", {}), [r for r in data.get("rows", []) if "error" not in r or r.get("time_ms")]
    hw = meta.get("hardware", {})
    threads = rows[0].get("threads", hw.get("threads")) if rows else hw.get("threads")
    label = (f"{hw.get('name', '?')}, " + (f"{threads} torch thread(s)" if hw.get("device") == "cpu"
                                          else f"CUDA {hw.get('cuda_version')}") + f", torch {hw.get('torch_version')}")
    dtype = str(rows[0].get("dtype", "float32")) if rows else "float32"
    roof = flop_roof(hw.get("device", "cpu"), dtype, threads=int(threads or 1), name=hw.get("name"), live=False)
    return rows_to_result(rows, device_label=label, source=f"recorded {meta.get('started', '')[:10]}", roof=roof)


# ----------------------------------------------------------------------------------------------- claims
def _at(res: MeasureResult, method: str, key: str) -> tuple[float, int] | None:
    """Value of ``key`` for ``method`` at the largest N where both it and the reference were measured."""
    if method not in res.methods or "reference" not in res.methods:
        return None
    a = getattr(res, key)[res.methods.index(method)]
    r = getattr(res, key)[res.methods.index("reference")]
    ok = np.where(np.isfinite(a) & np.isfinite(r) & (a > 0))[0]
    if not len(ok):
        return None
    j = ok[-1]
    return float(r[j] / a[j]), int(res.ns[j])


def _fast_method(res: MeasureResult) -> str | None:
    """The FlashAttention kernel when it was measured, else SDPA's own choice."""
    for m in ("sdpa:flash", "sdpa"):
        if m not in res.methods:
            continue
        i = res.methods.index(m)
        if np.isfinite(res.time_ms[i]).any() or np.isfinite(res.peak_bytes[i]).any():
            return m
    return None


def exact_here(method: str, device: str = "cpu") -> float:
    """Largest |method − float64 attention| on a small fp32 input on ``device`` (the 'exact' part of claim #4)."""
    q, k, v = make_inputs(96, 2, 32, "float32", device)
    with torch.no_grad():
        out = attention_call(method, q, k, v)().double()
        s = torch.softmax(q.double() @ k.double().transpose(-2, -1) / 32 ** 0.5, dim=-1)
        return float((out - s @ v.double()).abs().max())


def claim_checks(res: MeasureResult | None) -> list[claims.ClaimCheck]:
    """Claims #1, #3 (arithmetic) and #4, #5 (measured, when ``res`` is given), each decided by its judge."""
    sizes = {n: float(score_matrix_bytes(n)) for n in (512, 2048, 8192, 32768)}
    out = [claims.judge_1(sizes, measured="N²×4 bytes: " + ", ".join(
        f"{n} → {b / 2**20:,.0f} MiB" for n, b in sizes.items()) + " (binary units)",
        provenance="computed (formula N²·4 B)")]
    per_layer = score_matrix_bytes(2048, heads=96)
    out.append(claims.judge_3(
        96 * per_layer,
        measured=f"2048² = {2048**2 / 1e6:.2f} M scores per head; ×96 heads ×4 B = {per_layer / 2**30:.2f} GiB per "
                 f"layer; ×96 layers = {96 * per_layer / 2**30:.0f} GiB ({96 * per_layer / 1e9:.0f} GB)",
        provenance="computed (formula N²·4 B·heads·layers)"))
    if res is None:
        return out
    fast = _fast_method(res)
    mem = _at(res, fast, "peak_bytes") if fast else None
    spd = _at(res, fast, "time_ms") if fast else None
    where = f"{res.device_label}, {res.dtype}, {res.heads} heads, d={res.d}"
    prov = f"{res.source} ({where})"
    exact = None
    if fast and res.source == "measured now":  # checked on the device that was measured
        dev = "cuda" if "cuda" in res.device_label.lower() else "cpu"
        exact = exact_here(fast, dev) <= 1e-5
    parts = ([f"{mem[0]:.1f}× less peak memory at N={mem[1]} ({res.memory_method})"] if mem else []) + \
            ([f"{spd[0]:.1f}× faster at N={spd[1]}"] if spd else [])
    label = method_label(fast) if fast else "no fused kernel"
    out.append(claims.judge_4(spd[0] if spd else None, mem[0] if mem else None, exact,
                              measured=f"{label} vs standard eager attention: " + ("; ".join(parts) or "not measured"),
                              provenance=prov))
    out.append(claims.judge_5(spd[0] if spd else None, measured=(
        f"{label} is {spd[0]:.1f}× faster than standard attention at N={spd[1]}" if spd else "no timing in this run"),
        provenance=prov))
    return out


__all__ = ["MeasureConfig", "MeasureResult", "measure",
           "measure_rows", "load_recorded", "recorded_runs", "claim_checks", "exact_here", "memory_workload", "rows_to_result",
           "available_backends", "method_label", "STAT_BYTES"]
