"""Dropping what is redundant: which sublayers and which tokens a transformer can do without.

Layers — He et al. 2024, "What Matters in Transformers? Not All Attention Is Needed": an attention
sublayer whose output Y = X + Attn(X) is almost parallel to its input X (cosine similarity near 1) changes
little; drop the most similar ones first (``sublayer_similarities``; ``TinyGPT.forward(skip_attn=...)``
skips them).

Tokens — PyramidDrop (Xing et al. 2024) drops image tokens deeper in the network, ranked by the attention
they receive. ``token_dropper`` chooses which patch tokens the tiny ViT keeps after a chosen layer, three
ways: the most redundant by cosine similarity (a token nearly equal to one we keep adds little), the least
attended by CLS (the PyramidDrop analogue), and at random (the control).

The measurements on the tiny models (loss, accuracy, time, FLOPs) are the page's: ``viz_core.labs.drop_redundancy``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from viz_core.errors import InputError
from viz_core.models.vit import TokenDrop


def sublayer_similarities(model, idx: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer (cos(X, X + Attn(X)), cos(Y, Y + MLP(Y))), each (B·N,), from the tiny GPT's intermediates."""
    _, _, inter = model(idx, intermediates=True)
    return [(F.cosine_similarity(x, y, dim=-1).flatten(), F.cosine_similarity(y, z, dim=-1).flatten())
            for x, y, z in zip(inter.hiddens[:-1], inter.post_attn, inter.hiddens[1:])]


TOKEN_METHODS = ("similarity", "cls-attention", "random")


def _select(x: torch.Tensor, keep: int, method: str, cls_attn: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
    """x (B, 1+P, d) -> indices (B, keep) of patch tokens (0-based among the P) to keep."""
    b, n, _ = x.shape
    p = n - 1
    if keep >= p:
        return torch.arange(p, device=x.device).expand(b, p)
    if method == "random":
        idx = torch.stack([torch.randperm(p, generator=g)[:keep] for _ in range(b)])
        return idx.sort(-1).values.to(x.device)
    if method == "cls-attention":
        return cls_attn.topk(keep, dim=-1).indices.sort(-1).values  # (B, keep)
    # similarity: repeatedly drop the token most similar to another still-kept token
    t = F.normalize(x[:, 1:].float(), dim=-1)
    sim = t @ t.transpose(1, 2)  # (B, P, P)
    sim.diagonal(dim1=1, dim2=2).fill_(-2.0)
    alive = torch.ones(b, p, dtype=torch.bool, device=x.device)
    rows = torch.arange(b, device=x.device)
    for _ in range(p - keep):
        s = sim.masked_fill(~alive[:, None, :], -2.0).max(-1).values.masked_fill(~alive, -3.0)  # (B, P)
        alive[rows, s.argmax(-1)] = False
    return alive.nonzero()[:, 1].view(b, keep)


def token_dropper(keep: int, after: int, method: str, g: torch.Generator | None = None):
    """The ``TokenDrop`` for ``TinyViT.forward``: keep ``keep`` patch tokens, chosen by ``method``, before
    block ``after``."""
    if method not in TOKEN_METHODS:
        raise InputError(f"Unknown token-dropping method {method!r}; choose one of {TOKEN_METHODS}.")
    g = g or torch.Generator().manual_seed(0)
    return TokenDrop(after, lambda x, cls_attn: _select(x, keep, method, cls_attn, g),
                     needs_cls_attn=method == "cls-attention")


def vit_forward_dropping(model, images: torch.Tensor, keep: int, after: int, method: str,
                         g: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The tiny ViT's forward keeping ``keep`` patch tokens after ``after`` blocks -> (logits, kept (B, keep))."""
    logits, inter = model(images, token_drop=token_dropper(keep, after, method, g), intermediates=True)
    return logits, inter.kept
