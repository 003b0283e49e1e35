"""The RoPE page: frozen config in, dataclass of numpy arrays out (no tensors leave here). Context scaling,
the long-context tiny GPT and claim #16 are in ``viz_core.labs.rope_scaling``.

- ``rotation``:  one pair of q rotated at a position, and every pair as a clock hand over positions
                 (Su et al. 2021, RoFormer).
- ``spectrum``:  wavelength 2π/θᵢ of every pair against a context length.
- ``relative``:  the q·k score over (m, n) for fixed q, k: RoPE vs no position vs additive sinusoidal
                 (Vaswani et al. 2017) vs an additive learned-style table; deviation along diagonals.
- ``patch_rope``: 2D axial RoPE (Heo et al. 2024) over an image's patch grid vs 1D RoPE in raster order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from viz_core import rope as R
from viz_core.device import resolve_device, resolve_dtype
from viz_core.errors import InputError
from viz_core.labs import vit_patching
from viz_core.measure.memory import check_budget
from viz_core.vision import patching


def check_common(head_dim: int, base: float) -> None:
    R.check_head_dim(head_dim)
    R.check_base(base)
    if head_dim > 1024:
        raise InputError(f"Head dimensions above 1024 are not shown here (got {head_dim}); real models use 64–256.")


# --------------------------------------------------------------------------------------------- rotation

@dataclass(frozen=True)
class RotationConfig:
    head_dim: int = 16
    base: float = 10000.0
    pair: int = 0  # which pair (i, i + d/2) of the half-split layout to draw
    position: int = 0  # the first position shown; the frames walk position … position + n_frames − 1
    n_frames: int = 48
    seed: int = 0


@dataclass
class RotationResult:
    freqs: np.ndarray  # (d/2,) θᵢ in rad/token
    wavelengths: np.ndarray  # (d/2,) tokens per full turn
    before: np.ndarray  # (2,) the chosen pair of q at position 0
    after: np.ndarray  # (2,) the same pair after RoPE at ``position``
    trail: np.ndarray  # (T, 2) the pair at positions 0 … position (at most 400 points)
    angle: float  # rad, position·θ_pair
    measured_angle: float  # rad, the angle between before and after, measured from the vectors (mod 2π)
    norm_before: float  # |q| over the whole head
    norm_after: float
    positions: np.ndarray  # (P,) frame positions m = position … position + P − 1
    clock_angles: np.ndarray  # (P, d/2) rad, m·θᵢ (float64)
    pair: int
    position: int
    frame_pair: np.ndarray  # (P, 2) the chosen pair of q after RoPE at each frame position (our apply_rope)
    frame_angle: np.ndarray  # (P,) rad, m·θ_pair
    frame_measured: np.ndarray  # (P,) rad, angle between the pair at position 0 and at m, from the vectors
    frame_norm: np.ndarray  # (P,) |q| over the whole head after RoPE at m


def rotation(cfg: RotationConfig) -> RotationResult:
    check_common(cfg.head_dim, cfg.base)
    d, half = cfg.head_dim, cfg.head_dim // 2
    if not 0 <= cfg.pair < half:
        raise InputError(f"The pair index must be between 0 and {half - 1} for head dimension {d} (got {cfg.pair}).")
    if not 0 <= cfg.position <= R.MAX_POSITION - cfg.n_frames:
        raise InputError(f"The first position must be between 0 and {R.MAX_POSITION - cfg.n_frames:.3g}, where RoPE "
                         f"angles stay exact to {R.MAX_ANGLE_ERROR:g} rad (got {cfg.position}).")
    if not 1 <= cfg.n_frames <= 1000:
        raise InputError("Between 1 and 1000 clock frames, please.")
    g = torch.Generator().manual_seed(cfg.seed)
    q = torch.randn(d, generator=g, dtype=torch.float64)  # (D,)
    n_trail = min(cfg.position + 1, 400)
    trail_pos = torch.linspace(0, cfg.position, n_trail).round().long() if cfg.position else torch.zeros(1).long()
    pos = torch.cat((trail_pos, torch.tensor([cfg.position])))  # (T+1,)
    c, s = R.cos_sin(pos, d, cfg.base, dtype=torch.float64)
    rotated = R.apply_rope(q.expand(len(pos), d), c, s, "half")  # (T+1, D)
    i = cfg.pair
    pair = torch.stack((rotated[:, i], rotated[:, i + half]), dim=-1).numpy()  # (T+1, 2)
    before, after = np.array([q[i].item(), q[i + half].item()]), pair[-1]
    measured = (math.atan2(after[1], after[0]) - math.atan2(before[1], before[0])) % (2 * math.pi)
    frames = cfg.position + torch.arange(cfg.n_frames)  # (P,)
    fc, fs = R.cos_sin(frames, d, cfg.base, dtype=torch.float64)
    fq = R.apply_rope(q.expand(cfg.n_frames, d), fc, fs, "half")  # (P, D)
    fpair = torch.stack((fq[:, i], fq[:, i + half]), dim=-1).numpy()  # (P, 2)
    fmeasured = (np.arctan2(fpair[:, 1], fpair[:, 0]) - math.atan2(before[1], before[0])) % (2 * math.pi)
    fmeasured = np.where(fmeasured > 2 * math.pi - 1e-12, fmeasured - 2 * math.pi, fmeasured)  # 2π − ε is 0
    return RotationResult(
        freqs=R.inv_freq(d, cfg.base).numpy(), wavelengths=R.wavelengths(d, cfg.base).numpy(),
        before=before, after=after, trail=pair[:-1], angle=float(cfg.position * R.inv_freq(d, cfg.base)[i]),
        measured_angle=measured, norm_before=float(q.norm()), norm_after=float(rotated[-1].norm()),
        positions=frames.numpy(), clock_angles=R.angles(frames, d, cfg.base).numpy(), pair=i, position=cfg.position,
        frame_pair=fpair, frame_angle=R.angles(frames, d, cfg.base)[:, i].numpy(), frame_measured=fmeasured,
        frame_norm=fq.norm(dim=-1).numpy())


# --------------------------------------------------------------------------------------------- spectrum

@dataclass(frozen=True)
class SpectrumConfig:
    head_dim: int = 64
    base: float = 10000.0
    context: int = 2048


@dataclass
class SpectrumResult:
    freqs: np.ndarray  # (d/2,) rad/token
    wavelengths: np.ndarray  # (d/2,) tokens
    turns: np.ndarray  # (d/2,) full turns within the context
    context: int
    n_full_turn: int  # pairs that turn at least once within the context
    max_wavelength: float


def spectrum(cfg: SpectrumConfig) -> SpectrumResult:
    check_common(cfg.head_dim, cfg.base)
    if cfg.context < 1:
        raise InputError("The context length must be at least 1 token.")
    wl = R.wavelengths(cfg.head_dim, cfg.base).numpy()
    turns = cfg.context / wl
    return SpectrumResult(freqs=R.inv_freq(cfg.head_dim, cfg.base).numpy(), wavelengths=wl, turns=turns,
                          context=cfg.context, n_full_turn=int((turns >= 1).sum()), max_wavelength=float(wl.max()))


# --------------------------------------------------------------------------------------------- relative property

EMBEDDINGS = ("rope", "none", "sinusoidal", "learned")
EMBEDDING_LABELS = {"rope": "RoPE (rotate q and k)", "none": "no position information",
                    "sinusoidal": "additive sinusoidal (Vaswani 2017)", "learned": "additive learned-style table"}


@dataclass(frozen=True)
class RelativeConfig:
    head_dim: int = 64
    n: int = 48  # positions offset … offset+n−1
    base: float = 10000.0
    offset: int = 0  # first position (try 10⁶ or 10¹²)
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"


@dataclass
class RelativeResult:
    positions: np.ndarray  # (N,) int64
    methods: tuple[str, ...]
    scores: np.ndarray  # (M, N, N) q_m·k_n / √d
    diag_deviation: np.ndarray  # (M,) max over diagonals of (max − min) along the diagonal
    diag_spread: np.ndarray  # (M,) max − min of the diagonal means: how much the score depends on distance
    rope_deviation_float64: float  # the same check for RoPE computed entirely in float64
    float32_angle_error: float  # max |score − exact score| when the angles are computed in float32 instead
    score_scale: float  # |q|·|k|/√d, the largest possible |score|
    dtype: str
    device: str


def diagonal_stats(s: np.ndarray) -> tuple[float, float]:
    """(max over diagonals of the range along it, range of the diagonal means) of an (N, N) matrix."""
    n = s.shape[0]
    devs, means = [], []
    for t in range(-(n - 1), n):
        dg = np.diagonal(s, offset=t)
        devs.append(float(dg.max() - dg.min()))
        means.append(float(dg.mean()))
    return max(devs), max(means) - min(means)


def sinusoidal_table(positions: torch.Tensor, d: int) -> torch.Tensor:
    """Vaswani et al. 2017: PE[m, 2i] = sin(m/10000^(2i/d)), PE[m, 2i+1] = cos(…), float64 angles. (N, D)"""
    a = R.angles(positions, d, 10000.0)  # (N, D/2)
    return torch.stack((a.sin(), a.cos()), dim=-1).flatten(-2)


def relative(cfg: RelativeConfig) -> RelativeResult:
    check_common(cfg.head_dim, cfg.base)
    if not 2 <= cfg.n <= 512:
        raise InputError(f"Choose between 2 and 512 positions (got {cfg.n}).")
    if cfg.offset < 0 or cfg.offset + cfg.n >= R.MAX_POSITION:
        raise InputError(f"The first position must be between 0 and {R.MAX_POSITION - cfg.n:.3g}, where RoPE "
                         f"angles stay exact to {R.MAX_ANGLE_ERROR:g} rad (got {cfg.offset}).")
    dev = resolve_device(cfg.device)
    dt = resolve_dtype(cfg.dtype, dev)
    d, n = cfg.head_dim, cfg.n
    g = torch.Generator().manual_seed(cfg.seed)
    q, k = torch.randn(d, generator=g), torch.randn(d, generator=g)  # (D,) each, fp32 on CPU
    pos = torch.arange(cfg.offset, cfg.offset + n)  # (N,) int64
    scale = 1 / math.sqrt(d)

    def scores(qs: torch.Tensor, ks: torch.Tensor) -> np.ndarray:  # (N, D) each -> (N, N)
        return (qs @ ks.T * scale).float().cpu().numpy()

    def rope_scores(dtype: torch.dtype, cos_sin: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
        c, s = (t.to(device=dev, dtype=dtype) for t in cos_sin)
        qs = R.apply_rope(q.to(dev, dtype).expand(n, d), c, s)  # (N, D)
        ks = R.apply_rope(k.to(dev, dtype).expand(n, d), c, s)
        return scores(qs, ks)

    exact = R.cos_sin(pos, d, cfg.base, dtype=torch.float64)
    a32 = pos.to(torch.float32)[:, None] * R.inv_freq(d, cfg.base).to(torch.float32)[None, :]  # float32 angles
    out = {
        "rope": rope_scores(dt, exact),
        "none": scores(q.to(dev, dt).expand(n, d), k.to(dev, dt).expand(n, d)),
    }
    pe = sinusoidal_table(pos, d)  # (N, D)
    out["sinusoidal"] = scores((q + pe).to(dev, dt), (k + pe).to(dev, dt))
    table = torch.randn(n, d, generator=torch.Generator().manual_seed(cfg.seed + 1))  # stands in for a trained table
    out["learned"] = scores((q + table).to(dev, dt), (k + table).to(dev, dt))
    stack = np.stack([out[m] for m in EMBEDDINGS])  # (M, N, N)
    stats = [diagonal_stats(s) for s in stack]
    return RelativeResult(
        positions=pos.numpy(), methods=EMBEDDINGS, scores=stack,
        diag_deviation=np.array([a for a, _ in stats]), diag_spread=np.array([b for _, b in stats]),
        rope_deviation_float64=diagonal_stats(rope_scores(torch.float64, exact))[0],
        float32_angle_error=float(np.abs(rope_scores(torch.float64, (a32.double().cos(), a32.double().sin()))
                                         - rope_scores(torch.float64, exact)).max()),
        score_scale=float(q.norm() * k.norm()) * scale, dtype=str(dt).replace("torch.", ""), device=str(dev))


# --------------------------------------------------------------------------------------------- decay and scaling


# --------------------------------------------------------------------------------------------- tiny GPT


# --------------------------------------------------------------------------------------------- 2D RoPE on patches

@dataclass(frozen=True)
class PatchRopeConfig:
    image_size: int = 224
    patch_size: int = 16
    row: int = 6  # the chosen patch (query)
    col: int = 6
    head_dim: int = 64
    base: float = 100.0


@dataclass
class PatchRopeResult:
    image: np.ndarray  # (S, S, 3) uint8, the image the patching page shows
    grid: tuple[int, int]  # (rows, cols)
    patch_size: int
    row: int
    col: int
    score_2d: np.ndarray  # (rows, cols) mean over random directions q = k of q_chosen·k_patch/|q|², axial 2D RoPE
    score_1d: np.ndarray  # (rows, cols) the same with 1D RoPE over the raster (reading-order) index
    offset_only_error: float  # max |score_2d(chosen) − score_2d(other chosen) shifted|: 0 ⇔ depends only on offsets
    notes: tuple[str, ...]


MAX_PATCH_TOKENS = 4096


def _mean_similarity(rotate, n: int, d: int, chosen: int, chunk: int = 256) -> torch.Tensor:
    """(N,) trace(R_chosenᵀ R_n)/d: the mean of q_chosen·k_n over random directions q = k, computed by rotating the
    identity matrix's rows with ``rotate(x (.., M, D), idx (M,))`` (the lab's RoPE code), in chunks of positions."""
    eye = torch.eye(d, dtype=torch.float64)  # (D, D) rows = basis directions
    q = rotate(eye[:, None, :], torch.tensor([chosen]))[:, 0, :]  # (D, D): R_chosen e_j
    out = []
    for a in range(0, n, chunk):
        idx = torch.arange(a, min(n, a + chunk))
        k = rotate(eye[:, None, :].expand(d, len(idx), d), idx)  # (D, M, D): R_n e_j
        out.append(torch.einsum("jd,jmd->m", q, k) / d)
    return torch.cat(out)


def patch_rope(source: str | bytes, cfg: PatchRopeConfig) -> PatchRopeResult:
    """Which patches a chosen patch 'sees' as near under 2D axial RoPE (Heo et al. 2024) vs 1D RoPE in raster order.
    The image and grid come from the patching page's code (viz_core.labs.vit_patching)."""
    R.check_head_dim_2d(cfg.head_dim)
    R.check_base(cfg.base)
    size, note = patching.fit_size(cfg.image_size, cfg.patch_size)
    rows = cols = size // cfg.patch_size
    n = rows * cols
    if n > MAX_PATCH_TOKENS:
        raise InputError(f"{rows}×{cols} = {n:,} patches is more than this view draws ({MAX_PATCH_TOKENS:,}); "
                         "choose a larger patch or a smaller image.")
    check_budget(cfg.head_dim * 256 * cfg.head_dim * 8 * 3, what="The patch similarity map")
    if not (0 <= cfg.row < rows and 0 <= cfg.col < cols):
        raise InputError(f"Patch ({cfg.row}, {cfg.col}) is outside the {rows}×{cols} grid.")
    res = vit_patching.run(source, vit_patching.PatchConfig(image_size=size, patch_size=cfg.patch_size))
    r_pos, c_pos = R.grid_positions(rows, cols)  # (N,) each, raster order as the patching page numbers tokens
    chosen = cfg.row * cols + cfg.col
    d = cfg.head_dim

    def rot2d(x, idx):
        return R.apply_rope_2d(x, r_pos[idx], c_pos[idx], cfg.base)

    def rot1d(x, idx):
        c, s = R.cos_sin(idx, d, cfg.base, dtype=torch.float64)
        return R.apply_rope(x, c, s)

    s2 = _mean_similarity(rot2d, n, d, chosen).reshape(rows, cols)
    s1 = _mean_similarity(rot1d, n, d, chosen).reshape(rows, cols)
    # the relative property in 2D: the map for another chosen patch is the same map shifted by the offset
    other = ((cfg.row + rows // 2) % rows, (cfg.col + cols // 2) % cols)
    s2b = _mean_similarity(rot2d, n, d, other[0] * cols + other[1]).reshape(rows, cols)
    dr, dc = other[0] - cfg.row, other[1] - cfg.col
    r0, r1 = max(0, -dr), min(rows, rows - dr)
    c0, c1 = max(0, -dc), min(cols, cols - dc)
    err = float((s2[r0:r1, c0:c1] - s2b[r0 + dr:r1 + dr, c0 + dc:c1 + dc]).abs().max())
    return PatchRopeResult(image=res.image, grid=(rows, cols), patch_size=cfg.patch_size, row=cfg.row, col=cfg.col,
                           score_2d=s2.numpy(), score_1d=s1.numpy(), offset_only_error=err,
                           notes=res.notes + ((note,) if note else ()))


# --------------------------------------------------------------------------------------------- claim 16
