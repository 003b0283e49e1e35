"""Tiny GPT checkpoints: they load (weights_only), match the figures in their model cards, and the training
script runs end to end on a very small version."""
from __future__ import annotations

import json

import pytest
import torch

from viz_core.models import MODELS_DIR
from viz_core.models.data import load_corpus
from viz_core.models.gpt import ByteTokenizer, load_checkpoint, load_tiny_gpt
from viz_core.train.gpt import GPTTrainConfig, train_gpt
from viz_core.train.loop import eval_loss

GPT_NAMES = ["tiny-gpt", "tiny-gpt-gqa", "tiny-gpt-mqa", "tiny-gpt-draft", "tiny-gpt-draft-distilled"]


@pytest.mark.parametrize("name", GPT_NAMES)
def test_checkpoint_loads_small_and_frozen(name):
    path = MODELS_DIR / f"{name}.pt"
    assert path.stat().st_size <= 2 * 1024 * 1024
    torch.load(path, weights_only=True)  # plain tensors and containers only
    model, tok, cfg = load_tiny_gpt(name)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert isinstance(tok, ByteTokenizer) and cfg.vocab_size == 256
    assert (MODELS_DIR / f"{name}.md").exists()


@pytest.mark.parametrize("name", GPT_NAMES)
def test_validation_loss_matches_card(name):
    model, _, cfg, meta = load_checkpoint(MODELS_DIR / f"{name}.pt")
    va = torch.tensor(ByteTokenizer().encode(load_corpus("val")), dtype=torch.long)
    loss = eval_loss(model, va, cfg.max_seq_len, windows=16)
    # 16 of the card's 64 windows, fp16-stored weights: within 0.1 nats of the stated figure, and far
    # below a uniform guess over bytes (ln 256 = 5.55) or a unigram model (~3.2 nats/byte here)
    assert abs(loss - meta["val_loss_nats_per_byte"]) < 0.1
    assert loss < 2.0
    card = (MODELS_DIR / f"{name}.md").read_text()
    assert f"{meta['val_loss_nats_per_byte']:.3f} nats/byte" in card


def test_tiny_gpt_writes_like_its_corpus():
    from viz_core.sampling import SamplingConfig, generate

    model, tok, _ = load_tiny_gpt("tiny-gpt")
    ids = generate(model, torch.tensor([tok.encode("ROMEO:\n")]), 200, SamplingConfig(0.0), seed=0)
    text = tok.decode(ids[0].tolist())
    words = [w.strip(".,;:!?'[]") for w in text.split()]
    common = {"the", "and", "i", "to", "of", "you", "my", "a", "that", "is", "in", "not", "me", "it", "with", "be"}
    assert sum(w.lower() in common for w in words) >= 5, text


def test_training_script_smoke(tmp_path):
    text = load_corpus("train")[:20_000]
    meta = train_gpt(GPTTrainConfig(name="smoke", n_layer=1, n_head=2, n_kv_head=1, d_model=16, seq_len=32,
                                    batch=4, steps=30, eval_windows=4, out_dir=str(tmp_path), log_every=10),
                     text_train=text, text_val=text[-3000:], progress=lambda *_: None)
    assert meta["val_loss_nats_per_byte"] < 5.0  # ln 256 = 5.55 at random init
    h = meta["history"]
    assert h[-1][1] < h[0][1]
    model, _, cfg, meta2 = load_checkpoint(tmp_path / "smoke.pt")
    assert cfg.n_kv_head == 1 and meta2["train_config"]["steps"] == 30
    assert "validation loss" in (tmp_path / "smoke.md").read_text()


def test_continuations_stop_at_the_eos_id_the_gguf_declares(monkeypatch):
    """SmolLM2's end-of-sequence id comes from the loaded GGUF (tokenizer.ggml.eos_token_id), not a constant."""
    from types import SimpleNamespace

    from viz_core.labs import tokens as explore

    monkeypatch.setattr(explore, "_smol", lambda: SimpleNamespace(eos_id=49_152 - 7))
    assert explore.stop_ids("smollm2-135m") == (49_145,)
    assert explore.stop_ids("tiny-gpt") == ()


def test_distill_loss_is_the_kl_from_teacher_to_student():
    """KL(p_t ‖ p_s) checked against torch's kl_div (an independent formula), and zero for the teacher itself."""
    import torch.nn.functional as F

    from viz_core.models.gpt import GPTConfig, TinyGPT
    from viz_core.train.gpt import distill_loss

    torch.manual_seed(0)
    teacher = TinyGPT(GPTConfig(d_model=32, n_layer=1, n_head=2, n_kv_head=1, max_seq_len=16)).eval()
    student = TinyGPT(GPTConfig(d_model=16, n_layer=1, n_head=2, n_kv_head=1, max_seq_len=16))
    x = torch.randint(0, 256, (2, 16))
    y = torch.randint(0, 256, (2, 16))
    got = distill_loss(teacher, 1.0)(student, x, y)
    t = F.log_softmax(teacher(x)[0], -1)
    s = F.log_softmax(student(x)[0], -1)
    want = F.kl_div(s.reshape(-1, 256), t.reshape(-1, 256), log_target=True, reduction="batchmean")
    assert torch.allclose(got, want, atol=1e-5)
    assert distill_loss(teacher, 1.0)(teacher, x, y).abs().item() < 1e-5
    ce = F.cross_entropy(s.reshape(-1, 256), y.reshape(-1))
    assert torch.allclose(distill_loss(teacher, 0.25)(student, x, y), 0.25 * want + 0.75 * ce, atol=1e-5)
    got.backward()  # gradients reach the student only
    assert all(p.grad is None for p in teacher.parameters())
