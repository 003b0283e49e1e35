"""Runner for the Low-bit page's kernel section: ternary GEMV time against bytes of weights read.

- ``measure(...)``: batch-1 products y = W x for fp32 (``torch.mv``) and the numba ternary kernels
  (``viz_core.compression.ternary_kernels``), cycling through enough copies of each matrix that they do not
  fit in the last-level cache, kernels interleaved call by call. Used by ``python -m viz_core bench lowbit``.
- ``measure_lean(...)``: the same products for the page, one kernel's copies at a time (kernels in turn within
  each repeat), so a live run holds one kernel's copies, not all of them (the request budget).
- ``run(cfg)`` -> ``KernelResult``: the live measurement (small, for the page) or the recorded bench run
  (``assets/bench/lowbit-cpu.json``).
- ``compare(kernel, ...)``: the QAT ternary tiny GPT end to end through a kernel: greedy tokens/s with the KV
  cache and validation loss, against fp32 and the same ternary model in float.
- ``lut_explanation(res)``: one sentence, computed from the measured LUT time, on why a scalar lookup
  table is not the fastest kernel without SIMD shuffles; ``lut_claim(res)``: claim #22.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viz_core.compression import ternary_kernels as tk
from viz_core.compression.quantize import quantizable_linears
from viz_core.compression.ternary_model import KernelLinear, kernel_model
from viz_core.errors import InputError
from viz_core.measure.budget import ALLOCATOR_SLACK, check_memory

ASSETS_BENCH = Path(__file__).resolve().parents[2] / "assets" / "bench"
ALL_KERNELS = ("fp32", *tk.KERNELS)
MIN_CALLS_PER_PASS = 8  # measure_lean: timed calls per kernel and repeat, cycling its copies
FORMAT = {"int8": "int8", "2bit": "packed", "lut": "lut_idx"}  # the TernaryMatrix array each kernel reads
LABELS = {"fp32": "fp32 (torch.mv)", "int8": "ternary int8 (numba)", "2bit": "ternary 2-bit packed (numba)",
          "lut": "ternary lookup table, scalar (numba)"}


def _base(out_f: int, in_f: int, rng):
    """-> (the ternary matrix in its three formats, x (in,) float32, the float64 product γ·Q x, by row blocks
    so that no float64 copy of the whole matrix is made)."""
    base = tk.TernaryMatrix(rng.integers(-1, 2, (out_f, in_f), dtype=np.int8), 0.02)
    x = rng.standard_normal(in_f).astype(np.float32)
    x64 = x.astype(np.float64)
    ref = np.concatenate([base.int8[r:r + 256].astype(np.float64) @ x64 for r in range(0, out_f, 256)])
    return base, x, ref * float(base.gamma)


def _kernel_copies(base, x: np.ndarray, k: str, cycle_bytes: float, min_copies: int = 2):
    """-> (zero-arg callables, one per copy of the weights at its own address; weight bytes read per call)."""
    out_f, in_f = base.out_features, base.in_features
    xt = torch.from_numpy(x)
    nbytes = 4 * out_f * in_f if k == "fp32" else base.weight_bytes(k)
    fns = []
    for _ in range(max(min_copies, int(np.ceil(cycle_bytes / nbytes)))):
        if k == "fp32":
            w = torch.from_numpy(base.dequantized())  # a new array each time
            fns.append(lambda w=w: torch.mv(w, xt))
        else:
            m = tk.TernaryMatrix.__new__(tk.TernaryMatrix)  # the kernel's format copied to a new address
            m.__dict__.update(vars(base))
            attr = FORMAT[k]
            setattr(m, attr, getattr(base, attr).copy())
            y = np.empty((1, out_f), np.float32)
            fns.append(lambda m=m, k=k, y=y: m.matvec(x, k, out=y))
    return fns, nbytes


def _copies(out_f: int, in_f: int, kernels, cycle_bytes: float, rng) -> tuple[dict, np.ndarray]:
    """-> ({kernel: (callables, weight bytes per call)} for every kernel at once, the float64 product)."""
    base, x, ref = _base(out_f, in_f, rng)
    return {k: _kernel_copies(base, x, k, cycle_bytes) for k in kernels}, ref


def _rel_err(y, ref: np.ndarray) -> float:
    y = np.asarray(y, np.float64).reshape(-1)
    return float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30))


def _rows(out_f: int, in_f: int, res: dict) -> list[dict]:
    """{kernel: (seconds per call, weight bytes, copies cycled, max rel. error)} -> one bench row per kernel."""
    ref = float(np.median(res["fp32"][0])) if "fp32" in res else None
    ref_min = float(np.min(res["fp32"][0])) if "fp32" in res else None
    rows = []
    for k, (ts, nbytes, copies, err) in res.items():
        ts = np.array(ts)
        med = float(np.median(ts))
        q1, q3 = np.percentile(ts, [25, 75])
        rows.append({"shape": f"{out_f}x{in_f}", "kernel": k, "bits_per_weight": 8 * nbytes / (out_f * in_f),
                     "median_ms": med * 1e3, "iqr_ms": float(q3 - q1) * 1e3, "min_ms": float(ts.min()) * 1e3,
                     "weight_bytes": int(nbytes), "GB_per_s": nbytes / med / 1e9,
                     "speedup_vs_fp32": (ref / med) if ref else None,
                     "speedup_vs_fp32_best": (ref_min / float(ts.min())) if ref_min else None, "copies_cycled": copies,
                     "cycled_MiB": copies * nbytes / 2**20, "calls": len(ts),
                     "ns_per_weight": med * 1e9 / (out_f * in_f), "max_rel_err": err,
                     "threads": torch.get_num_threads(), "lut_group": tk.LUT_G if k == "lut" else None})
    return rows


def measure_lean(shape, kernels=ALL_KERNELS, cycle_mib: float = 64.0, repeats: int = 3, seed: int = 0,
                 progress=lambda msg: None) -> dict[str, tuple[list[float], int, int, float]]:
    """The live page's variant of ``measure``: one kernel's copies at a time (built, timed over one pass, freed),
    kernels in turn within each repeat, so the memory held is one kernel's ``cycle_mib`` (at least one copy of
    the matrix) plus the base formats, not every kernel's at once. -> {kernel: (seconds per call, weight bytes,
    copies cycled, max relative error vs float64)}."""
    out_f, in_f = shape
    rng = np.random.default_rng(seed)
    base, x, ref = _base(out_f, in_f, rng)
    out: dict[str, tuple[list[float], int, int, float]] = {}
    for r in range(max(1, repeats)):
        for k in kernels:
            progress(f"{out_f}x{in_f}: pass {r + 1}/{repeats}, {k}")
            fns, nbytes = _kernel_copies(base, x, k, cycle_mib * 2**20, min_copies=1)
            for fn in fns:  # first touch of every page (and the output check)
                y = fn()
            ts = out.setdefault(k, ([], int(nbytes), len(fns), _rel_err(y, ref)))[0]
            for c in range(max(len(fns), MIN_CALLS_PER_PASS)):  # the copies in turn (one copy > the cache)
                fn = fns[c % len(fns)]
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
            del fns, fn, y  # fn too: the loop variable would keep the last copy alive into the next kernel
    return out


def measure(shapes, kernels=ALL_KERNELS, cycle_mib: float = 128.0, repeats: int = 7, seed: int = 0,
            progress=lambda msg: None) -> list[dict]:
    """One row per (shape, kernel): median/IQR ms per product, weight bytes, GB/s, speed-up vs fp32."""
    unknown = set(kernels) - set(ALL_KERNELS)
    if unknown or not kernels:
        raise InputError(f"Unknown kernels {sorted(unknown)}; choose from {', '.join(ALL_KERNELS)}.")
    tk.warm_up()
    rng = np.random.default_rng(seed)
    rows = []
    for out_f, in_f in shapes:
        if out_f < 1 or in_f < 1 or out_f * in_f > 2**28:
            raise InputError(f"Shape {out_f}x{in_f} must be positive and at most 2^28 weights.")
        progress(f"shape {out_f}x{in_f}: building copies")
        cases, ref_y = _copies(out_f, in_f, kernels, cycle_mib * 2**20, rng)
        errs = {}
        for k, (fns, _) in cases.items():  # warm-up pass (first touch of every page) and output check
            for fn in fns:
                y = fn()
            errs[k] = _rel_err(y, ref_y)
        times: dict[str, list[float]] = {k: [] for k in cases}
        steps = max(len(fns) for fns, _ in cases.values())
        for r in range(max(1, repeats)):
            progress(f"shape {out_f}x{in_f}: pass {r + 1}/{repeats}")
            for step in range(steps):  # kernels interleaved call by call: a change in load hits all alike
                for k, (fns, _) in cases.items():
                    fn = fns[step % len(fns)]  # the next copy: never the one just read
                    t = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t)
        rows += _rows(out_f, in_f, {k: (times[k], nbytes, len(fns), errs[k]) for k, (fns, nbytes) in cases.items()})
        del cases
    return rows


@dataclass(frozen=True)
class KernelConfig:
    source: str = "recorded"  # "recorded" (assets/bench/lowbit-cpu.json) or "live"
    shape: str = "4096x4096"
    repeats: int = 3
    cycle_mib: float = 64.0  # per kernel, one kernel at a time: twice this CPU's 32 MiB last-level cache


@dataclass(frozen=True)
class KernelResult:
    shape: str
    kernels: tuple[str, ...]
    median_ms: np.ndarray  # (K,)
    iqr_ms: np.ndarray  # (K,)
    weight_bytes: np.ndarray  # (K,)
    speedup: np.ndarray  # (K,) vs fp32, ratio of medians
    min_ms: np.ndarray  # (K,) fastest call: the least disturbed by other processes on a shared CPU
    speedup_best: np.ndarray  # (K,) vs fp32, ratio of the fastest calls
    max_rel_err: np.ndarray  # (K,) max |y − y_ref| / max |y_ref| vs the float64 product (NaN if not recorded)
    threads: int
    provenance: str  # "recorded <date> on <cpu>" or "measured live"
    compile_s: float | None


def _from_rows(rows, shape: str, provenance: str, compile_s) -> KernelResult:
    rows = [r for r in rows if r["shape"] == shape]
    if not rows:
        raise InputError(f"No kernel timings for shape {shape}.")
    col = lambda c: np.array([float(r[c]) for r in rows])  # noqa: E731
    return KernelResult(shape, tuple(r["kernel"] for r in rows), col("median_ms"), col("iqr_ms"),
                        col("weight_bytes"), col("speedup_vs_fp32"), col("min_ms"), col("speedup_vs_fp32_best"),
                        np.array([float(r.get("max_rel_err", np.nan)) for r in rows]), int(rows[0]["threads"]),
                        provenance, compile_s)


def live_peak_bytes(cfg: KernelConfig) -> float:
    """Estimated peak of a live ``run(cfg)`` (``measure_lean``): the largest one kernel's cycled copies (at least
    one copy of the matrix), the base matrix in its three ternary formats, x and the reference (row blocks),
    with the allocator's slack."""
    o, i = (int(v) for v in cfg.shape.split("x"))
    w, cycle = o * i, cfg.cycle_mib * 2**20
    per_weight = {"fp32": 4.0, "int8": 1.0, "2bit": 0.25, "lut": 0.25}
    copies = max(max(1, int(np.ceil(cycle / (b * w)))) * b * w for b in per_weight.values())
    return (copies + 1.5 * w + 16.0 * (o + i) + 8.0 * 256 * i) * ALLOCATOR_SLACK


def run(cfg: KernelConfig) -> KernelResult:
    if cfg.source == "recorded":
        path = ASSETS_BENCH / "lowbit-cpu.json"
        if not path.exists():
            raise InputError("No recorded run; make one with `python -m viz_core bench lowbit --threads 1`.")
        data = json.loads(path.read_text(encoding="utf-8"))
        hw = data["meta"].get("hardware", {})
        prov = f"recorded {data['meta'].get('started', '')[:16]} on {hw.get('name', 'CPU')}"
        return _from_rows(data["rows"], cfg.shape, prov, data["rows"][0].get("compile_s_fresh"))
    if cfg.source != "live":
        raise InputError(f"Source must be 'recorded' or 'live'; got {cfg.source!r}.")
    try:
        o, i = (int(v) for v in cfg.shape.split("x"))
    except ValueError:
        raise InputError(f"Shapes look like 4096x4096; got {cfg.shape!r}.") from None
    check_memory(live_peak_bytes(cfg), what=f"Timing the ternary kernels live at {cfg.shape}",
                 fits="the recorded run (switch 'Measure live here' off), or `python -m viz_core bench lowbit` "
                      "on a machine of your own")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = _rows(o, i, measure_lean((o, i), ALL_KERNELS, cfg.cycle_mib, cfg.repeats))
    finally:
        torch.set_num_threads(old)
    return _from_rows(rows, cfg.shape, "measured live", None)


def recorded_tiny_gpt() -> list[dict]:
    """The recorded end-to-end rows (QAT ternary tiny GPT through the kernel), or [] if none."""
    path = ASSETS_BENCH / "lowbit-cpu.json"
    if not path.exists():
        return []
    return [r for r in json.loads(path.read_text(encoding="utf-8"))["rows"] if r.get("shape") == "tiny-gpt"]


def lut_explanation(res: KernelResult) -> str:
    """Why the scalar LUT is not the fastest kernel, computed from its measured fastest call."""
    k = {n: j for j, n in enumerate(res.kernels)}
    if "lut" not in k:
        return ""
    o, i = (int(v) for v in res.shape.split("x"))
    lookups = o * -(-i // tk.LUT_G)
    ns = res.min_ms[k["lut"]] * 1e6 / lookups
    text = (f"The scalar lookup table does {lookups / 1e6:.1f} M table lookups per product (one per group of "
            f"{tk.LUT_G} weights): its fastest call, {res.min_ms[k['lut']]:.2f} ms, is {ns:.2f} ns per lookup, each a "
            f"load from a {3 ** tk.LUT_G}-entry table in memory")
    slower = True
    if "2bit" in k:
        per_group = res.min_ms[k["2bit"]] * 1e6 * tk.LUT_G / (o * i)
        slower = ns > per_group
        text += (f", while the 2-bit kernel handles the same {tk.LUT_G} weights in {per_group:.2f} ns with 16-wide "
                 f"multiply-adds ({max(ns / per_group, per_group / ns):.1f}× {'less' if slower else 'more'} time)")
    return text + (". bitnet.cpp wins with the table because a SIMD shuffle (pshufb / tbl) keeps a 16-entry "
                   "table in a register and does 16–64 lookups in one instruction" +
                   ("; without it a lookup costs more than the multiply-adds it replaces." if slower else
                    "; here even scalar lookups beat the multiply-adds."))


def lut_claim(res: KernelResult):
    """Claim #22, judged (``viz_core.claims.judge_22``) from the measured lookup-table kernel: its output error
    against the float64 product and its speed-up over fp32."""
    from viz_core.claims import judge_22

    k = {n: j for j, n in enumerate(res.kernels)}
    if "lut" not in k or "fp32" not in k:
        return judge_22(None, measured="the lookup-table kernel was not timed", provenance=res.provenance)
    j = k["lut"]
    err = None if np.isnan(res.max_rel_err[j]) else float(res.max_rel_err[j])
    best = min(res.median_ms[i] for n, i in k.items() if n not in ("fp32", "lut"))
    return judge_22(err, float(res.speedup[j]), provenance=res.provenance, measured=(
        f"LUT kernel {res.median_ms[j]:.2f} ms vs fp32 {res.median_ms[k['fp32']]:.2f} ms ({res.speedup[j]:.2f}×; "
        f"the best multiply-add ternary kernel {best:.2f} ms), {res.shape}, batch 1, {res.threads} thread; output "
        f"vs the float64 product: max relative error {res.max_rel_err[j]:.1e}"))


# ------------------------------------------------------------- the QAT ternary tiny GPT, end to end
@dataclass(frozen=True)
class EndToEnd:
    models: tuple[str, ...]
    tokens_per_s: np.ndarray  # (M,) cached greedy decoding, median over repeats
    tokens_per_s_iqr: np.ndarray  # (M,)
    val_loss: np.ndarray  # (M,) nats/byte, float activations
    same_tokens_as_float_ternary: tuple[bool, ...]
    new_tokens: int
    block_linear_us: float  # median µs of one block-linear call through the kernel (tiny GPT, batch 1)
    torch_linear_us: float  # the same layer as a torch float linear


@torch.no_grad()
def compare(kernel: str = "2bit", new_tokens: int = 128, prompt: str = "ROMEO:", repeats: int = 5,
            windows: int = 8, seq: int = 256) -> EndToEnd:
    from viz_core.compression.quantize import load_ternary
    from viz_core.labs.drop_redundancy import LayerDropConfig, _val_windows
    from viz_core.decoding.generate import generate
    from viz_core.models.gpt import load_tiny_gpt

    fp32, tok, _ = load_tiny_gpt("tiny-gpt")
    tern = load_ternary()[0]
    fast = kernel_model(tern, kernel)
    models = {"fp32 (torch)": fp32, "ternary, float weights (torch)": tern, f"ternary, {kernel} kernel": fast}
    ids = tok.encode(prompt)
    outs = {k: generate(m, ids, new_tokens, use_cache=True, count_kv=False).tokens for k, m in models.items()}
    times = {k: [] for k in models}
    for _ in range(repeats):  # interleaved, after the warm-up run above
        for k, m in models.items():
            t0 = time.perf_counter()
            generate(m, ids, new_tokens, use_cache=True, count_kv=False)
            times[k].append(time.perf_counter() - t0)
    x, y = _val_windows(LayerDropConfig(windows=windows, seq=seq), tok)
    losses = []
    for m in models.values():
        lg = m(x)[0]
        losses.append(float(torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1))))
    ref = outs["ternary, float weights (torch)"]
    lin_k = quantizable_linears(tern)[0][1]
    kl = KernelLinear(lin_k, kernel)
    xv = torch.randn(1, 1, lin_k.in_features)
    us = []
    for f in (kl, lin_k):
        ts = []
        for _ in range(200):
            t0 = time.perf_counter()
            f(xv)
            ts.append(time.perf_counter() - t0)
        us.append(float(np.median(ts)) * 1e6)
    tps = {k: new_tokens / np.array(v) for k, v in times.items()}
    return EndToEnd(tuple(models), np.array([np.median(v) for v in tps.values()]),
                    np.array([np.subtract(*np.percentile(v, [75, 25])) for v in tps.values()]),
                    np.array(losses), tuple(outs[k] == ref for k in models), new_tokens, us[0], us[1])
