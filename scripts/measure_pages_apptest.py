"""Server time of each page's first render at defaults under Streamlit's AppTest (no browser).

    .venv/bin/python scripts/measure_pages_apptest.py [--pages rope,kv_cache] [--out test-output/page-times-apptest.json]

For each page: a fresh AppTest runs app.py once (home: torch and the router imported), then the page is
opened and the seconds of that script run are recorded, with the 1-minute load average before and after.
Every page's caches are cold on its first visit except the server-wide shared measurements, which are cleared
first so that nothing measured earlier is reused. The times include this machine's load: read them with it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default="", help="comma-separated page stems (default: all)")
    ap.add_argument("--out", default="test-output/page-times-apptest.json")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from viz_core.measure.queue import SHARED
    want = {p for p in a.pages.split(",") if p}
    rows = []
    print(f"{'page':32s} {'server s':>9s} {'load1 before/after':>20s}  errors")
    for info in registry.discover_pages():
        if want and Path(info.path).stem not in want:
            continue
        SHARED.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.run()
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        at.switch_page(info.path).run()
        dt = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        errs = [str(e.value)[:80] for e in at.exception] + [str(e.value)[:80] for e in at.error]
        rows.append({"page": info.title, "path": info.path, "server_s": round(dt, 3), "load1_before": load0,
                     "load1_after": load1, "cores": os.cpu_count(), "errors": errs})
        print(f"{info.title:32s} {dt:8.2f}s {load0:9.1f} / {load1:<9.1f} {'; '.join(errs)}", flush=True)
    out = ROOT / a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "threads": 1, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
