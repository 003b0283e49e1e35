"""Our byte-level BPE: exact round-trip on any text, and the same ids as the `tokenizers` library."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

from viz_core.models.data import load_corpus
from viz_core.tokenizer import BPETokenizer, bytes_to_unicode, pretokenize, train_bpe

TRICKY = ["Hello   world!! it's 2024 ñ 😀\n\n  x", " a  b\t\t c\u3000d", "I'll've'd 'S 'LL", "x²³ Ⅷ ٣٤ 12345",
          "  leading and trailing  ", "tab\tnew\nline\r\nend", "émigré naïve café", "中文字符和 emoji 👩‍👩‍👧",
          "a--b...c!?", "'s's 's"]


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_corpus("all")[:40_000]


@pytest.fixture(scope="module")
def trained(corpus) -> BPETokenizer:
    return train_bpe(corpus, 400)


def hf_like(tk: BPETokenizer, digits: bool = False) -> Tokenizer:
    t = Tokenizer(models.BPE(dict(tk.vocab), list(tk.merges)))
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl]) if digits else bl
    return t


def test_bytes_to_unicode_is_a_bijection():
    m = bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256 and m[32] == "Ġ" and m[ord("a")] == "a"


def test_training_records_merges_in_count_order(trained):
    steps = trained.merge_steps()
    assert len(steps) == 400 and steps[0].new_id == 256
    counts = [s.count for s in steps]
    assert counts[0] >= counts[50] >= counts[-1] > 1
    assert trained.vocab_size == 256 + 400


def test_fewer_merges_give_more_tokens(trained, corpus):
    text = corpus[:3000]
    n = [len(trained.encode(text, max_merges=m)) for m in (0, 50, 200, 400)]
    assert n[0] == len(text.encode()) and n[0] > n[1] > n[2] > n[3]


def test_equals_tokenizers_library_on_corpus(trained, corpus):
    ref = hf_like(trained)
    sample = corpus[-8000:]
    assert trained.encode(sample) == ref.encode(sample).ids
    for s in TRICKY:
        assert trained.encode(s) == ref.encode(s).ids, s


def test_pretokenizer_matches_tokenizers_byte_level():
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    b2u = bytes_to_unicode()
    for s in TRICKY:
        ours = ["".join(b2u[b] for b in p.encode()) for p in pretokenize(s)]
        assert ours == [p for p, _ in bl.pre_tokenize_str(s)], s


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_random_unicode(trained_small, text):
    assert trained_small.decode(trained_small.encode(text)) == text


@pytest.fixture(scope="module")
def trained_small() -> BPETokenizer:
    return train_bpe("the cat sat on the mat; the dog's 12 bones, naïve 😀 " * 20, 60)


def test_trace_shows_each_merge(trained):
    rows = trained.trace(" thereof")
    assert rows[0] == list("Ġthereof") and len(rows[-1]) < len(rows[0])
    assert all(len(a) == len(b) + 1 for a, b in zip(rows, rows[1:]))
    assert "".join(rows[-1]) == "Ġthereof"


# ------------------------------------------------------------------ training, checked two independent ways
def _library_trained_merges(text: str, n: int) -> list[tuple[str, str]]:
    """Merges learned by the `tokenizers` library's own BpeTrainer on the same text and pre-tokenizer."""
    import json

    from tokenizers import trainers

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tr = trainers.BpeTrainer(vocab_size=256 + n, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             min_frequency=0, show_progress=False, special_tokens=[])
    t.train_from_iterator([text], trainer=tr)
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in json.loads(t.to_str())["model"]["merges"]]


def test_training_equals_the_tokenizers_trainer(corpus):
    text = corpus[:20_000]
    ours = train_bpe(text, 200, ties="tokenizers")
    assert [tuple(m) for m in ours.merges] == _library_trained_merges(text, 200)
    # the default tie rule picks among the same maximal counts: same counts, same merges up to tie order
    default = train_bpe(text, 200)
    assert default.merge_counts[:20] == ours.merge_counts[:20]


def test_each_merge_is_the_most_frequent_pair_counted_from_scratch(corpus):
    """Replay the incremental trainer's merges on the word table, recounting every pair at every step."""
    from collections import Counter

    text = corpus[:8_000]
    tk = train_bpe(text, 120)
    words = {tuple(w): f for w, f in ((list(w.encode("utf-8")), f) for w, f in Counter(pretokenize(text)).items())}
    b2u = bytes_to_unicode()
    words = {tuple(b2u[b] for b in w): f for w, f in words.items()}
    for step, (pair, count) in enumerate(zip(tk.merges, tk.merge_counts)):
        counts = Counter()
        for w, f in words.items():
            for p in zip(w, w[1:]):
                counts[p] += f
        assert counts[tuple(pair)] == count == max(counts.values()), step
        a, b = pair
        new_words = {}
        for w, f in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = f
        words = new_words
