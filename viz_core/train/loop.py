"""The one training loop every model here is trained with: AdamW (Loshchilov & Hutter 2019) under a cosine
learning-rate schedule with linear warm-up, seeded batches, one optimiser step per batch, gradient clipping,
and a held-out loss.

API (anything mapping ``idx (B, N) long -> logits (B, N, V)``, or a tuple whose first item is the logits,
trains as a language model: the tiny GPT, a Mamba LM, a BitLinear GPT)
    lr_at = cosine_lr(3e-3, steps, warmup=50, floor=0.1)      # step -> learning rate
    batches = lm_batches(tokens, batch=16, seq=256, generator=torch.Generator().manual_seed(0))
    x, y = next(batches)                                      # (B, N) inputs and (B, N) next-token targets
    loss = lm_loss(model, x, y)                               # mean next-token cross-entropy, nats/token
    loss = lm_step(model, opt, x, y)                          # lm_loss + backward + clip + opt.step()
    run = train_loop(model, opt, batches, steps, lr_at=lr_at, loss_fn=lm_loss, log_every=50)
    run.history                                               # [(step, loss, seconds since start), ...]
    run.wall_s                                                # measured wall time of the loop, seconds
    val = eval_loss(model, val_tokens, seq=256, windows=64)   # nats/token over fixed random windows
    opt = adamw(model, lr=3e-3, weight_decay=0.1)             # decay on matrices only, betas (0.9, 0.95)
    facts, sample = lm_report(model, tok, train_tokens, val_tokens, seq=256, windows=64, threads=1, wall_s=run.wall_s)

Any other task passes its own ``loss_fn(model, x, y) -> scalar`` (the ViT: cross-entropy on class labels)
and its own batch iterator. Seeding: the caller seeds the model init (``torch.manual_seed``) and passes a
seeded ``torch.Generator`` to the batch iterator; the loop itself draws no random numbers.
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cosine_lr(lr: float, steps: int, warmup: int = 0, floor: float = 0.0) -> Callable[[int], float]:
    """step -> lr: linear warm-up over ``warmup`` steps, then cosine decay from lr to floor·lr at ``steps``."""
    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return lr * (floor + (1.0 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    return lr_at


def lm_batches(data: torch.Tensor, batch: int, seq: int, generator: torch.Generator
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless random windows of a 1-D token tensor: (x (B, seq), y (B, seq)) with y the next tokens."""
    n = data.numel() - seq - 1
    while True:
        ix = torch.randint(0, n, (batch,), generator=generator)
        x = torch.stack([data[i: i + seq + 1] for i in ix.tolist()])  # (B, seq+1)
        yield x[:, :-1], x[:, 1:]


def logits_of(out) -> torch.Tensor:
    """A model's output -> its logits (the first item when it returns a tuple, e.g. (logits, cache))."""
    return out[0] if isinstance(out, (tuple, list)) else out


def lm_loss(model, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy of ``model(x)`` against y (B, N), nats/token."""
    lg = logits_of(model(x))  # (B, N, V)
    return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1), reduction=reduction)


def optimizer_step(model, opt, loss: torch.Tensor, clip: float = 1.0) -> None:
    """Backward, clip the global gradient norm, one optimiser step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


def lm_step(model, opt, x: torch.Tensor, y: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """One language-model training step: next-token cross-entropy, backward, clip, optimiser step."""
    loss = lm_loss(model, x, y)
    optimizer_step(model, opt, loss, clip)
    return loss


@dataclass
class TrainRun:
    history: list = field(default_factory=list)  # (step, loss rounded to 4 places, seconds rounded to 0.1)
    wall_s: float = 0.0


def train_loop(model, opt, batches: Iterator, steps: int, *, lr_at: Callable[[int], float],
               loss_fn: LossFn = lm_loss, clip: float = 1.0, log_every: int = 50,
               progress: Callable[[str], None] = print) -> TrainRun:
    """``steps`` optimiser steps: set the step's learning rate, take the next (x, y), minimise loss_fn."""
    run = TrainRun()
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        x, y = next(batches)
        loss = loss_fn(model, x, y)
        optimizer_step(model, opt, loss, clip)
        if step % log_every == 0 or step == steps - 1:
            run.history.append((step, round(loss.item(), 4), round(time.perf_counter() - t0, 1)))
            progress(f"step {step}/{steps} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
    run.wall_s = time.perf_counter() - t0
    return run


@torch.no_grad()
def eval_loss(model, data: torch.Tensor, seq: int, windows: int, seed: int = 1234) -> float:
    """Mean next-token cross-entropy (nats/token) over ``windows`` fixed random windows of ``data``."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    total = 0.0
    it = lm_batches(data, min(16, windows), seq, g)
    done = 0
    while done < windows:
        x, y = next(it)
        x, y = x[: windows - done], y[: windows - done]
        total += lm_loss(model, x, y, reduction="sum").item()
        done += x.shape[0]
    return total / (windows * seq)


def adamw(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with betas (0.9, 0.95); weight decay on the matrices (dim >= 2) only, none on norms, biases and
    other vectors. Two parameter groups, decayed first, in the model's parameter order."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


SAMPLE_PROMPT = "HAMLET:\n"


def lm_report(model, tok, tr: torch.Tensor, va: torch.Tensor, seq: int, windows: int, threads: int,
              wall_s: float, **generate_kw) -> tuple[dict, str]:
    """What a byte-level LM's model card measures, one protocol for every model: validation and train loss
    (nats/byte over the same fixed windows), the measured wall time, machine and size; and a sample after
    ``SAMPLE_PROMPT`` (temperature 0.8, top-k 40, seed 0; ``generate_kw`` e.g. a recurrent model's cache).
    Returns (facts for the checkpoint's meta, in card order; the sample text with its prompt)."""
    from viz_core.sampling import SamplingConfig, generate

    model.eval()
    val = eval_loss(model, va, seq, windows)
    train_l = eval_loss(model, tr, seq, windows)
    ids = generate(model, torch.tensor([tok.encode(SAMPLE_PROMPT)]), 300, SamplingConfig(temperature=0.8, top_k=40),
                   seed=0, **generate_kw)
    facts = {"val_loss_nats_per_byte": round(val, 4), "train_loss_nats_per_byte": round(train_l, 4),
             "val_bits_per_byte": round(val / math.log(2), 4), "train_wall_s": round(wall_s, 1),
             "threads": threads, "cpu": cpu_name(), "torch": torch.__version__, "params": model.num_params()}
    return facts, SAMPLE_PROMPT + tok.decode(ids[0].tolist())


def cpu_name() -> str:
    """The CPU model (for model cards), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def add_config_args(ap: argparse.ArgumentParser, config_cls) -> None:
    """One ``--field-name`` option per field of a frozen train config (except write_card); a bool is a flag."""
    for f in config_cls.__dataclass_fields__.values():
        if f.name == "write_card":
            continue
        if f.type in ("bool", bool):
            ap.add_argument("--" + f.name.replace("_", "-"), action="store_true")
        else:
            ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
