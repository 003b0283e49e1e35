"""Every page loads in headless Chromium: charts render, no exception box. Screenshots are saved under
test-output/screenshots/ for a person to look at."""
from __future__ import annotations

import time

import pytest

from ui import registry

pytestmark = pytest.mark.browser
PAGES = registry.discover_pages()


def wait_until_idle(page, timeout_s: float = 120) -> None:
    """Wait until the script has finished: content rendered (a title), no skeleton placeholders, no
    'Running…' status widget, and the page stable like that for a couple of seconds."""
    deadline = time.time() + timeout_s
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    quiet_since = None
    while time.time() < deadline:
        busy = (page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stSkeleton"]').count() > 0
                or page.locator(".st-key-lab_page_done").count() == 0  # app.py draws it when the script ends
                or page.locator("h1").count() == 0
                or page.get_by_text("Run settings").count() == 0)  # app.py's shared sidebar has run
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 2.0:
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
        # a chart in a tab that is not selected (e.g. the Benchmarks page) is drawn but hidden: attached suffices
        state = "visible" if charts.nth(i).is_visible() else "attached"
        charts.nth(i).locator(".main-svg").first.wait_for(state=state, timeout=30_000)
    vega = page.locator('[data-testid="stVegaLiteChart"]')
    for i in range(vega.count()):
        vega.nth(i).locator("canvas, svg").first.wait_for(timeout=30_000)
    title = page.locator("h1").first.inner_text(timeout=10_000)
    assert title.strip(), "page has no title"
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    # Streamlit scrolls an inner container, so grow the viewport to the content before the screenshot.
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], section.main, "
        "[data-testid=\"stAppViewContainer\"]')].map(e => e.scrollHeight), 1000)")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 12000)})
    time.sleep(1.0)
    page.screenshot(path=str(shots / f"{info.url_path or 'home'}.png"), full_page=True)
