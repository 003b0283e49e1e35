"""The Low-bit page's kernel section: time vs bytes from the recorded run, the LUT sentence, claim #22."""
import pytest

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

pytestmark = pytest.mark.slow


def test_kernel_section_recorded_and_shape_switch():
    at = open_page("pages/low_bit.py")
    assert_clean(at)
    t = texts(at)
    assert "Claim #22" in t and "ns per lookup" in t and "SIMD shuffle" in t
    spec = [s for s in plotly_specs(at) if "time vs bytes" in str(s["layout"].get("title"))][0]
    assert "4096x4096" in spec["layout"]["title"]["text"] and len(spec["data"]) == 9  # 4 kernels × (median, fastest) + the roof
    at.selectbox(key="lowbit_kshape").set_value("11008x4096").run()
    assert_clean(at)
    spec = [s for s in plotly_specs(at) if "time vs bytes" in str(s["layout"].get("title"))][0]
    assert "11008x4096" in spec["layout"]["title"]["text"]


def test_quantise_run_is_estimated_and_runs_with_progress_and_stop():
    """Issue #12: the Quantise run at a large layer and 256 tokens took ~15 s behind a spinner. Its estimate is
    now shown, and above the 5 s threshold it runs with a progress bar and a Stop button, then its results."""
    from viz_core.labs import low_bit as qz
    from viz_core.measure import budget

    assert qz.estimate_s(qz.QuantConfig(layer_in=2048, layer_out=2048, batch_tokens=256)) > budget.PROGRESS_AFTER_S
    at = open_page("pages/low_bit.py")
    at.selectbox(key="lowbit_shape").set_value("2048 × 2048 (1B-class)")
    at.select_slider(key="lowbit_tokens").set_value(256).run()
    at.button(key="mq_low_bit_run_go").click().run(timeout=300)
    assert_clean(at)
    assert any(b.key == "mq_low_bit_run_long_stop" for b in at.button)
    bars = " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "estimated" in bars and "done in" in bars, bars
    assert "fp32 loss" in texts(at)


def test_live_kernel_timing_runs_within_the_budget():
    """'Measure live here' is offered at 4096x4096 (one kernel's copies at a time fit a request's budget) and
    shows the live measurement with every kernel; 11008x4096 offers the recorded run only."""
    at = open_page("pages/low_bit.py")
    at.toggle(key="lowbit_live").set_value(True).run(timeout=300)
    assert_clean(at)
    spec = [s for s in plotly_specs(at) if "time vs bytes" in str(s["layout"].get("title"))][0]
    assert "4096x4096" in spec["layout"]["title"]["text"] and len(spec["data"]) == 9
    assert "measured live" in texts(at).lower()
    at.selectbox(key="lowbit_kshape").set_value("11008x4096").run()
    assert_clean(at)
    assert "lowbit_live" not in [t.key for t in at.toggle] and "the recorded run is shown" in texts(at)
