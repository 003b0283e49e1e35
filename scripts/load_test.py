"""Load test: the real server, N concurrent Chromium sessions, each walks every page and moves one control.

    .venv/bin/python scripts/load_test.py [--sessions 10] [--pages home,rope] [--out test-output/load-test.json]

Starts `streamlit run app.py`, opens N browser contexts at once (Debian's /usr/bin/chromium through
Playwright; one browser process, one context per session, like N students on one link), and in each:
every page in lesson order (Home first), wait until the page's script finished and its charts drew, then
move its first slider (or toggle) one step and wait for that rerun. Reports p50/p95 page time, the pages
that showed an error or exception, and the server's peak RSS (its whole process tree: measurement
subprocesses included), sampled every 0.1 s, plus the kernel's high-water mark of the server process.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import ROOT, Server, launch  # noqa: E402

sys.path.insert(0, str(ROOT))
from ui import registry  # noqa: E402

ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')


# ------------------------------------------------------------------ memory of a process tree (Linux /proc)
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and all its descendants, MiB."""
    kids, todo, total = _children(), [pid], 0
    while todo:
        p = todo.pop()
        total += _status_kib(p, "VmRSS")
        todo += kids.get(p, [])
    return total / 1024


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak, self.stop_flag = pid, every_s, 0.0, threading.Event()
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        t0 = time.time()
        while not self.stop_flag.is_set():
            mib = tree_rss_mib(self.pid)
            self.peak = max(self.peak, mib)
            self.samples.append((round(time.time() - t0, 2), round(mib, 1)))
            time.sleep(self.every_s)

    def high_water_mib(self) -> float:
        return _status_kib(self.pid, "VmHWM") / 1024

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(timeout=2)


# ------------------------------------------------------------------ one page in one session
def run_marker(page) -> int:
    cls = page.evaluate("""() => { const e = document.querySelector('[class*="st-key-lab_run_"]');
                                   return e ? e.className : ""; }""")
    for part in cls.split():
        if part.startswith("st-key-lab_run_"):
            return int(part.rsplit("_", 1)[1])
    return -1


def wait_done(page, before: int = -1, timeout_s: float = 300) -> bool:
    """Until a run newer than ``before`` has finished (app.py's marker) and every chart has drawn."""
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        n = run_marker(page)
        if n != -1 and n != before and page.locator('[data-testid="stSkeleton"]').count() == 0:
            charts = page.locator('[data-testid="stPlotlyChart"]')
            if charts.locator(".main-svg").count() >= charts.count():
                return True
        time.sleep(0.05)
    return False


def exceptions_on(page) -> list[str]:
    """Tracebacks, or app.py's message for an unexpected exception (not a page's own input/budget message)."""
    return [e for e in errors_on(page) if "unexpected problem" in e or "Traceback" in e
            or page.locator('[data-testid="stException"]').count()]


def wait_rerun(page, before: int, before_url: str, timeout_s: float = 300) -> bool:
    """After moving a control: a full rerun (app.py's marker changes) or a fragment rerun (pages that keep a
    section in ``st.fragment`` rerun only it: the marker stays, the control's value reaches the URL)."""
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if run_marker(page) not in (before, -1) or page.url != before_url:
            return wait_done(page, before=-2, timeout_s=max(1.0, timeout_s - (time.time() - t0)))
        time.sleep(0.05)
    return False


def errors_on(page) -> list[str]:
    out = []
    for sel in ERROR_SELECTORS:
        loc = page.locator(sel)
        for i in range(loc.count()):
            out.append(loc.nth(i).inner_text()[:300])
    return out


def move_one_control(page) -> str:
    """Press ArrowRight on the first slider of the page's main area (else flip its first toggle)."""
    main = page.locator('[data-testid="stMain"]')
    slider = main.locator('[data-testid="stSlider"] [role="slider"], input[type=range]')
    if slider.count():
        el = slider.first
        el.focus()
        el.press("ArrowRight")
        return "slider"
    toggle = main.locator('[data-testid="stCheckbox"] input, [data-testid="stToggle"] input')
    if toggle.count():
        toggle.first.click(force=True)
        return "toggle"
    return ""


@dataclass
class PageVisit:
    session: int
    page: str
    load_s: float
    control: str
    control_s: float
    errors: list[str] = field(default_factory=list)
    finished: bool = True
    exceptions: list[str] = field(default_factory=list)


def walk(browser, base_url: str, session: int, stems: list[str], viewport=(1280, 720),
         change_control: bool = True, timeout_s: float = 300) -> list[PageVisit]:
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    visits = []
    try:
        for stem in stems:
            t0 = time.time()
            try:
                # "commit": the server answered; wait_done then waits for the script run and the charts
                # (a loaded machine can take longer than Playwright's 30 s for the "load" event).
                page.goto(f"{base_url}/{'' if stem == 'home' else stem}", wait_until="commit", timeout=timeout_s * 1000)
                ok = wait_done(page, timeout_s=timeout_s)
            except Exception as e:  # noqa: BLE001 - one failed visit is a reported error, not a crashed session
                visits.append(PageVisit(session, stem, round(time.time() - t0, 2), "", 0.0,
                                        [f"{type(e).__name__}: {str(e)[:200]}"], False))
                continue
            load = time.time() - t0
            errs = errors_on(page)
            excs = exceptions_on(page)
            ctrl, ctrl_s = "", 0.0
            if ok and change_control and not errs:
                before, before_url = run_marker(page), page.url
                t1 = time.time()
                try:
                    ctrl = move_one_control(page)
                except Exception as e:  # noqa: BLE001 - a control that cannot be moved is reported, not fatal
                    ctrl = f"could not move: {type(e).__name__}"
                if ctrl in ("slider", "toggle"):
                    ok = wait_rerun(page, before, before_url, timeout_s=timeout_s) and ok
                    ctrl_s = time.time() - t1
                    errs += errors_on(page)
                    excs += exceptions_on(page)
            visits.append(PageVisit(session, stem, round(load, 2), ctrl, round(ctrl_s, 2), errs, ok, excs))
    finally:
        ctx.close()
    return visits


def lesson_stems() -> list[str]:
    return ["home"] + [Path(p.path).stem for p in registry.lesson()] + \
        [Path(p.path).stem for p in registry.discover_pages()
         if Path(p.path).stem not in registry.LESSON and Path(p.path).stem not in registry.NOT_IN_LESSON]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_load_test(sessions: int, stems: list[str], change_control: bool = True, port: int = 0,
                  stagger_s: float = 1.0) -> dict:
    from playwright.sync_api import sync_playwright

    with Server(port) as srv:
        sampler = RssSampler(srv.proc.pid)
        sampler.start()
        results: list[list[PageVisit]] = [[] for _ in range(sessions)]
        t0 = time.time()

        # Playwright's sync API is per thread: each session gets its own driver and browser process.
        def one(i: int) -> None:
            time.sleep(stagger_s * i)  # students open the link within a few seconds of each other
            with sync_playwright() as p:
                b = launch(p)
                try:
                    results[i] = walk(b, srv.url, i, stems, change_control=change_control)
                except Exception as e:  # noqa: BLE001 - reported as missing visits
                    print(f"session {i} failed: {type(e).__name__}: {e}", flush=True)
                finally:
                    b.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        sampler.stop()
        visits = [v for r in results for v in r]
        loads = [v.load_s for v in visits if v.finished]
        bad = [asdict(v) for v in visits if v.errors or not v.finished]
        return {"sessions": sessions, "pages_per_session": len(stems), "visits": len(visits),
                "missing_visits": sessions * len(stems) - len(visits),
                "page_time_p50_s": round(percentile(loads, 0.5), 2), "page_time_p95_s": round(percentile(loads, 0.95), 2),
                "control_time_p50_s": round(percentile([v.control_s for v in visits if v.control_s], 0.5), 2),
                "pages_with_errors": bad,
                "pages_with_exceptions": [asdict(v) for v in visits if v.exceptions], "server_peak_rss_mib": round(sampler.peak, 1),
                "server_process_hwm_mib": round(sampler.high_water_mib(), 1), "wall_s": round(wall, 1),
                "cpu_count": os.cpu_count(), "load_avg_after": os.getloadavg(),
                "visits_detail": [asdict(v) for v in visits]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--pages", default="", help="comma-separated page stems (default: every page, lesson order)")
    ap.add_argument("--no-control", action="store_true", help="only open the pages")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "load-test.json")
    args = ap.parse_args(argv)
    stems = [s for s in args.pages.split(",") if s] or lesson_stems()
    print(f"{args.sessions} sessions x {len(stems)} pages against a fresh server …", flush=True)
    rep = run_load_test(args.sessions, stems, change_control=not args.no_control)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(rep, indent=1))
    print(f"page time p50 {rep['page_time_p50_s']} s, p95 {rep['page_time_p95_s']} s "
          f"({rep['visits']} page visits; control rerun p50 {rep['control_time_p50_s']} s)")
    print(f"pages with errors: {len(rep['pages_with_errors'])} (with an exception: {len(rep['pages_with_exceptions'])})")
    for b in rep["pages_with_errors"][:20]:
        print(f"  session {b['session']} {b['page']}: finished={b['finished']} {b['errors'][:2]}")
    print(f"server peak RSS {rep['server_peak_rss_mib']} MiB (process tree, sampled every 0.1 s); "
          f"server process high-water mark {rep['server_process_hwm_mib']} MiB; wall {rep['wall_s']} s; "
          f"{rep['cpu_count']} CPUs, load average after {tuple(round(x, 1) for x in rep['load_avg_after'])}")
    print(f"written to {args.out}")
    return 0 if not rep["pages_with_exceptions"] and not rep["missing_visits"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
