"""Every claim of CLAIMS.md judged on this machine: the Claims page's table on the command line.

    python -m viz_core bench claims --threads 1           # computed, fast live and recorded rows
    python -m viz_core bench claims --threads 1 --slow    # plus the tiny-model runs (≈ 30 s on 2 cores)

One row per claim: value, verdict (from the claim's judge in viz_core/claims/judges.py), why, provenance.
"""
from __future__ import annotations

import torch

from viz_core.labs import claims as lab

HELP = "every claim of CLAIMS.md: value, computed verdict, why, provenance (the Claims page's table)"


def add_arguments(p) -> None:
    p.add_argument("--slow", action="store_true", help="also run the slow tiny-model rows")
    p.add_argument("--seed", type=int, default=0)


def run(args, progress) -> list[dict]:
    res = lab.run(lab.Config(device=args.device, threads=args.threads or torch.get_num_threads(), slow=args.slow,
                             seed=args.seed))
    for r in res.rows:
        progress(f"#{r.id:>2} {r.verdict:<20} {r.why[:90]}")
    return [{"id": r.id, "verdict": r.verdict, "value": r.value, "why": r.why, "provenance": r.provenance,
             "measured": r.measured, "page": r.page, "seconds": r.seconds, "device": res.device,
             "threads": res.threads, "measured_at": res.measured_at} for r in res.rows]
