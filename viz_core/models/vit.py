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

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

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

    def forward(self, images: torch.Tensor, *, return_attn: bool = False):
        """images (B, C, 28, 28) normalised float -> logits (B, classes) [, list of (B, H, 50, 50) per layer]."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, 49, d)
        x = torch.cat((self.cls.expand(x.shape[0], -1, -1), x), dim=1)  # (B, 50, d)
        tables = None
        if self.cfg.pos == "learned":
            x = x + self.pos_emb
        else:
            tables = rope2d_tables(self.cfg, x.device, x.dtype)
        attns = []
        for blk in self.blocks:
            x, w = blk(x, tables, return_attn)
            attns.append(w)
        logits = self.head(self.ln_f(x[:, 0]))
        return (logits, attns) if return_attn else logits


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
        raise InputError(f"No checkpoint at {path}; run `python -m viz_core.models.train vit --name {name}`.")
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


# ---------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class ViTTrainConfig:
    name: str = "tiny-vit"
    pos: str = "learned"
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 2
    epochs: float = 4.0
    batch: int = 128
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.05
    seed: int = 0
    threads: int = 1
    train_limit: int = 0  # 0 = all 60,000 training images
    out_dir: str = str(MODELS_DIR)
    write_card: bool = True
    log_every: int = 100


def train_vit(tc: ViTTrainConfig, data=None, progress=print) -> dict:
    """data: optional ((x_train, y_train), (x_test, y_test)) uint8 arrays; default: full Fashion-MNIST
    from Debian for training, the committed 2k test subset (and the full 10k test set) for evaluation."""
    from viz_core.models.data import load_fashion_full, load_fashion_test_subset
    from viz_core.models.train import _cpu_name, _lr_at

    torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    full_test = None
    if data is None:
        xtr, ytr = load_fashion_full("train")
        xte, yte = load_fashion_test_subset()
        full_test = load_fashion_full("test")
    else:
        (xtr, ytr), (xte, yte) = data
    if tc.train_limit:
        xtr, ytr = xtr[: tc.train_limit], ytr[: tc.train_limit]
    x_all = normalize_images(xtr)
    y_all = torch.as_tensor(np.asarray(ytr), dtype=torch.long)
    cfg = ViTConfig(d_model=tc.d_model, n_layer=tc.n_layer, n_head=tc.n_head, mlp_ratio=tc.mlp_ratio, pos=tc.pos)
    model = TinyViT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    g = torch.Generator().manual_seed(tc.seed)
    steps = max(1, int(tc.epochs * len(y_all) / tc.batch))
    t0 = time.perf_counter()
    history = []
    perm = torch.randperm(len(y_all), generator=g)
    pos = 0
    model.train()
    for step in range(steps):
        if pos + tc.batch > len(y_all):
            perm, pos = torch.randperm(len(y_all), generator=g), 0
        ix = perm[pos: pos + tc.batch]
        pos += tc.batch
        x, y = x_all[ix], y_all[ix]
        flip = torch.rand(len(ix), generator=g) < 0.5  # horizontal flip augmentation
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        for grp in opt.param_groups:
            grp["lr"] = _lr_at(step, steps, tc.lr, tc.warmup)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % tc.log_every == 0 or step == steps - 1:
            history.append((step, round(loss.item(), 4), round(time.perf_counter() - t0, 1)))
            progress(f"step {step}/{steps} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
    wall = time.perf_counter() - t0
    acc_sub = accuracy(model, xte, yte)
    meta = {"test_subset_accuracy": round(acc_sub, 4), "test_subset_n": int(len(yte)), "train_wall_s": round(wall, 1),
            "threads": tc.threads, "cpu": _cpu_name(), "torch": torch.__version__, "params": model.num_params(),
            "steps": steps, "train_images": int(len(y_all)), "train_config": asdict(tc), "history": history}
    if full_test is not None:
        meta["test_full_accuracy"] = round(accuracy(model, *full_test), 4)
    path = save_vit(Path(tc.out_dir) / f"{tc.name}.pt", model, meta)
    # accuracy of the fp16-stored weights as reloaded (what the tests check)
    reloaded = TinyViT(cfg)
    reloaded.load_state_dict({k: v.float() for k, v in torch.load(path, weights_only=True)["state_dict"].items()})
    meta["test_subset_accuracy_fp16"] = round(accuracy(reloaded, xte, yte), 4)
    meta["checkpoint_bytes"] = path.stat().st_size
    save_vit(path, model, meta)
    if tc.write_card:
        _vit_card(Path(tc.out_dir) / f"{tc.name}.md", tc, cfg, meta)
    progress(f"test-subset accuracy {acc_sub:.4f}; wrote {path} in {wall:.0f} s")
    return meta


def _vit_card(path: Path, tc: ViTTrainConfig, cfg: ViTConfig, meta: dict) -> None:
    pos = {"learned": "learned absolute embeddings", "rope2d": f"axial 2D RoPE (base {cfg.rope_base:g})"}[cfg.pos]
    full = (f"| accuracy, full 10,000-image test set | {meta['test_full_accuracy'] * 100:.2f} % |"
            if "test_full_accuracy" in meta else "")
    lines = [
        f"# {tc.name}", "",
        f"Tiny ViT trained here by `python -m viz_core.models.train vit --name {tc.name} --pos {tc.pos} "
        f"--d-model {tc.d_model} --n-layer {tc.n_layer} --epochs {tc.epochs} --seed {tc.seed} --threads {tc.threads}`.",
        "", "| field | value |", "|---|---|",
        f"| architecture | pre-norm ViT, patch {cfg.patch} → {cfg.grid}×{cfg.grid} = {cfg.grid ** 2} tokens + CLS, "
        f"{cfg.n_layer} layers, width {cfg.d_model}, {cfg.n_head} heads, MLP ×{cfg.mlp_ratio}, positions: {pos} |",
        f"| parameters | {meta['params']:,} |",
        f"| data | Fashion-MNIST (Debian `dataset-fashion-mnist`, MIT): {meta['train_images']:,} training images, "
        f"random horizontal flips |",
        f"| training | {meta['steps']} steps × batch {tc.batch} ({tc.epochs:g} epochs), AdamW lr {tc.lr} cosine, "
        f"label smoothing 0.05, seed {tc.seed} |",
        f"| **accuracy, committed 2,000-image test subset** | **{meta['test_subset_accuracy'] * 100:.2f} %** "
        f"(fp16 checkpoint as loaded: {meta['test_subset_accuracy_fp16'] * 100:.2f} %) |",
        full,
        f"| wall time (measured) | {meta['train_wall_s']:.0f} s on {meta['cpu']}, {meta['threads']} torch thread(s), "
        f"CPU shared with other jobs; torch {meta['torch']} |",
        f"| checkpoint | `{tc.name}.pt`, fp16 weights, {meta['checkpoint_bytes']:,} bytes, "
        f"`torch.load(weights_only=True)` |", "",
    ]
    path.write_text("\n".join(l for l in lines if l is not None), encoding="utf-8")
