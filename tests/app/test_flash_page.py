"""The FlashAttention page: renders, the step slider moves the tile, controls change the trace, bad input is clear."""
from __future__ import annotations

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

PAGE = "pages/flash_attention.py"


def _slider(at, key):
    return next(s for s in at.slider if s.key == key)


def _tile_rects(spec):
    return [s for s in spec["layout"].get("shapes", []) if s.get("type") == "rect"]


def _walk(at):
    """The tile-walk figure: the one plotly chart with animation frames."""
    return next(sp for sp in plotly_specs(at) if sp.get("frames"))


def _step_text(frame) -> str:
    return next(a["text"] for a in frame["layout"]["annotations"] if a["text"].startswith("<b>Step"))


def test_page_renders_and_every_step_is_a_browser_frame():
    at = open_page(PAGE)
    assert_clean(at)
    text = texts(at)
    assert "Max |tiled − reference|" in text
    err = next(m for m in at.get("metric") if m.label.startswith("Max |tiled"))
    assert float(err.value) <= 1e-5
    walk = _walk(at)
    frames = walk["frames"]
    assert len(frames) == 9  # N=24, Br=Bc=8: 3 × 3 tiles
    slider = walk["layout"]["sliders"][0]
    # the slider's label and the text of the same frame say the same step
    for k in (0, 4, 8):
        assert slider["steps"][k]["label"] == f"Step {k + 1} of 9"
        assert slider["steps"][k]["args"][0] == [frames[k]["name"]]
        assert _step_text(frames[k]).startswith(f"<b>Step {k + 1} of 9</b>")
    # step 5 (k=4) is tile (1, 1): the highlighted rectangle on the score grid covers rows/keys 8..15
    q_rect = [s for s in frames[4]["layout"]["shapes"] if s["type"] == "rect" and s["line"]["color"] == "#000"]
    assert len(q_rect) == 1 and (q_rect[0]["x0"], q_rect[0]["y0"]) == (7.5, 7.5)
    assert "query block 1 (rows 8–15) × key block 1 (keys 8–15)" in _step_text(frames[4])
    # play controls: three speeds and a pause
    labels = [b["label"] for b in walk["layout"]["updatemenus"][0]["buttons"]]
    assert len([b for b in labels if b.startswith("▶")]) == 3 and "⏸ pause" in labels


def test_controls_change_the_trace_and_causal_skips_tiles():
    at = open_page(PAGE)
    _slider(at, "fa_br").set_value(4).run()
    assert_clean(at)
    assert len(_walk(at)["frames"]) == 18
    at.toggle(key="fa_causal").set_value(True).run()
    assert_clean(at)
    tiles = next(m for m in at.get("metric") if m.label == "Tiles computed")
    assert tiles.value == "12"  # 6 query blocks of 4 × 3 key blocks of 8, lower triangle only


def test_blocks_bigger_than_n_and_n_equal_1():
    at = open_page(PAGE)
    _slider(at, "fa_n").set_value(1).run()
    assert_clean(at)
    assert "clipped" in texts(at)
    assert _walk(at)["layout"]["sliders"][0]["steps"][0]["label"] == "Step 1 of 1"
    _slider(at, "fa_n").set_value(5).run()
    _slider(at, "fa_d").set_value(3).run()
    assert_clean(at)


def test_too_many_tiles_ask_for_larger_blocks():
    at = open_page(PAGE)
    _slider(at, "fa_n").set_value(64).run()
    _slider(at, "fa_br").set_value(2).run()
    _slider(at, "fa_bc").set_value(2).run()  # 32 × 32 = 1024 tiles
    assert not at.exception
    assert "too many to step through in the browser" in texts(at)
    assert not any(sp.get("frames") for sp in plotly_specs(at))


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


def test_measure_now_is_estimated_first_and_runs_with_progress_and_stop():
    """Issue #12: 'Measure now' ran one to two minutes behind a spinner. Now the estimate is shown before the
    button, and the run (above the 5 s threshold here) has a progress bar and a Stop button, then its charts."""
    from viz_core.labs import flash as flash_lab
    from viz_core.measure import budget

    at = open_page(PAGE)
    at.selectbox(key="fa_src").set_value("measure on this device now").run()
    assert "Estimated **" in texts(at)
    mcfg = flash_lab.MeasureConfig(ns=(256, 1024, 2048), device="cpu", methods=flash_lab.default_methods("cpu",
                                                                                                       "float32"))
    assert flash_lab.estimate_measure_s(mcfg) > budget.PROGRESS_AFTER_S
    n0 = len(plotly_specs(at))
    next(b for b in at.button if b.key == "fa_measure").click().run(timeout=600)
    assert_clean(at)
    assert any(b.key == "fa_measure_run_stop" for b in at.button)
    bars = " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "estimated" in bars and "done in" in bars, bars
    assert len(plotly_specs(at)) >= n0 + 3  # memory, time and throughput, measured now
