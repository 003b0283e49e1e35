"""The Benchmarks page's runs as data: recorded files, live runs and uploads; validation, CSV/JSON,
comparisons, and the roofs each run is judged against.

Every run is ``{"schema_version", "meta", "rows"}`` as the CLI writes it (``viz_core.cli.runner``). Files without a
``schema_version`` are schema 1 (recorded before the roofline columns); they load, with a note. An uploaded
file is parsed as JSON only (never executed or unpickled), size-limited and checked field by field.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from viz_core.errors import InputError, LabError
from viz_core.labs import bench_formulas as BF
from viz_core.measure import roofline as R
from viz_core.measure.memory import REPO_ROOT

SCHEMA_VERSION = 2  # what the CLI and the page write: 1 (implicit) was before roofline columns, versions and load
SCHEMA_VERSIONS = (1, 2)  # readable here
MAX_UPLOAD_BYTES = 2 * 2**20
MAX_ROWS = 5000
SUITES = ("attention", "flash", "decode", "rope", "ssm", "lowbit", "claims")
# columns that identify a point (the rest are measurements), for matching two runs
KEY_COLUMNS = ("part", "label", "method", "variant", "layout", "prompt", "gamma", "factor", "n", "N",
               "heads", "H", "head_dim", "d", "D", "batch", "B", "dtype", "causal", "new_tokens", "draft",
               "draft_runs_as")

RECORDED_ROOFS = REPO_ROOT / "assets" / "bench" / "roofs-cpu.json"
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
    schema_version: int = 1
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def note(self) -> str:
        if self.schema_version < 2:
            return ("Recorded with schema 1 (before roofline columns, library versions and load were stored): "
                    "FLOPs and bytes are filled in from the formulas where the row allows it.")
        return ""

    @property
    def label(self) -> str:
        where = "recorded" if self.recorded else "local run"
        return f"{self.suite} · {self.hardware} · {self.started} ({where})"


def _load(path: Path) -> BenchRun | None:
    try:
        return parse_run(path.read_bytes(), source=str(path.relative_to(REPO_ROOT)),
                         recorded=path.parent == RESULT_DIRS[0])
    except (OSError, InputError):  # e.g. a suite's headline summary, not a run table
        return None


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def parse_run(raw: bytes | str, *, source: str = "upload", recorded: bool = False,
              max_bytes: int = MAX_UPLOAD_BYTES) -> BenchRun:
    """Validate and read one run (JSON text only). Raises ``InputError`` with a plain message."""
    if len(raw) > max_bytes:
        raise InputError(f"{source}: {len(raw) / 2**20:.1f} MiB is over the {max_bytes / 2**20:.0f} MiB limit for a run.")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=lambda c: None)  # NaN / Infinity become empty cells
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{source}: not a JSON file written by `python -m viz_core bench` ({e}).") from e
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict) or not isinstance(data.get("rows"), list):
        raise InputError(f"{source}: expected an object with \"meta\" and \"rows\" (the CLI's JSON schema).")
    meta = data["meta"]
    version = data.get("schema_version", meta.get("schema_version", 1))
    if not isinstance(version, int) or isinstance(version, bool) or version not in SCHEMA_VERSIONS:
        raise InputError(f"{source}: schema version {version!r} is not one this lab reads "
                         f"({', '.join(map(str, SCHEMA_VERSIONS))}).")
    suite, hw = meta.get("suite"), meta.get("hardware")
    if suite not in SUITES:
        raise InputError(f"{source}: unknown suite {suite!r}; expected one of {', '.join(SUITES)}.")
    if not isinstance(hw, dict) or not isinstance(hw.get("device"), str):
        raise InputError(f"{source}: meta.hardware must describe the device it ran on.")
    rows = data["rows"]
    if not rows or len(rows) > MAX_ROWS:
        raise InputError(f"{source}: a run needs 1 to {MAX_ROWS} rows (got {len(rows)}).")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not all(isinstance(k, str) and _scalar(v) for k, v in r.items()):
            raise InputError(f"{source}: row {i} is not a flat record of numbers and text.")
    name = str(hw.get("name", "unknown device"))[:120]
    if hw.get("device") == "cpu" and hw.get("threads"):
        name = f"{name} ({hw['threads']} threads)"
    argv = meta.get("argv", [])
    return BenchRun(path=source, suite=suite, device=hw["device"][:16], hardware=name,
                    started=str(meta.get("started", ""))[:40],
                    argv=" ".join(map(str, argv if isinstance(argv, list) else []))[:400],
                    rows=tuple(rows), recorded=recorded, schema_version=version, meta=meta)


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


# ------------------------------------------------------------------------------------------ CSV / JSON
def _columns(rows) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return cols


def rows_to_csv(rows) -> str:
    """The CLI's CSV: one column per key in first-seen order, empty cells for missing values."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _cell(v: str):
    if v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def rows_from_csv(text: str) -> list[dict]:
    """Read rows back from ``rows_to_csv`` (numbers and booleans restored, empty cells dropped)."""
    return [{k: _cell(v) for k, v in r.items() if v != ""} for r in csv.DictReader(io.StringIO(text))]


def run_to_json(meta: dict, rows) -> str:
    """The CLI's JSON document for a run."""
    return json.dumps({"schema_version": meta.get("schema_version", SCHEMA_VERSION), "meta": meta,
                       "rows": list(rows)}, indent=1, default=str)


# ------------------------------------------------------------------------------------------ comparing
def point_key(row: dict) -> tuple:
    return tuple((k, str(row[k])) for k in KEY_COLUMNS if row.get(k) not in (None, ""))


def compare(a: BenchRun, b: BenchRun) -> list[dict]:
    """Points present in both runs (same identifying columns): each time, and b's time ÷ a's."""
    row_seconds = R.row_seconds
    if a.suite != b.suite:
        raise InputError(f"Compare runs of the same suite (got {a.suite} and {b.suite}).")
    index = {point_key(r): r for r in a.rows if row_seconds(r)}
    out = []
    for r in b.rows:
        ra = index.get(point_key(r))
        tb = row_seconds(r)
        if ra is None or not tb:
            continue
        ta = row_seconds(ra)
        point = " · ".join(f"{k}={v}" for k, v in point_key(r))
        out.append({"point": point, "time_a_s": ta, "time_b_s": tb, "b_over_a": tb / ta,
                    "pct_of_roof_a": ra.get("pct_of_roof"), "pct_of_roof_b": r.get("pct_of_roof")})
    return out


# ------------------------------------------------------------------------------------------ recorded runs
def recorded_cpu_roofs(path: Path = RECORDED_ROOFS) -> tuple[R.Roofs, dict] | None:
    """The roofs recorded by scripts/measure_roofs.py and its summary (median, quartiles), if recorded."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return R.Roofs.from_dict(doc["roofs"]), doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def roofs_for_run(run: BenchRun) -> tuple[R.Roofs | None, str]:
    """The roofs a run is judged against, and where they come from."""
    own = run.meta.get("roofline") if isinstance(run.meta, dict) else None
    if isinstance(own, dict):
        try:
            return R.Roofs.from_dict(own), f"measured with the run ({own.get('measured_at', '')})"
        except TypeError:
            pass
    hw = run.meta.get("hardware", {}) if isinstance(run.meta, dict) else {}
    if run.device == "cuda":
        roofs = R.spec_roofs(str(hw.get("name", "")))
        return roofs, "spec sheet of the GPU" if roofs else "unknown GPU: no roof"
    rec = recorded_cpu_roofs()
    threads = {r.get("threads") for r in run.rows if r.get("threads")} or {hw.get("threads")}
    if rec and rec[0].name == hw.get("name") and threads == {rec[0].threads}:
        return rec[0], f"recorded roofs of this CPU, {rec[0].threads} thread ({rec[1].get('measured_at', '')})"
    return None, "no roofs recorded for this CPU and thread count"


def with_formulas(run: BenchRun) -> list[dict]:
    """The run's rows, with FLOPs and bytes filled in from the formulas where missing, roof columns added."""
    rows = [dict(r) for r in run.rows]
    for r in rows:
        if "bytes_moved" not in r:
            try:
                _fill(run.suite, r)
            except (KeyError, ValueError, TypeError, LabError):
                continue  # a row the formulas do not cover (e.g. a loss measurement) stays as it was
    if run.suite == "decode" and any("bytes_moved" not in r and r.get("method") for r in rows):
        try:
            from viz_core.decoding.generate import load_model

            dims = {"target": BF.model_dims(load_model("tiny-gpt", "cpu")[0]),
                    "draft": BF.model_dims(load_model("tiny-gpt-draft", "cpu")[0])}
            rows = [BF.decode_row(r, dims) if "bytes_moved" not in r else r for r in rows]
        except (LabError, OSError, KeyError):
            pass
    if run.suite == "ssm" and any("bytes_moved" not in r for r in rows):
        try:
            dims = BF.ssm_dims()
        except (LabError, OSError, KeyError, ValueError):
            dims = None  # prefill rows need no model
        rows = [BF.ssm_row(r, dims) if "bytes_moved" not in r else r for r in rows]
    roofs, _ = roofs_for_run(run)
    if roofs is not None and any("pct_of_roof" not in r for r in rows):
        R.annotate_rows(rows, roofs)
    return rows


def _fill(suite: str, r: dict) -> None:
    if suite == "flash":
        BF.flash_row(r)
    elif suite == "rope" and r.get("part") == "apply":
        r["flops"], r["bytes_moved"] = BF.rope_point(int(r["B"]), int(r["H"]), int(r["N"]), int(r["D"]), str(r["dtype"]))
    elif suite == "lowbit":
        BF.lowbit_row(r)
    elif suite == "attention" and r.get("time_s"):
        fl, q, _, formula = BF.attention_point(str(r["label"]), int(r["n"]), int(r["heads"]), int(r["head_dim"]),
                                               str(r["dtype"]), int(r.get("batch", 1)))
        r.setdefault("flops", fl)
        r["bytes_moved"], r["bytes_formula"] = q, formula


def default_roofs(device: str, threads: int) -> tuple[R.Roofs | None, str]:
    """Roofs to judge against before any are measured in this server: the recorded roofs of this CPU at
    this thread count, or the spec sheet of this GPU."""
    if device == "cuda":
        import torch

        roofs = R.spec_roofs(torch.cuda.get_device_name())
        return roofs, "spec sheet (measure for the measured matmul and bandwidth)" if roofs else "unknown GPU"
    from viz_core.device import _cpu_model

    rec = recorded_cpu_roofs()
    if rec and rec[0].name == _cpu_model() and rec[0].threads == threads:
        return rec[0], f"recorded {rec[1].get('measured_at', '')} by scripts/measure_roofs.py (best of {len(rec[1]['runs'])})"
    return None, f"no roofs recorded for this CPU at {threads} thread(s): measure them"

