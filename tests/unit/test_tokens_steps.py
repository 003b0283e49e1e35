"""The tokens page's step-throughs: decoding token by token draws generate()'s tokens with the model's own
probabilities (checked against an uncached forward in float64), and the attention grid is every layer's softmax."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from viz_core.labs import tokens as explore
from viz_core.labs import tokens_steps as T
from viz_core.plots.tokens_walk import attention_grid_figure
from viz_core.errors import InputError
from viz_core.sampling import SamplingConfig, generate

PROMPT = "ROMEO: But soft, what light"


@pytest.fixture(scope="module")
def tiny():
    if "tiny-gpt" not in explore.tiny_models():
        pytest.skip("no tiny GPT checkpoint in assets/models/")
    return explore._model_and_tokenizer("tiny-gpt")


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.0, 0, 1.0), (0.9, 20, 0.9)])
def test_decode_steps_draw_generates_tokens_with_the_models_probabilities(tiny, temperature, top_k, top_p):
    model, tok = tiny
    r = T.decode_steps(T.DecodeConfig(prompt=PROMPT, temperature=temperature, top_k=top_k, top_p=top_p, n_new=12,
                                      seed=3))
    ids = explore.prepare_prompt(PROMPT, "tiny-gpt").ids
    want = generate(model, torch.tensor([ids]), 12, SamplingConfig(temperature, top_k, top_p), seed=3)[0].tolist()
    assert r.ids.tolist() == want
    # the probability of each drawn token at T = 1, from a fresh forward over the whole sequence (no cache)
    seq = torch.tensor([list(ids) + want])
    with torch.no_grad():
        logits = model(seq)[0][0].double()  # (N, V)
    for k, i in enumerate(want):
        p = torch.softmax(logits[len(ids) + k - 1], -1)
        assert r.p_chosen_t1[k] == pytest.approx(float(p[i]), abs=1e-4)
        assert r.cand_p_t1[k][0] == pytest.approx(float(p.max()), abs=1e-4)
        if temperature == 0.0:
            assert r.p_chosen[k] == 1.0 and r.kept[k] == 1
        else:
            assert 0 < r.p_chosen[k] <= 1 and 1 <= r.kept[k] <= top_k
    assert r.text == tok.decode(want)


def test_decode_steps_refuses_too_many_steps():
    with pytest.raises(InputError):
        T.decode_steps(T.DecodeConfig(prompt=PROMPT, n_new=T.MAX_DECODE_STEPS + 1))


def test_attention_grid_is_every_layers_causal_softmax(tiny):
    model, _ = tiny
    short = "To be, or not"  # 13 byte tokens: the grid and the single map see the same context
    g = T.attention_grid(T.GridConfig(prompt=short))
    n = len(g.labels)
    assert n == 13
    assert g.weights.shape == (model.cfg.n_layer, model.cfg.n_head, n, n)
    np.testing.assert_allclose(g.weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(g.weights, 1) == 0)
    one = explore.attention_map(explore.AttentionConfig(prompt=short, layer=2, head=1))
    np.testing.assert_allclose(g.weights[2, 1], one.weights, atol=1e-6)
    long = T.attention_grid(T.GridConfig(prompt=PROMPT))  # 27 tokens: only the last 20 are read
    assert len(long.labels) == T.GRID_TOKENS["tiny-gpt"] and any("last 20 of 27" in m for m in long.notes)


def test_attention_maps_state_the_window_they_cover(tiny):
    """The heatmap and the grid are computed on the prompt shown: their labels are its tokens (the last ones when
    the prompt is longer than the map), and the figure titles say which, e.g. 'last 64 of 90 prompt tokens'."""
    _, tok = tiny
    text = "ROMEO: But soft, what light through yonder window breaks? It is the east, and Juliet is the sun."
    full = [explore._label(tok, i) for i in tok.encode(text)]
    assert len(full) > explore.ATTN_MAX_TOKENS  # long enough that both maps show a window
    am = explore.attention_map(explore.AttentionConfig(prompt=text, layer=1, head=0))
    n = explore.ATTN_MAX_TOKENS
    assert am.labels == tuple(full[-n:]) and am.weights.shape == (n, n)
    assert am.window == f"last {n} of {len(full)} prompt tokens"
    assert am.window in am.title("tiny-gpt", 1, 0)
    g = T.attention_grid(T.GridConfig(prompt=text))
    m = T.GRID_TOKENS["tiny-gpt"]
    assert g.labels == tuple(full[-m:]) and g.window == f"last {m} of {len(full)} prompt tokens"
    fig = attention_grid_figure(g, "tiny-gpt")
    d = fig.to_dict()  # what Streamlit sends: the first view and one frame per query token
    titles = [a["text"] for lay in [d["layout"]] + [f["layout"] for f in d["frames"]] for a in lay["annotations"]
              if a["text"].startswith("<b>Query")]
    assert len(titles) == m + 1 and all(g.window in t for t in titles)
    short = "To be, or not"
    s = explore.attention_map(explore.AttentionConfig(prompt=short))
    assert s.window == f"all {len(s.labels)} prompt tokens" and s.labels == tuple(explore._label(tok, i)
                                                                                   for i in tok.encode(short))
