"""The one shared training loop: schedule, batches, loss, reproducibility, and any `idx -> logits` model."""
from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from viz_core.train.loop import cosine_lr, eval_loss, lm_batches, lm_loss, lm_step, train_loop

ROOT = Path(__file__).resolve().parents[2]


class BigramLM(nn.Module):
    """Not a Transformer: idx (B, N) -> logits (B, N, V) returned as a bare tensor (like a Mamba LM)."""

    def __init__(self, v: int = 16):
        super().__init__()
        self.emb = nn.Embedding(v, 32)
        self.out = nn.Linear(32, v)

    def forward(self, idx):
        return self.out(torch.tanh(self.emb(idx)))


class TupleLM(BigramLM):
    def forward(self, idx):
        return super().forward(idx), None


def test_cosine_lr_follows_its_formula():
    f = cosine_lr(1.0, 100, warmup=10, floor=0.1)
    assert all(math.isclose(f(s), (s + 1) / 10) for s in range(10))
    for s in (10, 37, 99, 150):
        t = min((s - 10) / 90, 1.0)
        assert math.isclose(f(s), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)), rel_tol=1e-12)
    g = cosine_lr(2.0, 50)
    assert g(0) == 2.0 and math.isclose(g(25), 1.0) and math.isclose(g(50), 0.0, abs_tol=1e-12)


def test_lm_batches_are_seeded_next_token_windows():
    data = torch.arange(100)
    x, y = next(lm_batches(data, 4, 8, torch.Generator().manual_seed(0)))
    assert x.shape == y.shape == (4, 8) and torch.equal(y, x + 1)
    x2, _ = next(lm_batches(data, 4, 8, torch.Generator().manual_seed(0)))
    assert torch.equal(x, x2)


def _train(cls, seed=0, steps=60):
    torch.manual_seed(seed)
    model = cls()
    data = torch.tensor([1, 2, 3, 4, 5] * 40)  # deterministic successor: learnable to ~0 loss
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    run = train_loop(model, opt, lm_batches(data, 8, 12, torch.Generator().manual_seed(seed)), steps,
                     lr_at=cosine_lr(3e-2, steps, warmup=5), log_every=20, progress=lambda s: None)
    return model, run, data


def test_a_non_transformer_lm_trains_and_runs_repeat():
    model, run, data = _train(BigramLM)
    assert [h[0] for h in run.history] == [0, 20, 40, 59] and run.wall_s > 0
    assert run.history[-1][1] < 0.3 * run.history[0][1]
    assert eval_loss(model, data, 12, 8) < 0.3 * math.log(16)
    _, run2, _ = _train(BigramLM)
    assert [h[1] for h in run.history] == [h[1] for h in run2.history]  # seeded: same losses


def test_tuple_output_and_eval_loss_by_hand():
    torch.manual_seed(1)
    model = TupleLM()
    data = torch.randint(0, 16, (300,))
    got = eval_loss(model, data, seq=10, windows=5, seed=7)
    x, y = next(lm_batches(data, 5, 10, torch.Generator().manual_seed(7)))
    lg = model.out(torch.tanh(model.emb(x))).double()
    manual = -(lg.log_softmax(-1).gather(-1, y[..., None])).mean().item()
    assert math.isclose(got, manual, rel_tol=1e-5)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    before = lm_loss(model, x, y).item()
    assert math.isclose(lm_step(model, opt, x, y).item(), before, rel_tol=1e-6)


def test_models_never_import_train_and_cli_entry_points_exist():
    for path in (ROOT / "viz_core" / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("viz_core.train"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("viz_core.train") for a in node.names), path
    for mod in ("viz_core.train.gpt", "viz_core.train.vit", "viz_core.train.qat"):
        r = subprocess.run([sys.executable, "-m", mod, "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "--seed" in r.stdout, (mod, r.stderr)
