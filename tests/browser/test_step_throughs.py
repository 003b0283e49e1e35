"""Step-throughs run in the browser: stepping sends nothing to the server, and the slider, the text and the
highlighted tile / the two RoPE views agree at every position checked. An error in one KV-cache section leaves
the others drawn."""
from __future__ import annotations

import math
import re

import pytest

from tests.browser.test_pages_in_browser import wait_until_idle

pytestmark = pytest.mark.browser

# Records, in the page's own clock, every message the app's websocket sends (a rerun request is one).
RECORD_WS = """
(() => {
  window.__wsSent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) { window.__wsSent.push(performance.now()); return send.call(this, d); };
})();
"""

# The plotly graph div of the chart whose slider we drive, and what it currently shows.
STATE = """
(i) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].filter(g => (g.layout.sliders || []).length)[i];
  const fl = gd._fullLayout;
  return {
    active: fl.sliders[0].active,
    current: (gd.querySelector('.slider-group > text.slider-label') || {textContent: ''}).textContent,
    texts: [...gd.querySelectorAll('.annotation-text')].map(t => t.textContent),
    shapes: (fl.shapes || []).map(s => ({x0: s.x0, x1: s.x1, y0: s.y0, y1: s.y1, color: s.line.color, xref: s.xref})),
    data: gd.data.map(t => ({x: t.x ? Array.from(t.x) : null, y: t.y ? Array.from(t.y) : null})),
    n: fl.sliders[0].steps.length,
  };
}
"""


def _open(page, server, stem):
    page.add_init_script(RECORD_WS)
    page.goto(f"{server}/{stem}", wait_until="domcontentloaded")
    wait_until_idle(page)
    page.locator('.js-plotly-plot .slider-rail-touch-rect').first.wait_for(timeout=30_000)


def _go_to_step(page, chart: int, k: int, n: int):
    """Click the slider's rail where step k sits (plotly snaps to the nearest step)."""
    rail = page.locator('.js-plotly-plot .slider-rail-touch-rect').nth(chart)
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    grip = page.locator('.js-plotly-plot .slider-grip-rect').nth(chart).bounding_box()
    pad = grip["width"] / 2  # the steps run from half a grip in from each end of the rail
    x = box["x"] + pad + (box["width"] - 2 * pad) * (k / max(n - 1, 1))
    page.mouse.click(x, box["y"] + box["height"] / 2)
    page.wait_for_timeout(400)


def test_flash_tiles_step_in_the_browser(server, page):
    _open(page, server, "flash_attention")
    sent_before = page.evaluate("() => window.__wsSent.length")
    n = page.evaluate(STATE, 0)["n"]
    assert n == 9  # N = 24 tokens, Br = Bc = 8
    for k in (2, 4, 7):
        _go_to_step(page, 0, k, n)
        s = page.evaluate(STATE, 0)
        assert s["active"] == k
        assert s["current"].strip() == f"Step {k + 1} of {n}"
        text = next(t for t in s["texts"] if t.startswith("Step "))
        assert text.startswith(f"Step {k + 1} of {n}")
        i, j = (int(v) for v in re.search(r"query block (\d+) .*× key block (\d+)", text).groups())
        assert (i, j) == divmod(k, 3)  # outer loop over query blocks, 3 key blocks each
        tile = [sh for sh in s["shapes"] if sh["color"] == "#000"]
        assert len(tile) == 1 and (tile[0]["y0"], tile[0]["x0"]) == (8 * i - 0.5, 8 * j - 0.5)
    assert page.evaluate("() => window.__wsSent.length") == sent_before, "stepping asked the server to rerun"


def test_rope_position_control_moves_both_views(server, page):
    _open(page, server, "rope")
    sent_before = page.evaluate("() => window.__wsSent.length")
    n = page.evaluate(STATE, 0)["n"]
    d, base, pair = 16, 10000.0, 0  # the page's defaults
    for k in (5, 20, 40):
        _go_to_step(page, 0, k, n)
        s = page.evaluate(STATE, 0)
        m = s["active"]
        assert abs(m - k) <= 1
        assert s["current"].strip() == f"Position m = {m:,}"
        assert any(t.startswith(f"Position m = {m:,} ") for t in s["texts"])
        # left: the rotated pair sits at angle m·θ from the pair at position 0
        x0, y0 = s["data"][1]["x"][1], s["data"][1]["y"][1]
        x1, y1 = s["data"][3]["x"][1], s["data"][3]["y"][1]
        theta = base ** (-2 * pair / d)
        turned = (math.atan2(y1, x1) - math.atan2(y0, x0)) % (2 * math.pi)
        diff = abs(turned - (m * theta) % (2 * math.pi))
        assert min(diff, 2 * math.pi - diff) < 1e-3
        assert len(s["data"][2]["x"]) == m + 1  # the trail of positions walked so far
        # right: clock 0's hand points at m·θ₀ from its centre
        hx, hy = s["data"][6]["x"], s["data"][6]["y"]
        a = math.atan2(hy[1] - hy[0], hx[1] - hx[0]) % (2 * math.pi)
        diff = abs(a - (m * theta) % (2 * math.pi))
        assert min(diff, 2 * math.pi - diff) < 1e-3
    assert page.evaluate("() => window.__wsSent.length") == sent_before


def test_kv_cache_error_leaves_other_sections(server, page):
    page.goto(f"{server}/kv_cache", wait_until="domcontentloaded")
    wait_until_idle(page, timeout_s=240)
    for start in ("Generate with and without the cache", "Score the variants on held-out text"):  # timed/heavy: on a button
        button = page.get_by_role("button", name=re.compile(start))
        if button.count():
            button.first.click()
            page.wait_for_timeout(1000)
            wait_until_idle(page, timeout_s=240)
    box = page.locator('input[aria-label="Prompt"]').first
    box.fill("x" * 250)
    box.press("Enter")
    page.wait_for_timeout(1000)
    wait_until_idle(page, timeout_s=240)
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() >= 1 and "context" in errors.first.inner_text()
    assert page.get_by_text("KV cache of real models").count() == 1
    assert page.get_by_text("MQA and GQA on the tiny GPT").count() == 1
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() >= 2  # the calculator and the GQA chart are still drawn
