"""The RoPE context-scaling page: what happens to RoPE beyond the trained context, and what scaling does.

- ``decay``:     how RoPE scores fall off with distance (RoFormer §3.4.3), per context-scaling method.
- ``scaling``:   what position interpolation (Chen et al. 2023), NTK-aware scaling (bloc97 2023) and YaRN
                 (Peng et al. 2023) do to the angles beyond the trained context.
- ``long_context_gpt``: the lab's tiny GPT evaluated beyond its training context, with and without scaling
                 (``TinyGPT.forward``'s RoPE scaling argument).
- ``claim16``:   the verdict on claim #16, computed from these results and the RoPE page's ``relative``.

The frequency tables and scaling rules are in ``viz_core.rope``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from viz_core import rope as R
from viz_core.claims import ClaimCheck, judge_16
from viz_core.device import resolve_device
from viz_core.errors import InputError
from viz_core.labs.rope import RelativeResult, check_common
from viz_core.measure.memory import check_budget
from viz_core.models.data import load_corpus
from viz_core.models.gpt import checkpoint_path, load_tiny_gpt

METHODS = R.SCALING_METHODS  # ("none", "linear", "ntk", "yarn")


@dataclass(frozen=True)
class ScalingConfig:
    head_dim: int = 64
    base: float = 10000.0
    train_context: int = 256  # L
    factor: float = 4.0  # s: target context = s·L
    pair: int = -1  # pair drawn in the angle chart; −1 picks the first pair slower than one turn per L
    n_points: int = 400  # positions sampled on 0 … s·L (and the decay curve)


@dataclass
class ScalingResult:
    methods: tuple[str, ...]
    wavelengths: np.ndarray  # (d/2,) tokens, unscaled
    freq_ratio: np.ndarray  # (M, d/2) θ'ᵢ/θᵢ
    positions: np.ndarray  # (P,) 0 … s·L
    pair: int
    pair_angles: np.ndarray  # (M, P) rad, unwrapped angle of ``pair``
    trained_max_angle: float  # rad, L·θ_pair: the largest angle this pair reached in training
    unseen_pairs: np.ndarray  # (M,) pairs whose angle beyond L leaves the range seen in training
    unseen_turns: np.ndarray  # (M,) the largest excursion past the seen range, in turns
    attention_factor: np.ndarray  # (M,) multiplier on q and k
    inside_changed: np.ndarray  # (M,) pairs whose angles change inside the trained context
    decay_distance: np.ndarray  # (P,) tokens
    decay_mean: np.ndarray  # (M, P) mean q·R(r)q/|q|² over random directions q (= trace(R(r))/d)
    decay_bound: np.ndarray  # (M, P) RoFormer's relative upper bound (1/(d/2))·Σⱼ|Sⱼ|
    train_context: int
    factor: float


def first_slow_pair(d: int, base: float, context: int) -> int:
    """The first pair whose wavelength exceeds ``context``: it never completes a turn in training."""
    slow = torch.nonzero(R.wavelengths(d, base) > context).flatten()
    return int(slow[0]) if len(slow) else d // 2 - 1


def unseen_angles(d: int, base: float, freqs: torch.Tensor, train_context: int, target: float
                  ) -> tuple[int, float]:
    """Pairs that, at positions up to ``target`` with ``freqs``, reach angles never seen at positions < L with the
    original θ (a pair that turned fully in training has seen every angle). -> (count, worst excess in turns)."""
    seen = train_context * R.inv_freq(d, base)  # (d/2,) rad reached in training
    reach = target * freqs  # (d/2,)
    excess = torch.where(seen >= 2 * math.pi, torch.zeros_like(seen), (reach - seen).clamp(min=0))
    excess = torch.where(excess > 1e-9 * reach.clamp(min=1), excess, torch.zeros_like(excess))
    return int((excess > 0).sum()), float(excess.max() / (2 * math.pi))


def decay_curves(d: int, freqs: torch.Tensor, distances: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean, bound) over distances (P,). mean = trace(R(r))/d computed by rotating the identity with RoPE;
    bound = RoFormer §3.4.3: (1/(d/2))·Σⱼ |Σ_{i<j} e^{i·r·θᵢ}|."""
    c, s = R.cos_sin(distances, d, dtype=torch.float64, freqs=freqs)  # (P, D/2)
    eye = torch.eye(d, dtype=torch.float64)  # rows = basis directions
    rotated = R.apply_rope(eye[None, :, :].expand(len(distances), d, d), c[:, None, :], s[:, None, :])  # (P, D, D)
    mean = torch.diagonal(rotated, dim1=-2, dim2=-1).sum(-1) / d  # e_jᵀ R(r) e_j summed / d
    a = distances.to(torch.float64)[:, None] * freqs[None, :]  # (P, D/2)
    partial = torch.complex(a.cos(), a.sin()).cumsum(-1).abs()  # |S_j|
    return mean.numpy(), (partial.sum(-1) / (d // 2)).numpy()


def scaling(cfg: ScalingConfig) -> ScalingResult:
    check_common(cfg.head_dim, cfg.base)
    d, L, s = cfg.head_dim, cfg.train_context, cfg.factor
    for m in METHODS:
        R.check_scaling(R.RopeScaling(m, s, L))
    if not 2 <= cfg.n_points <= 5000:
        raise InputError("Between 2 and 5000 sample points, please.")
    if s * L >= R.MAX_POSITION:
        raise InputError(f"The target context s·L must stay below {R.MAX_POSITION:.3g} tokens, where RoPE angles "
                         f"stay exact to {R.MAX_ANGLE_ERROR:g} rad.")
    pair = first_slow_pair(d, cfg.base, L) if cfg.pair < 0 else cfg.pair
    if not 0 <= pair < d // 2:
        raise InputError(f"The pair index must be between 0 and {d // 2 - 1} (got {cfg.pair}).")
    theta = R.inv_freq(d, cfg.base)
    target = s * L
    pos = torch.linspace(0, target, cfg.n_points, dtype=torch.float64).round()  # (P,)
    inside = torch.arange(L)
    ratios, angles, unseen, excess, att, changed, means, bounds = [], [], [], [], [], [], [], []
    for m in METHODS:
        sc = R.RopeScaling(m, s, L)
        f = R.scaled_inv_freq(d, cfg.base, sc)
        ratios.append((f / theta).numpy())
        angles.append((pos * f[pair]).numpy())
        u, e = unseen_angles(d, cfg.base, f, L, target)
        unseen.append(u)
        excess.append(e)
        att.append(R.attention_factor(sc))
        changed.append(int((R.angles(inside, d, freqs=f) != R.angles(inside, d, freqs=theta)).any(0).sum()))
        mean, bound = decay_curves(d, f, pos)
        means.append(mean)
        bounds.append(bound)
    return ScalingResult(
        methods=METHODS, wavelengths=R.wavelengths(d, cfg.base).numpy(), freq_ratio=np.stack(ratios),
        positions=pos.numpy(), pair=pair, pair_angles=np.stack(angles), trained_max_angle=float(L * theta[pair]),
        unseen_pairs=np.array(unseen), unseen_turns=np.array(excess), attention_factor=np.array(att),
        inside_changed=np.array(changed), decay_distance=pos.numpy(), decay_mean=np.stack(means),
        decay_bound=np.stack(bounds), train_context=L, factor=float(s))


@dataclass(frozen=True)
class LongContextConfig:
    model: str = "tiny-gpt"  # checkpoint name in assets/models/
    factor: float = 4.0  # evaluate windows of factor × the trained context
    n_windows: int = 4  # validation-text windows averaged
    n_bins: int = 16  # position bins of the loss curve
    seed: int = 0
    device: str = "auto"


@dataclass
class LongContextResult:
    methods: tuple[str, ...]
    bin_edges: np.ndarray  # (B+1,) token positions
    loss: np.ndarray  # (M, B) mean next-token loss per position bin, nats/token
    loss_inside: np.ndarray  # (M,) positions < L
    loss_beyond: np.ndarray  # (M,) positions ≥ L
    train_context: int
    eval_len: int
    n_tokens: int  # tokens scored per method
    device: str


def evaluate_long_context(model, tokens: torch.Tensor, train_context: int, cfg: LongContextConfig,
                          device: torch.device, _progress=None) -> LongContextResult:
    """tokens: (W, s·L + 1) windows of token ids. Loss per position for every scaling method.
    ``_progress(fraction, text)`` is called after each method (ui.longrun's Stop raises from it)."""
    w, n1 = tokens.shape
    n = n1 - 1
    edges = np.linspace(0, n, cfg.n_bins + 1).round().astype(int)
    idx, tgt = tokens[:, :-1].to(device), tokens[:, 1:].to(device)
    losses, inside, beyond = [], [], []
    for m in METHODS:
        sc = R.RopeScaling(m, max(cfg.factor, 1.0), train_context)
        with torch.no_grad():
            logits = model(idx, rope_scaling=sc)[0].float()  # (W, N, V)
        per_pos = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, reduction="none").mean(0).cpu()
        losses.append([float(per_pos[a:b].mean()) for a, b in zip(edges[:-1], edges[1:])])
        inside.append(float(per_pos[:train_context].mean()))
        beyond.append(float(per_pos[train_context:].mean()) if n > train_context else float("nan"))
        if _progress is not None:
            _progress(len(inside) / len(METHODS), f"{m}: loss beyond the context {beyond[-1]:.2f} nats/token")
    return LongContextResult(methods=METHODS, bin_edges=edges, loss=np.array(losses), loss_inside=np.array(inside),
                             loss_beyond=np.array(beyond), train_context=train_context, eval_len=n,
                             n_tokens=w * n, device=str(device))


def estimate_long_context_s(cfg: LongContextConfig) -> float:
    """Seconds ``long_context_gpt(cfg)`` should take here: one window's forward pass at the full length, timed
    now, times the windows and the methods (the run is exactly that many such passes)."""
    _check_long_context(cfg)
    dev = resolve_device(cfg.device)
    model, _, mcfg = load_tiny_gpt(cfg.model, device=dev)
    n = int(round(cfg.factor * mcfg.max_seq_len))
    idx = torch.zeros(1, n, dtype=torch.long, device=dev)
    t0 = time.perf_counter()
    with torch.no_grad():
        model(idx)
    return (time.perf_counter() - t0) * cfg.n_windows * len(METHODS)


def _check_long_context(cfg: LongContextConfig) -> None:
    if not 1.0 <= cfg.factor <= 16.0:
        raise InputError(f"Evaluate at 1–16× the trained context (got {cfg.factor:g}×).")
    if not 1 <= cfg.n_windows <= 32 or not 1 <= cfg.n_bins <= 256:
        raise InputError("Choose 1–32 windows and 1–256 bins.")


def long_context_gpt(cfg: LongContextConfig, _progress=None) -> LongContextResult:
    """The lab's tiny GPT (assets/models/<model>.pt) on validation text windows of factor × its context."""
    _check_long_context(cfg)
    dev = resolve_device(cfg.device)
    model, tok, mcfg = load_tiny_gpt(cfg.model, device=dev)
    L = mcfg.max_seq_len
    n = int(round(cfg.factor * L))
    # logits (W, N, V) fp32 dominate, plus attention buffers
    check_budget(cfg.n_windows * n * (mcfg.vocab_size + 8 * mcfg.d_model) * 4 * 3, what="The long-context run",
                 device=dev, fits="fewer text windows or a smaller factor")
    ids = torch.tensor(tok.encode(load_corpus("val")), dtype=torch.long)
    if len(ids) < n + 2:
        raise InputError(f"The validation text has {len(ids)} tokens, fewer than the {n + 1} one window needs.")
    g = torch.Generator().manual_seed(cfg.seed)
    starts = torch.randint(0, len(ids) - n - 1, (cfg.n_windows,), generator=g)
    windows = torch.stack([ids[s0: s0 + n + 1] for s0 in starts.tolist()])  # (W, N+1)
    return evaluate_long_context(model, windows, L, cfg, dev, _progress)


def gpt_available(name: str = "tiny-gpt") -> bool:
    return checkpoint_path(name).exists()


def claim16(rel: RelativeResult, sc: ScalingResult, gpt: "LongContextResult | None" = None) -> ClaimCheck:
    """Relative part: RoPE's diagonal deviation at float precision (≤ 1e-5·|q||k|/√d in float64 and ≤ 1e-3 in the
    run's dtype relative to the score scale... scaled by the dtype's epsilon). Length part: the tiny GPT's loss
    beyond its training context (when given), else the analytic count of pairs reaching unseen angles."""
    eps = {"float32": 2.0 ** -23, "bfloat16": 2.0 ** -7, "float16": 2.0 ** -10, "float64": 2.0 ** -52}[rel.dtype]
    rel_dev = rel.diag_deviation[rel.methods.index("rope")] / rel.score_scale
    bound = 64 * eps * math.sqrt(len(rel.positions))  # rounding of a d-term dot product at these angles
    parts = [f"q·k along each diagonal varies by at most {rel_dev:.1e} of the score scale in {rel.dtype} "
             f"({rel.rope_deviation_float64 / rel.score_scale:.1e} in float64), positions {rel.positions[0]:,}"
             f"–{rel.positions[-1]:,}"]
    if gpt is not None:
        i = gpt.methods.index("none")
        parts.append(f"the tiny GPT (trained on {gpt.train_context} tokens) has loss {gpt.loss_inside[i]:.2f} "
                     f"nats/token inside its context and {gpt.loss_beyond[i]:.2f} beyond it without scaling "
                     f"(best with scaling: {min(gpt.loss_beyond):.2f}, {gpt.device})")
        length_holds = gpt.loss_beyond[i] <= gpt.loss_inside[i] * 1.05
    else:
        u = sc.unseen_pairs[sc.methods.index("none")]
        parts.append(f"analytic (the tiny GPT was not run): beyond L={sc.train_context} up to {sc.factor:g}·L, {u} of "
                     f"{len(sc.wavelengths)} pairs rotate to angles never seen in training, "
                     f"{sc.unseen_pairs[sc.methods.index('linear')]} with position interpolation")
        length_holds = u == 0
    prov = (f"measured live ({rel.dtype}" + (f"; tiny GPT losses on {gpt.device})" if gpt is not None else
                                             "); length part computed (angle count)"))
    return judge_16(rel_dev, bound, bool(length_holds), measured="; ".join(parts) + ".", provenance=prov)
