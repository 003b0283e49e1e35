"""Committed data subsets: shapes, labels, licensed text; the markdown flattening used to make them."""
from __future__ import annotations

import numpy as np

from viz_core.models.data import (FASHION_CLASSES, SHAKESPEARE_FILE, load_corpus, load_fashion_test_subset,
                                  markdown_play_to_text)


def test_fashion_subset():
    x, y = load_fashion_test_subset()
    assert x.shape == (2000, 28, 28) and x.dtype == np.uint8 and y.shape == (2000,)
    assert set(np.unique(y)) == set(range(len(FASHION_CLASSES)))
    assert 150 <= np.bincount(y).min() and np.bincount(y).max() <= 250  # roughly balanced


def test_corpus_is_small_plain_text_with_split():
    text = load_corpus()
    assert SHAKESPEARE_FILE.stat().st_size < 2_000_000
    assert text.startswith("Hamlet\n") and "HAMLET:\nTo be, or not to be" in text
    assert "**" not in text
    tr, va = load_corpus("train"), load_corpus("val")
    assert tr + va == text and 0.09 < len(va) / len(text) < 0.11


def test_markdown_flattening():
    md = "# Play\n\n## ACT I\n\n_Enter A_\n\n**A**  \nHello,  \nworld.\n\n\n\n**B & C**  \nNo."
    assert markdown_play_to_text(md) == "Play\n\nACT I\n\n[Enter A]\n\nA:\nHello,\nworld.\n\nB & C:\nNo.\n"
