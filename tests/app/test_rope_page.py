"""The RoPE pages: the main controls change what is shown; the tiny GPT run feeds claim #16."""
from __future__ import annotations

import pytest

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts


def _by_label(elements, label):
    for e in elements:
        if e.label.startswith(label):
            return e
    raise AssertionError(f"no widget labelled {label!r}: {[e.label for e in elements]}")


def test_rope_page_controls_change_the_figures():
    at = open_page("pages/rope.py")
    assert_clean(at)
    specs = plotly_specs(at)
    assert len(specs) == 5  # rotation walk (pair + clocks), spectrum, heatmaps, profile, patches
    before = texts(at)
    assert "RoPE: diagonal deviation" in before

    _by_label(at.number_input, "First position of the walk").set_value(1000).run()
    assert_clean(at)
    walk = plotly_specs(at)[0]
    assert walk != specs[0] and len(walk["frames"]) == 48
    # one control: the slider's label, the numbers above the plot and both panels change together per frame
    slider = walk["layout"]["sliders"][0]
    for k in (0, 17, 47):
        frame = walk["frames"][k]
        assert slider["steps"][k]["label"] == f"Position m = {1000 + k:,}"
        assert slider["steps"][k]["args"][0] == [frame["name"]]
        assert any(a["text"].startswith(f"<b>Position m = {1000 + k:,}</b>") for a in frame["layout"]["annotations"])
        assert frame["traces"] == [2, 3, 6]  # trail and vector (left) and clock hands (right)

    _by_label(at.slider, "Head dimension d").set_value(8).run()
    assert_clean(at)
    walk8 = plotly_specs(at)[0]
    assert len(walk8["frames"]) == 48 and walk8 != walk

    _by_label(at.select_slider, "First position").set_value(10 ** 9).run()
    assert_clean(at)
    assert texts(at) != before
    assert "10⁹" in texts(at) or "1,000,000,000" in str(plotly_specs(at)[2])

    patches = plotly_specs(at)[4]
    _by_label(at.slider, "Patch row").set_value(2).run()
    assert_clean(at)
    moved = plotly_specs(at)[4]
    assert moved["data"][1]["z"] != patches["data"][1]["z"]  # the similarity map follows the chosen patch


def test_rope_page_bad_inputs_show_clear_messages():
    """The widgets offer only values the code accepts (an even head dimension, a base above 1); the code still
    refuses the others with a clear message, and one refused section leaves the other sections drawn."""
    from viz_core.labs import rope as rope_lab
    from viz_core.errors import InputError

    at = open_page("pages/rope.py")
    d = _by_label(at.slider, "Head dimension d")
    assert d.min == 2 and d.step == 2  # odd values cannot be chosen
    base = _by_label(at.number_input, "Base")
    assert base.min > 1  # every base <= 1 is refused, so the widget does not offer it
    with pytest.raises(InputError, match="must be even"):
        rope_lab.rotation(rope_lab.RotationConfig(head_dim=7))
    with pytest.raises(InputError, match="greater than 1"):
        rope_lab.rotation(rope_lab.RotationConfig(base=1.0))
    base.set_value(2.0).run()  # the smallest base offered: every pair turns fast, no error
    assert_clean(at)
    assert len(plotly_specs(at)) == 5
    _by_label(at.number_input, "Base").set_value(10000.0).run()
    _by_label(at.number_input, "First position of the walk").set_value(10 ** 12).run()  # float64 angles: fine
    assert_clean(at)
    assert "Position m = 1,000,000,000,000" in str(plotly_specs(at)[0]["layout"]["annotations"])


@pytest.mark.slow
def test_rope_scaling_page_runs_the_tiny_gpt_and_updates_the_claim():
    at = open_page("pages/rope_scaling.py")
    assert_clean(at)
    assert "Claim #16" in texts(at) and "analytic" in texts(at)
    n0 = len(plotly_specs(at))
    _by_label(at.select_slider, "Scale factor s").set_value(8.0).run()
    assert_clean(at)
    assert "8·L" in str(plotly_specs(at)[0]["layout"]["title"])
    buttons = [b for b in at.button if b.label.startswith("Run the tiny GPT")]
    if not buttons:
        pytest.skip("no tiny GPT checkpoint in assets/models/")
    _by_label(at.select_slider, "Text windows").set_value(2).run()
    buttons = [b for b in at.button if b.label.startswith("Run the tiny GPT")]
    buttons[0].click().run()
    assert_clean(at)
    assert len(plotly_specs(at)) == n0 + 1
    assert "tiny GPT (trained on" in texts(at)
