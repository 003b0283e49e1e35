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
    p.add_argument("--repeats", type=int, default=15,
                   help="timed calls per roof within one run (the best counts: short calls on a shared CPU catch "
                        "moments when the core is ours)")
    p.add_argument("--out", type=Path, default=Path("bench_results/roofs-cpu.json"))
    p.add_argument("--fresh", action="store_true", help="forget the runs already in --out (default: add to them)")
    a = p.parse_args()
    runs, records = [], []
    for i in range(a.times):
        with queue_for(a.device).timed("roofs", threads=a.threads) as out:
            r = measure_roofs(a.device, repeats=a.repeats)
        runs.append(r.to_dict())
        records.append(out["record"].__dict__)
        print(f"{i + 1}/{a.times}: {r.summary()} (load {r.loadavg_1m})", flush=True)

    if a.out.exists() and not a.fresh:  # add to earlier sessions on the same CPU and thread count
        try:
            old = json.loads(a.out.read_text(encoding="utf-8"))
            if old.get("threads") == a.threads and old.get("runs") and old["runs"][0]["name"] == runs[0]["name"]:
                runs, records = old["runs"] + runs, old.get("load", []) + records
        except (ValueError, KeyError, TypeError):
            pass

    def stats(xs):
        q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
        return {"median": statistics.median(xs), "q1": q[0], "q3": q[2], "min": min(xs), "max": max(xs)}

    summary = {k: stats([r["compute_flops"][k] for r in runs]) for k in runs[0]["compute_flops"]}
    # a roof is an upper bound and other processes only ever slow a measurement down: each roof is the best
    # value seen over the repeats (the medians and quartiles are kept beside it to show the spread)
    best = dict(runs[0])
    best["compute_flops"] = {k: max(r["compute_flops"][k] for r in runs) for k in runs[0]["compute_flops"]}
    best["measured_matmul_flops"] = dict(best["compute_flops"])
    best["copy_bytes_per_s"] = max(r["copy_bytes_per_s"] for r in runs)
    best["triad_bytes_per_s"] = max(r["triad_bytes_per_s"] for r in runs)
    best["bandwidth_source"] = f"best of {len(runs)} measured copy and triad runs"
    best["compute_source"] = {k: f"best of {len(runs)} measured {runs[0]['matmul_n']}³ matmuls"
                              for k in best["compute_flops"]}
    best["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    best.pop("bandwidth_bytes_per_s", None)
    doc = {"schema_version": 1, "kind": "roofs", "device": a.device, "threads": a.threads,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch": torch.__version__,
           "compute_flops": summary, "copy_bytes_per_s": stats([r["copy_bytes_per_s"] for r in runs]),
           "triad_bytes_per_s": stats([r["triad_bytes_per_s"] for r in runs]),
           "bandwidth_bytes_per_s": stats([r["bandwidth_bytes_per_s"] for r in runs]),
           "note": "repeated on a shared 2-core machine; the roofs used for % of roof (roofs) are the best of the "
                   "runs, medians and quartiles show the spread", "roofs": best, "runs": runs, "load": records}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
