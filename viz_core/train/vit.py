"""Train the tiny ViT on Fashion-MNIST with the shared loop, seeded, and write its checkpoint and model card.

    python -m viz_core.train.vit --name tiny-vit --pos learned
    python -m viz_core.train.vit --name tiny-vit-rope2d --pos rope2d

Batches: a seeded permutation of the training images (reshuffled each epoch) with random horizontal flips;
loss: cross-entropy with label smoothing 0.05; AdamW, warm-up and cosine decay to 10 % (``train.loop``).
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from viz_core.models import MODELS_DIR
from viz_core.models.data import load_fashion_full, load_fashion_test_subset
from viz_core.models.vit import TinyViT, ViTConfig, accuracy, normalize_images, save_vit
from viz_core.train.loop import add_config_args, cosine_lr, cpu_name, train_loop


def image_batches(x_all: torch.Tensor, y_all: torch.Tensor, batch: int, g: torch.Generator
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (images (B, C, H, W), labels (B,)): a permutation per epoch, each image flipped with p = 0.5."""
    perm = torch.randperm(len(y_all), generator=g)
    pos = 0
    while True:
        if pos + batch > len(y_all):
            perm, pos = torch.randperm(len(y_all), generator=g), 0
        ix = perm[pos: pos + batch]
        pos += batch
        x, y = x_all[ix], y_all[ix]
        flip = torch.rand(len(ix), generator=g) < 0.5  # horizontal flip augmentation
        yield torch.where(flip[:, None, None, None], x.flip(-1), x), y


def classification_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the class logits with label smoothing 0.05."""
    return F.cross_entropy(model(x), y, label_smoothing=0.05)


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
    steps = max(1, int(tc.epochs * len(y_all) / tc.batch))
    batches = image_batches(x_all, y_all, tc.batch, torch.Generator().manual_seed(tc.seed))
    run = train_loop(model, opt, batches, steps, lr_at=cosine_lr(tc.lr, steps, tc.warmup, floor=0.1),
                     loss_fn=classification_loss, log_every=tc.log_every, progress=progress)
    history, wall = run.history, run.wall_s
    acc_sub = accuracy(model, xte, yte)
    meta = {"test_subset_accuracy": round(acc_sub, 4), "test_subset_n": int(len(yte)), "train_wall_s": round(wall, 1),
            "threads": tc.threads, "cpu": cpu_name(), "torch": torch.__version__, "params": model.num_params(),
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
        f"Tiny ViT trained here by `python -m viz_core.train.vit --name {tc.name} --pos {tc.pos} "
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m viz_core.train.vit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap, ViTTrainConfig)
    train_vit(ViTTrainConfig(**vars(ap.parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
