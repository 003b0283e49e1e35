"""Time each page's first render at default settings in headless Chromium, after the app has started.

    .venv/bin/python scripts/measure_pages.py [--port 8765] [--out test-output/page-times.json]

Starts `streamlit run app.py`, opens the home page once (server warm: torch imported), then opens every
page in a fresh browser session and records the seconds from navigation until the page is idle (no
'Running…' widget, no skeletons, charts drawn). Caches are cold for each page's first visit.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ui import registry  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def idle_time(page, t0: float, timeout_s: float = 180) -> float:
    quiet_since = None
    while time.time() - t0 < timeout_s:
        busy = (page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stSkeleton"]').count() > 0
                or page.locator(".st-key-lab_page_done").count() == 0  # app.py draws it when the script ends
                or page.locator("h1").count() == 0
                or page.get_by_text("Run settings").count() == 0)
        charts = page.locator('[data-testid="stPlotlyChart"]')
        if not busy and charts.count() and charts.locator(".main-svg").count() < charts.count():
            busy = True
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 2.0:
            return quiet_since - t0
        time.sleep(0.05)
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "page-times.json")
    args = ap.parse_args()
    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        rows = []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            warm = b.new_page()
            warm.goto(url)
            idle_time(warm, time.time())
            warm.close()
            for info in registry.discover_pages():
                ctx = b.new_context(viewport={"width": 1400, "height": 1000})
                pg = ctx.new_page()
                t0 = time.time()
                pg.goto(f"{url}/{info.url_path}")
                s = idle_time(pg, t0)
                rows.append({"page": info.title, "path": info.path, "first_render_s": round(s, 2)})
                print(f"{info.title:32s} {s:6.2f} s", flush=True)
                ctx.close()
            b.close()
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    finally:
        proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
