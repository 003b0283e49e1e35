"""The patch-embedding page: conv vs unfold + linear on a real image, what the position embeddings look like
(sinusoidal 1-D and 2-D, learned at init, and those the tiny ViT learned), as numpy arrays for the figures.

The algorithms are in ``viz_core.vision.embedding``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.errors import InputError
from viz_core.measure.memory import check_budget
from viz_core.models.vit import load_tiny_vit
from viz_core.vision import images
from viz_core.vision.embedding import (cosine_matrix, cosine_row, embed_conv, embed_unfold_linear, learned_init, make_patch_embed,
                                       normalise, pca, sinusoidal_2d)
from viz_core.vision.patching import fit_size


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
    model, cfg, meta = load_tiny_vit(name)
    if cfg.pos != "learned":
        raise InputError(f"Checkpoint {name!r} has no learned position table (it uses {cfg.pos}).")
    g = cfg.grid
    table = model.pos_emb.detach()[0, 1:].float()  # (g·g, d): drop the CLS slot
    r = min(g - 1, max(0, round(query_row_frac * (g - 1))))
    c = min(g - 1, max(0, round(query_col_frac * (g - 1))))
    q = r * g + c
    sim = cosine_row(table, q)
    idx = torch.arange(g * g)
    acc = meta.get("test_subset_accuracy")
    card = f"tiny ViT trained here on Fashion-MNIST ({g}×{g} patches of {cfg.patch} px, width {cfg.d_model})"
    if isinstance(acc, (int, float)):
        card += f", {acc:.1%} test accuracy" if acc <= 1 else f", {acc:.1f}% test accuracy"
    return TrainedPositions(sim.numpy(), (g, g), q, _distance_corr(sim, idx // g, idx % g, q), card)
