"""The Benchmarks page in Chromium: a small live sweep runs from the page and its chart grows point by point."""
from __future__ import annotations

import pytest

from tests.browser.test_pages_in_browser import wait_until_idle

pytestmark = pytest.mark.browser

COUNT_JS = """() => {
  for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const t = c.querySelector('.gtitle');
    if (t && t.textContent.includes('live')) return c.querySelectorAll('path.point').length;
  }
  return -1;
}"""
# sample in the browser itself every 50 ms (polling from Python is too slow on a loaded machine)
WATCH_JS = "() => { window.__counts = []; window.__watch = setInterval(() => window.__counts.push((" + COUNT_JS + \
    ")()), 50); }"


def test_live_sweep_grows_the_chart(server, page, output_dir):
    page.goto(f"{server}/benchmarks", wait_until="domcontentloaded")
    wait_until_idle(page)
    reps = page.locator('input[aria-label="Repeats"]')
    reps.fill("20")
    reps.press("Enter")
    wait_until_idle(page)
    page.evaluate(WATCH_JS)
    page.get_by_role("button", name="▶ Run live").click()
    page.get_by_text("live attention run on this server").first.wait_for(timeout=180_000)
    counts = page.evaluate("() => { clearInterval(window.__watch); return window.__counts; }")
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    growing = [c for c in counts if c > 0]
    assert len(set(growing)) >= 2, f"the live chart never grew: {counts}"
    assert growing == sorted(growing), f"points disappeared while running: {growing}"
    final = page.evaluate(COUNT_JS)
    assert final == 6, final  # reference and sdpa at N = 128, 256, 512
    page.screenshot(path=str(output_dir / "benchmarks-live.png"), full_page=True)
