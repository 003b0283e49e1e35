"""Recorded benchmark runs (JSON written by the CLI runner) for the Benchmarks page."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from viz_core.measure.memory import REPO_ROOT

RESULT_DIRS = (REPO_ROOT / "assets" / "bench", REPO_ROOT / "bench_results")


@dataclass(frozen=True)
class BenchRun:
    path: str  # relative to the repo root
    suite: str
    device: str  # "cpu" / "cuda"
    hardware: str  # GPU name or CPU model (+ threads)
    started: str
    argv: str
    rows: tuple[dict, ...]
    recorded: bool  # committed under assets/bench (vs a local bench_results run)

    @property
    def label(self) -> str:
        where = "recorded" if self.recorded else "local run"
        return f"{self.suite} · {self.hardware} · {self.started} ({where})"


def _load(path: Path) -> BenchRun | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    meta = data.get("meta", {}) if isinstance(data, dict) else {}
    hw = meta.get("hardware", {})
    if not data.get("rows") or not hw:  # e.g. a suite's headline summary, not a run table
        return None
    name = hw.get("name", "unknown device")
    if hw.get("device") == "cpu" and hw.get("threads"):
        name = f"{name} ({hw['threads']} threads)"
    return BenchRun(
        path=str(path.relative_to(REPO_ROOT)), suite=meta.get("suite", path.stem.split("-")[0]),
        device=hw.get("device", "?"), hardware=name, started=str(meta.get("started", "")),
        argv=" ".join(map(str, meta.get("argv", []))), rows=tuple(data.get("rows", [])),
        recorded=path.parent == RESULT_DIRS[0],
    )


def list_runs() -> list[BenchRun]:
    """All readable runs, recorded ones first, newest first within each group."""
    runs = [r for d in RESULT_DIRS if d.is_dir() for p in sorted(d.glob("*.json")) if (r := _load(p))]
    return sorted(runs, key=lambda r: (not r.recorded, r.suite, r.device, r.started))


def numeric_columns(rows: tuple[dict, ...]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in cols:
                cols.append(k)
    return cols


def category_columns(rows: tuple[dict, ...]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k, v in r.items():
            if isinstance(v, (str, bool)) and k not in cols:
                cols.append(k)
    return cols
