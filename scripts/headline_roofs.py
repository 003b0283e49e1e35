"""Where each headline method of the README sits on the roofline: % of roof from the recorded runs in
assets/bench (times as recorded) against the roofs (CPU: assets/bench/roofs-cpu.json, measured here with
scripts/measure_roofs.py; GPU: the spec sheet of the recorded GPU).

    .venv/bin/python scripts/headline_roofs.py            # prints a table, writes bench_results/headline-roofs.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (headline row, run file, selector on the row, what it is)
PICKS = [
    ("SDPA vs eager, N=4096", "attention-cpu", {"label": "reference", "n": 4096}),
    ("SDPA vs eager, N=4096", "attention-cpu", {"label": "sdpa", "n": 4096}),
    ("SDPA vs eager, N=4096", "attention-cuda", {"label": "reference", "n": 4096}),
    ("SDPA vs eager, N=4096", "attention-cuda", {"label": "sdpa", "n": 4096}),
    ("SDPA at N=16384 (fp16)", "flash-cuda", {"method": "sdpa:cudnn", "n": 16384}),
    ("SDPA at N=16384 (fp16)", "flash-cuda", {"method": "sdpa:flash", "n": 16384}),
    ("block-sparse W=256 vs SDPA, N=8192", "attention-cpu", {"label": "sliding_window@256", "n": 8192}),
    ("block-sparse W=256 vs SDPA, N=8192", "attention-cpu", {"label": "sdpa", "n": 8192}),
    ("block-sparse W=256 vs SDPA, N=8192", "attention-cuda", {"label": "sliding_window@256[flex]", "n": 16384}),
    ("block-sparse W=256 vs SDPA, N=8192", "attention-cuda", {"label": "sdpa", "n": 16384}),
    ("linear vs SDPA, N=8192", "attention-cpu", {"label": "linear", "n": 8192}),
    ("linear vs SDPA, N=8192", "attention-cuda", {"label": "linear", "n": 8192}),
    ("tiled FlashAttention vs eager, N=4096", "flash-cpu", {"method": "tiled", "n": 4096}),
    ("tiled FlashAttention vs eager, N=4096", "flash-cpu", {"method": "reference", "n": 4096}),
    ("tiled FlashAttention vs eager, N=4096", "flash-cuda", {"method": "tiled", "n": 4096}),
    ("KV cache vs recomputation", "decode-cpu", {"method": "KV cache", "prompt": "short"}),
    ("KV cache vs recomputation", "decode-cpu", {"method": "uncached (recompute)", "prompt": "short"}),
    ("KV cache vs recomputation", "decode-cpu", {"method": "KV cache", "prompt": "long"}),
    ("KV cache vs recomputation", "decode-cuda", {"method": "KV cache", "prompt": "short"}),
    ("speculative decoding, best γ", "decode-cpu", {"method": "speculative", "best_gamma": True}),
    ("speculative decoding, best γ", "decode-cuda", {"method": "speculative", "best_gamma": True}),
]


def main() -> int:
    from viz_core.labs import benchmarks as results
    from viz_core.measure.roofline import row_seconds

    runs = {Path(r.path).stem: r for r in results.list_runs() if r.recorded}
    out = []
    cache: dict = {}
    for headline, stem, sel in PICKS:
        run = runs.get(stem)
        if run is None:
            continue
        rows = cache.setdefault(stem, results.with_formulas(run))
        row = next((r for r in rows if all(r.get(k) == v for k, v in sel.items())), None)
        if row is None or "pct_of_roof" not in row:
            continue
        _, src = results.roofs_for_run(run)
        what = " ".join(str(v) for v in sel.values() if v is not True)
        out.append({"headline": headline, "run": stem, "point": what, "pct_of_roof": row["pct_of_roof"],
                    "bound": row["roof_bound"], "intensity_flop_per_byte": row["intensity_flop_per_byte"],
                    "roof_time_s": row["roof_time_s"], "measured_s": row_seconds(row), "roofs": src,
                    "bytes_formula": row.get("bytes_formula", "")})
    for o in out:
        print(f"{o['headline'][:38]:38} {o['run']:15} {o['point'][:28]:28} {o['pct_of_roof']:8.3g} %  "
              f"{o['bound']:7} I={o['intensity_flop_per_byte']:.3g}")
    dest = ROOT / "bench_results" / "headline-roofs.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
