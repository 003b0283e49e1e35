"""What the tokens & sampling page computes: BPE step by step, next-token distributions, sampled
continuations and attention maps of a real model (the tiny GPT trained here, or SmolLM2-135M when fetched).

Every entry point takes a frozen config and returns a dataclass of numpy arrays / plain values. Models are
loaded once per process (``functools.lru_cache``) and never mutated.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

from viz_core.errors import InputError
from viz_core.models import MODELS_DIR, smollm
from viz_core.models.data import load_corpus
from viz_core.models.gpt import load_tiny_gpt
from viz_core.models.smollm import load_smollm
from viz_core.sampling import SamplingConfig, describe, generate
from viz_core.tokenizer import pretokenize, train_bpe, unicode_to_bytes

MODELS = ("tiny-gpt", "smollm2-135m")  # plus any other assets/models/tiny-gpt*.pt (GQA/MQA variants, draft)
MAX_PROMPT_CHARS = 20_000  # longer prompts are cut (stated) before tokenizing
ATTN_MAX_TOKENS = 64  # the heatmap shows at most the last 64 prompt tokens
CONTEXT = {"tiny-gpt": 256, "smollm2-135m": 512}  # prompt tokens kept (tiny-gpt: its trained context)


# ---------------------------------------------------------------------------------------------- models
@functools.lru_cache(maxsize=4)
def _tiny(name: str = "tiny-gpt"):
    return load_tiny_gpt(name)


@functools.lru_cache(maxsize=1)
def _smol():
    # bfloat16 in memory (~270 MB, not ~540 MB in float32): the server fits a small cloud instance.
    return load_smollm(dtype=torch.bfloat16)


def smollm_model():
    """The loaded SmolLM2 (fetch must have happened; loads once per process, ~15 s)."""
    return _smol()


def smollm_status() -> str:
    """'loaded' | 'fetched' | 'absent'."""
    if _smol.cache_info().currsize:
        return "loaded"
    return "fetched" if smollm.is_fetched() else "absent"


# trained by viz_core.train
TINY_GPTS = ("tiny-gpt", "tiny-gpt-gqa", "tiny-gpt-mqa", "tiny-gpt-draft", "tiny-gpt-draft-distilled")


def tiny_models() -> list[str]:
    """Tiny GPT checkpoints (of ``TinyGPT`` format) present in assets/models, the main one first."""
    return [n for n in TINY_GPTS if (MODELS_DIR / f"{n}.pt").exists()]


def _context(name: str) -> int:
    return CONTEXT.get(name, CONTEXT["tiny-gpt"] if name.startswith("tiny-gpt") else 256)


def _model_and_tokenizer(name: str):
    if name.startswith("tiny-gpt") and name in tiny_models():
        model, tok, _ = _tiny(name)
        return model, tok
    if name == "smollm2-135m":
        sm = _smol()
        return sm.model, sm.tokenizer
    raise InputError(f"Unknown model {name!r}; choose one of {MODELS}.")


def stop_ids(name: str) -> tuple[int, ...]:
    """Token ids that end a continuation: SmolLM2's end-of-sequence id as its GGUF declares it; none for the
    tiny GPTs (byte-level, no special tokens)."""
    return (int(_smol().eos_id),) if name == "smollm2-135m" else ()


def _label(tok, i: int) -> str:
    if hasattr(tok, "token_str"):
        return tok.token_str(i)
    s = tok.token_text(i)
    s = s.replace(" ", "·").replace("\n", "\\n").replace("\t", "\\t")
    return s if s.isprintable() and s else f"<{i}>"


@dataclass(frozen=True)
class Prompt:
    ids: tuple[int, ...]
    notes: tuple[str, ...]
    n_tokens: int = 0  # tokens in the whole (cleaned) prompt, before any context cut


def window_text(n_shown: int, n_prompt: int) -> str:
    """What an attention map covers, for its title: 'all 13 prompt tokens' or 'last 64 of 300 prompt tokens'."""
    return f"all {n_shown} prompt tokens" if n_shown >= n_prompt else f"last {n_shown} of {n_prompt:,} prompt tokens"


def prepare_prompt(text: str, model: str) -> Prompt:
    """Clean and tokenize a prompt, stating every change: empty -> InputError; control characters dropped
    (newline and tab kept); over MAX_PROMPT_CHARS chars cut; over the context only the last tokens kept."""
    notes = []
    if text is None or not text.strip():
        raise InputError("The prompt is empty: type a few words for the model to continue.")
    if len(text) > MAX_PROMPT_CHARS:
        notes.append(f"The prompt has {len(text):,} characters; only the last {MAX_PROMPT_CHARS:,} are used.")
        text = text[-MAX_PROMPT_CHARS:]
    ctrl = [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    if ctrl:
        text = "".join(c for c in text if not (unicodedata.category(c) == "Cc" and c not in "\n\t"))
        notes.append(f"Removed {len(ctrl)} control character(s) (e.g. {ctrl[0]!r}).")
        if not text.strip():
            raise InputError("The prompt holds only control characters; type some text.")
    _, tok = _model_and_tokenizer(model)
    if hasattr(tok, "unencodable") and tok.unencodable(text):
        bad = tok.unencodable(text)
        notes.append(f"{len(bad)} character(s) have no token in this vocabulary and become <unk>: {bad[:5]}")
    ids = tok.encode(text)
    n_tokens = len(ids)
    ctx = _context(model)
    if len(ids) > ctx:
        notes.append(f"The prompt is {len(ids):,} tokens; the model sees only its last {ctx}.")
        ids = ids[-ctx:]
    return Prompt(tuple(ids), tuple(notes), n_tokens)


def _prompt_and_model(cfg) -> tuple[Prompt, object, object]:
    """(cleaned prompt, model, tokenizer) for a config with ``prompt`` and ``model``; the prompt is checked
    before the model loads, so bad input never waits for a model."""
    p = prepare_prompt(cfg.prompt, cfg.model)
    model, tok = _model_and_tokenizer(cfg.model)
    return p, model, tok


def _sampler(cfg) -> SamplingConfig:
    """The sampler of a config with ``temperature``, ``top_k`` and ``top_p``."""
    return SamplingConfig(cfg.temperature, cfg.top_k, cfg.top_p)


# ---------------------------------------------------------------------------------------------- BPE
@functools.lru_cache(maxsize=4)
def _trained_bpe(corpus_chars: int, max_merges: int):
    return train_bpe(load_corpus("train")[:corpus_chars], max_merges)


@functools.lru_cache(maxsize=1)
def smollm_tokenizer():
    """SmolLM2's tokenizer alone (no weights): from the loaded model, else from a JSON copy of the GGUF's
    tokenizer fields kept beside it (written on first use). Raises NotFetched when the GGUF is absent."""
    import json

    if _smol.cache_info().currsize:
        return _smol().tokenizer
    if not smollm.is_fetched():
        raise smollm.NotFetched("SmolLM2 is not downloaded; its real merges are not available.")
    side = smollm.cache_dir() / "tokenizer-fields.json"
    if side.exists():
        fields = json.loads(side.read_text(encoding="utf-8"))
    else:
        import gguf

        r = gguf.GGUFReader(str(smollm.gguf_path()))
        f = lambda k: r.fields[k].contents()  # noqa: E731
        fields = {"tokens": f("tokenizer.ggml.tokens"), "token_type": f("tokenizer.ggml.token_type"),
                  "merges": f("tokenizer.ggml.merges"), "pre": f("tokenizer.ggml.pre"),
                  "unk": f("tokenizer.ggml.unknown_token_id")}
        side.write_text(json.dumps(fields), encoding="utf-8")
    return smollm.tokenizer_from_fields(fields)


@dataclass(frozen=True)
class BPEConfig:
    text: str
    n_merges: int = 100
    corpus_chars: int = 20_000
    max_merges: int = 300
    source: str = "trained"  # trained | smollm2


@dataclass(frozen=True)
class BPEResult:
    tokens: tuple[str, ...]  # readable text of each token
    ids: tuple[int, ...]
    n_bytes: int
    round_trip: bool
    merges: tuple[tuple[str, str, int], ...]  # (left, right, count) of the merges applied, in order
    curve_merges: np.ndarray  # (K,) merge counts
    curve_tokens: np.ndarray  # (K,) tokens of the text after that many merges
    trace_word: str
    trace_rows: tuple[tuple[str, ...], ...]  # symbols of one word after each merge
    vocab_size: int
    notes: tuple[str, ...]


def _readable(sym: str) -> str:
    u2b = unicode_to_bytes()
    if not all(c in u2b for c in sym):
        return sym  # a special token
    raw = bytes(u2b[c] for c in sym)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # part of a multi-byte character: show its bytes
        return "⟨" + " ".join(f"{b:02X}" for b in raw) + "⟩"


def bpe_demo(cfg: BPEConfig) -> BPEResult:
    notes = []
    text = cfg.text
    if not text:
        raise InputError("Type some text to tokenize.")
    if len(text) > MAX_PROMPT_CHARS:
        notes.append(f"Only the first {MAX_PROMPT_CHARS:,} of {len(text):,} characters are tokenized.")
        text = text[:MAX_PROMPT_CHARS]
    if cfg.source == "smollm2":
        tk = smollm_tokenizer()
        n = len(tk.merges) if cfg.n_merges < 0 else min(cfg.n_merges, len(tk.merges))
        bad = tk.unencodable(text)
        if bad:
            notes.append(f"{len(bad)} character(s) have no byte token in SmolLM2's vocabulary and become "
                         f"<|endoftext|> (unk): {bad[:5]}; the round trip is then not exact.")
        steps = [(m[0], m[1], 0) for m in tk.merges[:min(n, 200)]]
        grid = np.unique(np.linspace(0, len(tk.merges), 13).astype(int))
    else:
        if not 0 <= cfg.n_merges <= cfg.max_merges:
            raise InputError(f"Choose between 0 and {cfg.max_merges} merges.")
        tk = _trained_bpe(cfg.corpus_chars, cfg.max_merges)
        n = cfg.n_merges
        steps = [(s.pair[0], s.pair[1], s.count) for s in tk.merge_steps()[:n]]
        grid = np.unique(np.linspace(0, cfg.max_merges, 16).astype(int))
    ids = tk.encode(text, max_merges=n)
    toks = tk.encode_tokens(text, max_merges=n)
    curve_text = text[:1500]
    curve = np.array([len(tk.encode_tokens(curve_text, max_merges=int(m))) for m in grid])
    words = sorted({w for w in pretokenize(text, tk.pretokenizer) if w.strip()}, key=len, reverse=True)
    word = words[0][:40] if words else text[:40]
    rows = tk.trace(word)
    rows = rows[: 1 + n] if cfg.source == "trained" else rows
    return BPEResult(tokens=tuple(_readable(t) for t in toks), ids=tuple(ids), n_bytes=len(text.encode("utf-8")),
                     round_trip=tk.decode(ids) == text, merges=tuple((_readable(a), _readable(b), c) for a, b, c in steps),
                     curve_merges=grid, curve_tokens=curve, trace_word=word,
                     trace_rows=tuple(tuple(_readable(s) for s in r) for r in rows),
                     vocab_size=256 + n if cfg.source == "trained" else tk.vocab_size, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------- next token
@dataclass(frozen=True)
class NextTokenConfig:
    prompt: str
    model: str = "tiny-gpt"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    n_show: int = 15


@dataclass(frozen=True)
class NextTokenResult:
    labels: tuple[str, ...]  # the n_show most likely tokens at T = 1
    p_t1: np.ndarray  # (n_show,)
    p_t: np.ndarray  # (n_show,) at the chosen temperature
    p_final: np.ndarray  # (n_show,) after top-k / top-p
    kept: int
    entropy_bits: float
    n_prompt_tokens: int
    notes: tuple[str, ...]


@torch.no_grad()
def next_token(cfg: NextTokenConfig) -> NextTokenResult:
    sc = _sampler(cfg)
    p, model, tok = _prompt_and_model(cfg)
    logits = model(torch.tensor([p.ids]))[0][0, -1]
    d = describe(logits, sc)
    order = np.argsort(-d.probs_t1, kind="stable")[: cfg.n_show]
    return NextTokenResult(tuple(_label(tok, int(i)) for i in order), d.probs_t1[order], d.probs_t[order],
                           d.probs_final[order], d.kept, d.entropy_bits, len(p.ids), p.notes)


@dataclass(frozen=True)
class ContinueConfig:
    prompt: str
    model: str = "tiny-gpt"
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 1.0
    n_new: int = 80
    n_samples: int = 2
    seed: int = 0


@dataclass(frozen=True)
class ContinueResult:
    texts: tuple[str, ...]
    n_new: tuple[int, ...]
    notes: tuple[str, ...]


@torch.no_grad()
def continuations(cfg: ContinueConfig) -> ContinueResult:
    if not 1 <= cfg.n_new <= 400:
        raise InputError("Generate between 1 and 400 new tokens.")
    sc = _sampler(cfg)
    p, model, tok = _prompt_and_model(cfg)
    stop = stop_ids(cfg.model)
    texts, counts = [], []
    for s in range(cfg.n_samples):
        new = generate(model, torch.tensor([p.ids]), cfg.n_new, sc, seed=cfg.seed + s, stop_ids=stop)[0].tolist()
        texts.append(tok.decode([i for i in new if i not in stop]))
        counts.append(len(new))
    return ContinueResult(tuple(texts), tuple(counts), p.notes)


# ---------------------------------------------------------------------------------------------- attention
@dataclass(frozen=True)
class AttentionConfig:
    prompt: str
    model: str = "tiny-gpt"
    layer: int = 0
    head: int = 0


@dataclass(frozen=True)
class AttentionResult:
    weights: np.ndarray  # (N, N) row = query token, column = key token; zero above the diagonal
    labels: tuple[str, ...]
    n_layer: int
    n_head: int
    n_kv_head: int
    notes: tuple[str, ...]
    window: str = ""  # which prompt tokens the map covers, e.g. "last 64 of 300 prompt tokens"

    def title(self, model: str, layer: int, head: int) -> str:
        return (f"{model}: layer {layer}, head {head} over the {self.window} "
                f"({self.n_head} query heads share {self.n_kv_head} KV heads)")


@torch.no_grad()
def attention_map(cfg: AttentionConfig) -> AttentionResult:
    p, model, tok = _prompt_and_model(cfg)
    mc = model.cfg
    if not (0 <= cfg.layer < mc.n_layer and 0 <= cfg.head < mc.n_head):
        raise InputError(f"This model has layers 0–{mc.n_layer - 1} and heads 0–{mc.n_head - 1}.")
    ids = list(p.ids)
    notes = list(p.notes)
    if len(ids) > ATTN_MAX_TOKENS:
        notes.append(f"The heatmap shows the last {ATTN_MAX_TOKENS} of {len(ids)} prompt tokens.")
        ids = ids[-ATTN_MAX_TOKENS:]
    want = True if cfg.model.startswith("tiny-gpt") else (cfg.layer,)
    _, _, attn = model(torch.tensor([ids]), return_attn=want)
    w = attn[cfg.layer][0, cfg.head].float().numpy()
    return AttentionResult(w, tuple(_label(tok, i) for i in ids), mc.n_layer, mc.n_head, mc.n_kv_head, tuple(notes),
                           window_text(len(ids), p.n_tokens))
