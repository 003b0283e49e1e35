"""Screenshots of every page at 1280×720 and 1400×900 in headless Chromium, to look at (clipped titles, labels).

    .venv/bin/python scripts/screenshots.py [--only flash_attention,rope] [--out test-output/screenshots]

Writes <out>/<width>x<height>/<page>.png (the whole page, grown to its content height) and
<out>/<width>x<height>/<page>-top.png (what the first screen shows).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import ROOT, Server, launch, wait_idle  # noqa: E402

sys.path.insert(0, str(ROOT))
from ui import registry  # noqa: E402

SIZES = ((1280, 720), (1400, 900))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "screenshots")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    pages = [p for p in registry.discover_pages() if not only or (p.url_path or "home") in only]
    from playwright.sync_api import sync_playwright

    with Server() as srv, sync_playwright() as p:
        browser = launch(p)
        for w, h in SIZES:
            folder = args.out / f"{w}x{h}"
            folder.mkdir(parents=True, exist_ok=True)
            for info in pages:
                stem = info.url_path or "home"
                ctx = browser.new_context(viewport={"width": w, "height": h})
                page = ctx.new_page()
                page.goto(f"{srv.url}/{info.url_path}", wait_until="domcontentloaded")
                try:
                    wait_idle(page)
                except TimeoutError:
                    print(f"{stem}: still running", flush=True)
                page.screenshot(path=str(folder / f"{stem}-top.png"))
                height = page.evaluate(
                    "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                    "[data-testid=\"stAppViewContainer\"]')].map(e => e.scrollHeight), 720)")
                page.set_viewport_size({"width": w, "height": min(int(height) + 40, 14000)})
                page.wait_for_timeout(800)
                page.screenshot(path=str(folder / f"{stem}.png"), full_page=True)
                errors = page.locator('[data-testid="stException"]').count()
                print(f"{w}x{h} {stem}: {'EXCEPTION' if errors else 'ok'}", flush=True)
                ctx.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
