"""Low-bit weights: BitNet b1.58-style ternary {−1, 0, +1} and int8, measured on the tiny GPT.

Ma et al. 2024, "The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits" (BitNet b1.58):
weights are scaled by their mean absolute value γ and rounded to {−1, 0, +1} (absmean quantisation);
activations are scaled per token to 8 bits (absmax). Each weight then needs log2(3) ≈ 1.58 bits; we pack
four in a byte (2 bits each). Post-training ternarisation of a model trained in float destroys it; BitNet
*trains* with ternary weights (a straight-through estimator), which ``viz_core.train.qat`` does briefly
here, so the page compares both honestly.

Speed: a ternary matmul needs only additions, but only a dedicated kernel (bitnet.cpp) turns that into
time. PyTorch has none, so the page measures what PyTorch offers (fp32, bf16, int8 weight-only) and the
ternary product written with PyTorch ops, and says what that does and does not show.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from viz_core.errors import InputError

EPS = 1e-5
SCHEMES = ("fp32", "int8", "ternary (post-training)", "ternary (trained, STE)")


# --------------------------------------------------------------------------------------------- quantisers
def ternary_quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """absmean: γ = mean|W|, Q = clip(round(W/γ), −1, 1). -> (Q int8 same shape, γ scalar). W ≈ γ·Q."""
    gamma = w.abs().mean().clamp_min(EPS)
    return _codes(w, lambda rows, _: rows / gamma, 1), gamma


def _codes(w: torch.Tensor, scaled, limit: int, rows_per: int = 256) -> torch.Tensor:
    """int8 clip(round(scaled(rows, start)), −limit, limit), computed over blocks of ``rows_per`` rows of ``w``:
    the fp32 temporaries stay a block, not three copies of W (4096 × 4096: 192 MiB)."""
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    if w.dim() == 0:
        return q.copy_(scaled(w, 0).round().clamp(-limit, limit))
    for start in range(0, w.shape[0], rows_per):
        q[start:start + rows_per] = scaled(w[start:start + rows_per], start).round_().clamp_(-limit, limit)
    return q


def int8_quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel absmax int8: Q = round(127·W/max|W_row|). -> (Q int8 (out, in), scales (out,))."""
    s = w.abs().amax(dim=1).clamp_min(EPS) / 127.0
    return _codes(w, lambda rows, start: rows / s[start:start + len(rows), None], 127), s


def activation_int8(x: torch.Tensor) -> torch.Tensor:
    """BitNet's per-token absmax 8-bit activation quantisation (fake-quantised, returns float)."""
    s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp_min(EPS)
    return (x * s).round().clamp(-128, 127) / s


def pack_ternary(q: torch.Tensor) -> torch.Tensor:
    """(out, in) int8 in {−1,0,1} -> (out, ceil(in/4)) uint8, 2 bits per weight (code = q + 1)."""
    out, n = q.shape
    pad = (-n) % 4
    codes = (q.to(torch.int16) + 1).to(torch.uint8)
    if pad:
        codes = torch.cat((codes, torch.ones(out, pad, dtype=torch.uint8)), dim=1)
    c = codes.view(out, -1, 4)
    return c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)


def unpack_ternary(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of ``pack_ternary``: -> (out, n) int8 in {−1, 0, 1}."""
    parts = [(packed >> s) & 3 for s in (0, 2, 4, 6)]
    codes = torch.stack(parts, dim=-1).view(packed.shape[0], -1)[:, :n]
    return codes.to(torch.int8) - 1


def _ste(w: torch.Tensor) -> torch.Tensor:
    """Straight-through ternary weight: forward uses γ·Q, backward passes gradients to the float W."""
    q, g = ternary_quantize(w.detach())
    return w + (q.to(w.dtype) * g - w).detach()


class BitLinear(nn.Linear):
    """Linear layer with BitNet b1.58 forward: ternary weights (STE) and 8-bit activations."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = x + (activation_int8(x) - x).detach()
        return F.linear(xq, _ste(self.weight), self.bias)


def quantizable_linears(model) -> list[tuple[str, nn.Linear]]:
    """The transformer blocks' linear layers (attention and MLP); embeddings, norms and the head stay."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith("blocks.")]


def swap_to_bitlinear(model) -> None:
    for name, lin in quantizable_linears(model):
        parent = model.get_submodule(name.rsplit(".", 1)[0])
        new = BitLinear(lin.in_features, lin.out_features, bias=lin.bias is not None)
        new.load_state_dict(lin.state_dict())
        setattr(parent, name.rsplit(".", 1)[1], new)


@torch.no_grad()
def quantized_copy(model, scheme: str):
    """A copy of ``model`` whose block linears hold dequantised int8 or ternary weights (fake quantisation)."""
    m = copy.deepcopy(model)
    if scheme == "fp32":
        return m
    for _, lin in quantizable_linears(m):
        if scheme == "int8":
            q, s = int8_quantize(lin.weight)
            lin.weight.copy_(q.float() * s[:, None])
        elif scheme.startswith("ternary"):
            q, g = ternary_quantize(lin.weight)
            lin.weight.copy_(q.float() * g)
        else:
            raise InputError(f"Unknown scheme {scheme!r}; choose one of {SCHEMES}.")
    return m


def storage_bytes(model, scheme: str) -> int:
    """Bytes of the block linears' weights stored in ``scheme`` (ternary: 2 bits/weight + one fp32 γ each)."""
    total = 0
    for _, lin in quantizable_linears(model):
        n = lin.weight.numel()
        if scheme == "fp32":
            total += 4 * n
        elif scheme == "int8":
            total += n + 4 * lin.out_features
        else:
            total += lin.out_features * math.ceil(lin.in_features / 4) + 4
    return total


# --------------------------------------------------------------------------------- trained ternary model
TERNARY_NAME = "tiny-gpt-ternary"


def save_ternary(path: Path, model, tokenizer, meta: dict) -> Path:
    """Block linears stored packed (2 bits/weight) + γ; everything else fp16. Loadable weights_only."""
    packed, gammas, shapes = {}, {}, {}
    for name, lin in quantizable_linears(model):
        q, g = ternary_quantize(lin.weight.detach())
        packed[name] = pack_ternary(q)
        gammas[name] = g.reshape(1).float()
        shapes[name] = list(lin.weight.shape)
    skip = {f"{n}.weight" for n in packed}
    rest = {k: v.detach().to(torch.float16).clone() for k, v in model.state_dict().items()
            if k not in skip and not (model.cfg.tie_embeddings and k == "head.weight")}
    torch.save({"format": 1, "kind": "tiny-gpt-ternary", "config": model.cfg.to_dict(),
                "tokenizer": tokenizer.to_dict(), "meta": json.dumps(meta), "packed": packed, "gamma": gammas,
                "shapes": json.dumps(shapes), "state_dict": rest}, path)
    return path


def load_ternary(name: str = TERNARY_NAME):
    """-> (float model whose block linears hold γ·Q exactly, tokenizer, cfg, meta)."""
    from viz_core.models.gpt import GPTConfig, TinyGPT, checkpoint_path, tokenizer_from_dict

    path = checkpoint_path(name)
    if not path.exists():
        raise InputError(f"No ternary checkpoint at {path}; run `python -m viz_core.train.qat`.")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = GPTConfig.from_dict(ck["config"])
    model = TinyGPT(cfg)
    sd = {k: v.float() for k, v in ck["state_dict"].items()}
    shapes = json.loads(ck["shapes"])
    for name, p in ck["packed"].items():
        sd[f"{name}.weight"] = unpack_ternary(p, shapes[name][1]).float() * ck["gamma"][name]
    if cfg.tie_embeddings:
        sd["head.weight"] = sd["tok_emb.weight"]
    model.load_state_dict(sd)
    model.eval().requires_grad_(False)
    return model, tokenizer_from_dict(ck["tokenizer"]), cfg, json.loads(ck["meta"])
