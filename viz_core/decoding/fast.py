"""Fast decoding for the tiny GPT: where the time goes on a CPU, and two fast paths that remove it.

The eager model (``viz_core.models.gpt.TinyGPT`` driven by ``viz_core.decoding.generate``) is the spec.
For one new token it issues about 25 torch operations per layer (norms, three projections, RoPE on q and
k, cache writes, attention, the MLP), each with a few microseconds of dispatch overhead, while the
arithmetic of a width-128 model is tens of microseconds in total: per-op overhead is the cost.

gpt-fast (PyTorch team, 2023) removes it on GPUs with a static KV cache, fused QKV and ``torch.compile``
with CUDA graphs. Here, adapted to where the time goes on this CPU:

- ``TorchStaticGPT``: the gpt-fast recipe in torch, for any device. A static KV cache (allocated once,
  written in place), fused QKV whose output also holds rotate_half(q, k) (RoPE becomes one multiply-add with
  a precomputed table), attention over the filled prefix by SDPA, residuals fused into ``addmm``: about 13
  torch calls per layer. On CUDA only, ``compile=True`` wraps the step in ``torch.compile`` with CUDA graphs
  ("reduce-overhead"); inductor does not remove per-op cost on this CPU, so it is not offered there.
- ``NumbaGPT``: the whole forward pass of a step (all layers, any number of tokens) as one compiled numba
  function over the weights read from the loaded model: one call per step.

Both keep a static cache; ``generate(..., use_cache=False)`` recomputes the whole sequence every step with
the same code (a fair uncached baseline). Tests check the greedy tokens equal the eager spec's.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from viz_core.errors import BudgetError, InputError
from viz_core.rope import cos_sin

try:
    import numba
except ImportError:  # pragma: no cover - numba is pinned in requirements.txt
    numba = None


def _block_weights(blk):
    a = blk.attn
    return dict(ln1=blk.ln1, ln2=blk.ln2, wq=a.wq.weight, wk=a.wk.weight, wv=a.wv.weight, wo=a.wo.weight,
                w1=blk.mlp[0].weight, b1=blk.mlp[0].bias, w2=blk.mlp[2].weight, b2=blk.mlp[2].bias)


def _rotate_rows(w: torch.Tensor, n_heads: int, hd: int) -> torch.Tensor:
    """Rows of a projection (n_heads·hd, d) -> the rows that produce rotate_half of its output: per head
    (x1, x2) -> (−x2, x1). Since rotate_half is linear in the output, it folds into the weight."""
    w = w.view(n_heads, 2, hd // 2, -1)
    return torch.cat((-w[:, 1:2], w[:, 0:1]), dim=1).reshape(n_heads * hd, -1)


def _check_len(needed: int, max_len: int) -> None:
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
            b = _block_weights(blk)
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
        _check_len(self.length + len(ids), self.max_len)
        idx = torch.tensor([ids], device=self.emb.device)
        out = self._step(idx, self.length)
        self.length += len(ids)
        return out[0]

    def reset(self) -> None:
        self.length = 0


# ---------------------------------------------------------------------------------------------- numba
def _njit(fn):
    if numba is None:
        def missing(*a, **k):
            raise InputError("The fused decode step needs numba (pip install -r requirements.txt).")
        return missing
    return numba.njit(cache=True, fastmath=True, nogil=True, boundscheck=False)(fn)


@_njit
def _layer_norm(x, w, b, eps, out):  # x (N, d) -> out (N, d)
    n, d = x.shape
    for t in range(n):
        mean = np.float32(0.0)
        for j in range(d):
            mean += x[t, j]
        mean /= d
        var = np.float32(0.0)
        for j in range(d):
            var += (x[t, j] - mean) ** 2
        inv = np.float32(1.0) / np.sqrt(var / d + eps)
        for j in range(d):
            out[t, j] = (x[t, j] - mean) * inv * w[j] + b[j]


@_njit
def _linear(x, w, out):  # out (N, o) += x (N, i) @ w (o, i)ᵀ as dot products, several at once
    n, (o_n, i_n) = x.shape[0], w.shape
    t = 0
    while t + 4 <= n:  # several tokens (prompt, or recomputation without a cache)
        r = 0
        while r + 2 <= o_n:  # 4 tokens × 2 rows: 8 independent sums kept in registers
            s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = np.float32(0.0)
            for j in range(i_n):
                w0, w1 = w[r, j], w[r + 1, j]
                x0, x1, x2, x3 = x[t, j], x[t + 1, j], x[t + 2, j], x[t + 3, j]
                s00 += x0 * w0
                s01 += x0 * w1
                s10 += x1 * w0
                s11 += x1 * w1
                s20 += x2 * w0
                s21 += x2 * w1
                s30 += x3 * w0
                s31 += x3 * w1
            out[t, r] += s00
            out[t, r + 1] += s01
            out[t + 1, r] += s10
            out[t + 1, r + 1] += s11
            out[t + 2, r] += s20
            out[t + 2, r + 1] += s21
            out[t + 3, r] += s30
            out[t + 3, r + 1] += s31
            r += 2
        for rr in range(r, o_n):
            for a in range(4):
                s = np.float32(0.0)
                for j in range(i_n):
                    s += x[t + a, j] * w[rr, j]
                out[t + a, rr] += s
        t += 4
    for tt in range(t, n):  # one token (decoding): four rows at once hide the multiply-add latency
        r = 0
        while r + 4 <= o_n:
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            for j in range(i_n):
                xj = x[tt, j]
                a0 += w[r, j] * xj
                a1 += w[r + 1, j] * xj
                a2 += w[r + 2, j] * xj
                a3 += w[r + 3, j] * xj
            out[tt, r] += a0
            out[tt, r + 1] += a1
            out[tt, r + 2] += a2
            out[tt, r + 3] += a3
            r += 4
        for rr in range(r, o_n):
            s = np.float32(0.0)
            for j in range(i_n):
                s += x[tt, j] * w[rr, j]
            out[tt, rr] += s


@_njit
def _forward(tokens, start, emb, ln1w, ln1b, wqkv, wo, ln2w, ln2b, w1, b1, w2, b2, lnfw, lnfb, head,
             cos, sin, ck, cv, n_head, eps, logits):
    """tokens (N,) at positions start… -> logits (V,) of the last; writes K/V into ck, cv (L, hk, T, hd)."""
    n, d = tokens.shape[0], emb.shape[1]
    n_layer, hk, _, hd = ck.shape
    rep, half = n_head // hk, hd // 2
    scale = np.float32(1.0 / math.sqrt(hd))
    x = np.empty((n, d), np.float32)
    for t in range(n):
        x[t] = emb[tokens[t]]
    hx = np.empty((n, d), np.float32)
    qkv = np.empty((n, wqkv.shape[1]), np.float32)
    att = np.empty((n, d), np.float32)
    mid = np.empty((n, w1.shape[1]), np.float32)
    p = np.empty(start + n, np.float32)
    for li in range(n_layer):
        _layer_norm(x, ln1w[li], ln1b[li], eps, hx)
        qkv[:] = 0.0
        _linear(hx, wqkv[li], qkv)  # (N, h·hd | hk·hd | hk·hd)
        for t in range(n):
            pos = start + t
            for hh in range(n_head + hk):  # RoPE (half-split) on q heads then k heads
                o = hh * hd
                for j in range(half):
                    x1, x2 = qkv[t, o + j], qkv[t, o + half + j]
                    qkv[t, o + j] = x1 * cos[pos, j] - x2 * sin[pos, j]
                    qkv[t, o + half + j] = x1 * sin[pos, j] + x2 * cos[pos, j]
            for g in range(hk):  # write K/V in place (the static cache)
                ko, vo = (n_head + g) * hd, (n_head + hk + g) * hd
                for j in range(hd):
                    ck[li, g, pos, j] = qkv[t, ko + j]
                    cv[li, g, pos, j] = qkv[t, vo + j]
        for t in range(n):
            pos = start + t
            for hh in range(n_head):  # causal attention over positions 0…pos
                g = hh // rep
                m = np.float32(-np.inf)
                for s in range(pos + 1):
                    acc = np.float32(0.0)
                    for j in range(hd):
                        acc += qkv[t, hh * hd + j] * ck[li, g, s, j]
                    p[s] = acc * scale
                    m = max(m, p[s])
                tot = np.float32(0.0)
                for s in range(pos + 1):
                    p[s] = np.exp(p[s] - m)
                    tot += p[s]
                for j in range(hd):
                    att[t, hh * hd + j] = 0.0
                for s in range(pos + 1):
                    w = p[s] / tot
                    for j in range(hd):
                        att[t, hh * hd + j] += w * cv[li, g, s, j]
        _linear(att, wo[li], x)  # residual: x += att @ Wo
        _layer_norm(x, ln2w[li], ln2b[li], eps, hx)
        for t in range(n):
            mid[t] = b1[li]
        _linear(hx, w1[li], mid)
        for t in range(n):
            for j in range(mid.shape[1]):  # exact GELU (nn.GELU default)
                v = mid[t, j]
                mid[t, j] = 0.5 * v * (1.0 + math.erf(v * np.float32(0.7071067811865476)))
            for j in range(d):
                x[t, j] += b2[li, j]
        _linear(mid, w2[li], x)
    last = np.empty((1, d), np.float32)
    _layer_norm(x[n - 1:], lnfw, lnfb, eps, last)
    logits[:] = 0.0
    _linear(last, head, logits.reshape(1, -1))


class NumbaGPT:
    """One compiled call per step: the tiny GPT's forward pass with a static KV cache (CPU, float32)."""

    def __init__(self, model, max_len: int):
        if numba is None:
            raise InputError("The fused decode step needs numba (pip install -r requirements.txt).")
        cfg = model.cfg
        self.cfg, self.max_len = cfg, int(max_len)
        f = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        bw = [_block_weights(b) for b in model.blocks]
        st = lambda fn: np.ascontiguousarray(np.stack([fn(b) for b in bw]))  # noqa: E731
        self.w = dict(
            emb=np.ascontiguousarray(f(model.tok_emb.weight)),
            ln1w=st(lambda b: f(b["ln1"].weight)), ln1b=st(lambda b: f(b["ln1"].bias)),
            wqkv=st(lambda b: f(torch.cat((b["wq"], b["wk"], b["wv"])))),  # (L, (h+2hk)·hd, d)
            wo=st(lambda b: f(b["wo"])), ln2w=st(lambda b: f(b["ln2"].weight)),
            ln2b=st(lambda b: f(b["ln2"].bias)), w1=st(lambda b: f(b["w1"])), b1=st(lambda b: f(b["b1"])),
            w2=st(lambda b: f(b["w2"])), b2=st(lambda b: f(b["b2"])),
            lnfw=f(model.ln_f.weight), lnfb=f(model.ln_f.bias),
            head=np.ascontiguousarray(f(model.head.weight)))  # (V, d)
        c, s = cos_sin(torch.arange(self.max_len), cfg.head_dim, cfg.rope_base)
        self.cos, self.sin = c.numpy(), s.numpy()
        shape = (cfg.n_layer, cfg.n_kv_head, self.max_len, cfg.head_dim)
        self.k, self.v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        self.logits = np.empty(cfg.vocab_size, np.float32)
        self.length = 0

    def feed(self, ids: list[int]) -> np.ndarray:
        """Process ``ids`` after the cached positions -> next-token logits (V,) (a view, overwritten next call)."""
        _check_len(self.length + len(ids), self.max_len)
        w = self.w
        _forward(np.asarray(ids, np.int64), self.length, w["emb"], w["ln1w"], w["ln1b"], w["wqkv"], w["wo"],
                 w["ln2w"], w["ln2b"], w["w1"], w["b1"], w["w2"], w["b2"], w["lnfw"], w["lnfb"], w["head"],
                 self.cos, self.sin, self.k, self.v, self.cfg.n_head, np.float32(self.cfg.norm_eps), self.logits)
        self.length += len(ids)
        return self.logits

    def reset(self) -> None:
        self.length = 0


def fast_model(model, max_len: int, kind: str = "numba", *, compile: bool = False):
    """``kind``: "numba" (CPU, one compiled call per step), "torch" (static cache, fused QKV, few ops) or
    "torch-unfused" (static cache, three QKV projections: the step before fusion)."""
    if kind == "numba":
        return NumbaGPT(model, max_len)
    if kind in ("torch", "torch-unfused"):
        return TorchStaticGPT(model, max_len, compile=compile, fuse_qkv=kind == "torch")
    raise InputError(f"Unknown fast path {kind!r}; choose 'numba', 'torch' or 'torch-unfused'.")


def generate(fast, prompt_ids: list[int], new_tokens: int, *, use_cache: bool = True) -> list[int]:
    """Greedy decoding with a fast model. Uncached: every step re-runs the whole sequence (same code)."""
    if not prompt_ids:
        raise InputError("The prompt is empty: give at least one token.")
    _check_len(len(prompt_ids) + new_tokens, fast.max_len + 1)
    seq = list(prompt_ids)
    fast.reset()
    logits = fast.feed(seq)
    out = []
    for i in range(new_tokens):
        tok = int(logits.argmax())
        out.append(tok)
        seq.append(tok)
        if i == new_tokens - 1:
            break
        if use_cache:
            logits = fast.feed([tok])
        else:
            fast.reset()
            logits = fast.feed(seq)
    return out
