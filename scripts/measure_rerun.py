"""Time a typical control change on a page: from the key press on a slider to the server's last message.

    .venv/bin/python scripts/measure_rerun.py [--repeats 5] [--out test-output/rerun-times.json]

Starts `streamlit run app.py`, opens each page in headless Chromium, waits until it is idle, then moves one
slider by one step (focus + ArrowRight / ArrowLeft, alternating) ``repeats`` times. For each move it records
the seconds from the key press until the last websocket message the server sent for that rerun (the page is
quiet for 1.5 s after it), and how many messages the browser sent (1 = one rerun request; 0 = the change
stayed in the browser). A full-page rerun re-executes app.py and the whole page; an ``st.fragment`` rerun
executes only the section that holds the control. The CPU is shared, so the median and the spread are shown.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import ROOT, Server, launch, wait_idle  # noqa: E402

# (page stem, slider label prefix): one typical control per page
CASES = [("flash_attention", "Key block Bc"), ("rope", "Pair i"), ("tokens_sampling", "Temperature T")]


# Records, in the page's own clock, when the app's websocket sent and received each message.
_RECORD_WS = """
(() => {
  window.__wsGot = []; window.__wsSent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    window.__wsSent.push(performance.now());
    if (!this.__rec) { this.__rec = true; this.addEventListener('message', () => window.__wsGot.push(performance.now())); }
    return send.call(this, d);
  };
})();
"""


def measure_page(browser, url: str, stem: str, label: str, repeats: int) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.add_init_script(_RECORD_WS)
    page.goto(f"{url}/{stem}", wait_until="domcontentloaded")
    wait_idle(page)
    slider = page.locator(f'input[type=range][aria-label^="{label}"]').first
    slider.scroll_into_view_if_needed()
    times, sends = [], []
    for r in range(repeats + 1):  # the first move warms this setting's cache path; not counted
        slider.focus()
        page.evaluate("() => { window.__wsGot = []; window.__wsSent = []; }")
        t0 = page.evaluate("() => performance.now()")
        page.keyboard.press("ArrowRight" if r % 2 == 0 else "ArrowLeft")
        start = time.time()
        while True:  # quiet for 1.5 s after the last message (or 60 s in all)
            page.wait_for_timeout(100)
            now, got = page.evaluate("() => [performance.now(), window.__wsGot]")
            last = max([t0] + got)
            if now - last > 1500 or time.time() - start > 60:
                break
        sent = page.evaluate("() => window.__wsSent")
        if r:
            times.append((last - t0) / 1000)
            sends.append(len(sent))
    ctx.close()
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"page": stem, "control": label, "median_s": round(statistics.median(times), 3),
            "q1_s": round(q[0], 3), "q3_s": round(q[2], 3), "messages_sent_per_move": sends,
            "times_s": [round(t, 3) for t in times]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "rerun-times.json")
    ap.add_argument("--case", action="append", default=[],
                    help="PAGE:SLIDER LABEL (repeatable) instead of the default three cases")
    args = ap.parse_args()
    cases = [tuple(c.split(":", 1)) for c in args.case] or CASES
    from playwright.sync_api import sync_playwright

    rows = []
    with Server() as srv, sync_playwright() as p:
        browser = launch(p)
        for stem, label in cases:
            row = measure_page(browser, srv.url, stem, label, args.repeats)
            rows.append(row)
            print(f"{stem:18s} {label:16s} median {row['median_s']:.3f} s "
                  f"(IQR {row['q1_s']:.3f}–{row['q3_s']:.3f}), browser messages per move {row['messages_sent_per_move']}",
                  flush=True)
        browser.close()
    load = Path("/proc/loadavg").read_text().split()[:3]
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"load_avg": load, "rows": rows}, indent=1))
    print("load average", " ".join(load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
