"""The low-bit page: fp32, int8 and ternary (post-training and trained) versions of the tiny GPT, their
held-out loss, weight storage and error, the matmul kernels PyTorch offers for each, and claim #19.

Ma et al. 2024, "The Era of 1-bit LLMs" (BitNet b1.58); Wang et al. 2024, "1-bit AI Infra" (bitnet.cpp).
The quantisers are in ``viz_core.compression.quantize``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from viz_core.claims import judge_19
from viz_core.compression.quantize import (SCHEMES, int8_quantize, load_ternary, pack_ternary, quantizable_linears,
                                           quantized_copy, storage_bytes, ternary_quantize, unpack_ternary)
from viz_core.device import resolve_device
from viz_core.errors import InputError
from viz_core.labs.drop_redundancy import LayerDropConfig, _val_windows
from viz_core.measure.budget import ALLOCATOR_SLACK, load_factor
from viz_core.measure.memory import check_budget
from viz_core.measure.timer import time_fn
from viz_core.models.gpt import load_tiny_gpt


@dataclass(frozen=True)
class QuantConfig:
    model: str = "tiny-gpt"
    windows: int = 16
    seq: int = 256
    layer_in: int = 4096  # matmul benchmark shape (a 7B-class layer by default)
    layer_out: int = 4096
    batch_tokens: int = 1  # 1 = decoding one token (memory-bound GEMV)
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class QuantResult:
    schemes: tuple[str, ...]
    val_loss: np.ndarray  # (S,) nats/byte on held-out text
    storage_bytes: np.ndarray  # (S,) bytes of the block linears
    weight_error: np.ndarray  # (S,) relative Frobenius error of the block weights vs fp32
    sample_weights: np.ndarray  # (S, 16, 16) a corner of one weight matrix per scheme
    kernels: tuple[str, ...]  # matmul implementations timed
    kernel_ms: np.ndarray  # (K,) median time of y = x·Wᵀ for the benchmark shape
    kernel_bytes: np.ndarray  # (K,) weight bytes each kernel reads
    kernel_max_err: np.ndarray  # (K,) max |y − y_fp32| relative to max |y_fp32|
    ternary_meta: dict
    device: str


# Bytes per benchmark weight held at the worst moment of ``_kernels`` (the two fp32 masks of the add/sub
# product, with the int8 codes, the 2-bit packing and the masks' bool temporary; W itself is freed by then).
# Measured 2026-11-30 (CPU, 1 thread, 4096 × 4096): the old all-at-once version grew the process by 452 MiB.
KERNEL_BYTES_PER_WEIGHT = 4 + 4 + 1 + 0.25 + 1
# The tiny-GPT part (quantised copies, held-out windows, logits) and GEMM packing buffers: runs with a
# 128 × 512 layer grew the process by ≤ 21 MiB (2026-11-30, CPU, 1 thread).
MODEL_PART_BYTES = 24 * 2**20


def kernel_peak_bytes(cfg: QuantConfig) -> float:
    """Estimated peak of ``_kernels`` on top of what the process holds (allocator slack included)."""
    n_w = cfg.layer_in * cfg.layer_out
    acts = 4 * cfg.batch_tokens * (cfg.layer_in + 3 * cfg.layer_out)  # x, the reference and two outputs
    return (KERNEL_BYTES_PER_WEIGHT * n_w + acts) * ALLOCATOR_SLACK + MODEL_PART_BYTES


def _timed(fn, dev) -> tuple[float, torch.Tensor] | None:
    try:
        y = fn()
    except (RuntimeError, NotImplementedError):
        return None  # kernel not available on this build/device
    return time_fn(fn, device=dev, warmup=1, repeats=7, max_seconds=0.5).median_s * 1e3, y


def _kernels(cfg: QuantConfig, dev: torch.device, step=lambda fraction, text="": None
             ) -> tuple[list[str], list[float], list[int], list[float]]:
    """Time y = x·Wᵀ with each kernel. Operands are built just before their kernel and freed after it, so the
    peak is one kernel's operands (``kernel_peak_bytes``), not all of them at once."""
    g = torch.Generator().manual_seed(cfg.seed)
    w = (torch.randn(cfg.layer_out, cfg.layer_in, generator=g) * 0.02).to(dev)  # (out, in)
    x = torch.randn(cfg.batch_tokens, cfg.layer_in, generator=g).to(dev)  # (T, in)
    ref = x @ w.T  # (T, out)
    scale = float(ref.abs().max()) or 1.0
    names, ms, nbytes, errs = [], [], [], []

    done = [0]

    def keep(name: str, fn, nb: float) -> None:  # five kernels
        step(0.05 + 0.95 * done[0] / 5, f"timing {name}")
        done[0] += 1
        got = _timed(fn, dev)
        if got is not None:
            names.append(name)
            ms.append(got[0])
            nbytes.append(int(nb))
            errs.append(float((got[1].float() - ref).abs().max()) / scale)

    n_w = w.numel()

    def dense(w: torch.Tensor) -> None:  # each phase's operands are local: freed when it returns
        keep("fp32 matmul", lambda: x @ w.T, 4 * n_w)
        wb, xb = w.bfloat16(), x.bfloat16()
        keep("bf16 matmul", lambda: (xb @ wb.T).float(), 2 * n_w)

    def int8(w: torch.Tensor) -> None:
        q8, s8 = int8_quantize(w)
        keep("int8 weight-only (PyTorch kernel)", lambda: torch.ops.aten._weight_int8pack_mm(x, q8, s8), n_w)

    def add_sub(qt: torch.Tensor, gt: torch.Tensor) -> None:
        pos, neg = (qt == 1).float(), (qt == -1).float()
        keep("ternary as add/sub (two masked matmuls)", lambda: (x @ pos.T - x @ neg.T) * gt, 2 * 4 * n_w)

    dense(w)
    int8(w)
    qt, gt = ternary_quantize(w)
    del w  # from here on only the ternary codes
    packed = pack_ternary(qt)
    add_sub(qt, gt)
    del qt
    keep("ternary unpack 2-bit + matmul", lambda: x @ (unpack_ternary(packed, cfg.layer_in).float().T) * gt,
         packed.numel())
    return names, ms, nbytes, errs


# Measured 2026-11-30 (CPU, 1 thread, load ≈ 0.5 per core) for _kernels: 4096² × 256 tokens 14.0 s, 2048² × 256
# 3.7 s, 4096² × 16 2.3 s, 4096² × 1 1.0 s, 2048² × 1 0.13 s: ≈ 6e-8 s per weight (quantise, pack, build) plus
# 3.3e-9 s per weight and token (the products, 7 timed calls or 0.5 s each); the tiny-GPT part < 0.5 s.
SECONDS_PER_WEIGHT, SECONDS_PER_WEIGHT_TOKEN, MODEL_PART_S = 6e-8, 3.3e-9, 0.5


def estimate_s(cfg: QuantConfig) -> float:
    """Seconds ``run(cfg)`` should take on this CPU now (scaled by the load; shown before it starts)."""
    n_w = cfg.layer_in * cfg.layer_out
    base = MODEL_PART_S + n_w * (SECONDS_PER_WEIGHT + SECONDS_PER_WEIGHT_TOKEN * cfg.batch_tokens)
    return 1.25 * base * load_factor(0.5)


@torch.no_grad()
def run(cfg: QuantConfig, _progress=None) -> QuantResult:
    if cfg.layer_in * cfg.layer_out > 64 * 2**20 or cfg.batch_tokens > 4096:
        raise InputError("The benchmark layer is limited to 64 M weights and 4096 tokens.")
    dev = resolve_device(cfg.device)
    check_budget(kernel_peak_bytes(cfg), what=f"Timing the kernels on a {cfg.layer_in} × {cfg.layer_out} layer",
                 device=dev, fits="a smaller benchmark layer or fewer tokens per product (the 7B MLP layer needs a GPU)")
    base, tok, mcfg = load_tiny_gpt(cfg.model)  # quantised on the CPU, evaluated on ``dev``
    x, y = (t.to(dev) for t in _val_windows(LayerDropConfig(windows=cfg.windows, seq=cfg.seq, seed=cfg.seed), tok))
    models = {s: quantized_copy(base, s) for s in SCHEMES[:3]}
    meta: dict = {}
    try:
        models[SCHEMES[3]], _, _, meta = load_ternary()
    except InputError:
        pass
    schemes = tuple(models)
    step = _progress or (lambda fraction, text="": None)
    step(0.0, "scoring the quantised tiny GPTs")
    losses, errors, corners = [], [], []
    ref_w = torch.cat([lin.weight.flatten() for _, lin in quantizable_linears(base)])
    for s in schemes:
        m = models[s].to(dev)
        lg = m(x)[0]
        losses.append(float(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1))))
        w = torch.cat([lin.weight.flatten() for _, lin in quantizable_linears(m)]).cpu()
        errors.append(float((w - ref_w).norm() / ref_w.norm()))
        corners.append(quantizable_linears(m)[0][1].weight[:16, :16].cpu().numpy())
    step(0.05, f"timing the kernels on a {cfg.layer_in} × {cfg.layer_out} layer, {cfg.batch_tokens} token(s)")
    names, ms, nb, errs = _kernels(cfg, dev, step)
    return QuantResult(schemes, np.array(losses), np.array([storage_bytes(base, s) for s in schemes]),
                       np.array(errors), np.stack(corners), tuple(names), np.array(ms), np.array(nb),
                       np.array(errs), meta, str(dev))


def qat_sentence(res: QuantResult) -> str:
    """How much of fp32's loss the trained and the post-training ternary models lose, from the measured losses."""
    s = {n: i for i, n in enumerate(res.schemes)}
    if "ternary (trained, STE)" not in s or "ternary (post-training)" not in s:
        return ""
    fp, tr, pt = (float(res.val_loss[s[k]]) for k in ("fp32", "ternary (trained, STE)", "ternary (post-training)"))
    return (f"Measured here: the trained ternary model's loss is {(tr / fp - 1) * 100:+.1f}% vs fp32 "
            f"({tr:.3f} vs {fp:.3f} nats/byte), post-training ternarisation {(pt / fp - 1) * 100:+.1f}% ({pt:.3f}).")


def bitnet_claim(res: QuantResult):
    """Claim #19 (bitnet.cpp) against what PyTorch on this device offers."""
    k = {n: i for i, n in enumerate(res.kernels)}
    fp = res.kernel_ms[k["fp32 matmul"]]
    tern = [res.kernel_ms[i] for n, i in k.items() if n.startswith("ternary")]
    best = min(tern) if tern else float("nan")
    s = {n: i for i, n in enumerate(res.schemes)}
    storage = res.storage_bytes[s["fp32"]] / res.storage_bytes[s["ternary (post-training)"]]
    loss, loss_pct = "", None
    if "ternary (trained, STE)" in s:
        lt, lf = res.val_loss[s["ternary (trained, STE)"]], res.val_loss[s["fp32"]]
        loss, loss_pct = f"; trained ternary loss {lt:.3f} vs fp32 {lf:.3f} nats/byte", float((lt / lf - 1) * 100)
    n_w = res.kernel_bytes[k["fp32 matmul"]] / 4
    return judge_19(fp / best if best else None, loss_pct, measured=(
        f"best ternary product in PyTorch {best:.2f} ms vs fp32 {fp:.2f} ms ({fp / best:.2f}×) on a layer "
        f"of {n_w / 1e6:.1f} M weights; weights "
        f"{storage:.1f}× smaller{loss}"), provenance=f"measured live ({res.device})")
