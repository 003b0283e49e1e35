"""A Llama-style decoder written with the lab's own parts (Touvron et al. 2023, "LLaMA: Open and Efficient
Foundation Language Models"), enough to run SmolLM2 (Allal et al. 2025, "SmolLM2: When Smol Goes Big").

- RMSNorm (Zhang & Sennrich 2019) before attention and before the MLP;
- rotary positions (Su et al. 2021) via ``viz_core.rope``; ``rope_layout`` 'interleaved' matches the q/k
  weights as stored in GGUF files (llama.cpp's converter permutes them so adjacent pairs rotate), 'half'
  matches Hugging Face checkpoints;
- grouped-query attention (Ainslie et al. 2023) with ``n_kv_head`` < ``n_head``;
- SwiGLU MLP (Shazeer 2020, "GLU Variants Improve Transformer"): down(silu(gate(x)) · up(x));
- the explicit ``viz_core.models.kv_cache.KVCache`` and the same forward contract as ``TinyGPT``:
  ``forward(idx, cache=None, return_attn=False) -> (logits, cache[, attn])``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from viz_core.attention.reference import causal_mask, reference_attention
from viz_core.models.kv_cache import KVCache
from viz_core.errors import InputError
from viz_core.models.gpt import repeat_kv
from viz_core.rope import apply_rope, cos_sin


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int = 49152
    n_layer: int = 30
    n_head: int = 9
    n_kv_head: int = 3
    d_model: int = 576
    ffn_dim: int = 1536
    rope_base: float = 100000.0
    rope_layout: str = "interleaved"
    norm_eps: float = 1e-5
    max_seq_len: int = 8192
    tie_embeddings: bool = True

    def __post_init__(self):
        if self.d_model % self.n_head or self.n_head % self.n_kv_head:
            raise InputError("d_model must divide into n_head heads, and n_head into n_kv_head groups.")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def group_size(self) -> int:
        return self.n_head // self.n_kv_head

    @classmethod
    def from_dict(cls, d: dict) -> "LlamaConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class LlamaLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        hd = cfg.head_dim
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.wq = nn.Linear(cfg.d_model, cfg.n_head * hd, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=False)
        self.wo = nn.Linear(cfg.n_head * hd, cfg.d_model, bias=False)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.w_gate = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.w_up = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.w_down = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(LlamaLayer(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, *, cache: KVCache | None = None, return_attn: bool | tuple = False):
        """idx (B, N) long -> (logits (B, N, V), cache) or with return_attn (… , attn): a list over layers of
        (B, H, N, M) weights (None for layers not asked for when return_attn is a tuple of layer indices)."""
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise InputError(f"Token ids must be shaped (batch, length ≥ 1); got {tuple(idx.shape)}.")
        cfg = self.cfg
        b, n = idx.shape
        start = cache.length if cache is not None else 0
        x = self.tok_emb(idx)  # (B, N, d)
        cos, sin = cos_sin(torch.arange(start, start + n), cfg.head_dim, cfg.rope_base, dtype=x.dtype,
                           device=x.device)
        want = (set(range(cfg.n_layer)) if return_attn is True else set(return_attn) if return_attn else set())
        attns = []
        hd = cfg.head_dim
        for i, L in enumerate(self.layers):
            h = L.attn_norm(x)
            q = L.wq(h).view(b, n, cfg.n_head, hd).transpose(1, 2)  # (B, H, N, hd)
            k = L.wk(h).view(b, n, cfg.n_kv_head, hd).transpose(1, 2)  # (B, H_kv, N, hd)
            v = L.wv(h).view(b, n, cfg.n_kv_head, hd).transpose(1, 2)
            q, k = apply_rope(q, cos, sin, cfg.rope_layout), apply_rope(k, cos, sin, cfg.rope_layout)
            if cache is not None:
                k, v = cache.update(i, k, v)  # (B, H_kv, start+n, hd)
            k, v = repeat_kv(k, cfg.group_size), repeat_kv(v, cfg.group_size)
            m = k.shape[-2]
            if i in want:
                o = reference_attention(q, k, v, causal=True, return_weights=True)
                out, w = o.out, o.weights
            else:
                mask = None if n == m else causal_mask(n, m, q.device)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and n > 1)
                w = None
            if return_attn:
                attns.append(w)
            x = x + L.wo(out.transpose(1, 2).reshape(b, n, -1))
            h = L.ffn_norm(x)
            x = x + L.w_down(F.silu(L.w_gate(h)) * L.w_up(h))
        if cache is not None:
            cache.advance(n)
        logits = self.head(self.norm(x))
        return (logits, cache, attns) if return_attn else (logits, cache)
