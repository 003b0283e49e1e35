"""Tiny GPT: a pre-norm decoder-only Transformer (Radford et al. 2018/2019, "Improving Language Understanding
by Generative Pre-Training" / "Language Models are Unsupervised Multitask Learners") with the lab's own parts:

- rotary positions (Su et al. 2021, RoFormer) from ``viz_core.rope`` (half-split layout);
- grouped-query attention (Ainslie et al. 2023, GQA; Shazeer 2019, MQA) via ``n_kv_head`` ≤ ``n_head``;
- attention by ``viz_core.attention.reference`` (weights returned) or torch SDPA (fast path);
- an explicit ``viz_core.models.kv_cache.KVCache`` passed in and returned, never stored on the model.

Tokens are raw UTF-8 bytes (``ByteTokenizer``, vocabulary 256): every string round-trips exactly.

API
    cfg = GPTConfig(n_layer=4, n_head=4, n_kv_head=2, d_model=128, max_seq_len=256)
    model = TinyGPT(cfg)
    logits, cache = model(idx)                              # idx (B, N) long -> logits (B, N, V), cache None
    cache = KVCache.empty(cfg, batch=1, max_len=512)
    logits, cache = model(idx, cache=cache)                 # appends K/V; positions continue at cache.length
    logits, cache, attn = model(idx, return_attn=True)      # attn: list over layers of (B, H, N, M) weights
    logits, _, inter = model(idx, skip_attn={1}, rope_scaling=RopeScaling("yarn", 4.0, 256),
                             intermediates=True)            # GPTIntermediates(attn, hiddens, post_attn)
    model, tok, cfg = load_tiny_gpt("tiny-gpt")             # from assets/models/tiny-gpt.pt, eval mode
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Collection

import torch
import torch.nn as nn
import torch.nn.functional as F

from viz_core.attention.reference import causal_mask, reference_attention
from viz_core.models.kv_cache import KVCache
from viz_core.device import onednn_off_for_low_precision
from viz_core.errors import InputError
from viz_core.rope import RopeScaling, apply_rope, attention_factor, cos_sin, scaled_inv_freq

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 4  # < n_head: GQA; 1: MQA
    d_model: int = 128
    max_seq_len: int = 256  # context trained on (RoPE itself has no hard limit)
    rope_base: float = 10000.0
    mlp_ratio: int = 4
    tie_embeddings: bool = True
    norm_eps: float = 1e-5

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise InputError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head}).")
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise InputError(f"n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head}).")
        if (self.d_model // self.n_head) % 2:
            raise InputError("The head dimension must be even for RoPE.")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def group_size(self) -> int:
        return self.n_head // self.n_kv_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class ByteTokenizer:
    """UTF-8 bytes as tokens 0…255. Exact round-trip for any text; decode of a partial multi-byte sequence
    uses U+FFFD replacement (``errors='replace'``)."""

    kind = "bytes"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def token_str(self, i: int) -> str:
        """A printable label for one token (for plots)."""
        i = int(i)
        special = {10: "\\n", 9: "\\t", 13: "\\r", 32: "·"}
        if i in special:
            return special[i]
        return chr(i) if 32 < i < 127 else f"<{i:02x}>"

    def to_dict(self) -> dict:
        return {"kind": self.kind}


def tokenizer_from_dict(d: dict):
    if d.get("kind") == "bytes":
        return ByteTokenizer()
    raise InputError(f"Unknown tokenizer kind {d.get('kind')!r} in checkpoint.")


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, H_kv, M, D) -> (B, H_kv·n_rep, M, D): each KV head serves n_rep consecutive query heads."""
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.wq = nn.Linear(cfg.d_model, cfg.n_head * hd, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=False)
        self.wo = nn.Linear(cfg.n_head * hd, cfg.d_model, bias=False)

    def qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """x (B, N, d) -> q (B, H, N, hd), k, v (B, H_kv, N, hd); q and k rotated by the (N, hd/2) tables."""
        b, n, _ = x.shape
        hd = self.cfg.head_dim
        q = self.wq(x).view(b, n, self.cfg.n_head, hd).transpose(1, 2)
        k = self.wk(x).view(b, n, self.cfg.n_kv_head, hd).transpose(1, 2)
        v = self.wv(x).view(b, n, self.cfg.n_kv_head, hd).transpose(1, 2)
        return apply_rope(q, cos, sin, "half"), apply_rope(k, cos, sin, "half"), v

    def attend(self, q, k, v, *, return_attn: bool = False):
        """q (B, H, N, hd), k/v (B, H_kv, M, hd) with M ≥ N (queries are the last N positions), causal.
        Returns (out (B, N, d), weights (B, H, N, M) or None)."""
        n, m = q.shape[-2], k.shape[-2]
        k, v = repeat_kv(k, self.cfg.group_size), repeat_kv(v, self.cfg.group_size)
        if return_attn:
            o = reference_attention(q, k, v, causal=True, return_weights=True)
            out, w = o.out, o.weights
        else:
            if n == m:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # SDPA's is_causal aligns top-left; with a cache the queries are the last rows
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(n, m, q.device))
            w = None
        b = q.shape[0]
        return self.wo(out.transpose(1, 2).reshape(b, n, -1)), w


class Block(nn.Module):
    """Pre-norm block: y = x + Attn(LN(x)), z = y + MLP(LN(y))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, *, cache: KVCache | None = None,
                layer: int = 0, skip_attn: bool = False, return_attn: bool = False):
        """x (B, N, d), RoPE tables (N, hd/2) -> (z (B, N, d), y (B, N, d) the MLP's input, weights or None).

        ``skip_attn`` removes the attention sublayer (y = x, He et al. 2024); ``cache`` appends this layer's
        K/V at index ``layer``."""
        w = None
        if skip_attn:
            y = x
        else:
            q, k, v = self.attn.qkv(self.ln1(x), cos, sin)
            if cache is not None:
                k, v = cache.update(layer, k, v)  # (B, H_kv, start+n, hd)
            a, w = self.attn.attend(q, k, v, return_attn=return_attn)
            y = x + a
        z = y + self.mlp(self.ln2(y))
        return z, y, w


@dataclass(frozen=True)
class GPTIntermediates:
    """What ``TinyGPT.forward(..., intermediates=True)`` returns besides logits (x-transformers style).

    attn:      per layer (B, H, N, M) weights (None for a skipped layer); None unless ``return_attn``;
    hiddens:   L+1 residual streams (B, N, d): hiddens[i] is block i's input, hiddens[L] the last output;
    post_attn: per layer (B, N, d) residual after the attention sublayer (the MLP sublayer's input)."""
    attn: tuple | None
    hiddens: tuple
    post_attn: tuple


class TinyGPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init)
        for blk in self.blocks:  # GPT-2 style scaled init of the residual projections
            for lin in (blk.attn.wo, blk.mlp[2]):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def rope_tables(self, start: int, n: int, device, dtype, scaling: RopeScaling | None = None):
        """cos, sin (n, head_dim/2) for positions start … start+n−1, optionally context-scaled (PI / NTK /
        YaRN via ``viz_core.rope``; YaRN's attention factor multiplies cos and sin, i.e. q and k)."""
        pos = torch.arange(start, start + n)
        if scaling is None:
            return cos_sin(pos, self.cfg.head_dim, self.cfg.rope_base, dtype=dtype, device=device)
        f = scaled_inv_freq(self.cfg.head_dim, self.cfg.rope_base, scaling)
        c, s = cos_sin(pos, self.cfg.head_dim, self.cfg.rope_base, dtype=dtype, device=device, freqs=f)
        a = attention_factor(scaling)
        return c * a, s * a

    def forward(self, idx: torch.Tensor, *, cache: KVCache | None = None, return_attn: bool = False,
                rope_scaling: RopeScaling | None = None, skip_attn: Collection[int] = (),
                intermediates: bool = False):
        """idx (B, N) long -> (logits (B, N, V), cache).

        return_attn:   also return the list (one per layer) of (B, H, N, M) weights, M = cache length after
                       the call (or N): ``(logits, cache, attn)``;
        rope_scaling:  RoPE frequency scaling (``viz_core.rope.RopeScaling``) for contexts beyond training;
        skip_attn:     layer indices whose attention sublayer is removed (no cache with a skip list);
        intermediates: return ``(logits, cache, GPTIntermediates)`` instead (attn filled when return_attn)."""
        p = self.tok_emb.weight
        with onednn_off_for_low_precision(p.dtype, p.device):  # bf16 on CPU: no per-shape oneDNN kernels kept
            return self._forward(idx, cache=cache, return_attn=return_attn, rope_scaling=rope_scaling,
                                 skip_attn=skip_attn, intermediates=intermediates)

    def _forward(self, idx, *, cache, return_attn, rope_scaling, skip_attn, intermediates):
        if idx.dim() != 2:
            raise InputError(f"Token ids must be shaped (batch, length); got {tuple(idx.shape)}.")
        b, n = idx.shape
        if n == 0:
            raise InputError("The prompt is empty: give at least one token.")
        skip = frozenset(int(i) for i in skip_attn)
        if skip and cache is not None:
            raise InputError("Skipping attention sublayers is not supported together with a KV cache.")
        if not skip <= set(range(self.cfg.n_layer)):
            raise InputError(f"Layers to skip must lie in 0…{self.cfg.n_layer - 1}; got {sorted(skip)}.")
        start = cache.length if cache is not None else 0
        x = self.tok_emb(idx)  # (B, N, d)
        cos, sin = self.rope_tables(start, n, x.device, x.dtype, rope_scaling)  # (N, hd/2)
        attns, hiddens, mids = [], [x], []
        for i, blk in enumerate(self.blocks):
            x, y, w = blk(x, cos, sin, cache=cache, layer=i, skip_attn=i in skip, return_attn=return_attn)
            if return_attn:
                attns.append(w)
            if intermediates:
                hiddens.append(x)
                mids.append(y)
        if cache is not None:
            cache.advance(n)
        logits = self.head(self.ln_f(x))  # (B, N, V)
        if intermediates:
            return logits, cache, GPTIntermediates(tuple(attns) if return_attn else None, tuple(hiddens),
                                                   tuple(mids))
        if return_attn:
            return logits, cache, attns
        return logits, cache


# ---------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, model: TinyGPT, tokenizer, *, meta: dict | None = None,
                    dtype: torch.dtype = torch.float16) -> Path:
    """Plain-tensor checkpoint loadable with ``torch.load(weights_only=True)``; weights stored in ``dtype``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu", dtype).clone() for k, v in model.state_dict().items()
          if not (model.cfg.tie_embeddings and k == "head.weight")}
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "tiny-gpt", "config": model.cfg.to_dict(),
                "tokenizer": tokenizer.to_dict(), "meta": json.dumps(meta or {}), "state_dict": sd}, path)
    return path


def checkpoint_path(name: str) -> Path:
    from viz_core.models import MODELS_DIR

    return MODELS_DIR / f"{name}.pt"


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """-> (model in eval mode with requires_grad False, tokenizer, cfg, meta dict)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"No checkpoint at {path}; run `python -m viz_core.train.gpt` to make it.")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = GPTConfig.from_dict(ck["config"])
    model = TinyGPT(cfg)
    sd = {k: v.to(torch.float32) for k, v in ck["state_dict"].items()}
    if cfg.tie_embeddings:
        sd["head.weight"] = sd["tok_emb.weight"]
    model.load_state_dict(sd)
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return model, tokenizer_from_dict(ck["tokenizer"]), cfg, json.loads(ck.get("meta", "{}"))


def load_tiny_gpt(name: str = "tiny-gpt", device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """-> (model, tokenizer, cfg) from assets/models/<name>.pt. A fresh model each call (callers cache it)."""
    model, tok, cfg, _ = load_checkpoint(checkpoint_path(name), device, dtype)
    return model, tok, cfg
