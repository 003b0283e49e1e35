"""What the trained-ViT page computes: one Fashion-MNIST image through a tiny ViT trained here — class
probabilities, per-layer CLS attention and attention rollout (Abnar & Zuidema 2020) — and the model's accuracy
and confusion matrix on the committed 2,000-image test subset."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from viz_core.errors import InputError
from viz_core.models import MODELS_DIR
from viz_core.models.data import FASHION_CLASSES, load_fashion_test_subset
from viz_core.models.vit import attention_rollout, load_tiny_vit, normalize_images


VITS = ("tiny-vit", "tiny-vit-rope2d")  # trained by viz_core.train


def available() -> list[str]:
    return [n for n in VITS if (MODELS_DIR / f"{n}.pt").exists()]


@functools.lru_cache(maxsize=4)
def _model(name: str):
    if name not in available():
        raise InputError(f"No ViT checkpoint named {name!r}; available: {', '.join(available()) or 'none'}.")
    return load_tiny_vit(name)


@functools.lru_cache(maxsize=1)
def _data():
    return load_fashion_test_subset()


@dataclass(frozen=True)
class ViewConfig:
    model: str = "tiny-vit"
    index: int = 0
    head: int = -1  # -1 = mean over heads
    residual: float = 0.5  # rollout's identity weight (the residual connection)


@dataclass(frozen=True)
class ViewResult:
    image: np.ndarray  # (28, 28) uint8
    label: int
    probs: np.ndarray  # (10,)
    rollout: np.ndarray  # (7, 7) CLS row of the rollout, patch tokens only, sums to ≤ 1
    layer_maps: np.ndarray  # (L, 7, 7) CLS → patch attention per layer (chosen head or head mean)
    cls_self: np.ndarray  # (L,) attention of CLS to itself per layer
    classes: tuple[str, ...]
    pos: str
    n_head: int


@torch.no_grad()
def view(cfg: ViewConfig) -> ViewResult:
    model, mc, _ = _model(cfg.model)
    x, y = _data()
    if not 0 <= cfg.index < len(y):
        raise InputError(f"Choose an image between 0 and {len(y) - 1}.")
    if not -1 <= cfg.head < mc.n_head:
        raise InputError(f"This model has heads 0–{mc.n_head - 1} (or −1 for their mean).")
    if not 0.0 <= cfg.residual < 1.0:
        raise InputError("The rollout's residual weight must be in [0, 1).")
    logits, attns = model(normalize_images(x[cfg.index]), return_attn=True)
    probs = torch.softmax(logits[0], -1).numpy()
    roll = attention_rollout(attns, cfg.residual)[0, 0, 1:].reshape(mc.grid, mc.grid).numpy()
    sel = [(a[0].mean(0) if cfg.head < 0 else a[0, cfg.head]) for a in attns]  # (N, N) each
    maps = np.stack([s[0, 1:].reshape(mc.grid, mc.grid).numpy() for s in sel])
    return ViewResult(np.asarray(x[cfg.index]), int(y[cfg.index]), probs, roll, maps,
                      np.array([float(s[0, 0]) for s in sel]), FASHION_CLASSES, mc.pos, mc.n_head)


def card_accuracy(name: str) -> float:
    """The test-subset accuracy written in the checkpoint at training time (fp16 weights as loaded)."""
    return float(_model(name)[2]["test_subset_accuracy_fp16"])


@dataclass(frozen=True)
class EvalResult:
    accuracy: float
    confusion: np.ndarray  # (10, 10) rows = true class, columns = predicted
    n: int
    card_accuracy: float  # the figure stated in the model card (fp16 checkpoint as loaded)
    full_test_accuracy: float | None


@torch.no_grad()
def evaluate(name: str) -> EvalResult:
    model, _, meta = _model(name)
    x, y = _data()
    preds = np.concatenate([model(normalize_images(x[i:i + 500])).argmax(-1).numpy() for i in range(0, len(y), 500)])
    conf = np.zeros((10, 10), dtype=np.int64)
    np.add.at(conf, (y.astype(int), preds), 1)
    return EvalResult(float((preds == y).mean()), conf, int(len(y)), float(meta["test_subset_accuracy_fp16"]),
                      meta.get("test_full_accuracy"))


def most_confused(confusion: np.ndarray, classes: tuple[str, ...], k: int = 3) -> str:
    """A sentence naming the ``k`` most frequent confusions (true → predicted, off the diagonal), computed from
    the confusion matrix shown."""
    c = np.array(confusion, dtype=float)
    np.fill_diagonal(c, 0)
    total = c.sum()
    if total == 0:
        return "No test image was misclassified."
    order = np.argsort(c, axis=None)[::-1][:k]
    parts = [f"{classes[i]} taken for {classes[j]} ({int(c[i, j])}×)" for i, j in
             (np.unravel_index(o, c.shape) for o in order) if c[i, j] > 0]
    return (f"Most frequent confusions here: {'; '.join(parts)} — {sum(c.flat[o] for o in order) / total:.0%} of "
            f"the {int(total)} errors.")
