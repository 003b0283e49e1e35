"""Speculative decoding (Leviathan et al. 2023, "Fast Inference from Transformers via Speculative Decoding";
Chen et al. 2023, "Accelerating Large Language Model Decoding with Speculative Sampling").

A small *draft* model proposes γ tokens one by one; the *target* model scores all of them in ONE forward
pass (γ + 1 positions) and keeps the longest acceptable prefix, then adds one token of its own (the
correction at the first rejection, or a bonus token when all γ were accepted). So every target call yields
between 1 and γ + 1 tokens.

- Greedy: a draft token is accepted iff it is the target's argmax there, so the output equals the target's
  own greedy output exactly (tested).
- Sampling: token x drawn from the draft's q is accepted with probability min(1, p(x)/q(x)); on rejection
  the replacement is drawn from norm(max(0, p − q)). The emitted token is then distributed exactly as the
  target's p (tested statistically with a chi-square test).

Models are used through a small *session* protocol (``feed`` tokens → logits, ``length``, ``truncate``) so
that the algorithm runs on the tiny GPT with its KV cache, or on toy models in tests. ``session(model, n,
runs_as)`` makes one: ``eager`` (PyTorch, the spec) or ``compiled`` (the whole step in one numba call,
``viz_core.decoding.fast``; CPU, float32). The draft's implementation never changes the output: every
emitted token is decided by the target's logits.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from viz_core.models.kv_cache import KVCache
from viz_core.device import synchronize
from viz_core.errors import InputError


class Session(Protocol):
    length: int  # tokens whose K/V the session holds

    def feed(self, ids: list[int]) -> np.ndarray | torch.Tensor: ...  # (len(ids), V) next-token logits

    def truncate(self, n: int) -> None: ...


class GPTSession:
    """A model plus its own KV cache: ``feed`` appends tokens and returns their next-token logits."""

    def __init__(self, model, max_len: int):
        p = next(model.parameters())
        self.model, self.device = model, p.device
        self.cache = KVCache.empty(model.cfg, batch=1, max_len=max_len, device=p.device, dtype=p.dtype)
        self.calls = 0

    @property
    def length(self) -> int:
        return self.cache.length

    @torch.no_grad()
    def feed(self, ids: list[int]) -> torch.Tensor:
        self.calls += 1
        x = torch.tensor([ids], dtype=torch.long, device=self.device)
        logits, self.cache = self.model(x, cache=self.cache)
        return logits[0].float()  # (n, V)

    def truncate(self, n: int) -> None:
        self.cache.truncate(n)


SESSION_KINDS = ("eager", "compiled")


def session(model, max_len: int, runs_as: str = "eager") -> Session:
    """A model as a session: ``eager`` (``GPTSession``) or ``compiled`` (``FastSession`` over ``NumbaGPT``)."""
    if runs_as == "eager":
        return GPTSession(model, max_len)
    if runs_as != "compiled":
        raise InputError(f"Unknown session kind {runs_as!r}; choose one of {SESSION_KINDS}.")
    p = next(model.parameters())
    if p.device.type != "cpu" or p.dtype != torch.float32:
        raise InputError(f"The compiled step runs on the CPU in float32; this model is {p.device.type}/"
                         f"{str(p.dtype).replace('torch.', '')}: choose 'eager'.")
    from viz_core.decoding.fast import FastSession, NumbaGPT

    return FastSession(NumbaGPT(model, max_len))


def probs(logits, temperature: float) -> np.ndarray:
    """Next-token distribution: softmax(logits / T); T == 0 gives the one-hot argmax (greedy)."""
    z = logits.detach().cpu().double().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits, float)
    if temperature <= 0:
        out = np.zeros_like(z)
        out[int(np.argmax(z))] = 1.0
        return out
    z = z / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def sample(p: np.ndarray, u: float) -> int:
    """Inverse-CDF draw from p with the uniform ``u``."""
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, u * c[-1], side="right"), len(p) - 1))


def verify(p: np.ndarray, q: np.ndarray, x: int, u_accept: float, u_resample: float) -> tuple[bool, int]:
    """The rejection rule for one draft token x ~ q: (accepted, token emitted).

    Accept with probability min(1, p(x)/q(x)); otherwise emit a draw from norm(max(0, p − q)). With one-hot
    p and q (greedy) this accepts iff x is the target's argmax, and otherwise emits the argmax.
    """
    if q[x] > 0 and u_accept < min(1.0, p[x] / q[x]):
        return True, x
    resid = np.maximum(p - q, 0.0)
    if resid.sum() <= 0:  # p == q: rejection has probability 0; guard against rounding
        resid = p
    return False, sample(resid / resid.sum(), u_resample)


@dataclass
class Round:
    proposed: list[int]  # γ draft tokens
    accepted: int  # how many of them the target kept
    emitted: int  # the target's own token (correction or bonus)
    bonus: bool  # True when all γ were accepted


@dataclass
class SpecTrace:
    tokens: list[int]
    rounds: list[Round]
    target_calls: int
    draft_calls: int
    seconds: float
    draft_s: float = 0.0  # wall time inside the draft's calls (host clock: on CUDA, launch time unless synced)
    target_s: float = 0.0  # wall time inside the target's calls


def speculative_generate(target: Session, draft: Session, prompt_ids: list[int], new_tokens: int, *,
                         gamma: int = 4, temperature: float = 0.0, seed: int = 0, device=None) -> SpecTrace:
    """Generate ``new_tokens`` after ``prompt_ids`` with draft length ``gamma``.

    Invariant: both sessions hold every committed token except the last one (fed at the next call); the
    draft may lag further behind after a fully accepted round and catches up with a multi-token feed.
    """
    if not prompt_ids:
        raise InputError("The prompt is empty: give at least one token.")
    if gamma < 1:
        raise InputError("The draft length γ must be at least 1.")
    if new_tokens < 1:
        raise InputError("Ask for at least one new token.")
    rng = np.random.default_rng(seed)
    ctx = list(prompt_ids)
    start = len(ctx)
    t0 = time.perf_counter()
    if len(ctx) > 1:
        target.feed(ctx[:-1])
        draft.feed(ctx[:-1])
    t_calls = d_calls = 0
    d_s = t_s = 0.0
    greedy = temperature <= 0
    clock = time.perf_counter
    rounds: list[Round] = []
    while len(ctx) - start < new_tokens:
        g = min(gamma, new_tokens - (len(ctx) - start))  # never draft past the end
        c0 = clock()
        q_logits = draft.feed(ctx[draft.length:])[-1]
        d_s += clock() - c0
        d_calls += 1
        props, qs = [], []
        for i in range(g):
            if greedy:  # argmax directly: same decision as one-hot probabilities, less overhead
                q, x = None, int(q_logits.argmax())
            else:
                q = probs(q_logits, temperature)
                x = sample(q, rng.random())
            props.append(x)
            qs.append(q)
            if i < g - 1:
                c0 = clock()
                q_logits = draft.feed([x])[-1]
                d_s += clock() - c0
                d_calls += 1
        c0 = clock()
        t_logits = target.feed(ctx[target.length:] + props)  # (… , V): last g+1 rows score the proposals
        t_s += clock() - c0
        t_calls += 1
        rows = t_logits[-(g + 1):]
        accepted, emitted = 0, None
        if greedy:  # accept while the draft matches the target's argmax; then the target's own argmax
            best = rows.argmax(-1).tolist()
            while accepted < g and props[accepted] == best[accepted]:
                accepted += 1
            emitted = best[accepted]
            bonus = accepted == g
        else:
            for i in range(g):
                ok, tok = verify(probs(rows[i], temperature), qs[i], props[i], rng.random(), rng.random())
                if ok:
                    accepted += 1
                else:
                    emitted = tok
                    break
            bonus = emitted is None
            if bonus:
                emitted = sample(probs(rows[g], temperature), rng.random())
        rounds.append(Round(props, accepted, int(emitted), bonus))
        ctx += props[:accepted] + [int(emitted)]
        target.truncate(len(ctx) - 1)
        draft.truncate(min(draft.length, len(ctx) - 1))
    if device is not None:
        synchronize(device)
    secs = time.perf_counter() - t0
    return SpecTrace(ctx[start:start + new_tokens], rounds, t_calls, d_calls, secs, d_s, t_s)


@torch.no_grad()
def plain_generate(target: Session, prompt_ids: list[int], new_tokens: int, *, temperature: float = 0.0,
                   seed: int = 0, device=None) -> tuple[list[int], float]:
    """The baseline: one target call per token (with its KV cache). Returns (tokens, seconds)."""
    rng = np.random.default_rng(seed)
    ctx = list(prompt_ids)
    t0 = time.perf_counter()
    logits = target.feed(ctx)[-1]
    out = []
    for i in range(new_tokens):
        tok = int(logits.argmax()) if temperature <= 0 else sample(probs(logits, temperature), rng.random())
        out.append(tok)
        if i < new_tokens - 1:
            logits = target.feed([tok])[-1]
    if device is not None:
        synchronize(device)
    return out, time.perf_counter() - t0
