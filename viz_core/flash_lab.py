"""Page-facing runners for FlashAttention: the step-through trace, the memory story, backend speeds.

Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness";
Dao 2023, "FlashAttention-2". Everything here takes a frozen config and returns numpy arrays and numbers.

- ``step_through``: runs ``viz_core.attention.flash.flash_forward`` with a trace on one small head and
  returns, per tile, the score tile, the running m and l, the partial output, and the bytes moved, beside
  the naive algorithm's traffic and the Θ(N²d²/M) IO bound.
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
from viz_core.attention.flash import (
    STAT_BYTES,
    flash_forward,
    io_bound_elements,
    n_blocks,
    naive_hbm_bytes,
    sram_tile_bytes,
    tiled_hbm_bytes,
)
from viz_core.attention.reference import causal_mask, reference_attention
from viz_core.attention.sdpa import available_backends, sdpa_attention, sdpa_with_backend
from viz_core.bench.flops import attention_flops, score_matrix_bytes
from viz_core.bench.memory import check_budget, measure_peak
from viz_core.bench.timer import time_fn
from viz_core.device import describe, dtype_bytes, resolve_device, resolve_dtype
from viz_core.errors import BudgetError, InputError

ASSETS_BENCH = Path(__file__).resolve().parents[1] / "assets" / "bench"
MAX_STEP_N = 128
MAX_STEP_D = 32
MAX_STEPS = 1024


# ----------------------------------------------------------------------------------------- step-through
@dataclass(frozen=True)
class StepConfig:
    n: int = 24  # sequence length (queries = keys)
    d: int = 8  # head size
    block_q: int = 8  # Br
    block_k: int = 8  # Bc
    causal: bool = False
    seed: int = 0
    dtype: str = "float32"


@dataclass
class StepResult:
    n: int
    d: int
    block_q: int  # effective Br (clipped to N)
    block_k: int  # effective Bc
    causal: bool
    elem_bytes: int
    q: np.ndarray  # (N, D)
    k: np.ndarray  # (N, D)
    v: np.ndarray  # (N, D)
    reference_out: np.ndarray  # (N, D)
    tiled_out: np.ndarray  # (N, D)
    max_abs_error: float  # |tiled - reference|, max over all entries
    # per step s (S steps); tiles padded to (Br, Bc) with NaN
    q_block: np.ndarray  # (S,) int
    kv_block: np.ndarray  # (S,) int
    rows: np.ndarray  # (S, 2) [r0, r1)
    cols: np.ndarray  # (S, 2) [c0, c1)
    scores: np.ndarray  # (S, Br, Bc) scaled scores, -inf masked, NaN padding
    probs: np.ndarray  # (S, Br, Bc) exp(S - m)
    m: np.ndarray  # (S, Br) running max after the step
    l: np.ndarray  # (S, Br) running sum after the step
    o: np.ndarray  # (S, Br, D) current estimate of the block's output rows
    read_bytes: np.ndarray  # (S,) HBM reads in the step
    write_bytes: np.ndarray  # (S,) HBM writes in the step
    score_bytes_on_chip: np.ndarray  # (S,)
    skipped: np.ndarray  # (K, 2) causal tiles never loaded
    sram_bytes: int  # working set of one full tile
    # totals
    tiled_read: int
    tiled_write: int
    formula_read: int  # closed form, for the same Br, Bc
    formula_write: int
    naive_read: int
    naive_write: int
    io_bound_bytes: float  # N²d²/M · bytes per value, M = the tile's SRAM working set in values
    sram_values: float  # M
    # the same counts as N grows (fixed d, Br, Bc): for the side chart
    curve_n: np.ndarray  # (P,)
    curve_naive: np.ndarray  # (P,) bytes read + written
    curve_tiled: np.ndarray  # (P,)
    curve_bound: np.ndarray  # (P,)

    @property
    def n_steps(self) -> int:
        return len(self.q_block)


def _traffic_curve(d: int, br: int, bc: int, causal: bool, e: int) -> tuple[np.ndarray, ...]:
    ns = np.array([2**p for p in range(7, 16)])  # 128 .. 32768
    m_vals = sram_tile_bytes(br, bc, d, d, e) / e
    naive = np.array([sum(naive_hbm_bytes(int(n), int(n), d, d, elem_bytes=e)) for n in ns], dtype=float)
    tiled = np.array([sum(tiled_hbm_bytes(int(n), int(n), d, d, br, bc, causal=causal, elem_bytes=e))
                      for n in ns], dtype=float)
    bound = np.array([io_bound_elements(int(n), d, m_vals) * e for n in ns], dtype=float)
    return ns, naive, tiled, bound


def step_through(cfg: StepConfig) -> StepResult:
    """Run the tiled forward on one head of random Q, K, V with a trace; compare with the reference."""
    if not 1 <= cfg.n <= MAX_STEP_N:
        raise InputError(f"The step-through shows 1 to {MAX_STEP_N} tokens (got {cfg.n}).")
    if not 1 <= cfg.d <= MAX_STEP_D:
        raise InputError(f"The step-through shows head sizes 1 to {MAX_STEP_D} (got {cfg.d}).")
    if cfg.block_q < 1 or cfg.block_k < 1:
        raise InputError("Block sizes Br and Bc must be at least 1.")
    br, bc = min(cfg.block_q, cfg.n), min(cfg.block_k, cfg.n)
    if n_blocks(cfg.n, br) * n_blocks(cfg.n, bc) > MAX_STEPS:
        raise InputError(f"{n_blocks(cfg.n, br)}×{n_blocks(cfg.n, bc)} tiles are too many to step through "
                         f"(at most {MAX_STEPS}); choose larger blocks.")
    dtype = resolve_dtype(cfg.dtype, "cpu")
    g = torch.Generator().manual_seed(cfg.seed)
    q, k, v = (torch.randn(1, 1, cfg.n, cfg.d, generator=g).to(dtype) for _ in range(3))  # (1, 1, N, D)
    ref = reference_attention(q, k, v, causal=cfg.causal, return_weights=False).out
    out, tr = flash_forward(q, k, v, block_q=br, block_k=bc, causal=cfg.causal, trace=True)
    e = tr.elem_bytes
    s = len(tr.steps)
    scores = np.full((s, br, bc), np.nan, np.float32)
    probs = np.full((s, br, bc), np.nan, np.float32)
    m = np.full((s, br), np.nan, np.float32)
    ll = np.full((s, br), np.nan, np.float32)
    o = np.full((s, br, cfg.d), np.nan, np.float32)
    for idx, st in enumerate(tr.steps):
        r, c = st.scores.shape
        scores[idx, :r, :c], probs[idx, :r, :c] = st.scores, st.probs
        m[idx, :r], ll[idx, :r], o[idx, :r] = st.m, st.l, st.o
    fr, fw = tiled_hbm_bytes(cfg.n, cfg.n, cfg.d, cfg.d, br, bc, causal=cfg.causal, elem_bytes=e)
    nr, nw = naive_hbm_bytes(cfg.n, cfg.n, cfg.d, cfg.d, elem_bytes=e)
    sram = sram_tile_bytes(br, bc, cfg.d, cfg.d, e)
    cn, cnaive, ctiled, cbound = _traffic_curve(cfg.d, br, bc, cfg.causal, e)
    f32 = lambda t: t[0, 0].float().numpy()  # noqa: E731
    return StepResult(
        n=cfg.n, d=cfg.d, block_q=br, block_k=bc, causal=cfg.causal, elem_bytes=e,
        q=f32(q), k=f32(k), v=f32(v), reference_out=f32(ref), tiled_out=f32(out),
        max_abs_error=float((out.float() - ref.float()).abs().max()),
        q_block=np.array([st.q_block for st in tr.steps]), kv_block=np.array([st.kv_block for st in tr.steps]),
        rows=np.array([st.rows for st in tr.steps]).reshape(s, 2),
        cols=np.array([st.cols for st in tr.steps]).reshape(s, 2),
        scores=scores, probs=probs, m=m, l=ll, o=o,
        read_bytes=np.array([st.read_bytes for st in tr.steps]),
        write_bytes=np.array([st.write_bytes for st in tr.steps]),
        score_bytes_on_chip=np.array([st.score_bytes_on_chip for st in tr.steps]),
        skipped=np.array(tr.skipped, dtype=int).reshape(-1, 2),
        sram_bytes=sram, tiled_read=tr.read_bytes, tiled_write=tr.write_bytes, formula_read=fr,
        formula_write=fw, naive_read=nr, naive_write=nw,
        io_bound_bytes=io_bound_elements(cfg.n, cfg.d, sram / e) * e, sram_values=sram / e,
        curve_n=cn, curve_naive=cnaive, curve_tiled=ctiled, curve_bound=cbound,
    )


def state_at(res: StepResult, step: int) -> dict[str, np.ndarray]:
    """Per-row picture after ``step``: m, l (N,), output estimate (N, D) and row status (N,).

    status: 0 not started, 1 in progress (current query block), 2 finished and written to HBM.
    """
    step = int(np.clip(step, 0, res.n_steps - 1))
    n = res.n
    m = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    o = np.full((n, res.d), np.nan)
    status = np.zeros(n, int)
    cur_block = res.q_block[step]
    for s in range(step + 1):  # the last state of every block seen so far
        r0, r1 = res.rows[s]
        k = r1 - r0
        m[r0:r1], ll[r0:r1], o[r0:r1] = res.m[s, :k], res.l[s, :k], res.o[s, :k]
    for s in range(step + 1):
        r0, r1 = res.rows[s]
        done = res.q_block[s] != cur_block or (s == step and _is_last_of_block(res, s))
        status[r0:r1] = 2 if done else 1
    return {"m": m, "l": ll, "o": o, "status": status}


def _is_last_of_block(res: StepResult, s: int) -> bool:
    return s == res.n_steps - 1 or res.q_block[s + 1] != res.q_block[s]


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
        return lambda: standard_attention(q, k, v, causal=causal)
    if method == "sdpa":
        return lambda: sdpa_attention(q, k, v, cfg=_Causal(causal)).out
    if method.startswith("sdpa:"):
        backend = method.split(":", 1)[1]
        return lambda: sdpa_with_backend(q, k, v, backend, causal=causal)
    if method == "tiled":
        return lambda: flash_forward(q, k, v, block_q=block, block_k=block, causal=causal)[0]
    raise InputError(f"Unknown attention method {method!r}.")


def standard_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
    """Standard eager attention in the inputs' dtype, the baseline of Dao et al.: softmax(QKᵀ/√d) V.

    (B, H, N, D) -> (B, H, N, Dv). Materialises the (B, H, N, M) scores and probabilities. Unlike
    ``reference_attention`` it does not upcast half inputs, so on a GPU it is the fair fp16 baseline;
    for fp32 it computes the same thing.
    """
    scores = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)  # (B, H, N, M)
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, H, N, Dv)


@dataclass(frozen=True)
class _Causal:
    causal: bool


def memory_workload(method: str, n: int, heads: int, d: int, dtype: str, device: str, causal: bool = False,
                    block: int = 128):
    """Factory for ``viz_core.bench.memory.measure_peak``: builds inputs, returns the call to measure."""
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
    peak_source: str  # where the peak FLOP/s came from
    source: str  # "measured now" or "recorded <date>"


def rows_to_result(rows: list[dict], *, device_label: str, source: str) -> MeasureResult:
    """Bench-suite rows (one per method × N) -> a MeasureResult (for recorded runs and the page)."""
    if not rows:
        raise InputError("The benchmark has no rows.")
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
    r0 = rows[0]
    heads, d = int(r0["heads"]), int(r0["d"])
    dtype = str(r0["dtype"])
    return MeasureResult(
        ns=np.array(ns), methods=methods, **arrs,
        score_bytes=np.array([score_matrix_bytes(n, heads=heads, bytes_per_value=dtype_bytes(dtype)) for n in ns],
                             dtype=float),
        heads=heads, d=d, dtype=dtype, causal=str(r0.get("causal")) in ("True", "true", "1"),
        device_label=device_label, memory_method=str(r0.get("memory_method", "")),
        peak_source=str(r0.get("peak_source", "")), source=source)


def measure_rows(cfg: MeasureConfig, progress=None) -> list[dict]:
    """Time and peak memory of each method at each N on this device: one flat dict per (method, N).

    On CPU it runs with ``cfg.threads`` torch threads and restores the previous count afterwards.
    """
    dev = resolve_device(cfg.device)
    before = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(max(1, cfg.threads))
    try:
        return _measure_rows(cfg, dev, progress)
    finally:
        torch.set_num_threads(before)


def _measure_rows(cfg: MeasureConfig, dev: torch.device, progress) -> list[dict]:
    dt = resolve_dtype(cfg.dtype, dev)
    elem = dtype_bytes(dt)
    hw = describe(dev.type, measure_cpu_peak=cfg.timing)
    peak = hw.peak_flops_half if (dev.type == "cuda" and dt != torch.float32) else hw.peak_flops_fp32
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
                row.update(time_ms=t.median_s * 1e3, time_iqr_ms=t.spread_s * 1e3,
                           tflops=flops / t.median_s / 1e12,
                           pct_peak=(100 * flops / t.median_s / peak) if peak else None,
                           peak_source=hw.peak_flops_source, threads=t.threads)
                del q, k, v, call
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            if cfg.memory:
                try:
                    mm = measure_peak("viz_core.flash_lab", "memory_workload",
                                      dict(method=method, n=n, heads=cfg.heads, d=cfg.d, dtype=cfg.dtype,
                                           device=dev.type, causal=cfg.causal, block=cfg.block),
                                      device=dev, threads=max(1, cfg.threads))
                    row.update(peak_bytes=mm.peak_bytes, memory_method=mm.method)
                except (RuntimeError, InputError) as exc:  # e.g. a backend that cannot run here
                    row["error"] = f"memory: {str(exc).strip().splitlines()[-1][:100]}"
            rows.append(row)
    return rows


def measure(cfg: MeasureConfig) -> MeasureResult:
    """Measure now on this device (seconds: every CPU memory point is a fresh Python process)."""
    rows = measure_rows(cfg)
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
    return rows_to_result(rows, device_label=label, source=f"recorded {meta.get('started', '')[:10]}")


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


def claim_checks(res: MeasureResult | None) -> list[claims.ClaimCheck]:
    """Claims #1, #3 (arithmetic) and #4, #5 (measured, when ``res`` is given) with computed verdicts."""
    out: list[claims.ClaimCheck] = []
    mib = score_matrix_bytes(512) / 2**20
    gib = score_matrix_bytes(32768) / 2**30
    out.append(claims.check_value(
        1, score_matrix_bytes(8192) / 2**20, 256,
        measured=f"N²×4 bytes: 512 → {mib:g} MiB, 2048 → {score_matrix_bytes(2048) / 2**20:g} MiB, "
                 f"8192 → {score_matrix_bytes(8192) / 2**20:g} MiB, 32768 → {gib:g} GiB (binary units)",
        rel_tol=0.01, why_holds="exact arithmetic when MB means MiB (2²⁰ bytes)"))
    per_layer = score_matrix_bytes(2048, heads=96)
    out.append(claims.check_value(
        3, 96 * per_layer / 2**30, 144,
        measured=f"2048² = {2048**2 / 1e6:.2f} M scores per head; ×96 heads ×4 B = {per_layer / 2**30:.2f} GiB per "
                 f"layer; ×96 layers = {96 * per_layer / 2**30:.0f} GiB ({96 * per_layer / 1e9:.0f} GB)",
        rel_tol=0.05, why_holds="the arithmetic holds in binary units; real kernels never keep all layers' scores"))
    if res is None:
        return out
    fast = _fast_method(res)
    mem = _at(res, fast, "peak_bytes") if fast else None
    spd = _at(res, fast, "time_ms") if fast else None
    where = f"{res.device_label}, {res.dtype}, {res.heads} heads, d={res.d} ({res.source})"
    if mem or spd:
        parts, verdicts = [], []
        if mem:
            mratio, mn = mem
            parts.append(f"{mratio:.1f}× less peak memory at N={mn}")
            verdicts.append(claims.Verdict.HOLDS if mratio >= 5 else
                            claims.Verdict.PARTLY if mratio >= 2.5 else claims.Verdict.NOT_HERE)
        if spd:
            sratio, sn = spd
            parts.append(f"{sratio:.1f}× faster at N={sn}")
            verdicts.append(claims.Verdict.HOLDS if sratio >= 2 else
                            claims.Verdict.PARTLY if sratio >= 1 else claims.Verdict.NOT_HERE)
        if all(v == claims.Verdict.HOLDS for v in verdicts) and len(verdicts) == 2:
            v4, why = claims.Verdict.HOLDS, "at least 5× less memory and at least 2× faster, and exact (tested)"
            if mem[0] > 20:
                why += "; the memory saving is beyond 20× here because it grows like N"
        elif all(v == claims.Verdict.NOT_HERE for v in verdicts):
            v4, why = claims.Verdict.NOT_HERE, "neither the memory saving nor the speed-up reaches the claim here"
        else:
            v4 = claims.Verdict.PARTLY
            why = ("memory: " + ("holds" if not mem or mem[0] >= 5 else "below 5×") + "; speed: "
                   + ("not measured" if not spd else "holds" if spd[0] >= 2 else f"{spd[0]:.1f}×, below 2×")
                   + " — the memory saving grows with N, the speed-up depends on the device")
        out.append(claims.ClaimCheck(
            claims.CLAIMS[4], f"{method_label(fast)} vs standard attention: " + "; ".join(parts) + f" — {where}",
            v4, why))
    if spd:
        sratio, sn = spd
        out.append(claims.check_ratio(
            5, sratio, 5, 7,
            measured=f"{method_label(fast)} is {sratio:.1f}× faster than standard attention at N={sn} — {where}",
            why_holds="speed-up inside the claimed 5–7×",
            why_not=("the fused CPU kernel is not FlashAttention-2 and a CPU is compute-bound, not memory-bound"
                     if "cuda" not in res.device_label.lower() and "CUDA" not in res.device_label
                     else "the speed-up depends on N, head size, dtype and the GPU")))
    else:
        out.append(claims.ClaimCheck(claims.CLAIMS[5], "no timing in this run", claims.Verdict.NOT_MEASURED,
                                     "measure to compare"))
    return out


__all__ = ["StepConfig", "StepResult", "step_through", "state_at", "MeasureConfig", "MeasureResult", "measure",
           "measure_rows", "load_recorded", "recorded_runs", "claim_checks", "memory_workload", "rows_to_result",
           "available_backends", "method_label", "STAT_BYTES"]
