"""Time each page's first render at default settings, after the app has started.

Reports the server-side script time (what app.py measures around the page) and, in headless Chromium, the
seconds from a full page load until the page was complete and every chart drawn.

    .venv/bin/python scripts/measure_pages.py [--port 8765] [--out test-output/page-times.json]

Starts `streamlit run app.py`, opens the home page once (server warm: torch imported), then opens every
page in a fresh browser session and records the seconds from navigation until the page is idle (no
'Running…' widget, no skeletons, charts drawn). Caches are cold for each page's first visit.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import ROOT, Server, launch  # noqa: E402

sys.path.insert(0, str(ROOT))
from ui import registry  # noqa: E402


def _busy(page) -> bool:
    return (page.locator('[data-testid="stSkeleton"]').count() > 0
            or page.locator(".st-key-lab_page_done").count() == 0  # app.py draws it when the script ends
            or page.locator("h1").count() == 0
            or page.get_by_text("Run settings").count() == 0)


def render_times(page, t0: float, timeout_s: float = 180) -> tuple[float, float]:
    """(seconds until the page's script finished and its elements arrived, seconds until every chart drew)."""
    done = None
    while time.time() - t0 < timeout_s:
        if done is None and not _busy(page):
            done = time.time() - t0
        if done is not None:
            charts = page.locator('[data-testid="stPlotlyChart"]')
            vega = page.locator('[data-testid="stVegaLiteChart"]')
            if charts.locator(".main-svg").count() >= charts.count() and (
                    vega.locator("canvas, svg").count() >= vega.count()):
                return done, time.time() - t0
        time.sleep(0.05)
    return float("nan"), float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "page-times.json")
    ap.add_argument("--only", default="", help="comma-separated page stems to time (default: all)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with Server(port=args.port) as srv, sync_playwright() as p:
        b = launch(p)
        # One browser context for all pages, as a person clicking through: the frontend and plotly.js
        # are loaded once; the server's caches are cold for each page's first visit.
        ctx = b.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(srv.url)
        render_times(pg, time.time())
        only = {x for x in args.only.split(",") if x}
        print(f"{'page':32s} {'server run':>12s} {'page loaded':>12s} {'charts drawn':>13s}")
        for info in registry.discover_pages():
            if only and (info.url_path or "home") not in only:
                continue
            pg.goto("about:blank")
            t0 = time.time()
            pg.goto(f"{srv.url}/{info.url_path}")
            done, drawn = render_times(pg, t0)
            text = pg.locator(".st-key-lab_page_done").inner_text()
            server = float(text.split("ran in ")[1].split(" s")[0]) if "ran in " in text else float("nan")
            rows.append({"page": info.title, "path": info.path, "server_script_s": server,
                         "browser_load_s": round(done, 2), "charts_drawn_s": round(drawn, 2),
                         "loadavg_1m": round(os.getloadavg()[0], 2)})
            print(f"{info.title:32s} {server:10.2f} s {done:10.2f} s {drawn:11.2f} s", flush=True)
        ctx.close()
        b.close()
    args.out.parent.mkdir(exist_ok=True)
    meta = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "torch_threads": "app default: cores − 1",
            "note": "loadavg_1m: the machine's 1-minute load average when each page finished"}
    args.out.write_text(json.dumps({"meta": meta, "pages": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
