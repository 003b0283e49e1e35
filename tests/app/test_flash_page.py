"""The FlashAttention page: renders, the step slider moves the tile, controls change the trace, bad input is clear."""
from __future__ import annotations

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

PAGE = "pages/flash_attention.py"


def _slider(at, key):
    return next(s for s in at.slider if s.key == key)


def _tile_rects(spec):
    return [s for s in spec["layout"].get("shapes", []) if s.get("type") == "rect"]


def test_page_renders_and_step_moves_the_tile():
    at = open_page(PAGE)
    assert_clean(at)
    text = texts(at)
    assert "Max |tiled − reference|" in text and "Step 1/9" in text
    err = next(m for m in at.get("metric") if m.label.startswith("Max |tiled"))
    assert float(err.value) <= 1e-5
    before = plotly_specs(at)
    _slider(at, "fa_step").set_value(4).run()
    assert_clean(at)
    assert "Step 5/9" in texts(at)
    after = plotly_specs(at)
    assert _tile_rects(before[0]) != _tile_rects(after[0])  # Q/K/V highlights moved
    assert before[1]["data"][0]["z"] != after[1]["data"][0]["z"]  # score grid status changed


def test_controls_change_the_trace_and_causal_skips_tiles():
    at = open_page(PAGE)
    _slider(at, "fa_br").set_value(4).run()
    assert_clean(at)
    assert "Step 1/18" in texts(at)
    at.toggle(key="fa_causal").set_value(True).run()
    assert_clean(at)
    tiles = next(m for m in at.get("metric") if m.label == "Tiles computed")
    assert tiles.value == "12"  # 6 query blocks of 4 × 3 key blocks of 8, lower triangle only


def test_blocks_bigger_than_n_and_n_equal_1():
    at = open_page(PAGE)
    _slider(at, "fa_n").set_value(1).run()
    assert_clean(at)
    assert "clipped" in texts(at)
    assert "Step 1/1" in texts(at)
    _slider(at, "fa_n").set_value(5).run()
    _slider(at, "fa_d").set_value(3).run()
    assert_clean(at)


def test_recorded_memory_run_and_claims_are_shown():
    at = open_page(PAGE)
    text = texts(at)
    assert "Claim #4" in text and "Claim #1" in text
    if any(o.startswith("recorded") for o in at.selectbox(key="fa_src").options):
        assert "Recorded with" in text
        titles = [sp["layout"].get("title", {}).get("text", "") for sp in plotly_specs(at)]
        assert any(t.startswith("Peak extra memory") for t in titles)


def test_measure_choice_shows_button_without_running():
    at = open_page(PAGE)
    at.selectbox(key="fa_src").set_value("measure on this device now").run()
    assert_clean(at)
    assert any(b.key == "fa_measure" for b in at.button)
    assert "SDPA backends that run on this device" in texts(at) and "math" in texts(at)
