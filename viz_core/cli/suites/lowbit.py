"""Low-bit GEMV: batch-1 decoding products with fp32 and ternary weights, beyond the last-level cache.

    python -m viz_core bench lowbit --threads 1
    python -m viz_core bench lowbit --threads 1 --shapes 4096x4096 --repeats 5

For each shape (out × in) and kernel, enough copies of the weight matrix are made that together they
exceed ``--cycle-mib`` (default 4× a 32 MiB L3), and each timed call uses the next copy: the weights come
from memory as a model's layers would, not from cache. Kernels: fp32 (``torch.mv``, the baseline) and the
numba ternary kernels of ``viz_core.compression.ternary_kernels`` (int8, 2-bit packed, lookup table).
Kernels are interleaved (every repeat runs each kernel once over all its copies) so that a change in the
machine's load hits them alike. Rows give the median and IQR per product, bytes of weights read, the
effective bandwidth and the speed-up vs fp32 (ratio of medians). Compile time is measured separately, in
a fresh process with an empty numba cache, and the cached load in this process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import torch

from viz_core.compression import ternary_kernels as tk
from viz_core.labs.bench_formulas import lowbit_row
from viz_core.labs.low_bit_kernels import measure
from viz_core.errors import InputError

HELP = "ternary GEMV kernels (int8, 2-bit, LUT; numba) vs fp32 at batch 1, weights beyond the cache"


def add_arguments(p) -> None:
    p.add_argument("--shapes", default="4096x4096,11008x4096", help="comma-separated OUTxIN")
    p.add_argument("--kernels", default="fp32," + ",".join(tk.KERNELS))
    p.add_argument("--cycle-mib", type=float, default=128.0, help="weights cycled through per kernel (MiB)")
    p.add_argument("--repeats", type=int, default=7, help="passes over the copies (each pass times every copy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gpt-tokens", type=int, default=128,
                   help="also decode this many tokens with the QAT ternary tiny GPT through --gpt-kernel (0 = skip)")
    p.add_argument("--gpt-kernel", default="2bit", choices=tk.KERNELS)
    p.add_argument("--no-compile-probe", action="store_true", help="skip the fresh-process compile timing")


def compile_seconds() -> float:
    """Wall time of compiling every kernel in a fresh process with an empty numba cache (import excluded)."""
    code = ("import time; from viz_core.compression import ternary_kernels as tk; t=time.perf_counter(); "
            "tk.warm_up(); print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "NUMBA_CACHE_DIR": d}
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                             timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _parse_shapes(s: str) -> list[tuple[int, int]]:
    shapes = []
    for part in [x for x in s.split(",") if x.strip()]:
        try:
            o, i = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise InputError(f"Shapes look like 4096x4096; got {part!r}.") from None
        if o < 1 or i < 1 or o * i > 2**28:
            raise InputError(f"Shape {part} must be positive and at most 2^28 weights.")
        shapes.append((o, i))
    return shapes


def run(args, progress) -> list[dict]:
    if not tk.kernels_available():
        raise InputError("numba is not installed; pip install -r requirements.txt")
    kernels = [k for k in str(args.kernels).split(",") if k.strip()]
    compile_s = None
    if not args.no_compile_probe:
        progress("compiling the kernels in a fresh process (empty numba cache)")
        compile_s = compile_seconds()
    t0 = time.perf_counter()
    tk.warm_up()
    load_s = time.perf_counter() - t0
    progress(f"compile {compile_s} s (fresh cache); load in this process {load_s:.3f} s")
    rows = measure(_parse_shapes(args.shapes), kernels, args.cycle_mib, args.repeats, args.seed, progress)
    for r in rows:
        r.update(compile_s_fresh=compile_s, load_s_cached=load_s)
    if args.gpt_tokens > 0:
        from viz_core.labs.low_bit_kernels import compare

        progress(f"tiny GPT end to end: {args.gpt_tokens} tokens, kernel {args.gpt_kernel}")
        e = compare(args.gpt_kernel, args.gpt_tokens, repeats=args.repeats)
        for j, name in enumerate(e.models):
            rows.append({"shape": "tiny-gpt", "kernel": name, "tokens_per_s": float(e.tokens_per_s[j]),
                         "tokens_per_s_iqr": float(e.tokens_per_s_iqr[j]), "val_loss_nats_per_byte": float(e.val_loss[j]),
                         "same_tokens_as_float_ternary": e.same_tokens_as_float_ternary[j],
                         "new_tokens": e.new_tokens, "block_linear_us_kernel": e.block_linear_us,
                         "block_linear_us_torch": e.torch_linear_us, "threads": torch.get_num_threads()})
    for r in rows:
        if r["kernel"] != "fp32" and r.get("speedup_vs_fp32"):
            progress(f"{r['shape']} {r['kernel']}: {r['median_ms']:.3f} ms, {r['speedup_vs_fp32']:.2f}x vs fp32")
    for r in rows:  # FLOPs and bytes by formula (GEMV rows), for the roofline columns the runner adds
        lowbit_row(r)
    return rows
