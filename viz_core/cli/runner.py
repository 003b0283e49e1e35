"""The benchmark CLI: discovers suites, runs one, prints a table, writes CSV + JSON.

Results files are what the Benchmarks page loads; recorded GPU runs are kept under ``assets/bench/``.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import pkgutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

import viz_core.cli.suites as suites_pkg
from viz_core.device import describe
from viz_core.labs.benchmarks import SCHEMA_VERSION
from viz_core.measure.queue import queue_for
from viz_core.measure.roofline import annotate_rows, cached_roofs



def library_versions() -> dict:
    """Versions of the libraries a result depends on (read from package metadata, nothing imported)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in ("torch", "numpy", "streamlit", "plotly"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def make_meta(suite: str, hw, argv, started: str, seconds: float, roofs=None, record=None) -> dict:
    """The JSON ``meta`` block every run carries (the CLI and the Benchmarks page write the same)."""
    return {"schema_version": SCHEMA_VERSION, "suite": suite, "hardware": asdict(hw), "device": hw.summary(),
            "versions": library_versions(), "argv": [str(a) for a in argv], "started": started,
            "seconds": round(seconds, 2), "roofline": roofs.to_dict() if roofs is not None else None,
            "load": asdict(record) if record is not None else None}


def available_suites() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(suites_pkg.__path__) if not m.name.startswith("_"))


def load_suite(name: str):
    if name not in available_suites():
        raise SystemExit(f"unknown suite {name!r}; available: {', '.join(available_suites())}")
    return importlib.import_module(f"viz_core.cli.suites.{name}")


def format_table(rows: list[dict], max_width: int = 18) -> str:
    """Plain-text table of the rows (columns in first-seen order)."""
    if not rows:
        return "(no rows)"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) [:max_width] for c in cols] for r in rows]
    widths = [max(len(c[:max_width]), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c[:max_width].ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])


def write_results(rows: list[dict], meta: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{stem}.csv"
    json_path = out_dir / f"{stem}.json"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    json_path.write_text(json.dumps({"schema_version": meta.get("schema_version", SCHEMA_VERSION), "meta": meta, "rows": rows}, indent=1, default=str), encoding="utf-8")
    return csv_path, json_path


def _progress(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viz_core", description="Transformer Efficiency Lab CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="run a benchmark suite; prints a table, writes CSV and JSON")
    bench_sub = bench.add_subparsers(dest="suite", required=True)
    for name in available_suites():
        mod = load_suite(name)
        p = bench_sub.add_parser(name, help=getattr(mod, "HELP", ""))
        p.add_argument("--out-dir", type=Path, default=Path("bench_results"), help="where CSV/JSON go")
        p.add_argument("--device", default="auto", help="auto, cpu or cuda")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
        p.add_argument("--roofs", type=Path, default=None,
                       help="a recorded roofs JSON (scripts/measure_roofs.py) instead of measuring them now")
        mod.add_arguments(p)
    sub.add_parser("suites", help="list benchmark suites")
    args = parser.parse_args(argv)
    if args.command == "suites":
        print("\n".join(available_suites()))
        return 0
    mod = load_suite(args.suite)
    hw = describe(args.device)
    print(f"# {args.suite} on {hw.summary()}", flush=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    t0 = time.perf_counter()
    # one timed run per device at a time (also against a Streamlit server in this process), threads set inside
    with queue_for(hw.device).timed(f"bench {args.suite}", threads=args.threads,
                                    on_wait=lambda k: _progress(f"queued, position {k}")) as held:
        roofs = load_roofs(args.roofs) if args.roofs else cached_roofs(hw.device, torch.get_num_threads())
        _progress(f"roofs: {roofs.summary()}")
        rows = mod.run(args, _progress)
        annotate_rows(rows, roofs)
    if hw.device == "cpu":  # threads as they were during the run
        hw = replace(hw, threads=held["record"].threads)
    meta = make_meta(args.suite, hw, sys.argv[1:] if argv is None else argv, started,
                     time.perf_counter() - t0, roofs, held["record"])
    if held["record"].contended:
        _progress("warning: other processes competed for the CPU during this run (see meta.load)")
    print(format_table(rows))
    stem = f"{args.suite}-{hw.device}"
    csv_path, json_path = write_results(rows, meta, args.out_dir, stem)
    print(f"\nwrote {csv_path} and {json_path}")
    return 0


def load_roofs(path: str | Path):
    """Roofs from a file written by scripts/measure_roofs.py (its best run) or a run's meta.roofline."""
    from viz_core.measure.roofline import Roofs

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "roofs" in data:
        data = data["roofs"]
    elif "meta" in data:
        data = data["meta"].get("roofline") or {}
    return Roofs.from_dict(data)


def load_results(path: str | Path) -> tuple[dict, list[dict]]:
    """Read a JSON file written by ``write_results`` (for the Benchmarks page)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data.get("meta", {}), data.get("rows", [])


ProgressFn = Callable[[str], None]
