"""Train the tiny byte-level GPT on Shakespeare with the shared loop, seeded, and write its checkpoint and
model card to assets/models/.

    python -m viz_core.train.gpt --name tiny-gpt --n-layer 4 --d-model 128 --steps 1500
    python -m viz_core.train.gpt --name tiny-gpt-draft --n-layer 1 --d-model 64 --n-head 2 --n-kv-head 2
    python -m viz_core.train.gpt --name tiny-gpt-draft-distilled --n-layer 1 --d-model 64 --n-head 2 \
        --n-kv-head 2 --teacher tiny-gpt      # a draft distilled from the target, for speculative decoding

Distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"; for speculative-decoding
drafts, Zhou et al. 2024, "DistillSpec"): with ``--teacher`` the student minimises
``w·KL(p_teacher ‖ p_student) + (1 − w)·CE(y)`` on the same batches, the teacher's next-token distribution
computed without gradients at every position. A draft that imitates the target's distribution has its
proposals accepted more often, which is what speculative decoding's speed-up depends on.

AdamW with linear warm-up and cosine decay to 10 % (``viz_core.train.loop``). The thread count is set
explicitly (default 1: on a shared 2-core CPU one thread is both faster and repeatable) and written in the
model card with the measured wall time.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from viz_core.models import MODELS_DIR
from viz_core.models.data import load_corpus
from viz_core.models.gpt import ByteTokenizer, GPTConfig, TinyGPT, load_checkpoint, save_checkpoint
from viz_core.train.card import TOKENIZER_ROW, data_row, measured_rows, sample_section
from viz_core.train.loop import add_config_args, adamw, cosine_lr, lm_batches, lm_loss, lm_report, logits_of, train_loop


@dataclass(frozen=True)
class GPTTrainConfig:
    name: str = "tiny-gpt"
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 4
    d_model: int = 128
    seq_len: int = 256
    batch: int = 16
    steps: int = 1500
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.1
    seed: int = 0
    threads: int = 1
    eval_windows: int = 64
    out_dir: str = str(MODELS_DIR)
    write_card: bool = True
    log_every: int = 50
    teacher: str = ""  # a committed checkpoint (name in assets/models/, or a .pt path) to distil from
    distill_weight: float = 1.0  # w in w·KL(teacher ‖ student) + (1 − w)·CE


def distill_loss(teacher, weight: float):
    """loss_fn(model, x, y) -> w·KL(p_teacher ‖ p_student) + (1 − w)·CE, mean over positions (nats)."""
    teacher.eval()

    def loss_fn(model, x, y):
        with torch.no_grad():
            t_logp = F.log_softmax(logits_of(teacher(x)).float(), dim=-1)  # (B, N, V)
        s_logits = logits_of(model(x))  # (B, N, V)
        s_logp = F.log_softmax(s_logits, dim=-1)
        kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
        if weight >= 1.0:
            return kl
        ce = F.cross_entropy(s_logits.reshape(-1, s_logits.shape[-1]), y.reshape(-1))
        return weight * kl + (1.0 - weight) * ce

    return loss_fn


def train_gpt(tc: GPTTrainConfig, text_train: str | None = None, text_val: str | None = None,
              progress=print) -> dict:
    torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    tok = ByteTokenizer()
    text_train = load_corpus("train") if text_train is None else text_train
    text_val = load_corpus("val") if text_val is None else text_val
    tr = torch.tensor(tok.encode(text_train), dtype=torch.long)
    va = torch.tensor(tok.encode(text_val), dtype=torch.long)
    cfg = GPTConfig(vocab_size=tok.vocab_size, n_layer=tc.n_layer, n_head=tc.n_head, n_kv_head=tc.n_kv_head,
                    d_model=tc.d_model, max_seq_len=tc.seq_len)
    model = TinyGPT(cfg)
    opt = adamw(model, tc.lr, tc.weight_decay)
    batches = lm_batches(tr, tc.batch, tc.seq_len, torch.Generator().manual_seed(tc.seed))
    loss_fn = lm_loss
    if tc.teacher:
        path = Path(tc.teacher) if tc.teacher.endswith(".pt") else MODELS_DIR / f"{tc.teacher}.pt"
        loss_fn = distill_loss(load_checkpoint(path)[0], tc.distill_weight)
    run = train_loop(model, opt, batches, tc.steps, lr_at=cosine_lr(tc.lr, tc.steps, tc.warmup, floor=0.1),
                     loss_fn=loss_fn, log_every=tc.log_every, progress=progress)
    history, wall = run.history, run.wall_s
    facts, sample_text = lm_report(model, tok, tr, va, tc.seq_len, tc.eval_windows, tc.threads, wall)
    meta = {**facts, "tokens_seen": tc.steps * tc.batch * tc.seq_len, "train_config": asdict(tc),
            "history": history, "sample": sample_text}
    out = Path(tc.out_dir)
    path = save_checkpoint(out / f"{tc.name}.pt", model, tok, meta=meta)
    meta["checkpoint_bytes"] = path.stat().st_size
    if tc.write_card:
        _gpt_card(out / f"{tc.name}.md", tc, cfg, meta)
    progress(f"val loss {meta['val_loss_nats_per_byte']:.3f} nats/byte; wrote {path} ({path.stat().st_size} bytes) "
             f"in {wall:.0f} s")
    return meta


def _gpt_card(path: Path, tc: GPTTrainConfig, cfg, meta: dict) -> None:
    kv = {cfg.n_head: "multi-head", 1: "multi-query (MQA)"}.get(cfg.n_kv_head, "grouped-query (GQA)")
    lines = [
        f"# {tc.name}", "",
        f"Byte-level decoder-only Transformer trained here by `python -m viz_core.train.gpt "
        f"--name {tc.name} --n-layer {tc.n_layer} --n-head {tc.n_head} --n-kv-head {tc.n_kv_head} "
        f"--d-model {tc.d_model} --steps {tc.steps} --lr {tc.lr:g} --seed {tc.seed} --threads {tc.threads}"
        + (f" --teacher {tc.teacher} --distill-weight {tc.distill_weight:g}" if tc.teacher else "") + "`.", "",
        *([f"Distilled from `{tc.teacher}`: loss = {tc.distill_weight:g}·KL(teacher ‖ student)"
           f" + {1 - tc.distill_weight:g}·cross-entropy on the same batches (Hinton et al. 2015; DistillSpec, "
           "Zhou et al. 2024).", ""] if tc.teacher else []),
        "| field | value |", "|---|---|",
        f"| architecture | pre-norm GPT, {cfg.n_layer} layers, width {cfg.d_model}, {cfg.n_head} query heads, "
        f"{cfg.n_kv_head} KV heads ({kv}), RoPE base {cfg.rope_base:g} (half layout), GELU MLP ×{cfg.mlp_ratio}, "
        f"tied embeddings |",
        TOKENIZER_ROW,
        f"| parameters | {meta['params']:,} |",
        f"| context (trained) | {cfg.max_seq_len} tokens |",
        data_row(),
        f"| training | {tc.steps} steps × batch {tc.batch} × {tc.seq_len} tokens = {meta['tokens_seen']:,} tokens, "
        f"AdamW lr {tc.lr} cosine, seed {tc.seed} |",
        *measured_rows(tc, meta),
        *sample_section(meta),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m viz_core.train.gpt", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap, GPTTrainConfig)
    train_gpt(GPTTrainConfig(**vars(ap.parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
