"""app.py's router and shared sidebar under AppTest (issue #12): pages run through app.py, the sidebar's
controls reach the page, the done-marker is drawn on every page end (also when a page stops with a
message), and values only a crafted client can send end in a message with the session still usable."""
from __future__ import annotations

import math
import re
from pathlib import Path

from tests.app.helpers import ROOT, assert_clean, done_marker, open_page, plotly_specs, texts
from tests.fuzz.harness import find, inject, uploads


def _caption(at) -> str:
    return next(str(c.value) for c in at.caption if "This page ran in" in str(c.value))


def test_pages_run_through_app_py_with_the_sidebar():
    at = open_page("pages/attention_lab.py")  # open_page asserts the sidebar and the done-marker
    assert_clean(at)
    assert [w.label for w in at.sidebar.selectbox] == ["Device", "Precision"]
    assert {w.label for w in at.sidebar.number_input} == {"Random seed", "CPU threads"}
    assert [w.label for w in at.sidebar.toggle] == ["Presentation mode"]
    assert "auto" in at.sidebar.selectbox[0].options and "cpu" in at.sidebar.selectbox[0].options


def test_sidebar_precision_and_seed_reach_the_page():
    at = open_page("pages/attention_lab.py")
    cap = next(str(c.value) for c in at.caption if str(c.value).startswith("Measured live"))
    assert "float32" in cap
    before = plotly_specs(at)
    at.sidebar.selectbox(key="dtype").set_value("bfloat16").run()
    assert_clean(at)
    cap = next(str(c.value) for c in at.caption if str(c.value).startswith("Measured live"))
    assert "bfloat16" in cap and at.session_state["dtype"] == "bfloat16"
    at.sidebar.number_input(key="seed").set_value(7).run()
    assert_clean(at)
    assert at.session_state["seed"] == 7
    assert plotly_specs(at) != before  # new random inputs from the new seed


def test_sidebar_threads_and_presentation_mode():
    at = open_page("pages/rope.py")
    at.sidebar.number_input(key="threads").set_value(1).run()
    assert "(1 CPU thread for torch)" in _caption(at)
    at.sidebar.toggle(key="presentation").set_value(True).run()
    assert_clean(at)
    assert any("html { font-size: 20px; }" in str(m.value) for m in at.markdown)  # the projector CSS
    assert done_marker(at)  # presentation mode hides the timing caption, not the marker
    at.sidebar.toggle(key="presentation").set_value(False).run()
    assert not any("html { font-size: 20px; }" in str(m.value) for m in at.markdown)


def test_sidebar_settings_survive_a_page_switch():
    at = open_page("pages/rope.py")
    at.sidebar.number_input(key="seed").set_value(11).run()
    at.switch_page("pages/kv_cache.py").run()
    assert_clean(at)
    assert at.sidebar.number_input(key="seed").value == 11 and done_marker(at)


def test_done_marker_after_a_page_stops_with_a_message():
    at = open_page("pages/attention_lab.py")
    at.get("multiselect")[0].set_value([]).run()
    assert not at.exception
    assert "Pick at least one variant." in texts(at)
    assert done_marker(at)  # errors.stop() ended the page, app.py still drew the marker
    assert not plotly_specs(at)  # and nothing after the stop was drawn


def test_done_marker_after_guard_refuses_an_upload():
    at = open_page("pages/vit_patching.py")
    inject("radio", find(at, "radio", "Image", 0), "Upload")
    at.run()
    at.get("file_uploader")[0].set_value(uploads()["20000x8 strip"])
    at.run()
    assert not at.exception
    assert any("aspect ratio of 2,500:1" in str(e.value) for e in at.error)
    assert done_marker(at)


def test_nan_and_inf_in_an_integer_number_input_end_in_a_message():
    at = open_page("pages/rope.py")
    for bad in (math.nan, math.inf, -math.inf):
        inject("number_input", find(at, "number_input", "First position of the walk", 0), bad)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("a number field received" in str(w.value) for w in at.warning)
        assert done_marker(at)
    # the session stays usable: the next real value works and shows no message
    find(at, "number_input", "First position of the walk", 0).set_value(1000).run()
    assert_clean(at)
    assert not at.warning and "Position m = 1,000" in str(plotly_specs(at)[0])


def test_nan_in_the_sidebar_seed_ends_in_a_message():
    at = open_page("pages/rope.py")
    inject("number_input", at.sidebar.number_input(key="seed"), math.nan)
    at.run()
    assert not at.exception and done_marker(at)
    assert any("a number field received nan" in str(w.value) for w in at.warning)


def test_unknown_options_end_in_a_message():
    at = open_page("pages/rope.py")
    inject("selectbox", find(at, "selectbox", "Head dimension", 0), "512; DROP TABLE")
    at.run()
    assert not at.exception and done_marker(at)
    assert any("does not offer" in str(w.value) for w in at.warning)
    inject("select_slider", find(at, "select_slider", "Context length (tokens)", 0), "10**100")
    at.run()
    assert not at.exception and done_marker(at)  # Streamlit itself falls back to the default here
    at.switch_page("pages/attention_lab.py").run()
    inject("multiselect", at.get("multiselect")[0], ["full", "no-such-variant"])
    at.run()
    assert not at.exception and done_marker(at)
    assert any("no-such-variant" in str(w.value) for w in at.warning)


def test_an_svg_upload_ends_in_a_message():
    at = open_page("pages/vit_patching.py")
    inject("radio", find(at, "radio", "Image", 0), "Upload")
    at.run()
    at.get("file_uploader")[0].set_value(uploads()["SVG (unknown extension)"])
    at.run()
    assert not at.exception and done_marker(at)
    assert any("file type it does not accept" in str(w.value) for w in at.warning)
    at.get("file_uploader")[0].set_value(uploads()["good PNG"])
    at.run()
    assert_clean(at)
    assert not at.warning


def test_pages_never_call_st_stop():
    """st.stop() drops everything the script sends after it, app.py's done-marker included."""
    offenders = [p.name for p in (ROOT / "pages").glob("*.py") if re.search(r"\bst\.stop\(", p.read_text())]
    assert not offenders, f"use ui.errors.stop() instead of st.stop() in {offenders}"
    assert Path(ROOT / "app.py").read_text().count('key="lab_page_done"') == 1
