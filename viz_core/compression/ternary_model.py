"""The QAT ternary tiny GPT run end to end through the compiled ternary GEMV kernels.

``kernel_model(model, kernel)`` returns a copy of a ternary model (block linears holding γ·Q exactly, as
``viz_core.compression.quantize.load_ternary`` gives) whose block linears call
``viz_core.compression.ternary_kernels`` instead of a float matmul; everything else (embeddings, norms,
attention, the tied head) stays in torch.

At the tiny GPT's size (width 128, 4 layers) one block linear is 16–64 K weights: the kernel takes a few
microseconds, about what one torch call costs in overhead, so the end-to-end speed says little about the
kernel; the GEMV benchmark at 4096×4096 does. The end-to-end measurement is ``viz_core.labs.low_bit_kernels.compare``.
"""
from __future__ import annotations

import copy

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
