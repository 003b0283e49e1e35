"""Screenshots of every page at 1280×720 and 1400×900 in headless Chromium, to look at (clipped titles, labels).

    .venv/bin/python scripts/screenshots.py [--only flash_attention,rope] [--out test-output/screenshots]

Writes <out>/<width>x<height>/<page>.png (the whole page, grown to its content height) and
<out>/<width>x<height>/<page>-top.png (what the first screen shows).
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from measure_rerun import FLAGS, _wait_idle  # noqa: E402
from ui import registry  # noqa: E402

SIZES = ((1280, 720), (1400, 900))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "screenshots")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    pages = [p for p in registry.discover_pages() if not only or (p.url_path or "home") in only]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS, headless=True)
            for w, h in SIZES:
                folder = args.out / f"{w}x{h}"
                folder.mkdir(parents=True, exist_ok=True)
                for info in pages:
                    stem = info.url_path or "home"
                    ctx = browser.new_context(viewport={"width": w, "height": h})
                    page = ctx.new_page()
                    page.goto(f"{url}/{info.url_path}", wait_until="domcontentloaded")
                    try:
                        _wait_idle(page)
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
