"""Pages that refuse an input still end with app.py's done-marker in Chromium (issue #12): before, ``st.stop()``
dropped it and the browser tests and scripts/measure_pages.py waited until their timeout."""
from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from tests.browser.test_pages_in_browser import wait_until_idle

pytestmark = pytest.mark.browser


def _strip_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20000, 8), (30, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def _marker_after(page, text: str, timeout_s: float = 120) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout_s * 1000)
    wait_until_idle(page, timeout_s)  # requires `.st-key-lab_page_done` with the run finished
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "This page ran in" in page.locator(".st-key-lab_page_done").first.inner_text()


def test_done_marker_after_a_refused_upload(server, page, output_dir):
    page.goto(f"{server}/vit_patching", wait_until="domcontentloaded")
    wait_until_idle(page)
    page.locator('[data-testid="stRadio"]').get_by_text("Upload").click()
    page.locator('input[type="file"]').first.wait_for(state="attached", timeout=60_000)
    page.locator('input[type="file"]').first.set_input_files(
        files=[{"name": "strip.png", "mimeType": "image/png", "buffer": _strip_png()}])
    _marker_after(page, "aspect ratio of 2,500:1")
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "refused-upload.png"), full_page=True)


def test_done_marker_after_a_page_stops(server, page):
    page.goto(f"{server}/attention_lab", wait_until="domcontentloaded")
    wait_until_idle(page)
    box = page.locator('[data-testid="stMultiSelect"]').first
    clear = box.locator('[aria-label="Clear all"], [title="Clear all"], svg[title="Clear all"]')
    if clear.count():
        clear.first.click()
    else:  # remove the chosen variants one by one
        for _ in range(12):
            chips = box.locator('[data-baseweb="tag"] [role="presentation"]')
            if not chips.count():
                break
            chips.first.click()
            time.sleep(0.3)
    _marker_after(page, "Pick at least one variant.")
