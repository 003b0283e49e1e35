"""The full hostile-input run: every page, every widget at its extremes and beyond, crafted values, hostile
uploads and seeded random combinations, each run through app.py under AppTest (tests/fuzz/harness.py).

    .venv/bin/python scripts/fuzz.py                       # everything (≥ 1,500 cases; slow: run it in the background)
    .venv/bin/python scripts/fuzz.py --pages rope kv_cache --random 5

Writes every case's outcome, seconds and peak RSS to test-output/fuzz/cases.jsonl and a summary to
test-output/fuzz/summary.json; prints the summary. Exits 1 on any exception, missing done-marker or case whose
RSS growth exceeds the per-request budget (LAB_REQUEST_BUDGET_MIB, default 256 MiB).

Each page is first opened once at its defaults (the warm-up: shared models behind st.cache_resource load
here, once per server, not per request); that run is recorded as kind "warm-up" and not held to the budget.
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
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / ".cache" / "inductor"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", nargs="*", help="page stems (default: all)")
    ap.add_argument("--random", type=int, default=40, help="seeded random combinations per page")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random-only", action="store_true", help="only the seeded random combinations (more seeds)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one script run may take")
    ap.add_argument("--out", default=str(ROOT / "test-output" / "fuzz"))
    ap.add_argument("--merge", nargs="*", help="combine the cases.jsonl of these output folders (runs split over "
                                               "processes) into --out/summary.json, and run nothing")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, Path(args.out))

    import torch

    torch.set_num_threads(1)
    from tests.fuzz import harness as H
    from ui import registry

    pages = [p for p in registry.discover_pages() if not args.pages or Path(p.path).stem in args.pages]
    records: list[H.Record] = []
    log = Path(args.out) / "cases.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        def keep(rec: H.Record) -> None:
            records.append(rec)
            fh.write(json.dumps(H.asdict(rec), ensure_ascii=False) + "\n")
            fh.flush()
            flag = "" if rec.outcome in ("ok", "message") else "  <-- FAIL"
            print(f"[{len(records):5d} {time.perf_counter() - t_start:7.0f}s] {rec.page} · {rec.description[:90]} "
                  f"-> {rec.outcome} ({rec.seconds:.2f} s, +{rec.rss_growth_mib:.0f} MiB){flag}", flush=True)

        for page in pages:
            try:
                at = H.open_app(page.path, args.timeout)
            except Exception as e:  # recorded, and the run goes on
                keep(H.Record(page.path, "warm-up", "open at defaults", "harness-error", 0.0, 0.0, H.hwm_mib(),
                              f"{type(e).__name__}: {e}"))
                continue
            warm = H.run_case(at, H.Case(page.path, "warm-up", "defaults (shared models load here)", []))
            keep(warm)
            for group in ([] if args.random_only else H.single_cases(page.path, at)):  # one session per page
                for case in group:
                    rec = H.run_case(at, case)
                    keep(rec)
                    if rec.outcome == "harness-error":  # a run that never finished: start a fresh session
                        at = H.open_app(page.path, args.timeout)
            if not args.random_only and (at.get("file_uploader") or H.find(at, "radio", "Image", 0) is not None):
                for rec in H.run_group(page.path, H.upload_cases(page.path), args.timeout):
                    keep(rec)
            for rec in H.run_group(page.path, H.random_cases(page.path, at, args.random, args.seed), args.timeout):
                keep(rec)

    held = [r for r in records if r.kind != "warm-up"]
    summary = H.summary(records)
    summary["failures"] = [H.asdict(r) for r in H.failures(held)] + \
        [H.asdict(r) for r in records if r.kind == "warm-up" and r.outcome not in ("ok", "message")]
    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    summary["threads"] = torch.get_num_threads()
    summary["cpu_count"] = os.cpu_count()
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=2, ensure_ascii=False))
    print(f"{len(summary['failures'])} failing case(s)")
    return 1 if summary["failures"] else 0


def merge(folders: list[str], out: Path) -> int:
    """One summary for a run split over several processes (each process's peak RSS is its own)."""
    from tests.fuzz import harness as H

    records, parts = [], []
    for folder in folders:
        recs = [H.Record(**json.loads(line)) for line in open(Path(folder) / "cases.jsonl", encoding="utf-8")]
        summary_file = Path(folder) / "summary.json"  # absent when that process was stopped early
        part = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else \
            {"peak_rss_mib": max((r.hwm_mib for r in recs), default=0.0), "wall_s": None, "stopped_early": True}
        records += recs
        parts.append({"folder": folder, "cases": len(recs), "peak_rss_mib": part.get("peak_rss_mib"),
                      "wall_s": part.get("wall_s"), "stopped_early": part.get("stopped_early", False),
                      "pages": sorted({r.page for r in recs})})
    held = [r for r in records if r.kind != "warm-up"]
    summary = H.summary(records)
    summary["parts"] = parts
    summary["failures"] = [H.asdict(r) for r in H.failures(held)] + \
        [H.asdict(r) for r in records if r.kind == "warm-up" and r.outcome not in ("ok", "message")]
    out.mkdir(parents=True, exist_ok=True)
    H.write_jsonl(records, str(out / "cases.jsonl"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=2, ensure_ascii=False))
    print(f"{len(summary['failures'])} failing case(s)")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
