"""Ternary quantisation-aware fine-tuning (BitNet b1.58, Ma et al. 2024) of the tiny GPT with the shared loop.

    python -m viz_core.train.qat --steps 300

The block linears become ``BitLinear`` (absmean ternary weights through a straight-through estimator, int8
absmax activations; ``viz_core.compression.quantize``), then the model trains as a language model with
cosine decay from ``lr`` to 0 and no warm-up. The checkpoint stores plain Linear layers holding γ·Q.
"""
from __future__ import annotations

import argparse
import copy

import torch
import torch.nn as nn

from viz_core.compression.quantize import TERNARY_NAME, swap_to_bitlinear, quantizable_linears, save_ternary
from viz_core.models.data import load_corpus
from viz_core.models.gpt import checkpoint_path, load_checkpoint
from viz_core.train.loop import cosine_lr, eval_loss, lm_batches, train_loop


def finetune_ternary(steps: int = 300, lr: float = 1e-3, batch: int = 16, seed: int = 0, threads: int = 1,
                     base: str = "tiny-gpt", progress=print) -> dict:
    """Quantisation-aware fine-tuning of the tiny GPT with BitLinear layers (ternary STE + int8 activations)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model, tok, cfg, base_meta = load_checkpoint(checkpoint_path(base))
    model.requires_grad_(True).train()
    swap_to_bitlinear(model)
    tr = torch.tensor(tok.encode(load_corpus("train")), dtype=torch.long)
    va = torch.tensor(tok.encode(load_corpus("val")), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    batches = lm_batches(tr, batch, cfg.max_seq_len, torch.Generator().manual_seed(seed))
    run = train_loop(model, opt, batches, steps, lr_at=cosine_lr(lr, steps), log_every=50, progress=progress)
    wall = run.wall_s
    model.eval()
    # back to plain Linear layers holding γ·Q (what the checkpoint stores and the page evaluates)
    plain = copy.deepcopy(model)
    for name, lin in quantizable_linears(plain):
        parent = plain.get_submodule(name.rsplit(".", 1)[0])
        new = nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None)
        new.load_state_dict(lin.state_dict())
        setattr(parent, name.rsplit(".", 1)[1], new)
    meta = {"base": base, "steps": steps, "lr": lr, "batch": batch, "seed": seed, "threads": threads,
            "train_wall_s": round(wall, 1), "base_val_loss": base_meta.get("val_loss_nats_per_byte"),
            "qat_val_loss_with_int8_activations": round(eval_loss(model, va, cfg.max_seq_len, 64), 4),
            "torch": torch.__version__}
    path = save_ternary(checkpoint_path(TERNARY_NAME), plain, tok, meta)
    meta["checkpoint_bytes"] = path.stat().st_size
    progress(f"wrote {path} ({meta['checkpoint_bytes']} bytes) in {wall:.0f} s: {meta}")
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m viz_core.train.qat",
                                 description="quantisation-aware fine-tuning -> assets/models/tiny-gpt-ternary.pt")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    finetune_ternary(a.steps, a.lr, a.batch, a.seed, a.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
