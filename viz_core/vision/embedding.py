"""Patch embedding and position embeddings (Dosovitskiy et al. 2021; sinusoids from Vaswani et al. 2017).

A ViT embeds each p×p×3 patch with one linear map. Implemented as a Conv2d with kernel = stride = p it is
*the same computation* as unfold + Linear with the conv kernel reshaped to (D, 3·p·p): ``run`` does both
and reports the largest difference. Weights come from a fixed seed (ViT's initialisation), so the page is
reproducible; the geometry of the outputs (similar patches -> similar vectors) holds for any linear map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from viz_core.bench.memory import check_budget
from viz_core.errors import InputError
from viz_core.vision import images
from viz_core.vision.patching import fit_size, patchify

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_TOKENS = 4096
COSINE_SHOWN = 400  # tokens in the drawn N×N cosine map (the rest would be too small to see)


@dataclass(frozen=True)
class EmbedConfig:
    image_size: int = 224
    patch_size: int = 16
    d_model: int = 192  # ViT-Ti width
    seed: int = 0
    pca_components: int = 2  # 2 or 3
    query_patch: int = 0  # for the position-similarity maps


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


@dataclass(frozen=True)
class EmbedResult:
    image: np.ndarray  # (S, S, 3) uint8
    grid: tuple[int, int]
    embeddings: np.ndarray  # (N, D) from the conv path
    conv_vs_linear_max_abs: float
    pca_coords: np.ndarray  # (N, k)
    pca_explained: np.ndarray  # (k,)
    rows: np.ndarray  # (N,) patch row of each token
    cols: np.ndarray  # (N,) patch column
    cosine: np.ndarray  # (M, M) between the first M = min(N, COSINE_SHOWN) patch embeddings
    pos_sim_sinusoidal: np.ndarray  # (N,) cosine of query position's 2D sinusoid to every position
    pos_sim_learned: np.ndarray  # (N,) same for the learned table at initialisation
    pos_neighbour_corr_sinusoidal: float  # corr(similarity, −grid distance): does similarity track distance?
    pos_neighbour_corr_learned: float
    notes: tuple[str, ...]


def _distance_corr(sim: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, q: int) -> float:
    dist = ((rows - rows[q]) ** 2 + (cols - cols[q]) ** 2).double().sqrt()
    mask = torch.arange(len(sim)) != q
    a, b = sim[mask].double(), -dist[mask]
    if a.numel() < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def run(source: str | bytes, cfg: EmbedConfig) -> EmbedResult:
    size, note = fit_size(cfg.image_size, cfg.patch_size)
    g = size // cfg.patch_size
    n = g * g
    if n > MAX_TOKENS:
        raise InputError(f"{cfg.image_size}-pixel images with {cfg.patch_size}-pixel patches make {n:,} tokens; "
                         f"this page draws N×N similarity maps, so it allows up to {MAX_TOKENS:,} tokens. "
                         "Choose a larger patch or a smaller image.")
    if cfg.d_model < 4 or cfg.d_model % 4:
        raise InputError("The embedding width must be a multiple of 4 (for 2D sinusoidal positions).")
    m = min(n, COSINE_SHOWN)
    # float32/float64 copies of the (N, D) embeddings (conv, unfold+linear, PCA's SVD), the M×M cosine map in
    # float64, and the image in float32
    check_budget(8 * n * cfg.d_model * 6 + 8 * m * m * 2 + 4 * size * size * 3 * 4, what="The embedding maps")
    loaded = images.load(source)
    img = images.square_resize(loaded.pixels, size)
    x = normalise(img)
    with torch.no_grad():
        conv = make_patch_embed(cfg.patch_size, cfg.d_model, cfg.seed)
        e_conv = embed_conv(conv, x)[0]  # (N, D)
        e_lin = embed_unfold_linear(conv, x)[0]
        coords, explained = pca(e_conv, cfg.pca_components)
        cos = cosine_matrix(e_conv[:COSINE_SHOWN])  # the page draws the first COSINE_SHOWN tokens
        idx = torch.arange(n)
        rows, cols = idx // g, idx % g
        q = min(max(cfg.query_patch, 0), n - 1)
        sin2d = sinusoidal_2d(g, g, cfg.d_model)
        learned = learned_init(n, cfg.d_model, cfg.seed)
        sim_sin = cosine_row(sin2d, q)
        sim_learned = cosine_row(learned, q)
    return EmbedResult(
        image=img, grid=(g, g), embeddings=e_conv.numpy(),
        conv_vs_linear_max_abs=float((e_conv - e_lin).abs().max()),
        pca_coords=coords.numpy(), pca_explained=explained.numpy(), rows=rows.numpy(), cols=cols.numpy(),
        cosine=cos.numpy(), pos_sim_sinusoidal=sim_sin.numpy(), pos_sim_learned=sim_learned.numpy(),
        pos_neighbour_corr_sinusoidal=_distance_corr(sim_sin, rows, cols, q),
        pos_neighbour_corr_learned=_distance_corr(sim_learned, rows, cols, q),
        notes=loaded.notes + ((note,) if note else ()),
    )


@dataclass(frozen=True)
class TrainedPositions:
    sim: np.ndarray  # (g·g,) cosine of the query position's learned embedding to every position
    grid: tuple[int, int]
    query: int
    neighbour_corr: float
    model_card: str  # one line on where the table comes from


def trained_positions(query_row_frac: float, query_col_frac: float, name: str = "tiny-vit") -> TrainedPositions:
    """Learned position table of the tiny ViT trained here (Fashion-MNIST, 7×7 patches): after training,
    nearby positions have similar embeddings. The query is given as fractions of the grid (0…1) so any
    image grid maps onto the model's own."""
    from viz_core.models.vit import load_tiny_vit

    model, cfg, meta = load_tiny_vit(name)
    if cfg.pos != "learned":
        raise InputError(f"Checkpoint {name!r} has no learned position table (it uses {cfg.pos}).")
    g = cfg.grid
    table = model.pos_emb.detach()[0, 1:].float()  # (g·g, d): drop the CLS slot
    r = min(g - 1, max(0, round(query_row_frac * (g - 1))))
    c = min(g - 1, max(0, round(query_col_frac * (g - 1))))
    q = r * g + c
    sim = cosine_matrix(table)[q]
    idx = torch.arange(g * g)
    acc = meta.get("test_subset_accuracy")
    card = f"tiny ViT trained here on Fashion-MNIST ({g}×{g} patches of {cfg.patch} px, width {cfg.d_model})"
    if isinstance(acc, (int, float)):
        card += f", {acc:.1%} test accuracy" if acc <= 1 else f", {acc:.1f}% test accuracy"
    return TrainedPositions(sim.numpy(), (g, g), q, _distance_corr(sim, idx // g, idx % g, q), card)
