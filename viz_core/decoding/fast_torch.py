"""The gpt-fast recipe in torch for the tiny GPT (see ``viz_core.decoding.fast`` for the whole story).

A static KV cache allocated once and written in place, a RoPE table precomputed for every position, fused
QKV whose output also holds rotate_half(q, k) (so RoPE is one multiply-add), SDPA over the filled prefix
(no mask for one new token), residuals fused into ``addmm``. On CUDA only, ``compile=True`` wraps the step in
``torch.compile`` with CUDA graphs ("reduce-overhead"); inductor does not remove per-op cost on this CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from viz_core.errors import BudgetError, InputError
from viz_core.rope import cos_sin


def block_weights(blk):
    a = blk.attn
    return dict(ln1=blk.ln1, ln2=blk.ln2, wq=a.wq.weight, wk=a.wk.weight, wv=a.wv.weight, wo=a.wo.weight,
                w1=blk.mlp[0].weight, b1=blk.mlp[0].bias, w2=blk.mlp[2].weight, b2=blk.mlp[2].bias)


def _rotate_rows(w: torch.Tensor, n_heads: int, hd: int) -> torch.Tensor:
    """Rows of a projection (n_heads·hd, d) -> the rows that produce rotate_half of its output: per head
    (x1, x2) -> (−x2, x1). Since rotate_half is linear in the output, it folds into the weight."""
    w = w.view(n_heads, 2, hd // 2, -1)
    return torch.cat((-w[:, 1:2], w[:, 0:1]), dim=1).reshape(n_heads * hd, -1)


def check_len(needed: int, max_len: int) -> None:
    if needed > max_len:
        raise BudgetError(f"The static KV cache holds {max_len} positions; {needed} were asked for. "
                          "Build the fast model with a larger max_len.")


class TorchStaticGPT:
    """The gpt-fast recipe in torch: static cache, fused QKV (+ rotate_half rows), few ops per layer."""

    def __init__(self, model, max_len: int, *, compile: bool = False, fuse_qkv: bool = True):
        cfg = model.cfg
        self.fuse_qkv = fuse_qkv
        self.cfg, self.max_len = cfg, int(max_len)
        p = next(model.parameters())
        dev, dt = p.device, p.dtype
        h, hk, hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.emb = model.tok_emb.weight.detach()
        self.head_t = model.head.weight.detach().t().contiguous()  # (d, V)
        self.lnf = (model.ln_f.weight.detach(), model.ln_f.bias.detach())
        self.layers = []
        for blk in model.blocks:
            b = block_weights(blk)
            wqk = torch.cat((b["wq"], b["wk"]))
            wrot = torch.cat((_rotate_rows(b["wq"], h, hd), _rotate_rows(b["wk"], hk, hd)))
            self.layers.append(dict(
                ln1=(b["ln1"].weight.detach(), b["ln1"].bias.detach()),
                ln2=(b["ln2"].weight.detach(), b["ln2"].bias.detach()),
                wqkv_t=torch.cat((wqk, b["wv"], wrot)).detach().t().contiguous(),  # (d, (h+2hk)hd + (h+hk)hd)
                wq_t=b["wq"].detach().t().contiguous(), wk_t=b["wk"].detach().t().contiguous(),
                wv_t=b["wv"].detach().t().contiguous(),  # the unfused projections (before/after measurement)
                wo_t=b["wo"].detach().t().contiguous(), w1_t=b["w1"].detach().t().contiguous(),
                b1=b["b1"].detach(), w2_t=b["w2"].detach().t().contiguous(), b2=b["b2"].detach()))
        c, s = cos_sin(torch.arange(self.max_len), hd, cfg.rope_base, dtype=dt, device=dev)  # (T, hd/2)
        nqk = h + hk
        self.cos = torch.cat((c, c), -1).repeat(1, nqk)  # (T, (h+hk)·hd): one row per position
        self.sin = torch.cat((s, s), -1).repeat(1, nqk)
        self.k = torch.zeros(cfg.n_layer, 1, hk, self.max_len, hd, device=dev, dtype=dt)  # static cache
        self.v = torch.zeros_like(self.k)
        self.kl = [self.k[i, 0] for i in range(cfg.n_layer)]  # per-layer views (H_kv, T, hd), made once
        self.vl = [self.v[i, 0] for i in range(cfg.n_layer)]
        self.length = 0
        self.mask = torch.ones(self.max_len, self.max_len, device=dev, dtype=torch.bool).tril()
        self._step = self._forward
        if compile:
            if dev.type != "cuda":
                raise InputError("torch.compile with CUDA graphs is used on CUDA only; on CPU use NumbaGPT.")
            self._step = torch.compile(self._forward, mode="reduce-overhead", fullgraph=False)

    @torch.no_grad()
    def _forward(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        """idx (1, N) at positions start…start+N−1 -> last logits (V,); writes K/V in place."""
        cfg = self.cfg
        h, hk, hd, d = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.d_model
        n = idx.shape[1]
        end = start + n
        nqk = (h + hk) * hd
        x = F.embedding(idx[0], self.emb)  # (N, d)
        cos, sin = self.cos[start:end], self.sin[start:end]  # (N, (h+hk)·hd)
        for i, L in enumerate(self.layers):
            hx = F.layer_norm(x, (d,), *L["ln1"], cfg.norm_eps)
            if self.fuse_qkv:
                y = hx @ L["wqkv_t"]  # (N, q k | v | rot(q) rot(k))
                qk = torch.addcmul(y[:, :nqk] * cos, y[:, nqk + hk * hd:], sin)  # RoPE: one multiply-add
                v = y[:, nqk: nqk + hk * hd]
            else:  # three projections, RoPE with rotate_half built by slicing (as the eager model does)
                qk = torch.cat((hx @ L["wq_t"], hx @ L["wk_t"]), -1).view(n, h + hk, 2, hd // 2)
                rot = torch.cat((-qk[:, :, 1], qk[:, :, 0]), -1).view(n, nqk)
                qk = qk.view(n, nqk) * cos + rot * sin
                v = hx @ L["wv_t"]
            q = qk[:, : h * hd].view(n, h, hd).transpose(0, 1)  # (h, N, hd)
            kc, vc = self.kl[i], self.vl[i]
            kc[:, start:end] = qk[:, h * hd:].view(n, hk, hd).transpose(0, 1)  # written in place
            vc[:, start:end] = v.view(n, hk, hd).transpose(0, 1)
            mask = None if n == 1 else self.mask[start:end, :end]  # one new token sees every filled position
            a = F.scaled_dot_product_attention(q, kc[:, :end], vc[:, :end], attn_mask=mask, enable_gqa=h != hk)
            x = torch.addmm(x, a.transpose(0, 1).reshape(n, d), L["wo_t"])  # residual fused
            m = F.gelu(torch.addmm(L["b1"], F.layer_norm(x, (d,), *L["ln2"], cfg.norm_eps), L["w1_t"]))
            x = torch.addmm(x + L["b2"], m, L["w2_t"])
        return F.layer_norm(x[-1:], (d,), *self.lnf, cfg.norm_eps) @ self.head_t  # (1, V)

    def feed(self, ids: list[int]) -> torch.Tensor:
        check_len(self.length + len(ids), self.max_len)
        idx = torch.tensor([ids], device=self.emb.device)
        out = self._step(idx, self.length)
        self.length += len(ids)
        return out[0]

    def reset(self) -> None:
        self.length = 0
