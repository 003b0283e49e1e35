"""Fast decoding for the tiny GPT: where the time goes on a CPU, and two fast paths that remove it.

The eager model (``viz_core.models.gpt.TinyGPT`` driven by ``viz_core.decoding.generate``) is the spec.
For one new token it dispatches a few hundred aten operations (norms, three projections, RoPE on q and k,
cache writes, attention, the MLP, and the views between them; ``viz_core.labs.kv_cache_fast.count_ops``
counts them), each with microseconds of overhead, while the arithmetic of a width-128 model is tens of
microseconds in total: per-op overhead is the cost.

gpt-fast (PyTorch team, 2023) removes it on GPUs with a static KV cache, fused QKV and ``torch.compile``
with CUDA graphs. Here, adapted to where the time goes on this CPU:

- ``TorchStaticGPT`` (``fast_torch.py``): the gpt-fast recipe in torch, for any device. A static KV cache
  (allocated once, written in place), fused QKV whose output also holds rotate_half(q, k) (RoPE becomes one
  multiply-add with a precomputed table), attention over the filled prefix by SDPA, residuals fused into
  ``addmm``: about a dozen torch calls per layer. On CUDA only, ``compile=True`` wraps the step in ``torch.compile`` with CUDA graphs
  ("reduce-overhead"); inductor does not remove per-op cost on this CPU, so it is not offered there.
- ``NumbaGPT``: the whole forward pass of a step (all layers, any number of tokens) as one compiled numba
  function over the weights read from the loaded model: one call per step.

- ``FastSession``: a ``NumbaGPT`` as a speculative-decoding session (logits at every fed position).

Both keep a static cache; ``generate(..., use_cache=False)`` recomputes the whole sequence every step with
the same code (a fair uncached baseline). Tests check the greedy tokens equal the eager spec's.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from viz_core.decoding.fast_torch import TorchStaticGPT, block_weights, check_len
from viz_core.device import cpu_kernel
from viz_core.errors import InputError
from viz_core.rope import cos_sin

try:
    import numba
except ImportError:  # pragma: no cover - numba is pinned in requirements.txt
    numba = None


# ---------------------------------------------------------------------------------------------- numba
_njit = cpu_kernel("The fused decode step")


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
             cos, sin, ck, cv, n_head, eps, all_logits, logits):
    """tokens (N,) at positions start… -> logits (N, V) of every position (``all_logits``) or (1, V) of the
    last, written into ``logits``; writes K into ck (L, hk, hd, T), transposed so that the scores of one
    query are contiguous multiply-adds over positions, and V into cv (L, hk, T, hd)."""
    n, d = tokens.shape[0], emb.shape[1]
    n_layer, hk, _, hd = cv.shape
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
                    ck[li, g, j, pos] = qkv[t, ko + j]  # Kᵀ: (L, hk, hd, T)
                    cv[li, g, pos, j] = qkv[t, vo + j]
        for t in range(n):
            pos = start + t
            for hh in range(n_head):  # causal attention over positions 0…pos
                g = hh // rep
                for s in range(pos + 1):
                    p[s] = 0.0
                for j in range(hd):  # scores = K q, one contiguous row of Kᵀ per feature (vectorised over s)
                    qj = qkv[t, hh * hd + j] * scale
                    for s in range(pos + 1):
                        p[s] += qj * ck[li, g, j, s]
                m = np.float32(-np.inf)
                for s in range(pos + 1):
                    m = max(m, p[s])
                tot = np.float32(0.0)
                for s in range(pos + 1):
                    p[s] = np.exp(p[s] - m)
                    tot += p[s]
                inv = np.float32(1.0) / tot
                for j in range(hd):
                    att[t, hh * hd + j] = 0.0
                for s in range(pos + 1):
                    w = p[s] * inv
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
    rows = n if all_logits else 1
    fin = np.empty((rows, d), np.float32)
    _layer_norm(x[n - rows:], lnfw, lnfb, eps, fin)
    logits[:rows] = 0.0
    _linear(fin, head, logits[:rows])


class NumbaGPT:
    """One compiled call per step: the tiny GPT's forward pass with a static KV cache (CPU, float32)."""

    def __init__(self, model, max_len: int):
        if numba is None:
            raise InputError("The fused decode step needs numba (pip install -r requirements.txt).")
        cfg = model.cfg
        self.cfg, self.max_len = cfg, int(max_len)
        f = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        bw = [block_weights(b) for b in model.blocks]
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
        self.k = np.zeros((cfg.n_layer, cfg.n_kv_head, cfg.head_dim, self.max_len), np.float32)  # Kᵀ per head
        self.v = np.zeros(shape, np.float32)
        self.logits = np.empty((self.max_len, cfg.vocab_size), np.float32)
        self.length = 0

    def feed(self, ids: list[int]) -> np.ndarray:
        """Process ``ids`` after the cached positions -> next-token logits (V,) (a view, overwritten next call)."""
        return self._run(ids, False)[0]

    def feed_all(self, ids: list[int]) -> np.ndarray:
        """Like ``feed`` but -> (len(ids), V): the next-token logits after every fed token (a view)."""
        return self._run(ids, True)

    def _run(self, ids, all_logits: bool) -> np.ndarray:
        check_len(self.length + len(ids), self.max_len)
        w = self.w
        _forward(np.asarray(ids, np.int64), self.length, w["emb"], w["ln1w"], w["ln1b"], w["wqkv"], w["wo"],
                 w["ln2w"], w["ln2b"], w["w1"], w["b1"], w["w2"], w["b2"], w["lnfw"], w["lnfb"], w["head"],
                 self.cos, self.sin, self.k, self.v, self.cfg.n_head, np.float32(self.cfg.norm_eps), all_logits,
                 self.logits)
        self.length += len(ids)
        return self.logits[: len(ids) if all_logits else 1]

    def reset(self) -> None:
        self.length = 0


class FastSession:
    """A ``NumbaGPT`` as a speculative-decoding session (``viz_core.decoding.speculative.Session``)."""

    def __init__(self, fast: NumbaGPT):
        self.fast = fast
        self.calls = 0
        fast.reset()

    @property
    def length(self) -> int:
        return self.fast.length

    def feed(self, ids: list[int]) -> np.ndarray:  # (len(ids), V)
        self.calls += 1
        return self.fast.feed_all(ids)

    def truncate(self, n: int) -> None:  # the static cache keeps its memory; later writes overwrite
        if not 0 <= n <= self.fast.length:
            raise InputError(f"Cannot truncate a {self.fast.length}-token session to {n}.")
        self.fast.length = n


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
    check_len(len(prompt_ids) + new_tokens, fast.max_len + 1)
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
