"""Measure this machine's roofs several times and record median and spread (the CPU is shared).

    .venv/bin/python scripts/measure_roofs.py --threads 1 --times 7 --out assets/bench/roofs-cpu.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch

    from viz_core.measure.queue import queue_for
    from viz_core.measure.roofline import measure_roofs

    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--times", type=int, default=7)
    p.add_argument("--out", type=Path, default=Path("bench_results/roofs-cpu.json"))
    a = p.parse_args()
    runs, records = [], []
    for i in range(a.times):
        with queue_for(a.device).timed("roofs", threads=a.threads) as out:
            r = measure_roofs(a.device)
        runs.append(r.to_dict())
        records.append(out["record"].__dict__)
        print(f"{i + 1}/{a.times}: {r.summary()} (load {r.loadavg_1m})", flush=True)

    def stats(xs):
        q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
        return {"median": statistics.median(xs), "q1": q[0], "q3": q[2], "min": min(xs), "max": max(xs)}

    summary = {k: stats([r["compute_flops"][k] for r in runs]) for k in runs[0]["compute_flops"]}
    best = max(runs, key=lambda r: r["compute_flops"]["float32"])
    doc = {"schema_version": 1, "kind": "roofs", "device": a.device, "threads": a.threads,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch": torch.__version__,
           "compute_flops": summary, "copy_bytes_per_s": stats([r["copy_bytes_per_s"] for r in runs]),
           "triad_bytes_per_s": stats([r["triad_bytes_per_s"] for r in runs]),
           "bandwidth_bytes_per_s": stats([r["bandwidth_bytes_per_s"] for r in runs]),
           "note": "median of repeated measurements on a shared 2-core machine; roofs used for % of roof are "
                   "the medians", "runs": runs, "load": records, "best_run": best}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
