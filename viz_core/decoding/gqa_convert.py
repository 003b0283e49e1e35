"""Converting a multi-head checkpoint to grouped-query (GQA) or multi-query (MQA) attention by mean-pooling
its key and value heads (Ainslie et al. 2023, "GQA: Training Generalized Multi-Query Transformer Models from
Multi-Head Checkpoints", §2.1; MQA: Shazeer 2019).

Query heads are split into G groups of consecutive heads; each group's K and V projection matrices are
replaced by their mean, so the converted model keeps G KV heads and its cache shrinks by n_kv_head / G.
Ainslie et al. then *uptrain* for ~5% of the original steps; we do not, so the perplexity change measured
here is the cost of conversion alone (an upper bound on what uptraining leaves).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from viz_core.decoding.kv_cache import KVCache
from viz_core.device import resolve_device
from viz_core.errors import InputError


def convert(model, n_kv_head: int):
    """A new TinyGPT with ``n_kv_head`` KV heads whose K/V weights are group means of ``model``'s."""
    from viz_core.models.gpt import TinyGPT

    cfg = model.cfg
    if n_kv_head < 1 or cfg.n_kv_head % n_kv_head or cfg.n_head % n_kv_head:
        raise InputError(f"Can pool {cfg.n_kv_head} KV heads into a number that divides it "
                         f"(got {n_kv_head}).")
    new_cfg = dataclasses.replace(cfg, n_kv_head=n_kv_head)
    p = next(model.parameters())
    new = TinyGPT(new_cfg).to(device=p.device, dtype=p.dtype)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    hd, d, g = cfg.head_dim, cfg.d_model, cfg.n_kv_head // n_kv_head
    for i in range(cfg.n_layer):
        for name in ("wk", "wv"):
            key = f"blocks.{i}.attn.{name}.weight"
            w = sd[key]  # (n_kv·hd, d)
            sd[key] = w.view(n_kv_head, g, hd, d).mean(dim=1).reshape(n_kv_head * hd, d)
    new.load_state_dict(sd)
    return new.eval().requires_grad_(False)


def uptrain(model, tokens: list[int], steps: int, *, lr: float = 3e-4, batch: int = 8, seq: int = 128,
            seed: int = 0, on_step=None):
    """A copy of ``model`` trained ``steps`` more AdamW steps on random windows of ``tokens`` (Ainslie et al.
    uptrain converted checkpoints for ~5% of the original pre-training)."""
    import copy

    m = copy.deepcopy(model).train().requires_grad_(True)
    if steps <= 0:
        return m.eval().requires_grad_(False)
    p = next(m.parameters())
    data = torch.tensor(tokens, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(m.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    for step in range(steps):
        ix = torch.randint(0, data.numel() - seq - 1, (batch,), generator=g).tolist()
        xy = torch.stack([data[i: i + seq + 1] for i in ix]).to(p.device)
        logits, _ = m(xy[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        for grp in opt.param_groups:  # linear decay to zero
            grp["lr"] = lr * (1 - step / steps)
        opt.step()
        if on_step is not None:
            on_step(step + 1)
    return m.eval().requires_grad_(False)


@torch.no_grad()
def held_out_loss(model, tokens: list[int], seq_len: int, windows: int) -> float:
    """Mean next-token cross-entropy (nats/token) over the first ``windows`` non-overlapping windows."""
    p = next(model.parameters())
    data = torch.tensor(tokens, dtype=torch.long)
    n = min(windows, (len(data) - 1) // seq_len)
    if n < 1:
        raise InputError("The held-out text is shorter than one window.")
    x = torch.stack([data[i * seq_len: (i + 1) * seq_len] for i in range(n)]).to(p.device)
    y = torch.stack([data[i * seq_len + 1: (i + 1) * seq_len + 1] for i in range(n)]).to(p.device)
    logits, _ = model(x)
    return float(torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)))


@dataclass(frozen=True)
class GQAConfig:
    model: str = "tiny-gpt"
    windows: int = 8  # held-out windows of the model's context
    context: int = 256  # tokens for the cache-size column
    uptrain_steps: int = 0  # extra training steps given to EVERY variant (the original too, for fairness)
    device: str = "auto"
    dtype: str = "float32"


@dataclass(frozen=True)
class GQAResult:
    kv_heads: np.ndarray  # (K,) the original first
    labels: tuple[str, ...]  # "MHA (4 KV heads)", "GQA-2", "MQA"
    loss: np.ndarray  # nats/token on held-out text
    perplexity: np.ndarray  # exp(loss), per byte-token
    cache_bytes: np.ndarray  # measured nbytes of a KVCache for `context` tokens
    n_head: int
    context: int
    eval_tokens: int
    trained: np.ndarray  # bool: natively trained checkpoint (True) or converted by pooling (False)
    uptrain_steps: int


def run(cfg: GQAConfig, _progress=None) -> GQAResult:
    """``_progress(fraction, text)``, when given, is called after every uptraining step and every variant."""
    from viz_core.decoding.generate import torch_threads

    with torch_threads():
        return _run(cfg, _progress)


def estimate_s(cfg: GQAConfig) -> float:
    """Seconds ``run(cfg)`` will take here: one uptraining step and one held-out window, timed now."""
    import time

    from viz_core.decoding.generate import load_model, torch_threads
    from viz_core.models.data import load_corpus

    dev = resolve_device(cfg.device)
    with torch_threads():
        model, tok, mcfg = load_model(cfg.model, dev.type, cfg.dtype)
        n_variants = sum(1 for k in range(mcfg.n_kv_head, 0, -1) if mcfg.n_kv_head % k == 0 and mcfg.n_head % k == 0)
        tokens = tok.encode(load_corpus("val")[: 4 * mcfg.max_seq_len])
        t0 = time.perf_counter()
        held_out_loss(model, tokens, mcfg.max_seq_len, 1)
        eval_s = (time.perf_counter() - t0) * max(1, cfg.windows)
        step_s = 0.0
        if cfg.uptrain_steps:
            with torch.enable_grad():
                uptrain(model, tokens, 1)  # warm-up (allocations, optimizer state)
                t0 = time.perf_counter()
                uptrain(model, tokens, 2)
                step_s = (time.perf_counter() - t0) / 2
    return n_variants * (cfg.uptrain_steps * step_s + eval_s)


def _run(cfg: GQAConfig, _progress=None) -> GQAResult:
    from viz_core.decoding.generate import load_model
    from viz_core.models.data import load_corpus

    dev = resolve_device(cfg.device)
    model, tok, mcfg = load_model(cfg.model, dev.type, cfg.dtype)
    if not 1 <= cfg.windows <= 128:
        raise InputError("Use between 1 and 128 held-out windows.")
    if not 0 <= cfg.uptrain_steps <= 500:
        raise InputError("Uptrain for 0 to 500 steps.")
    tokens = tok.encode(load_corpus("val"))
    train_tokens = tok.encode(load_corpus("train")) if cfg.uptrain_steps else []
    seq = mcfg.max_seq_len
    ks = [k for k in range(mcfg.n_kv_head, 0, -1) if mcfg.n_kv_head % k == 0 and mcfg.n_head % k == 0]
    losses, sizes, labels = [], [], []
    for vi, k in enumerate(ks):
        m = model if k == mcfg.n_kv_head else convert(model, k)

        def on_step(i: int, vi: int = vi, k: int = k) -> None:
            if _progress is not None:
                _progress((vi + i / max(1, cfg.uptrain_steps)) / len(ks), f"{k} KV heads: step {i}")

        if cfg.uptrain_steps:
            with torch.enable_grad():
                m = uptrain(m, train_tokens, cfg.uptrain_steps, seed=k, on_step=on_step)
        losses.append(held_out_loss(m, tokens, seq, cfg.windows))
        sizes.append(KVCache.empty(m.cfg, batch=1, max_len=cfg.context, device="meta").nbytes)
        labels.append("MHA" if k == mcfg.n_head else ("MQA" if k == 1 else f"GQA-{k}"))
        labels[-1] += f" ({k} KV head{'s' if k > 1 else ''})"
    loss = np.array(losses)
    return GQAResult(kv_heads=np.array(ks), labels=tuple(labels), loss=loss, perplexity=np.exp(loss),
                     cache_bytes=np.array(sizes), n_head=mcfg.n_head, context=cfg.context,
                     eval_tokens=min(cfg.windows, (len(tokens) - 1) // seq) * seq,
                     trained=np.array([k == mcfg.n_kv_head for k in ks]), uptrain_steps=cfg.uptrain_steps)

