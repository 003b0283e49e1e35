"""FLOPs and bytes moved of every benchmark point, by formula: the x-axis of the roofline.

Used by the suites (``viz_core/cli/suites``) to state them in each row, by the live sweep to estimate a point
before it runs, and by the Benchmarks page to fill them in for runs recorded before the rows carried them.
Each function says which traffic it counts; the row's ``bytes_formula`` repeats it for the reader.
"""
from __future__ import annotations

from dataclasses import replace

from viz_core.attention.cost import theoretical_cost
from viz_core.attention.flash import STAT_BYTES, naive_hbm_bytes, tiled_hbm_bytes
from viz_core.attention.types import AttnConfig
from viz_core.device import dtype_bytes
from viz_core.measure.flops import attention_bytes_moved, attention_flops, decoder_step_cost, rope_flops

ATTENTION_BYTES = "Q,K,V read + O written + each intermediate written and read once (theoretical_cost)"
FUSED_BYTES = "fused: Q,K,V read + O written once"


def attention_point(label: str, n: int, heads: int, head_dim: int, dtype: str, batch: int = 1,
                    attn: AttnConfig | None = None) -> tuple[float, float, float, str]:
    """(FLOPs, bytes moved, peak working bytes, formula) of an attention-suite point.

    ``label`` is the suite's: ``reference``, ``sdpa[:backend]``, ``sliding_window@W[flex]``, ``linear``, ...
    FlexAttention (``[flex]``) is a compiled kernel that keeps the scores on chip: only Q, K, V and O move.
    """
    e = dtype_bytes(dtype)
    variant = label.split("@")[0].split("[")[0]
    attn = attn or AttnConfig()
    if "@" in label:
        attn = replace(attn, window=int(label.split("@")[1].split("[")[0]))
    name = "full" if variant == "reference" or label.startswith("sdpa:math") else variant
    name = "sdpa" if variant.startswith("sdpa") and name != "full" else name
    cost = theoretical_cost(name, batch, heads, n, head_dim, attn, e)
    out = batch * heads * n * head_dim * e
    fused = "[flex]" in label
    moved = attention_bytes_moved(batch, heads, n, head_dim, e, 0.0 if fused else max(0.0, cost.bytes - out))
    return cost.flops, moved, cost.bytes + 4.0 * out, FUSED_BYTES if fused else ATTENTION_BYTES


def rope_point(b: int, h: int, n: int, d: int, dtype: str) -> tuple[float, float]:
    """(FLOPs, bytes) of RoPE on (B, H, N, D): x read and written, cos and sin (N, D/2 each) read."""
    e = dtype_bytes(dtype)
    return rope_flops(b, h, n, d), 2.0 * b * h * n * d * e + n * d * e


def flash_row(row: dict, *, block: int = 128) -> dict:
    """FLOPs and bytes moved of one row, by formula (stated in ``bytes_formula``). In place.

    reference and sdpa:math materialise S and P (Dao et al. 2022, Algorithm 0); tiled re-reads K and V once
    per query block of ``block`` rows (flash.tiled_hbm_bytes); the fused SDPA kernels are credited with the
    least any kernel must move: Q, K, V read, O and the logsumexp written.
    """
    n, h, d = int(row["n"]), int(row["heads"]), int(row["d"])
    e = dtype_bytes(str(row["dtype"]))
    causal = str(row.get("causal")) in ("True", "true", "1")
    row["flops"] = attention_flops(1, h, n, d, causal=causal)
    method = str(row["method"])
    if method in ("reference", "sdpa:math"):
        row["bytes_moved"] = float(sum(naive_hbm_bytes(n, n, d, d, elem_bytes=e, batch_heads=h)))
        row["bytes_formula"] = "Algorithm 0: Q,K,V,S,P read; S,P,O written (4·H·(N·D+N²)·bytes)"
    elif method == "tiled":
        row["bytes_moved"] = float(sum(tiled_hbm_bytes(n, n, d, d, block, block, causal=causal, elem_bytes=e,
                                                       batch_heads=h)))
        row["bytes_formula"] = f"tiled: Q once, K,V once per {block}-row query block, O + logsumexp written"
    else:
        row["bytes_moved"] = attention_bytes_moved(1, h, n, d, e) + h * n * STAT_BYTES
        row["bytes_formula"] = "fused: Q,K,V read once, O + logsumexp written once (the least possible)"
    return row


def model_dims(model) -> dict:
    cfg = model.cfg
    p = next(model.parameters())
    head = cfg.d_model // cfg.n_head
    return {"params": float(sum(x.numel() for x in model.parameters())), "n_layer": cfg.n_layer,
            "d_kv": cfg.n_kv_head * head, "d_attn": cfg.d_model, "elem": p.element_size()}


def _cost(dm: dict, tokens: int, context: float, cached: bool) -> tuple[float, float]:
    return decoder_step_cost(dm["params"], dm["n_layer"], dm["d_kv"], dm["d_attn"], tokens, context, dm["elem"],
                             cached=cached)


def decode_row(row: dict, dims: dict) -> dict:
    """FLOPs and bytes of generating ``new_tokens`` tokens (measure.flops.decoder_step_cost per call). In place.

    uncached: step i re-runs the whole sequence of p + i tokens (weights read once per step);
    KV cache: a prefill of the p prompt tokens, then one token per call reading weights + the K/V cache;
    speculative: target calls on γ+1 tokens and one-token draft calls, both at the mean context p + n/2
    (an approximation: the exact positions depend on what was accepted).
    Fast-path rows (``part`` fast / fast-spec: "cached (numba)", "uncached (torch)", "speculative (fast)") count
    as the eager method they reimplement.
    """
    p, n, m = int(row["prompt_tokens"]), int(row["new_tokens"]), row["method"]
    if row.get("part") in ("fast", "fast-spec"):  # the fast paths do the same work as the eager methods
        m = ("speculative" if m.startswith("speculative") else "uncached (recompute)" if m.startswith("uncached")
             else "KV cache" if m.startswith("cached") else m)
    t = dims["target"]
    f = q = 0.0
    if m == "uncached (recompute)":
        for i in range(n):
            a, b = _cost(t, p + i, (p + i) / 2, False)
            f, q = f + a, q + b
        row["bytes_formula"] = "per step: all weights read once; the whole sequence recomputed"
    elif m == "KV cache":
        f, q = _cost(t, p, p / 2, False)
        for i in range(1, n):
            a, b = _cost(t, 1, p + i, True)
            f, q = f + a, q + b
        row["bytes_formula"] = "prefill, then per token: all weights + the K/V cache read once"
    elif m == "speculative" and dims.get("draft") and row.get("target_calls"):
        g, ctx = int(row["gamma"]), p + n / 2
        a, b = _cost(t, g + 1, ctx, True)
        c, d = _cost(dims["draft"], 1, ctx, True)
        f = row["target_calls"] * a + row["draft_calls"] * c
        q = row["target_calls"] * b + row["draft_calls"] * d
        row["bytes_formula"] = "target calls on γ+1 tokens + 1-token draft calls, each reading its weights + K/V (mean context)"
    else:
        return row
    row["flops"], row["bytes_moved"] = float(f"{f:.6g}"), float(f"{q:.6g}")
    row.setdefault("dtype", {4: "float32", 2: "bfloat16"}.get(t["elem"], "float32"))
    return row


# ------------------------------------------------------------------------------------------ state-space models
SCAN_DIMS = {"heads": 8, "head_dim": 32, "d_state": 32}  # one tiny-Mamba layer (labs.ssm.mixers)


def ssm_dims() -> dict:
    """Parameter counts of the tiny Mamba (from its default config: the count needs no checkpoint) and the
    tiny GPT that the ssm suite decodes with."""
    from viz_core.models.gpt import load_tiny_gpt
    from viz_core.ssm.mamba import MambaConfig, TinyMamba

    c = MambaConfig()
    mamba = TinyMamba(c)
    return {"mamba_params": float(sum(p.numel() for p in mamba.parameters())), "mamba_layers": c.n_layer,
            "gpt": model_dims(load_tiny_gpt("tiny-gpt")[0])}


def ssm_row(row: dict, dims: dict | None = None) -> dict:
    """FLOPs and bytes of one ssm-suite row (in place).

    prefill, scans: 2 FLOPs per multiply-add of ``work`` (ssm.scan.work_depth); bytes: x, Δ, B, C read and y
    written once, plus, for the parallel scan, the odd tokens' states written and read once (it materialises
    those, one cache-sized block of channels at a time; the even tokens' are read out without being stored).
    prefill, SDPA: causal attention, 4 heads × 32, fused traffic. decode, per generated token: 2·params
    FLOPs plus the recurrence (Mamba) or attention over the context (GPT); bytes: the weights once, plus
    Mamba's fixed state read and written, or the GPT's K/V cache read.
    """
    n, e, m = int(row["n"]), 4, str(row["method"])
    h, p, d_state = SCAN_DIMS["heads"], SCAN_DIMS["head_dim"], SCAN_DIMS["d_state"]
    if row.get("kind") == "prefill":
        if row.get("work"):
            row["flops"] = 2.0 * float(row["work"])
            io = (2 * n * h * p + n * h + 2 * n * d_state) * e
            keep = 2.0 * (n // 2) * h * p * d_state * e if m == "parallel" else 0.0
            row["bytes_moved"] = float(io + keep)
            extra = " + odd tokens' states written and read" if keep else ""
            row["bytes_formula"] = "x, Δ, B, C read + y written" + extra
        else:
            row["flops"] = attention_flops(1, 4, n, 32, causal=True)
            row["bytes_moved"] = attention_bytes_moved(1, 4, n, 32, e)
            row["bytes_formula"] = FUSED_BYTES
    elif row.get("kind") == "decode" and dims:
        steps = int(row.get("steps", 1) or 1)
        if m == "tiny-mamba":
            f = 2.0 * dims["mamba_params"] + 2.0 * 3 * int(row["state_bytes"]) / e  # Ā·h + Δx·Bᵀ + h·C per state
            q = dims["mamba_params"] * e + 2.0 * int(row["state_bytes"])
            row["bytes_formula"] = "weights once + the fixed state read and written, per token"
        else:
            f, q = _cost(dims["gpt"], 1, n, True)
            row["bytes_formula"] = "weights once + the K/V cache read, per token"
        row["flops"], row["bytes_moved"] = f, q  # per step: median_ms is per step
        row["steps"] = steps
    return row


def lowbit_row(row: dict) -> dict:
    """A batch-1 GEMV y = W·x of shape "RxC" (lowbit suite): 2·R·C FLOPs; bytes: the weights in their
    format (``weight_bytes``) plus x read and y written in fp32. Whole-model rows are left alone. In place."""
    shape = str(row.get("shape", ""))
    if "x" not in shape or not row.get("weight_bytes"):
        return row
    r, c = (int(v) for v in shape.split("x"))
    row["flops"] = 2.0 * r * c
    row["bytes_moved"] = float(row["weight_bytes"]) + 4.0 * (r + c)
    row["bytes_formula"] = "weights read once in their format + x read and y written (fp32)"
    row.setdefault("dtype", "float32")
    return row
