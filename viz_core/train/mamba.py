"""Train the tiny Mamba on the same Shakespeare bytes, split, batch, sequence length, optimiser, schedule and
evaluation protocol as the tiny GPT (the shared loop, ``viz_core.train.loop``), seeded, and write
``assets/models/tiny-mamba.pt`` (fp16) and its model card.

    python -m viz_core.train.mamba                       # 1500 steps, seed 0, 1 thread
    python -m viz_core.train.mamba --resume              # continue from .cache/train/tiny-mamba-resume.pt

The training forward uses the chunked SSD scan (``viz_core.ssm.scan.scan_chunked``; the fastest of the three
on a CPU). A resumable snapshot (model, optimiser, batch generator, step, elapsed time) is written every
``--snapshot-every`` steps so that a long run can be continued after an interruption.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from viz_core.models import MODELS_DIR
from viz_core.train.card import TOKENIZER_ROW, data_row, measured_rows, sample_section
from viz_core.train.loop import add_config_args, adamw, cosine_lr, lm_batches, lm_report, train_loop

SNAPSHOT_DIR = MODELS_DIR.parents[1] / ".cache" / "train"
GPT_VAL_NATS = 1.478  # assets/models/tiny-gpt.md, same protocol


@dataclass(frozen=True)
class MambaTrainConfig:
    name: str = "tiny-mamba"
    n_layer: int = 7
    d_model: int = 128
    head_dim: int = 32
    d_state: int = 32
    seq_len: int = 256
    batch: int = 16
    steps: int = 1500
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.1
    chunk: int = 64
    seed: int = 0
    threads: int = 1
    eval_windows: int = 64
    out_dir: str = str(MODELS_DIR)
    log_every: int = 50
    snapshot_every: int = 100
    resume: bool = False
    from_snapshot: bool = False  # write an interim checkpoint + card from the latest snapshot, no training


def train_mamba(tc: MambaTrainConfig, progress=print) -> dict:
    from viz_core.models.data import load_corpus
    from viz_core.models.gpt import ByteTokenizer
    from viz_core.ssm.mamba import MambaConfig, TinyMamba

    torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    tok = ByteTokenizer()
    tr = torch.tensor(tok.encode(load_corpus("train")), dtype=torch.long)
    va = torch.tensor(tok.encode(load_corpus("val")), dtype=torch.long)
    cfg = MambaConfig(n_layer=tc.n_layer, d_model=tc.d_model, head_dim=tc.head_dim, d_state=tc.d_state,
                      max_seq_len=tc.seq_len)
    model = TinyMamba(cfg)
    opt = adamw(model, tc.lr, tc.weight_decay)  # no decay on norms, Δ bias, A, D
    g = torch.Generator().manual_seed(tc.seed)
    start, elapsed, history = 0, 0.0, []
    snap = SNAPSHOT_DIR / f"{tc.name}-resume.pt"
    if (tc.resume or tc.from_snapshot) and snap.exists():
        s = torch.load(snap, map_location="cpu", weights_only=True)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        g.set_state(s["gen"])
        start, elapsed, history = int(s["step"]), float(s["elapsed"]), [tuple(h) for h in s["history"].tolist()]
        progress(f"resumed at step {start} ({elapsed:.0f} s so far)")
    elif tc.resume or tc.from_snapshot:
        raise SystemExit(f"no snapshot at {snap}")
    if tc.from_snapshot:  # a run still in progress: publish what it has reached, clearly marked interim
        return _finish(model, tc, cfg, tok, tr, va, history, elapsed, start, False, progress)
    batches = lm_batches(tr, tc.batch, tc.seq_len, g)
    lr_at = cosine_lr(tc.lr, tc.steps, warmup=tc.warmup, floor=0.1)  # the tiny GPT's schedule
    forward = model.forward
    model.forward = lambda idx, **kw: forward(idx, chunk=tc.chunk, **kw)  # training scan: chunked SSD
    step, wall = start, elapsed
    every = tc.snapshot_every or tc.steps
    while step < tc.steps:  # the shared loop, in segments that end on a snapshot
        n = min(every - step % every, tc.steps - step)
        run = train_loop(model, opt, batches, n, lr_at=lambda k, o=step: lr_at(o + k), log_every=tc.log_every,
                         progress=lambda _msg: None)
        for k, loss, t in run.history:
            if (step + k) % tc.log_every == 0 or step + k == tc.steps - 1:
                history.append((step + k, loss, round(wall + t, 1)))
                progress(f"step {step + k}/{tc.steps} loss {loss:.3f} ({wall + t:.0f} s)")
            if not math.isfinite(loss):
                raise RuntimeError(f"loss is {loss} at step {step + k}")
        step, wall = step + n, wall + run.wall_s
        if step < tc.steps:
            snap.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": g.get_state(), "step": step,
                        "elapsed": wall, "history": torch.tensor(history, dtype=torch.float64)}, snap)
    model.forward = forward
    return _finish(model, tc, cfg, tok, tr, va, history, wall, tc.steps, bool(start), progress)


def _finish(model, tc: MambaTrainConfig, cfg, tok, tr, va, history, wall: float, steps_done: int, resumed: bool,
            progress) -> dict:
    """Evaluate (same protocol as the GPT), sample, write the fp16 checkpoint and the model card."""
    from viz_core.ssm.mamba import save_checkpoint

    facts, sample_text = lm_report(model, tok, tr, va, tc.seq_len, tc.eval_windows, tc.threads, wall,
                                   cache=model.empty_state(1))
    meta = {**facts, "steps_done": steps_done, "tokens_seen": steps_done * tc.batch * tc.seq_len,
            "train_config": asdict(tc), "history": history, "sample": sample_text,
            "resumed": resumed, "interim": steps_done < tc.steps}
    out = Path(tc.out_dir)
    path = save_checkpoint(out / f"{tc.name}.pt", model, tok.to_dict(), meta=meta)
    meta["checkpoint_bytes"] = path.stat().st_size
    _card(out / f"{tc.name}.md", tc, cfg, meta)
    progress(f"val loss {meta['val_loss_nats_per_byte']:.3f} nats/byte after {steps_done} steps; wrote {path} "
             f"({meta['checkpoint_bytes']} bytes); training wall time {wall:.0f} s")
    return meta


def _card(path: Path, tc: MambaTrainConfig, cfg, meta: dict) -> None:
    from viz_core.ssm.mamba import state_bytes

    lines = [
        f"# {tc.name}", "",
        f"Byte-level Mamba (selective state-space) language model trained here by `python -m viz_core.train.mamba "
        f"--n-layer {tc.n_layer} --d-model {tc.d_model} --d-state {tc.d_state} --steps {tc.steps} "
        f"--seed {tc.seed} --threads {tc.threads}`. Same data, split, batch, sequence length, optimiser, schedule "
        "and evaluation as `tiny-gpt`.", "",
        "| field | value |", "|---|---|",
        f"| architecture | {cfg.n_layer} Mamba blocks (Gu & Dao 2023), width {cfg.d_model}, d_inner {cfg.d_inner}, "
        f"{cfg.n_heads} SSM heads × {cfg.head_dim} channels with a scalar A per head (Mamba-2 / SSD form), "
        f"state N = {cfg.d_state}, causal conv width {cfg.d_conv}, RMSNorm pre-norm, tied embeddings, no attention "
        "and no positions |",
        TOKENIZER_ROW,
        f"| parameters | {meta['params']:,} (tiny-gpt: 824,064; {meta['params'] / 824064 - 1:+.1%}) |",
        f"| decoding state | {state_bytes(cfg):,} bytes in fp32, whatever the context length |",
        f"| context (trained) | {cfg.max_seq_len} tokens |",
        data_row(),
        (f"| **interim** | **snapshot at step {meta['steps_done']} of a {tc.steps}-step run still in progress** "
         f"(finish it with `python -m viz_core.train.mamba --resume`) |" if meta.get("interim") else None),
        f"| training | {meta['steps_done']} steps × batch {tc.batch} × {tc.seq_len} tokens = {meta['tokens_seen']:,} tokens, "
        f"AdamW lr {tc.lr} cosine, warm-up {tc.warmup}, weight decay {tc.weight_decay}, seed {tc.seed}, "
        f"chunked SSD scan (chunk {tc.chunk}) |",
        *measured_rows(tc, meta, val_note=f"; tiny-gpt: {GPT_VAL_NATS} nats/byte, same protocol",
                       wall_note=" (resumed once)" if meta.get("resumed") else ""),
        "| licence | weights trained here from public-domain text; same licence as the code |",
        *sample_section(meta),
    ]
    path.write_text("\n".join(ln for ln in lines if ln is not None), encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m viz_core.train.mamba", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap, MambaTrainConfig)
    train_mamba(MambaTrainConfig(**vars(ap.parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
