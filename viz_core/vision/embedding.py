"""Patch embedding and position embeddings (Dosovitskiy et al. 2021; sinusoids from Vaswani et al. 2017).

A ViT embeds each p×p×3 patch with one linear map. Implemented as a Conv2d with kernel = stride = p it is
*the same computation* as unfold + Linear with the conv kernel reshaped to (D, 3·p·p): the page runs both
(``viz_core.labs.patch_embedding``) and reports the largest difference. Weights come from a fixed seed (ViT's initialisation), so the page is
reproducible; the geometry of the outputs (similar patches -> similar vectors) holds for any linear map.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from viz_core.errors import InputError
from viz_core.vision.patching import patchify

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(img: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 -> (1, 3, S, S) float32, ImageNet mean/std normalised."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def make_patch_embed(patch: int, d_model: int, seed: int) -> nn.Conv2d:
    """The patch-embedding layer, initialised from ``seed`` (torch's default Conv2d init)."""
    g = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(3, d_model, kernel_size=patch, stride=patch)
    fan_in = 3 * patch * patch
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        conv.weight.copy_(torch.empty_like(conv.weight).uniform_(-bound, bound, generator=g))
        conv.bias.copy_(torch.empty_like(conv.bias).uniform_(-bound, bound, generator=g))
    return conv


def embed_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, N, D) with the strided convolution."""
    return conv(x).flatten(2).transpose(1, 2)


def embed_unfold_linear(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, N, D) with unfold + a Linear whose weight is the conv kernel flattened."""
    p = conv.kernel_size[0]
    w = conv.weight.reshape(conv.out_channels, -1)  # (D, 3·p·p), same (C, kh, kw) order as unfold
    return patchify(x, p) @ w.T + conv.bias


def sinusoidal_1d(n: int, d: int) -> torch.Tensor:
    """Vaswani et al. 2017 sinusoids: (n, d), even d."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)[None, :]
    angle = pos / (10000.0 ** (2 * i / d))
    out = torch.zeros(n, d, dtype=torch.float64)
    out[:, 0::2] = angle.sin()
    out[:, 1::2] = angle.cos()
    return out.float()


def sinusoidal_2d(rows: int, cols: int, d: int) -> torch.Tensor:
    """2D sinusoids (as in MAE): half the dims encode the row, half the column. (rows·cols, d)"""
    if d % 4:
        raise InputError(f"2D sinusoidal positions need a width divisible by 4 (got {d}).")
    r = sinusoidal_1d(rows, d // 2)[:, None, :].expand(rows, cols, d // 2)
    c = sinusoidal_1d(cols, d // 2)[None, :, :].expand(rows, cols, d // 2)
    return torch.cat([r, c], dim=-1).reshape(rows * cols, d)


def learned_init(n: int, d: int, seed: int) -> torch.Tensor:
    """A learned position table at initialisation: truncated normal, std 0.02 (ViT's init). (n, d)"""
    g = torch.Generator().manual_seed(seed + 1)
    return torch.nn.init.trunc_normal_(torch.empty(n, d), std=0.02, a=-0.04, b=0.04, generator=g)


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N) cosine similarities."""
    xn = torch.nn.functional.normalize(x.double(), dim=-1)
    return (xn @ xn.T).float()


def cosine_row(x: torch.Tensor, q: int) -> torch.Tensor:
    """(N, D), row q -> (N,) cosine of row q with every row (one row of ``cosine_matrix``, in O(N·D) memory)."""
    xn = torch.nn.functional.normalize(x.double(), dim=-1)
    return (xn @ xn[q]).float()


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (N, D) onto its top-k principal components; returns (N, k) coords and explained variance ratio."""
    xc = x.double() - x.double().mean(0, keepdim=True)
    u, s, _vh = torch.linalg.svd(xc, full_matrices=False)
    var = s**2
    k = min(k, s.numel())
    return (u[:, :k] * s[:k]).float(), (var[:k] / var.sum().clamp_min(1e-30)).float()
