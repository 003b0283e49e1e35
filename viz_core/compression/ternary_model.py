"""The QAT ternary tiny GPT run end to end through the compiled ternary GEMV kernels.

``kernel_model(model, kernel)`` returns a copy of a ternary model (block linears holding γ·Q exactly, as
``viz_core.compression.quantize.load_ternary`` gives) whose block linears call
``viz_core.compression.ternary_kernels`` instead of a float matmul; everything else (embeddings, norms,
attention, the tied head) stays in torch. ``compare(...)`` measures greedy tokens/s with the KV cache and
the validation loss of fp32, the ternary model in float, and the ternary model through the kernel.

At the tiny GPT's size (width 128, 4 layers) one block linear is 16–64 K weights: the kernel takes a few
microseconds, about what one torch call costs in overhead, so the end-to-end speed says little about the
kernel; the GEMV benchmark at 4096×4096 does.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from viz_core.compression import ternary_kernels as tk
from viz_core.compression.quantize import quantizable_linears
from viz_core.errors import InputError


class KernelLinear(nn.Module):
    """y = x (γ·Q)ᵀ + b through a numba ternary kernel. Inference only (no gradient)."""

    def __init__(self, lin: nn.Linear, kernel: str):
        super().__init__()
        w = lin.weight.detach().float().cpu()
        gamma = float(w.abs().max())
        q = torch.round(w / gamma) if gamma > 0 else torch.zeros_like(w)
        if not torch.equal(q * gamma, w):
            raise InputError("This linear layer does not hold ternary weights γ·{−1, 0, +1}.")
        self.kernel = kernel
        self.matrix = tk.TernaryMatrix(q.to(torch.int8).numpy(), gamma)
        self.bias = None if lin.bias is None else lin.bias.detach().float().cpu().clone()
        self.in_features, self.out_features = lin.in_features, lin.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = x.detach().reshape(-1, self.in_features).contiguous().numpy()  # (T, in)
        y = torch.from_numpy(self.matrix.matvec(x2, self.kernel)).reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias


def kernel_model(model, kernel: str = "2bit"):
    """A copy of the ternary ``model`` whose block linears run through ``kernel`` (CPU, float32)."""
    m = copy.deepcopy(model).cpu().float()
    for name, lin in quantizable_linears(m):
        parent_name, attr = name.rsplit(".", 1)
        setattr(m.get_submodule(parent_name), attr, KernelLinear(lin, kernel))
    return m


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
    from viz_core.compression.redundancy import LayerDropConfig, _val_windows
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
