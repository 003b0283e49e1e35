"""The state-space (Mamba) page: renders at defaults, its main controls change what is shown, the live
measurements run on their buttons, and bad input gets a clear message."""
from __future__ import annotations

import pytest

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

PAGE = "pages/ssm.py"


def _slider(at, key):
    return next(s for s in at.slider if s.key == key)


def _messages(at):
    return [*at.warning, *at.error, *at.info]


def _spec(at, title_start):
    return next(s for s in plotly_specs(at) if s["layout"]["title"]["text"].startswith(title_start))


def test_renders_and_channel_layer_text_change_the_state():
    at = open_page(PAGE)
    assert_clean(at)
    t = texts(at)
    assert "The recurrence on your text" in t and "tiny Mamba" in t and "tiny GPT" in t
    z0 = _spec(at, "State h over time")["data"][0]["z"]
    _slider(at, "ssm_channel").set_value(5).run()
    assert_clean(at)
    z1 = _spec(at, "State h over time")["data"][0]["z"]
    assert z1 != z0
    d0 = _spec(at, "Δ per byte")["data"][0]["y"]
    _slider(at, "ssm_layer").set_value(3).run()
    assert _spec(at, "Δ per byte")["data"][0]["y"] != d0
    at.text_area(key="ssm_text").set_value("To be, or not to be").run()
    assert_clean(at)
    assert len(_spec(at, "State h over time")["data"][0]["x"]) == len("To be, or not to be")


def test_bad_inputs_are_clear_messages():
    at = open_page(PAGE)
    at.text_area(key="ssm_text").set_value("").run()
    assert not at.exception
    assert any("empty" in w.value for w in _messages(at))
    at.text_area(key="ssm_text").set_value("x" * 100_000).run()
    assert not at.exception
    assert any("100,000 bytes" in w.value for w in _messages(at))
    at.text_input(key="ssm_prompt").set_value("y" * 100_000).run()
    assert not at.exception
    assert any("100,000 bytes" in w.value and "prompt" in w.value for w in _messages(at))
    at.select_slider(key="ssm_ctx").set_value(65536).run()  # estimated beyond the time budget before any run
    at.button(key="ssm_dec").click().run()
    assert not at.exception
    assert any("65,536" in w.value for w in _messages(at))


def test_prompt_changes_both_continuations():
    at = open_page(PAGE)
    codes = [c.value for c in at.code if not c.value.startswith("/")]  # the sidebar's link to this view is code too
    at.text_input(key="ssm_prompt").set_value("ROMEO:\n").run()
    assert_clean(at)
    new = [c.value for c in at.code if not c.value.startswith("/")]
    assert len(new) == 2 and all(c.startswith("ROMEO:\n") for c in new) and new != codes


@pytest.mark.slow
def test_buttons_measure_live_and_claim_has_a_verdict():
    at = open_page(PAGE)
    at.multiselect(key="ssm_lengths").set_value([64, 256]).run()
    at.button(key="ssm_time").click().run()
    assert_clean(at)
    assert "Prefill crossover (measured)" in texts(at)
    at.select_slider(key="ssm_ctx").set_value(1024).run()
    at.button(key="ssm_dec").click().run()
    assert_clean(at)
    t = texts(at)
    assert "Claim #21" in t and "Verdict:" in t and "Held-out loss by position" in str(plotly_specs(at))
