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
