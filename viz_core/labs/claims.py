"""The Claims page: every claim of CLAIMS.md in one table, each judged by its judge (viz_core.claims.judges).

A row is the claim, its source and condition, the value the lab has for it, the computed verdict, one line on
why, where the value comes from, and the page that teaches it. Values come from the teaching pages' own claim
functions (so a verdict is computed in exactly one place):

- **computed** (formulas) and **fast live** rows run on every call (a few seconds on a 2-core CPU);
- **recorded** rows read the committed benchmark run of the chosen device (assets/bench, date and hardware in
  the provenance);
- **slow live** rows (tiny-model runs of 5–20 s) run only with ``Config.slow``; otherwise they say so.

``python -m viz_core bench claims`` prints the same table and writes it as CSV/JSON.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import torch

from viz_core.claims import CLAIMS, ClaimCheck, Verdict, not_measured
from viz_core.device import resolve_device
from viz_core.errors import InputError
from viz_core.measure.budget import load_factor
from viz_core.measure.threads import torch_threads

# claim id -> (URL stem of the page that teaches it, how its value is obtained)
PAGES: dict[int, str] = {1: "flash_attention", 2: "attention_lab", 3: "flash_attention", 4: "flash_attention",
                         5: "flash_attention", 6: "attention_lab", 7: "attention_lab", 8: "attention_lab",
                         9: "kv_cache", 10: "kv_cache", 11: "kv_cache", 12: "speculative_decoding",
                         13: "paged_attention", 14: "vit_patching", 15: "vit_patching", 16: "rope_scaling",
                         17: "drop_redundancy", 18: "drop_redundancy", 19: "low_bit", 20: "attention_lab",
                         21: "ssm", 22: "low_bit"}
SLOW = (9, 12, 17, 18, 19)  # tiny-model runs: measured on request


@dataclass(frozen=True)
class Config:
    device: str = "auto"
    threads: int = 1
    slow: bool = False  # also run the slow live rows (tiny GPT / ViT runs, ≈ 20-40 s on a 2-core CPU)
    seed: int = 0
    run_id: int = 0  # bump to re-measure (caches key on the config)


@dataclass(frozen=True)
class Row:
    id: int
    claim: str
    source: str  # source and condition, as CLAIMS.md states them
    value: float | None  # the number the judge compared (units in ``measured``)
    measured: str
    verdict: str
    why: str
    provenance: str  # computed / measured live (...) / recorded (file, date, hardware) / not measured
    page: str  # URL stem of the teaching page ("" when none yet)
    seconds: float  # time to obtain this row's value here


@dataclass(frozen=True)
class Result:
    rows: tuple[Row, ...]
    device: str
    threads: int
    measured_at: str  # ISO time (UTC) of this run
    slow: bool


def _flash(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import flash

    path = flash.ASSETS_BENCH / f"flash-{dev}.json"
    res = flash.load_recorded(str(path)) if path.exists() else None
    return flash.claim_checks(res)


def _attention(dev: str, seed: int) -> list[ClaimCheck]:
    from viz_core.labs import attention_lab as al

    rows, prov = al.recorded_rows(dev)
    return al.claim_checks(rows, window_mass_n1000=al.window_mass_n1000(seed), provenance=prov)


def _kv_fast(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import kv_cache as kv

    return [kv.claim_10_check(), kv.claim_11_check(kv.tiny_gpt_cache_bytes(dev), dev)]


def _paged(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import paged

    return [paged.claim_13_check(paged.simulate(paged.ServeConfig()))]


def _vit(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import vit_patching

    return [c for c in vit_patching.claim_checks() if c.claim.id in (14, 15)]


def _rope(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import rope, rope_scaling

    return [rope_scaling.claim16(rope.relative(rope.RelativeConfig()), rope_scaling.scaling(rope_scaling.ScalingConfig()))]


def _kv_slow(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import kv_cache as kv

    return [kv.claim_9("tiny-gpt", dev, "float32").check]


def _spec(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import speculative as sp

    return [sp.claim_12_check(sp.run(sp.SpecConfig(device=dev, sweep=(2, 4), repeats=3)))]


def _drop(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import drop_redundancy as red

    return [red.layer_claim(red.layer_drop(red.LayerDropConfig(device=dev))),
            red.token_claim(red.token_drop(red.TokenDropConfig(device=dev)))]


def _lowbit(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import low_bit

    # a 2048 × 2048 layer (1B-class): its kernels fit in a request's memory beside the other slow rows (the
    # 4096 × 4096 layer alone grew the process by 221 MiB); the page's own run offers the larger layers
    return [low_bit.bitnet_claim(low_bit.run(low_bit.QuantConfig(layer_in=2048, layer_out=2048, device=dev)))]


def _ssm(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import ssm

    d = ssm.recorded_decode()
    return [] if d is None else [ssm.claim_21(d, provenance=f"recorded (assets/bench/ssm-cpu.json, {d.device}, "
                                                            f"{d.threads} thread(s))")]


def _lut(dev: str) -> list[ClaimCheck]:
    from viz_core.labs import low_bit_kernels as kl

    return [kl.lut_claim(kl.run(kl.KernelConfig(source="recorded")))]


FAST: tuple[Callable[[str], list[ClaimCheck]], ...] = (_flash, _kv_fast, _paged, _vit, _rope, _ssm, _lut)
SLOW_RUNS: tuple[tuple[tuple[int, ...], Callable[[str], list[ClaimCheck]]], ...] = (
    ((9,), _kv_slow), ((12,), _spec), ((17, 18), _drop), ((19,), _lowbit))


# Seconds each slow run took here (2026-11-30, CPU, 1 torch thread, load average 1.2 on 2 cores): claim #9
# 0.4, #12 0.7, #17-18 13.9, #19 1.2; the fast rows 0.7. ``estimate_s`` scales them by the machine's load.
SLOW_S = {"_kv_slow": 0.4, "_spec": 0.7, "_drop": 13.9, "_lowbit": 1.2}
FAST_S = 0.7
MEASURED_LOAD_PER_CORE = 0.6


def estimate_s(cfg: Config) -> float:
    """Seconds ``run(cfg)`` should take on this machine now: the times measured above, scaled by how much
    busier the CPU is than when they were measured (load average per core)."""
    return (FAST_S + (sum(SLOW_S.values()) if cfg.slow else 0.0)) * load_factor(MEASURED_LOAD_PER_CORE)


def _row(c: ClaimCheck, seconds: float) -> Row:
    return Row(c.claim.id, c.claim.text, c.claim.source, None if c.value is None else float(c.value), c.measured,
               c.verdict.value, c.why, c.provenance or "computed", PAGES.get(c.claim.id, ""), round(seconds, 3))


def run(cfg: Config, _progress: Callable[[float, str], None] | None = None) -> Result:
    """Every claim's row: see the module docstring. ``cfg.threads`` is the sidebar's thread count.
    ``_progress(fraction, text)`` is called after each run (ui.longrun's Stop raises from it)."""
    if cfg.threads < 1:
        raise InputError("Use at least one CPU thread.")
    dev = resolve_device(cfg.device).type
    checks: dict[int, tuple[ClaimCheck, float]] = {}
    with torch_threads(cfg.threads):
        jobs = [(f, ()) for f in FAST] + [(_attention, (cfg.seed,))]
        if cfg.slow:
            jobs += [(f, ()) for _, f in SLOW_RUNS]
        total = FAST_S + sum(SLOW_S.get(fn.__name__, 0.0) for fn, _ in jobs)
        done = 0.0
        for fn, extra in jobs:
            t0 = time.perf_counter()
            out = fn(dev, *extra)
            dt = (time.perf_counter() - t0) / max(1, len(out))
            for c in out:
                checks.setdefault(c.claim.id, (c, dt))
            done += SLOW_S.get(fn.__name__, FAST_S / len(FAST + (_attention,)))
            if _progress is not None:
                _progress(min(1.0, done / total), f"claims {', '.join(f'#{c.claim.id}' for c in out)} judged")
        threads = torch.get_num_threads()
    rows = []
    for cid in sorted(CLAIMS):
        if cid in checks:
            rows.append(_row(*checks[cid]))
            continue
        why = ("a tiny-model run of several seconds: press 'Measure the slow rows'" if cid in SLOW else
               "no page of this lab measures it yet")
        rows.append(_row(not_measured(cid, why, provenance="on request" if cid in SLOW else "not measured"), 0.0))
    return Result(tuple(rows), dev, threads, datetime.now(timezone.utc).isoformat(timespec="seconds"), cfg.slow)


def to_csv(res: Result) -> str:
    """The table as CSV (one row per claim), with the run's device, threads and time in every row."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "claim", "source / condition", "value", "measured", "verdict", "why", "provenance", "page",
                "seconds", "device", "threads", "measured_at"])
    for r in res.rows:
        w.writerow([r.id, r.claim, r.source, "" if r.value is None else f"{r.value:.6g}", r.measured, r.verdict,
                    r.why, r.provenance, r.page, r.seconds, res.device, res.threads, res.measured_at])
    return buf.getvalue()


def counts(res: Result) -> dict[str, int]:
    """How many rows have each verdict."""
    return {v.value: sum(r.verdict == v.value for r in res.rows) for v in Verdict}


__all__ = ["Config", "Row", "Result", "run", "to_csv", "counts", "PAGES", "SLOW"]
