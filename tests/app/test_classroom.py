"""Deep links, presentation mode, lesson order and exports, through app.py under AppTest (issue #11)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.helpers import assert_clean
from tests.app.router import figure_specs, open_with_query, through_app
from ui import export, params, registry
from viz_core.plots import theme


@pytest.fixture(autouse=True)
def _router():
    with through_app():
        yield


def _fonts(spec: dict) -> list[float]:
    """Every explicit font size in a figure's JSON (layout and traces)."""
    out = []

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "size" and key.endswith("font") and isinstance(v, (int, float)):
                    out.append(v)
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)

    walk(spec)
    return out


def test_deep_link_restores_controls_and_settings():
    at = open_with_query("pages/rope.py", {"head_dimension_d": "32", "rope_patch": "14", "seed": "7",
                                           "dtype": "bfloat16"})
    assert_clean(at)
    assert at.slider(key="url_head_dimension_d").value == 32
    assert at.select_slider(key="rope_patch").value == 14
    assert at.number_input(key="seed").value == 7 and at.selectbox(key="dtype").value == "bfloat16"
    assert not at.warning, [w.value for w in at.warning]
    # The URL keeps the non-default values (and nothing else) so the link can be shared as it is.
    assert dict(at.query_params) == {"head_dimension_d": "32", "rope_patch": "14", "seed": "7", "dtype": "bfloat16"}


def test_url_follows_a_control_and_drops_defaults():
    at = open_with_query("pages/rope.py", {})
    assert "head_dimension_d" not in at.query_params
    at.slider(key="url_head_dimension_d").set_value(24).run()
    assert at.query_params["head_dimension_d"] == "24"
    at.slider(key="url_head_dimension_d").set_value(16).run()  # back to the default: gone from the URL
    assert "head_dimension_d" not in at.query_params


@pytest.mark.parametrize("name,raw,expect", [
    ("head_dimension_d", "sixteen", 16), ("head_dimension_d", "1e9", 256), ("head_dimension_d", "nan", 16),
    ("head_dimension_d", "9" * 10_000, 16), ("head_dimension_d", "-inf", 2), ("head_dimension_d", "9" * 500, 256)])
def test_hostile_number_falls_back_or_clamps_with_a_note(name, raw, expect):
    at = open_with_query("pages/rope.py", {name: raw})
    assert not at.exception
    assert at.slider(key="url_head_dimension_d").value == expect
    assert any("Link value head_dimension_d=" in w.value for w in at.warning)


def test_hostile_option_text_and_bool():
    at = open_with_query("pages/kv_cache.py", {"kv_temp": "<script>", "kv_prompt": "x" * 10_000, "present": "maybe",
                                               "device": "tpu"})
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "kv_temp" in notes and "present" in notes and "device" in notes
    assert at.select_slider(key="kv_temp").value == 0.0
    assert at.toggle(key="presentation").value is False


def test_presentation_link_enlarges_every_chart_font():
    at = open_with_query("pages/flash_attention.py", {"present": "1"})
    assert_clean(at)
    specs = figure_specs(at)
    assert specs
    for spec in specs:
        sizes = _fonts(spec)
        assert sizes and min(sizes) >= theme.PRESENT_MIN_FONT, (spec["layout"].get("title"), sorted(sizes)[:5])
    assert not any("ran in" in c.value for c in at.caption), "footer timings are developer detail"
    plain = open_with_query("pages/flash_attention.py", {})
    assert min(s["layout"]["font"]["size"] for s in figure_specs(plain)) < theme.PRESENT_MIN_FONT


def test_lesson_order_is_derived_from_one_list_and_covers_every_page():
    stems = {Path(p.path).stem for p in registry.discover_pages()}
    assert stems <= set(registry.LESSON) | set(registry.NOT_IN_LESSON), "add new pages to ui.registry.LESSON"
    order = [Path(p.path).stem for p in registry.lesson()]
    assert order[0] == "tokens_sampling" and order[-1] == "benchmarks"
    assert order.index("kv_cache") < order.index("paged_attention") < order.index("speculative_decoding")
    prev, nxt = registry.lesson_neighbours(order[1])
    assert Path(prev.path).stem == order[0] and Path(nxt.path).stem == order[2]
    assert registry.lesson_neighbours(order[-1])[1] is None


def test_next_button_switches_to_the_next_lesson_page():
    at = open_with_query("pages/vit_patching.py", {})
    at.button(key="lesson_next").click().run()
    order = [p.path for p in registry.lesson()]
    want = order[order.index("pages/vit_patching.py") + 1]
    assert registry.parse_header(registry.ROOT / want).title in [t.value for t in at.title][0] or \
        at.button(key="lesson_prev").label.endswith("ViT patching")


def test_page_results_export_as_json_with_provenance():
    doc = export.document("rope", [("viz_core.x.f", ({"a": 1},), {}, {"t": [1.0, float("nan")]})],
                          {"device": "cpu", "dtype": "float32", "threads": 1}, {"seed": "3"})
    text = json.dumps(doc, allow_nan=False)
    back = json.loads(text)
    assert back["settings"]["threads"] == 1 and back["libraries"]["numpy"] and back["exported_at_utc"]
    assert back["results"][0]["result"] == {"t": [1.0, None]}


def test_every_table_offers_csv():
    at = open_with_query("pages/kv_cache.py", {})
    assert_clean(at)
    assert len(at.get("dataframe")) >= 1
    assert len(at.get("download_button")) >= len(at.get("dataframe")) + 1  # each table's CSV + the page JSON


def test_encode_and_parse_round_trip():
    assert params.encode(True) == "1" and params.encode(0.5) == "0.5" and params.encode(4096.0) == "4096"
    assert params.encode([1, "a"]) == "1,a"
    assert params._parse_number("1e3", int) == 1000 and params._parse_number("nan", float) is None
    assert params._parse_number("-1e400", float) == float("-inf") and params._parse_number("5e18", int) == float("inf")
    assert params._match_option("4096", [1024, 4096], None) == (True, 4096)
    assert params._match_option("BF16", ["float32"], None) == (False, None)
