"""Tiny Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") for 28×28 Fashion-MNIST.

Patch 4 → a 7×7 grid = 49 patch tokens + a CLS token, pre-norm encoder, attention by the lab's reference
attention (weights returned) or SDPA. Two position schemes:
- "learned": a learned absolute embedding per token (the ViT paper);
- "rope2d":  axial 2D rotary embedding (Heo et al. 2024, "Rotary Position Embedding for Vision Transformer";
  Su et al. 2021): the first half of each head's dimensions rotates with the patch row, the second half with
  the column, through ``viz_core.rope``; the CLS token is not rotated.
``attention_rollout`` follows Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from viz_core.attention.reference import reference_attention
from viz_core.errors import InputError
from viz_core.models import MODELS_DIR
from viz_core.rope import apply_rope, cos_sin

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
POS_KINDS = ("learned", "rope2d")


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 28
    patch: int = 4
    in_chans: int = 1
    n_classes: int = 10
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 2
    pos: str = "learned"  # learned | rope2d
    rope_base: float = 100.0
    norm_eps: float = 1e-5

    def __post_init__(self):
        if self.pos not in POS_KINDS:
            raise InputError(f"Unknown position scheme {self.pos!r}; choose one of {POS_KINDS}.")
        if self.image_size % self.patch:
            raise InputError("The image size must be a multiple of the patch size.")
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 4:
            raise InputError("The head dimension must be a multiple of 4 (2D RoPE splits it in two rotated halves).")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch

    @property
    def n_tokens(self) -> int:
        return self.grid ** 2 + 1

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @classmethod
    def from_dict(cls, d: dict) -> "ViTConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def rope2d_tables(cfg: ViTConfig, device=None, dtype=torch.float32):
    """cos, sin for rows and columns: each (grid², head_dim/4) for the patch tokens (row-major)."""
    g = cfg.grid
    rows = torch.arange(g).repeat_interleave(g)
    cols = torch.arange(g).repeat(g)
    half = cfg.head_dim // 2
    cr, sr = cos_sin(rows, half, cfg.rope_base, dtype=dtype, device=device)
    cc, sc = cos_sin(cols, half, cfg.rope_base, dtype=dtype, device=device)
    return cr, sr, cc, sc


def apply_rope2d(x: torch.Tensor, tables) -> torch.Tensor:
    """x (B, H, 1+P, hd): CLS (index 0) untouched, patch tokens rotated axially."""
    cr, sr, cc, sc = tables
    cls_tok, p = x[..., :1, :], x[..., 1:, :]
    h = x.shape[-1] // 2
    p = torch.cat((apply_rope(p[..., :h], cr, sr), apply_rope(p[..., h:], cc, sc)), dim=-1)
    return torch.cat((cls_tok, p), dim=-2)


class EncoderBlock(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model))

    def forward(self, x, rope_tables=None, return_attn=False):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.cfg.n_head, self.cfg.head_dim).permute(2, 0, 3, 1, 4)
        if rope_tables is not None:
            q, k = apply_rope2d(q, rope_tables), apply_rope2d(k, rope_tables)
        if return_attn:
            o = reference_attention(q, k, v, return_weights=True)
            out, w = o.out, o.weights  # (B, H, N, hd), (B, H, N, N)
        else:
            out, w = F.scaled_dot_product_attention(q, k, v), None
        x = x + self.proj(out.transpose(1, 2).reshape(b, n, d))
        x = x + self.mlp(self.ln2(x))
        return x, w


class TinyViT(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.d_model, cfg.patch, stride=cfg.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        if cfg.pos == "learned":
            self.pos_emb = nn.Parameter(torch.randn(1, cfg.n_tokens, cfg.d_model) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, images: torch.Tensor, *, return_attn: bool = False, token_drop: "TokenDrop | None" = None,
                intermediates: bool = False):
        """images (B, C, 28, 28) normalised float -> logits (B, classes).

        return_attn:   also return the list of (B, H, n, n) weights per layer: ``(logits, attn)``;
        token_drop:    keep only the patch tokens ``token_drop.select`` picks before block ``token_drop.after``
                       (PyramidDrop-style, Xing et al. 2024; learned positions only);
        intermediates: return ``(logits, ViTIntermediates)`` instead (attn filled when return_attn)."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, 49, d)
        x = torch.cat((self.cls.expand(x.shape[0], -1, -1), x), dim=1)  # (B, 50, d)
        tables = None
        if self.cfg.pos == "learned":
            x = x + self.pos_emb
        else:
            tables = rope2d_tables(self.cfg, x.device, x.dtype)
        if token_drop is not None:
            if tables is not None:
                raise InputError("Token dropping is shown on the learned-position tiny ViT.")
            if not 0 <= token_drop.after < self.cfg.n_layer:
                raise InputError(f"Drop tokens before a block between 0 and {self.cfg.n_layer - 1}.")
        kept = torch.arange(x.shape[1] - 1, device=x.device).expand(x.shape[0], -1)  # (B, P) patch indices
        attns, hiddens = [], [x]
        for i, blk in enumerate(self.blocks):
            if token_drop is not None and i == token_drop.after:
                cls_attn = None
                if token_drop.needs_cls_attn:
                    _, w = blk(x, None, True)  # this block's attention, computed on the full set
                    cls_attn = w[:, :, 0, 1:].mean(1)  # (B, P)
                kept = token_drop.select(x, cls_attn)  # (B, K)
                idx = torch.cat((torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device), kept + 1), dim=1)
                x = x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))  # (B, 1+K, d)
            x, w = blk(x, tables, return_attn)
            attns.append(w)
            if intermediates:
                hiddens.append(x)
        logits = self.head(self.ln_f(x[:, 0]))
        if intermediates:
            return logits, ViTIntermediates(tuple(attns) if return_attn else None, tuple(hiddens), kept)
        return (logits, attns) if return_attn else logits


@dataclass(frozen=True)
class TokenDrop:
    """Token dropping for ``TinyViT.forward``: before block ``after`` keep the patches ``select`` returns.

    select(x (B, 1+P, d), cls_attn (B, P) or None) -> kept patch indices (B, K), 0-based among the P patches;
    cls_attn (CLS's head-mean attention in block ``after`` on the full set) is computed when needs_cls_attn."""
    after: int
    select: Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
    needs_cls_attn: bool = False


@dataclass(frozen=True)
class ViTIntermediates:
    """attn: per layer (B, H, n, n) or None unless return_attn; hiddens: L+1 residual streams (B, n_i, d)
    (hiddens[0] the embedded input, hiddens[i+1] block i's output); kept: (B, K) patch indices kept."""
    attn: tuple | None
    hiddens: tuple
    kept: torch.Tensor


def normalize_images(images_u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32, Fashion-MNIST mean/std normalised."""
    x = torch.as_tensor(np.array(images_u8, dtype=np.float32))  # a copy: IDX arrays are read-only
    if x.dim() == 2:
        x = x[None]
    return ((x / 255.0 - FASHION_MEAN) / FASHION_STD)[:, None]


def attention_rollout(attns: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Abnar & Zuidema 2020: per layer Â = residual·I + (1−residual)·mean_heads(A), rows renormalised,
    multiplied through the layers. attns: list of (B, H, N, N) -> rollout (B, N, N); row 0 (CLS) shows
    which tokens the class decision draws on."""
    r = None
    for a in attns:
        a = a.float().mean(1)  # (B, N, N)
        eye = torch.eye(a.shape[-1], device=a.device)
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(-1, keepdim=True)
        r = a if r is None else a @ r
    return r


# ---------------------------------------------------------------------------------------------- checkpoints
def save_vit(path: Path, model: TinyViT, meta: dict, dtype=torch.float16) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu", dtype).clone() for k, v in model.state_dict().items()}
    torch.save({"format": 1, "kind": "tiny-vit", "config": asdict(model.cfg), "meta": json.dumps(meta),
                "state_dict": sd}, path)
    return path


def load_tiny_vit(name: str = "tiny-vit", device="cpu", dtype=torch.float32):
    """-> (model in eval mode, cfg, meta) from assets/models/<name>.pt."""
    import json

    path = MODELS_DIR / f"{name}.pt"
    if not path.exists():
        raise InputError(f"No checkpoint at {path}; run `python -m viz_core.train.vit --name {name}`.")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ViTConfig.from_dict(ck["config"])
    model = TinyViT(cfg)
    model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return model, cfg, json.loads(ck["meta"])


@torch.no_grad()
def accuracy(model: TinyViT, images_u8: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(labels), batch):
        x = normalize_images(images_u8[i: i + batch])
        correct += int((model(x).argmax(-1).numpy() == labels[i: i + batch]).sum())
    return correct / len(labels)
