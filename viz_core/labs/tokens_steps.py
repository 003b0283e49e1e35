"""The tokens & sampling page's step-throughs: decoding token by token, and attention in every layer and head.

- ``decode_steps``: the model writes a continuation one token at a time with its KV cache (Pope et al. 2022)
  and the chosen sampler (temperature, top-k, Fan et al. 2018; top-p, Holtzman et al. 2020); each step keeps
  the token drawn, its probability, and the most likely candidates before and after the sampler. With the same
  seed it draws exactly the tokens of ``viz_core.sampling.generate`` (one generator, one draw per step).
- ``attention_grid``: the attention weights of every layer and head over the last prompt tokens in one forward
  pass (the bertviz "model view", Vig 2019, computed by our own models).

Frozen config in, dataclass of numpy arrays out; models come from ``viz_core.labs.tokens`` (loaded once).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.errors import InputError
from viz_core.labs.tokens import _label, _model_and_tokenizer, _prompt_and_model, _sampler, stop_ids, window_text
from viz_core.models.kv_cache import KVCache
from viz_core.sampling import filtered_probs, sample

MAX_DECODE_STEPS = 120
GRID_TOKENS = {"tiny-gpt": 20, "smollm2-135m": 12}  # last prompt tokens shown in the grid
SMOLLM_GRID_LAYERS = tuple(range(0, 30, 3))  # 30 layers × 9 heads would be 270 maps: every third layer


@dataclass(frozen=True)
class DecodeConfig:
    prompt: str
    model: str = "tiny-gpt"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    n_new: int = 24
    seed: int = 0
    n_show: int = 8  # candidates kept per step


@dataclass(frozen=True)
class DecodeSteps:
    prompt_labels: tuple[str, ...]  # the prompt tokens (readable)
    tokens: tuple[str, ...]  # (S,) the token drawn at each step
    ids: np.ndarray  # (S,) its id
    p_chosen: np.ndarray  # (S,) its probability under the sampler (after temperature, top-k, top-p)
    p_chosen_t1: np.ndarray  # (S,) its probability under the model's softmax at T = 1
    cand_labels: tuple[tuple[str, ...], ...]  # (S, K) the K most likely tokens at T = 1, per step
    cand_p_t1: np.ndarray  # (S, K) their softmax at T = 1
    cand_p_final: np.ndarray  # (S, K) their probability under the sampler
    kept: np.ndarray  # (S,) how many tokens the sampler could draw
    entropy_bits: np.ndarray  # (S,) entropy of the sampler's distribution
    text: str  # the decoded continuation
    notes: tuple[str, ...]


@torch.no_grad()
def decode_steps(cfg: DecodeConfig) -> DecodeSteps:
    if not 1 <= cfg.n_new <= MAX_DECODE_STEPS:
        raise InputError(f"Step through between 1 and {MAX_DECODE_STEPS} new tokens.")
    sc = _sampler(cfg)
    p, model, tok = _prompt_and_model(cfg)
    stop = stop_ids(cfg.model)  # the end-of-sequence id the GGUF declares
    g = torch.Generator(device="cpu").manual_seed(int(cfg.seed))  # as sampling.generate draws
    idx = torch.tensor([p.ids])  # (1, P)
    par = next(model.parameters())
    cache = KVCache.empty(model.cfg, 1, idx.shape[1] + cfg.n_new, device=par.device, dtype=par.dtype)
    logits, cache = model(idx, cache=cache)[:2]
    ids, pc, pc1, cl, cp1, cpf, kept, ent = [], [], [], [], [], [], [], []
    for step in range(cfg.n_new):
        z = logits[0, -1].float().cpu()  # (V,)
        p1 = torch.softmax(z, -1)
        pf = filtered_probs(z, sc)
        nxt = sample(logits[:, -1].cpu(), sc, g)  # (1,)
        i = int(nxt)
        order = torch.argsort(p1, descending=True, stable=True)[: cfg.n_show]
        ids.append(i)
        pc.append(float(pf[i]))
        pc1.append(float(p1[i]))
        cl.append(tuple(_label(tok, int(j)) for j in order))
        cp1.append(p1[order].numpy())
        cpf.append(pf[order].numpy())
        nz = pf[pf > 0]
        kept.append(int(nz.numel()))
        ent.append(max(float(-(nz * nz.log2()).sum()), 0.0))
        if i in stop or step == cfg.n_new - 1:
            break
        logits, cache = model(nxt[:, None].to(idx.device), cache=cache)[:2]
    shown = [i for i in ids if i not in stop]
    return DecodeSteps(prompt_labels=tuple(_label(tok, int(i)) for i in p.ids), tokens=tuple(_label(tok, i) for i in ids),
                       ids=np.array(ids), p_chosen=np.array(pc), p_chosen_t1=np.array(pc1), cand_labels=tuple(cl),
                       cand_p_t1=np.array(cp1), cand_p_final=np.array(cpf), kept=np.array(kept),
                       entropy_bits=np.array(ent), text=tok.decode(shown), notes=p.notes)


@dataclass(frozen=True)
class GridConfig:
    prompt: str
    model: str = "tiny-gpt"


@dataclass(frozen=True)
class AttentionGrid:
    weights: np.ndarray  # (L, H, N, N) row = query token, column = key token (causal: zero above the diagonal)
    layers: tuple[int, ...]  # (L,) which layers of the model
    labels: tuple[str, ...]  # (N,)
    n_kv_head: int
    notes: tuple[str, ...]
    window: str = ""  # which prompt tokens the grid covers, e.g. "last 20 of 27 prompt tokens"


@torch.no_grad()
def attention_grid(cfg: GridConfig) -> AttentionGrid:
    """Every head of every layer (SmolLM2: every third layer) over the last prompt tokens, one forward pass."""
    p, model, tok = _prompt_and_model(cfg)
    n_max = GRID_TOKENS["smollm2-135m" if cfg.model == "smollm2-135m" else "tiny-gpt"]
    ids, notes = list(p.ids), list(p.notes)
    if len(ids) > n_max:
        notes.append(f"The grid shows the last {n_max} of {len(ids)} prompt tokens (the model reads only those).")
        ids = ids[-n_max:]
    layers = SMOLLM_GRID_LAYERS if cfg.model == "smollm2-135m" else tuple(range(model.cfg.n_layer))
    if cfg.model == "smollm2-135m":
        notes.append(f"SmolLM2 has {model.cfg.n_layer} layers × {model.cfg.n_head} heads; the grid shows every third "
                     "layer.")
    want = True if cfg.model.startswith("tiny-gpt") else layers
    attn = model(torch.tensor([ids]), return_attn=want)[2]
    w = np.stack([attn[layer][0].float().numpy() for layer in layers])  # (L, H, N, N)
    return AttentionGrid(w, layers, tuple(_label(tok, i) for i in ids), model.cfg.n_kv_head, tuple(notes),
                         window_text(len(ids), p.n_tokens))


def model_shape(name: str) -> tuple[int, int]:
    """(layers, query heads) of a model the page offers."""
    model, _ = _model_and_tokenizer(name)
    return model.cfg.n_layer, model.cfg.n_head
