"""Next-token sampling: temperature, top-k (Fan et al. 2018, "Hierarchical Neural Story Generation") and
nucleus / top-p (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration").

    p_i = softmax(z / T)_i, then keep the k most likely (top-k) and/or the smallest set whose mass ≥ p (top-p),
    renormalise, draw with a seeded generator.
T → 0 is greedy (argmax); T = 1 the model's own distribution; larger T flattens it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.errors import InputError


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off

    def __post_init__(self):
        if not (0.0 <= self.temperature <= 100.0):
            raise InputError(f"Temperature must be between 0 and 100 (got {self.temperature}).")
        if self.top_k < 0:
            raise InputError(f"top-k must be ≥ 0 (0 turns it off); got {self.top_k}.")
        if not (0.0 < self.top_p <= 1.0):
            raise InputError(f"top-p must be in (0, 1] (1 turns it off); got {self.top_p}.")


def filtered_probs(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """logits (..., V) -> the distribution actually sampled from (..., V), float32, rows sum to 1.
    Temperature 0 gives a one-hot on the argmax."""
    z = logits.float()
    if cfg.temperature == 0.0:
        return torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float()
    p = torch.softmax(z / cfg.temperature, dim=-1)
    if cfg.top_k and cfg.top_k < p.shape[-1]:
        kth = torch.topk(p, cfg.top_k, dim=-1).values[..., -1:]
        p = torch.where(p >= kth, p, torch.zeros_like(p))
    if cfg.top_p < 1.0:
        sp, si = torch.sort(p, dim=-1, descending=True)
        before = torch.cumsum(sp, -1) - sp  # mass strictly above each token
        keep_sorted = before < cfg.top_p * sp.sum(-1, keepdim=True)  # the first token is always kept
        keep = torch.zeros_like(keep_sorted).scatter(-1, si, keep_sorted)
        p = torch.where(keep, p, torch.zeros_like(p))
    return p / p.sum(-1, keepdim=True)


def sample(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> token ids (B,) long."""
    p = filtered_probs(logits, cfg)
    if cfg.temperature == 0.0:
        return p.argmax(-1)
    return torch.multinomial(p, 1, generator=generator).squeeze(-1)


@dataclass(frozen=True)
class Distribution:
    probs_t1: np.ndarray  # (V,) softmax at T = 1
    probs_t: np.ndarray  # (V,) softmax at the chosen T (before top-k/top-p)
    probs_final: np.ndarray  # (V,) after top-k/top-p, renormalised
    kept: int  # tokens with non-zero final probability
    entropy_bits: float  # of probs_final


def describe(logits: torch.Tensor, cfg: SamplingConfig) -> Distribution:
    """One position's logits (V,) -> the three distributions a page draws."""
    z = logits.detach().float().reshape(-1)
    p1 = torch.softmax(z, -1)
    pt = p1 if cfg.temperature in (0.0, 1.0) else torch.softmax(z / cfg.temperature, -1)
    if cfg.temperature == 0.0:
        pt = torch.nn.functional.one_hot(z.argmax(), z.numel()).float()
    pf = filtered_probs(z, cfg)
    nz = pf[pf > 0]
    ent = float(-(nz * nz.log2()).sum())
    return Distribution(p1.numpy(), pt.numpy(), pf.numpy(), int((pf > 0).sum()), max(ent, 0.0))


@torch.no_grad()
def generate(model, idx: torch.Tensor, n_new: int, cfg: SamplingConfig, *, seed: int = 0,
             cache=None, stop_ids: tuple[int, ...] = ()) -> torch.Tensor:
    """Autoregressive continuation with a KV cache. model(idx, cache=cache) -> (logits, cache).
    idx (B, N) -> (B, n_new) new ids. Uses ``KVCache.empty(model.cfg, …)`` when no cache is given."""
    from viz_core.models.kv_cache import KVCache

    if n_new < 0:
        raise InputError("The number of new tokens must be ≥ 0.")
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    b, n = idx.shape
    if cache is None:
        p = next(model.parameters())
        cache = KVCache.empty(model.cfg, b, n + n_new, device=p.device, dtype=p.dtype)
    logits, cache = model(idx, cache=cache)[:2]
    out = []
    for _ in range(n_new):
        nxt = sample(logits[:, -1].cpu(), cfg, g).to(idx.device)  # (B,)
        out.append(nxt)
        if stop_ids and b == 1 and int(nxt) in stop_ids:
            break
        if len(out) == n_new:
            break
        logits, cache = model(nxt[:, None], cache=cache)[:2]
    return torch.stack(out, 1) if out else idx.new_zeros((b, 0))
