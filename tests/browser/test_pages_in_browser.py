"""Every page loads in headless Chromium: charts render, no exception box. Screenshots are saved under
test-output/screenshots/ for a person to look at."""
from __future__ import annotations

import time

import pytest

from ui import registry

pytestmark = pytest.mark.browser
PAGES = registry.discover_pages()


def wait_until_idle(page, timeout_s: float = 120) -> None:
    """Wait for the script to finish: the 'Running…' status widget gone and stable for a moment."""
    deadline = time.time() + timeout_s
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.5:
            return
        time.sleep(0.25)
    raise AssertionError("page still running after %.0f s" % timeout_s)


@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path or "home")
def test_page_in_chromium(server, page, info, output_dir):
    page.goto(f"{server}/{info.url_path}", wait_until="domcontentloaded")
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for(timeout=30_000)
    vega = page.locator('[data-testid="stVegaLiteChart"]')
    for i in range(vega.count()):
        vega.nth(i).locator("canvas, svg").first.wait_for(timeout=30_000)
    title = page.locator("h1").first.inner_text(timeout=10_000)
    assert title.strip(), "page has no title"
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / f"{info.url_path or 'home'}.png"), full_page=True)
