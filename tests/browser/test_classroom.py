"""Issue #11 in the real server and Chromium: deep links, presentation mode, the lesson, a small load test.

Screenshots of every page in presentation mode at 1280x720 go to test-output/present/<stem>.png (look at them).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ui import registry

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import load_test  # noqa: E402

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-output" / "present"
FONTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  const L = gd._fullLayout, s = [L.font.size];
  if (L.title && L.title.text) s.push(L.title.font.size);
  if (L.showlegend) s.push(L.legend.font.size);
  for (const k of Object.keys(L)) if (/^[xy]axis\\d*$/.test(k) && L[k].visible !== false && L[k].showticklabels)
    { s.push(L[k].tickfont.size); if (L[k].title && L[k].title.text) s.push(L[k].title.font.size); }
  for (const a of (L.annotations || [])) if (a.text) s.push(a.font.size);
  for (const t of gd._fullData) if (t.textfont && (t.text || t.texttemplate) && t.visible !== false) {
    const f = t.textfont.size; s.push(Array.isArray(f) ? Math.min(...f) : f); }
  return Math.min(...s.filter(x => typeof x === 'number'));
})"""
CUT_LABELS_JS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div, [data-testid="stMetricValue"] div, ' +
    '[data-testid="stWidgetLabel"] p, [data-testid="stCheckbox"] label p'))
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def _goto(page, url: str) -> None:
    page.goto(url)
    assert load_test.wait_done(page, timeout_s=240), f"{url} did not finish"
    assert not load_test.errors_on(page), load_test.errors_on(page)


@pytest.fixture()
def small(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def test_deep_links_restore_three_pages(server, small):
    _goto(small, f"{server}/rope?head_dimension_d=32&rope_patch=14&seed=5")
    assert small.locator('input[aria-label="Head dimension d"]').input_value() == "32"
    _goto(small, f"{server}/flash_attention?fa_n=40&fa_d=4")
    assert small.locator('input[type=range][aria-label^="Tokens N"]').input_value() == "40"
    assert small.locator('input[type=range][aria-label^="Head size d"]').input_value() == "4"
    _goto(small, f"{server}/kv_cache?kv_new=16&kv_prompt=JULIET%3A%20O%20Romeo")
    assert small.locator('input[type=range][aria-label^="New tokens"]').input_value() == "16"
    assert small.locator('input[aria-label="Prompt"]').input_value() == "JULIET: O Romeo"
    # The URL follows a control: move a slider and the query string changes.
    before, url = load_test.run_marker(small), small.url
    el = small.locator('input[type=range][aria-label^="New tokens"]')
    el.focus()
    el.press("ArrowRight")
    assert load_test.wait_rerun(small, before, url)  # the page reruns that section in a fragment
    deadline = time.time() + 10
    while "kv_new=24" not in small.url and time.time() < deadline:
        time.sleep(0.1)
    assert "kv_new=24" in small.url and "kv_prompt=" in small.url


def test_hostile_link_shows_a_note_not_a_traceback(server, small):
    _goto(small, f"{server}/rope?head_dimension_d=abc&pair_i=99999&seed={'9' * 10000}")
    text = small.locator('[data-testid="stMain"]').inner_text() + small.locator('[data-testid="stSidebar"]').inner_text()
    assert "is not a number" in text and "clamped" in text


def test_presentation_toggle_enlarges_chart_fonts(server, small):
    _goto(small, f"{server}/flash_attention")
    normal = small.evaluate(FONTS_JS)
    assert normal and min(normal) < 18
    toggle = small.locator('[data-testid="stSidebar"] label').filter(has_text="Presentation mode")
    box = toggle.bounding_box()
    assert box and box["y"] + box["height"] <= 720, "the toggle must be visible without scrolling at 720 px"
    before = load_test.run_marker(small)
    toggle.click()
    assert load_test.wait_done(small, before)
    time.sleep(1)
    fonts = small.evaluate(FONTS_JS)
    assert len(fonts) == len(normal) and min(fonts) >= 18, fonts
    assert "present=1" in small.url
    h1 = small.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    assert h1 >= 44


def test_walk_the_lesson_with_next_in_presentation_mode(server, small):
    """Next from the first lesson page to the last; each page at 1280x720, charts >= 18 px, no cut label."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    order = [p for p in registry.lesson()]
    _goto(small, f"{server}/{order[0].url_path}?present=1")
    seen, problems = [], []
    for i, info in enumerate(order):
        assert small.locator("h1").first.is_visible()
        seen.append(info.title)
        small.screenshot(path=str(SHOTS / f"{i:02d}-{Path(info.path).stem}.png"), full_page=True)
        fonts = small.evaluate(FONTS_JS)
        if fonts and min(fonts) < 18:
            problems.append(f"{info.title}: chart font {min(fonts)} px")
        cut = small.evaluate(CUT_LABELS_JS)
        if cut:
            problems.append(f"{info.title}: cut metric labels {cut}")
        nxt = small.get_by_role("button", name="Next:")
        if i == len(order) - 1:
            assert nxt.count() == 0
            break
        before = load_test.run_marker(small)
        nxt.first.click()
        assert load_test.wait_done(small, before, timeout_s=240), f"after Next from {info.title}"
        assert not load_test.exceptions_on(small), (info.title, load_test.exceptions_on(small))
        assert "present=1" in small.url
    assert seen == [p.title for p in order]
    assert not problems, problems


@pytest.mark.slow
def test_load_five_sessions_every_page_no_exception():
    rep = load_test.run_load_test(5, load_test.lesson_stems())
    assert rep["missing_visits"] == 0
    assert not [v for v in rep["visits_detail"] if not v["finished"]]
    assert not rep["pages_with_exceptions"], rep["pages_with_exceptions"][:3]
