"""Byte-level BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
byte-level variant of Radford et al. 2019, GPT-2), written out so every merge can be shown.

- Text is split into pre-tokens by the GPT-2 pattern
  ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`` (implemented here with
  ``unicodedata``, no regex engine needed); the "smollm" flavour first isolates every digit, as SmolLM2's
  tokenizer does.
- Each pre-token's UTF-8 bytes are shown as printable characters (GPT-2's ``bytes_to_unicode``: space -> 'Ġ').
- Encoding applies the merges by rank (lowest first) until none applies; ``trace`` records each step.
- ``train_bpe`` learns merges from text, counting pairs incrementally, and records each merge with its count.
Every text round-trips exactly: the base vocabulary holds all 256 bytes.
"""
from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from viz_core.errors import InputError

# Unicode White_Space property (what \s means in Oniguruma / Rust regex / Python's `regex`).
WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
                       + "\u2028\u2029\u202f\u205f\u3000")
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
PRETOKENIZERS = ("gpt2", "smollm")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (printable Latin-1 stays itself)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def _cls(ch: str) -> str:
    """'L' letter, 'N' number, 'S' whitespace, 'O' other."""
    if ch in WHITESPACE:
        return "S"
    c = unicodedata.category(ch)[0]
    return c if c in "LN" else "O"


def _split_gpt2(text: str) -> list[str]:
    out, i, n = [], 0, len(text)
    cls = [_cls(c) for c in text]
    while i < n:
        if text[i] == "'":
            hit = next((c for c in CONTRACTIONS if text.startswith(c, i)), None)
            if hit:
                out.append(hit)
                i += len(hit)
                continue
        c = cls[i]
        j = i
        if text[i] == " " and i + 1 < n and cls[i + 1] != "S":
            j, c = i + 1, cls[i + 1]  # ' ?X+' takes the one leading space
        if c in "LN":
            k = j
            while k < n and cls[k] == c:
                k += 1
            out.append(text[i:k])
            i = k
            continue
        if c == "O":
            k = j
            while k < n and cls[k] == "O":
                k += 1
            out.append(text[i:k])
            i = k
            continue
        # whitespace run: \s+(?!\S) leaves the last space to prefix the next word; else \s+
        k = i
        while k < n and cls[k] == "S":
            k += 1
        if k < n and k - i > 1:
            k -= 1
        out.append(text[i:k])
        i = k
    return out


def pretokenize(text: str, kind: str = "gpt2") -> list[str]:
    """Split text into pre-tokens (strings). kind: 'gpt2' or 'smollm' (every \\p{N} character isolated first)."""
    if kind == "gpt2":
        return _split_gpt2(text)
    if kind == "smollm":
        out, buf = [], []
        for ch in text:
            if unicodedata.category(ch)[0] == "N":
                if buf:
                    out += _split_gpt2("".join(buf))
                    buf = []
                out.append(ch)
            else:
                buf.append(ch)
        if buf:
            out += _split_gpt2("".join(buf))
        return out
    raise InputError(f"Unknown pre-tokenizer {kind!r}; choose one of {PRETOKENIZERS}.")


def to_byte_symbols(piece: str) -> list[str]:
    b2u = bytes_to_unicode()
    return [b2u[b] for b in piece.encode("utf-8")]


def merge_pair(syms: list, pair: tuple) -> list:
    """Replace every non-overlapping occurrence of ``pair`` (left to right) by its concatenation."""
    merged, i = [], 0
    while i < len(syms):
        if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
            merged.append(syms[i] + syms[i + 1])
            i += 2
        else:
            merged.append(syms[i])
            i += 1
    return merged


@dataclass(frozen=True)
class MergeStep:
    pair: tuple[str, str]
    new_id: int
    count: int  # pair frequency in the training text when it was merged (0 when loaded)


@dataclass
class BPETokenizer:
    merges: list[tuple[str, str]]
    vocab: dict[str, int]  # byte-unicode token string -> id
    pretokenizer: str = "gpt2"
    special_tokens: dict[str, int] = field(default_factory=dict)
    merge_counts: list[int] = field(default_factory=list)  # from training, for the merge trace
    unk_id: int | None = None  # id emitted for a byte the vocabulary lacks (None: such text is an InputError)

    def __post_init__(self):
        self.ranks = {p: i for i, p in enumerate(self.merges)}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.special_tokens.items()})
        # bytes with no token (SmolLM2 lacks some control bytes and bytes that never occur in UTF-8)
        self.missing_bytes = frozenset(b for b, c in bytes_to_unicode().items() if c not in self.vocab)
        self._cache: dict[tuple[str, int], tuple[str, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    # ------------------------------------------------------------------ encoding
    def _bpe(self, piece: str, max_merges: int | None = None) -> tuple[str, ...]:
        key = (piece, -1 if max_merges is None else max_merges)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        limit = len(self.merges) if max_merges is None else max_merges
        syms = to_byte_symbols(piece)
        while len(syms) > 1:
            best, best_rank = None, limit
            for a, b in zip(syms, syms[1:]):
                r = self.ranks.get((a, b))
                if r is not None and r < best_rank:
                    best, best_rank = (a, b), r
            if best is None:
                break
            syms = merge_pair(syms, best)
        out = tuple(syms)
        if len(self._cache) < 200_000:
            self._cache[key] = out
        return out

    def _split_special(self, text: str) -> list[tuple[str, bool]]:
        if not self.special_tokens:
            return [(text, False)]
        parts = [(text, False)]
        for sp in sorted(self.special_tokens, key=len, reverse=True):
            nxt = []
            for s, is_sp in parts:
                if is_sp:
                    nxt.append((s, True))
                    continue
                chunks = s.split(sp)
                for k, ch in enumerate(chunks):
                    if ch:
                        nxt.append((ch, False))
                    if k < len(chunks) - 1:
                        nxt.append((sp, True))
            parts = nxt
        return parts

    def encode_tokens(self, text: str, *, max_merges: int | None = None, allow_special: bool = False) -> list[str]:
        """Token strings (byte-unicode form). ``max_merges`` applies only the first n merges."""
        out: list[str] = []
        for chunk, is_sp in (self._split_special(text) if allow_special else [(text, False)]):
            if is_sp:
                out.append(chunk)
                continue
            for piece in pretokenize(chunk, self.pretokenizer):
                out.extend(self._bpe(piece, max_merges))
        return out

    def encode(self, text: str, *, max_merges: int | None = None, allow_special: bool = False) -> list[int]:
        toks = self.encode_tokens(text, max_merges=max_merges, allow_special=allow_special)
        v, sp = self.vocab, self.special_tokens
        out = []
        for t in toks:
            i = sp.get(t) if allow_special else None
            if i is None:
                i = v.get(t, self.unk_id)
            if i is None:
                raise InputError(f"The character bytes {t!r} have no token in this vocabulary.")
            out.append(i)
        return out

    def unencodable(self, text: str) -> list[str]:
        """Characters of ``text`` whose bytes this vocabulary cannot represent (they would become unk)."""
        if not self.missing_bytes:
            return []
        return sorted({ch for ch in text if any(b in self.missing_bytes for b in ch.encode("utf-8"))})

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids) -> bytes:
        u2b = unicode_to_bytes()
        out = bytearray()
        for i in ids:
            t = self.id_to_token.get(int(i))
            if t is None:
                raise InputError(f"Token id {i} is not in this vocabulary of {self.vocab_size}.")
            if t in self.special_tokens:
                out += t.encode("utf-8")
            else:
                out += bytes(u2b[c] for c in t)
        return bytes(out)

    def token_text(self, i: int) -> str:
        """Readable form of one token: its bytes decoded (replacement char for partial UTF-8)."""
        return self.decode([i])

    # ------------------------------------------------------------------ trace
    def trace(self, piece: str, max_steps: int = 64) -> list[list[str]]:
        """The symbols of one pre-token after each merge applied (first row: raw bytes)."""
        syms = to_byte_symbols(piece)
        rows = [syms]
        while len(syms) > 1 and len(rows) <= max_steps:
            cand = [(self.ranks.get((a, b)), (a, b)) for a, b in zip(syms, syms[1:])]
            cand = [c for c in cand if c[0] is not None]
            if not cand:
                break
            best = min(cand)[1]
            syms = merge_pair(syms, best)
            rows.append(syms)
        return rows

    def merge_steps(self) -> list[MergeStep]:
        counts = self.merge_counts or [0] * len(self.merges)
        return [MergeStep(p, self.vocab[p[0] + p[1]], c) for p, c in zip(self.merges, counts)]


def train_bpe(text: str, n_merges: int, pretokenizer: str = "gpt2", ties: str = "first_seen") -> BPETokenizer:
    """Learn ``n_merges`` merges from ``text``: repeatedly merge the most frequent adjacent pair, counting pairs
    incrementally. Ids: 0-255 bytes (byte order), then merges. Ties between equally frequent pairs:
    ``"first_seen"`` takes the pair seen first in the text; ``"tokenizers"`` takes the smallest pair by the
    ids the `tokenizers` library's BpeTrainer gives (symbols sorted by code point, then merges in order), so
    the merges equal that trainer's."""
    if n_merges < 0:
        raise InputError("The number of merges must be ≥ 0.")
    if ties not in ("first_seen", "tokenizers"):
        raise InputError("Ties are broken by 'first_seen' or 'tokenizers'.")
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    rank = {c: i for i, c in enumerate(sorted(vocab))}  # the library's symbol ids, for ties="tokenizers"
    word_freq = Counter(pretokenize(text, pretokenizer))
    words = [to_byte_symbols(w) for w in word_freq]
    freqs = list(word_freq.values())
    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    first_seen: dict[tuple[str, str], int] = {}
    for wi, syms in enumerate(words):
        for p in zip(syms, syms[1:]):
            pair_counts[p] += freqs[wi]
            where[p].add(wi)
            first_seen.setdefault(p, len(first_seen))
    merges, counts = [], []
    for _ in range(n_merges):
        if not pair_counts:
            break
        if ties == "first_seen":
            best = max(pair_counts.items(), key=lambda kv: (kv[1], -first_seen[kv[0]]))
        else:
            best = max(pair_counts.items(), key=lambda kv: (kv[1], -rank[kv[0][0]], -rank[kv[0][1]]))
        pair, cnt = best
        if cnt < 1:
            break
        new = pair[0] + pair[1]
        merges.append(pair)
        counts.append(cnt)
        if new not in vocab:
            vocab[new] = len(vocab)
        rank.setdefault(new, len(rank))
        for wi in list(where[pair]):
            syms, f = words[wi], freqs[wi]
            for p in zip(syms, syms[1:]):
                pair_counts[p] -= f
                if pair_counts[p] <= 0:
                    del pair_counts[p]
            merged, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(syms[i])
                    i += 1
            words[wi] = merged
            for p in zip(merged, merged[1:]):
                pair_counts[p] += f
                where[p].add(wi)
                first_seen.setdefault(p, len(first_seen))
        where.pop(pair, None)
    return BPETokenizer(merges=merges, vocab=vocab, pretokenizer=pretokenizer, merge_counts=counts)
