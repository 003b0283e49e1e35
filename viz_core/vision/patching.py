"""Image -> patch grid -> token sequence (ViT: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

A (C, H, W) image is cut into non-overlapping p×p patches with ``unfold``; patch (r, c) becomes token
r·(W/p) + c (row-major, the order the transformer reads them). ``fold`` puts them back exactly.
The cost section compares full attention over pixels with full attention over patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from viz_core.measure.flops import attention_flops, score_matrix_bytes
from viz_core.errors import InputError
from viz_core.vision import images

IMAGE_SIZES = (32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024)
PATCH_SIZES = (2, 4, 7, 8, 14, 16, 28, 32, 64)
MAX_TOKENS_SHOWN = 256  # tokens drawn in the sequence strip; the rest are counted, not drawn


@dataclass(frozen=True)
class PatchConfig:
    image_size: int = 224  # the image is resized/cropped to image_size × image_size
    patch_size: int = 16
    d_model: int = 768  # embedding width used for the FLOP estimate (ViT-B/16)
    heads: int = 12


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


@dataclass(frozen=True)
class PatchResult:
    image: np.ndarray  # (S, S, 3) uint8: the image the model sees
    patches: np.ndarray  # (min(N, MAX_TOKENS_SHOWN), p, p, 3) uint8, in token order
    grid: tuple[int, int]  # (rows, cols) of patches
    patch_size: int
    image_size: int  # side actually used
    n_tokens: int
    n_pixels: int
    values_per_token: int  # C·p·p
    reconstruction_max_error: float  # |fold(unfold(x)) − x|, should be exactly 0
    pixel_cost: AttentionCost
    patch_cost: AttentionCost
    original_size: tuple[int, int]
    notes: tuple[str, ...]


def run(source: str | bytes, cfg: PatchConfig) -> PatchResult:
    """Load ``source`` (sample name or upload bytes), resize, cut into patches, count the costs."""
    size, note = fit_size(cfg.image_size, cfg.patch_size)
    loaded = images.load(source)
    img = images.square_resize(loaded.pixels, size)  # (S, S, 3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()  # (1, 3, S, S)
    p = cfg.patch_size
    tokens = patchify(x, p)  # (1, N, 3·p·p)
    rebuilt = unpatchify(tokens, p, size, size)
    n = tokens.shape[1]
    shown = tokens[0, :MAX_TOKENS_SHOWN].reshape(-1, 3, p, p).permute(0, 2, 3, 1)  # (n, p, p, 3)
    notes = loaded.notes + ((note,) if note else ())
    return PatchResult(
        image=img,
        patches=shown.round().clamp(0, 255).to(torch.uint8).numpy(),
        grid=(size // p, size // p),
        patch_size=p,
        image_size=size,
        n_tokens=n,
        n_pixels=size * size,
        values_per_token=tokens.shape[2],
        reconstruction_max_error=float((rebuilt - x).abs().max()),
        pixel_cost=attention_cost(size * size, cfg.d_model, cfg.heads),
        patch_cost=attention_cost(n, cfg.d_model, cfg.heads),
        original_size=loaded.original_size,
        notes=notes,
    )


def claim_checks() -> list:
    """Claims #14, #15 and #20 (CLAIMS.md), recomputed from the formulas above."""
    from viz_core.claims import CLAIMS, ClaimCheck, Verdict, check_value

    c224 = attention_cost((224 // 16) ** 2, 768, 12)
    c512 = attention_cost((512 // 16) ** 2, 768, 12)
    ratio = 224 * 224 / c224.tokens
    values_per_token = 3 * 16 * 16
    out = [ClaimCheck(
        CLAIMS[14],
        f"224×224 with 16×16 patches: {c224.tokens} tokens vs {224 * 224:,} pixels, {ratio:.0f}× fewer sequence "
        f"positions; but each token carries {values_per_token} values, so {c224.tokens * values_per_token:,} "
        f"numbers either way",
        Verdict.PARTLY,
        f"the sequence is {ratio:.0f}× shorter (more than 100×) and attention entries {ratio ** 2:,.0f}× fewer, "
        "but the number of input values is unchanged",
    )]
    out.append(check_value(
        15, c512.score_entries, 1024**2,
        measured=f"512×512 → {c512.tokens} patches, {c512.score_entries:,.0f} entries; 224×224 → "
                 f"{c224.tokens} patches, {c224.score_entries:,.0f} entries ({c512.score_entries / c224.score_entries:.1f}×)",
        rel_tol=0.01, why_holds="exact arithmetic: (512/16)⁴ = 1,048,576 and (224/16)⁴ = 38,416"))
    full, efficient = 1000**2, 10_000
    out.append(ClaimCheck(
        CLAIMS[20],
        f"{full:,} / {efficient:,} = {full // efficient}× fewer comparisons",
        Verdict.NOT_HERE,
        "the ratio is 100×, not 10×; whether quality is kept depends on the method (see the attention lab's "
        "measured errors)",
    ))
    return out
