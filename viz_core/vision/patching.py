"""Image -> patch grid -> token sequence (ViT: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

A (C, H, W) image is cut into non-overlapping p×p patches with ``unfold``; patch (r, c) becomes token
r·(W/p) + c (row-major, the order the transformer reads them). ``fold`` puts them back exactly.
The cost section compares full attention over pixels with full attention over patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from viz_core.errors import InputError
from viz_core.measure.flops import attention_flops, score_matrix_bytes

IMAGE_SIZES = (32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024)
PATCH_SIZES = (2, 4, 7, 8, 14, 16, 28, 32, 64)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C·p·p) with N = (H/p)(W/p), patches in row-major order."""
    b, c, h, w = x.shape
    if h % p or w % p:
        raise InputError(f"Patch size {p} does not divide the image size {h}×{w}.")
    cols = F.unfold(x, kernel_size=p, stride=p)  # (B, C·p·p, N)
    return cols.transpose(1, 2)


def unpatchify(tokens: torch.Tensor, p: int, h: int, w: int) -> torch.Tensor:
    """(B, N, C·p·p) -> (B, C, H, W): the exact inverse of ``patchify``."""
    return F.fold(tokens.transpose(1, 2), output_size=(h, w), kernel_size=p, stride=p)


def fit_size(image_size: int, patch_size: int) -> tuple[int, str | None]:
    """The image side actually used: the nearest multiple of the patch size, with a note when it changed."""
    if patch_size < 1:
        raise InputError("The patch size must be at least 1 pixel.")
    if image_size < 8:
        raise InputError("The image size must be at least 8 pixels.")
    if patch_size > image_size:
        raise InputError(f"A {patch_size}-pixel patch does not fit in a {image_size}-pixel image; "
                         "choose a smaller patch or a larger image.")
    if image_size % patch_size == 0:
        return image_size, None
    fitted = max(patch_size, round(image_size / patch_size) * patch_size)
    return fitted, (f"{patch_size} does not divide {image_size}, so the image is resized to {fitted}×{fitted} "
                    f"({fitted // patch_size}×{fitted // patch_size} patches).")


@dataclass(frozen=True)
class AttentionCost:
    tokens: int
    score_entries: float  # N² per head
    score_bytes_fp32: float  # one head, fp32
    flops_per_layer: float  # 4·N²·d_model (all heads)


def attention_cost(tokens: int, d_model: int, heads: int) -> AttentionCost:
    return AttentionCost(
        tokens=tokens,
        score_entries=float(tokens) ** 2,
        score_bytes_fp32=float(score_matrix_bytes(tokens, bytes_per_value=4)),
        flops_per_layer=attention_flops(1, heads, tokens, d_model // heads),
    )
