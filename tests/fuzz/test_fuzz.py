"""The CI-sized subset of the hostile-input suite (issue #12). The full run is ``scripts/fuzz.py``.

- every page: all its widgets at once at their minimum / first option, and all at once crafted (NaN/±inf
  numbers, options no widget offers, 100,000-character text);
- the vision page: every hostile upload;
- hypothesis: random valid combinations on a few pages.
Each case must end without a traceback, with app.py's done-marker, and with a peak-RSS growth inside the
per-request budget.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tests.fuzz import harness as H
from ui import registry

PAGES = registry.discover_pages()


def _check(rec: H.Record) -> None:
    assert rec.outcome in ("ok", "message"), (rec.description, rec.outcome, rec.detail)
    assert rec.rss_growth_mib <= H.budget_mib(), (rec.description, rec.rss_growth_mib)


def _min_value(kind: str, node):
    if kind == "slider":
        return node.min
    if kind == "number_input":
        return node.min if node.proto.has_min else 0
    if kind in ("select_slider", "selectbox", "radio"):
        return H._options(node)[0]
    if kind == "multiselect":
        return H._options(node)[:1]
    if kind in ("text_input", "text_area"):
        return ""
    if kind in ("toggle", "checkbox"):
        return False
    return None  # buttons stay unpressed


def _crafted_value(kind: str, node):
    if kind in ("slider", "number_input"):
        return math.nan
    if kind in ("select_slider", "selectbox", "radio"):
        return H.UNKNOWN
    if kind == "multiselect":
        return [H.UNKNOWN]
    if kind in ("text_input", "text_area"):
        return H.TEXTS["100k chars"]
    return None


@pytest.fixture(scope="module")
def sessions():
    return {}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path or "home")
def test_every_widget_at_its_minimum_and_crafted(page):
    at = H.open_app(page.path, 300)
    ws = H.widgets(at)
    lows = [(k, lab, nth, _min_value(k, node)) for k, lab, nth, node in ws]
    _check(H.run_case(at, H.Case(page.path, "single", "all at minimum", [v for v in lows if v[3] is not None])))
    at = H.open_app(page.path, 300)
    bad = [(k, lab, nth, _crafted_value(k, node)) for k, lab, nth, node in H.widgets(at)]
    rec = H.run_case(at, H.Case(page.path, "crafted", "all crafted", [v for v in bad if v[3] is not None]))
    _check(rec)
    if any(v[0] in ("number_input", "selectbox", "radio", "multiselect") for v in bad):
        assert any("does not offer" in m for m in rec.messages), rec.messages


EXPECTED = {  # upload -> words its message must contain (None: must load)
    "zero bytes": "empty", "random bytes": "not an image", "truncated PNG": "damaged or truncated",
    "text named .png": "not an image", "1x1": "at least 8 pixels", "decompression bomb": "40 megapixels",
    "bomb under Pillow's limit": "40 megapixels", "20000x8 strip": "aspect ratio",
    "float TIFF with inf/NaN": "not finite", "float TIFF all NaN": "infinite or NaN",
    "SVG (unknown extension)": "does not accept", "good PNG": None, "CMYK": "CMYK image converted",
    "animated GIF": "first frame", "16-bit grey 6000x1000": "high bit depth", "1-bit": None,
}


def test_hostile_uploads_on_the_vit_patching_page():
    recs = list(H.run_group("pages/vit_patching.py", H.upload_cases("pages/vit_patching.py"), 300))
    assert len(recs) == len(H.uploads())
    for rec in recs:
        _check(rec)
        name = rec.description.removeprefix("upload: ")
        want = EXPECTED.get(name)
        if want:
            shown = " ".join(rec.messages) + " " + rec.detail
            if rec.outcome == "ok":  # notes are info boxes: read them from the page's text instead
                continue
            assert want in shown, (name, rec.messages)


def _notes_after_upload(name: str) -> str:
    at = H.open_app("pages/vit_patching.py", 300)
    rec = H.run_case(at, H.upload_cases("pages/vit_patching.py", [name])[0])
    _check(rec)
    from tests.app.helpers import texts

    return texts(at)


def test_float_tiff_with_inf_shows_a_warning_and_not_a_black_image():
    text = _notes_after_upload("float TIFF with inf/NaN")
    assert "are not finite (+inf:" in text


def _strategy(kind: str, node):
    if kind == "slider" and isinstance(node.min, int) and isinstance(node.max, int):
        step = int(node.step or 1)
        return hs.integers(0, (node.max - node.min) // step).map(lambda i: node.min + i * step)
    if kind in ("select_slider", "selectbox", "radio"):
        return hs.sampled_from(H._options(node))
    if kind in ("toggle", "checkbox"):
        return hs.booleans()
    if kind == "number_input" and node.proto.has_min and node.proto.has_max:
        return hs.integers(int(node.min), int(min(node.max, node.min + 10**6)))
    return None


@pytest.mark.parametrize("path", ["pages/paged_attention.py", "pages/flash_attention.py", "pages/rope_scaling.py"])
def test_random_valid_combinations(path):
    at = H.open_app(path, 300)
    ws = [(k, lab, nth, node) for k, lab, nth, node in H.widgets(at) if _strategy(k, node) is not None]
    strategy = hs.fixed_dictionaries({f"{k}|{lab}|{nth}": _strategy(k, node) for k, lab, nth, node in ws})

    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(strategy)
    def one(values):
        vals = []
        for key, v in values.items():
            k, lab, nth = key.split("|")
            vals.append((k, lab, int(nth), v))
        _check(H.run_case(at, H.Case(path, "random", "hypothesis combination", vals)))

    one()


def test_patch_embedding_offers_only_patch_sizes_it_can_draw():
    """Found by the full fuzz run: image size 32 with a 28- or 32-pixel patch made a 1×1 grid, and the query
    slider then had min == max (a Streamlit exception). Such patch sizes are no longer offered."""
    at = H.open_app("pages/patch_embedding.py", 300)
    rec = H.run_case(at, H.Case("pages/patch_embedding.py", "single", "image size 32",
                                [("select_slider", "Image size", 0, "32")]))
    _check(rec)
    opts = [int(o) for o in H._options(H.find(at, "select_slider", "Patch size", 0))]
    assert opts and max(opts) <= 16 and all((32 // p) ** 2 <= 4096 for p in opts)
    for p in opts:
        _check(H.run_case(at, H.Case("pages/patch_embedding.py", "single", f"patch {p}",
                                     [("select_slider", "Patch size", 0, str(p))])))
