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

import torch

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
            seed: int = 0):
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
