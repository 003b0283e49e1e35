"""One judge per claim of CLAIMS.md: value(s) in, verdict and a one-line why out.

Every page, lab and the CLI call these; nothing else decides a verdict. A judge compares the value with the
claim's stated range (``RANGES``) widened by a relative tolerance:

- inside the range (± tolerance): **holds**;
- above the range, or below it but within ``NEAR`` of its low end: **holds partly**;
- further below: **does not hold here**.

Claims with several parts (speed *and* memory, counts *and* time, ...) hold when every part does, hold
partly when some do, and do not hold when none does. A part the lab cannot measure (accuracy after
training, training time of a 7B model, ...) caps the verdict at "holds partly", and the why says so.
``measured`` is the caller's description of the value with units and provenance; the judge never edits it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from viz_core.claims.data import CLAIMS, ClaimCheck, Verdict


@dataclass(frozen=True)
class Range:
    low: float
    high: float | None  # None: open above ("at least low")
    unit: str = "×"
    tol: float = 0.1  # relative tolerance on both ends

    def text(self) -> str:
        lo = f"{self.low:g}"
        if self.high is None:
            return f"≥ {lo}{self.unit}"
        return f"{lo}{self.unit}" if self.high == self.low else f"{lo}–{self.high:g}{self.unit}"


NEAR = 0.5  # below the range but at least NEAR·low: same order of magnitude -> "holds partly"

# The stated range of each claim's main number (what the flip test moves across).
RANGES: dict[int, Range] = {
    1: Range(4, 4, " GiB", 0.05),  # 32768² × 4 B
    2: Range(2**30, 2**30, " FLOPs", 0.1),  # "≈1 B" at N = 32768
    3: Range(144, 144, " GiB", 0.1),
    4: Range(2, 4),  # speed; memory 5–20× in RANGE_4_MEMORY
    5: Range(5, 7),
    6: Range(10, 50),
    7: Range(16, 16, "×", 0.25),
    8: Range(1, None),  # each method's ratio divided by the low end of its own range (see RANGES_8)
    9: Range(50, None),  # time ratio; the counts must be exactly n(n+1)/2 vs n
    10: Range(1, 1, "× of the exact cache", 0.01),
    11: Range(8, 8, "×", 0.02),  # in general heads / kv_heads
    12: Range(2, 3),
    13: Range(0, 4, "% wasted", 0.1),  # paging; reservation wastes 60–80%
    14: Range(100, None, "× fewer", 0.1),
    15: Range(1_000_000, 1_000_000, " entries", 0.05),
    16: Range(0, 1, "× the rounding bound", 0.0),
    17: Range(40, 50, "% faster", 0.1),
    18: Range(55, None, "% fewer FLOPs", 0.1),
    19: Range(5, 6, "×", 0.1),
    20: Range(10, 10, "×", 0.1),
    21: Range(5, 5, "×", 0.2),
    22: Range(1, None, "× vs fp32", 0.0),
}
RANGE_4_MEMORY = Range(5, 20)
RANGES_8 = {"local": Range(8, 16), "performer": Range(5, 10), "linformer": Range(4, 8)}
RANGE_13_RESERVED = Range(60, 80, "% wasted", 0.1)
RANGE_17_QUALITY = Range(0, 3, "% worse", 0.1)


def place(value: float | None, r: Range, near: float = NEAR) -> str:
    """'in', 'above', 'near' (below but ≥ near·low) or 'below'; 'none' for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "none"
    lo = r.low * (1 - r.tol) if r.low > 0 else r.low - r.tol
    hi = math.inf if r.high is None else r.high * (1 + r.tol) if r.high > 0 else r.high + r.tol
    if lo <= value <= hi:
        return "in"
    if value > hi:
        return "above"
    return "near" if value >= near * r.low and r.low > 0 else "below"


def _check(cid: int, verdict: Verdict, why: str, measured: str, value: float | None, provenance: str) -> ClaimCheck:
    return ClaimCheck(CLAIMS[cid], measured, verdict, why, value=value, provenance=provenance)


def _single(cid: int, value: float | None, measured: str, provenance: str, *, fmt: str = "{:.3g}",
            r: Range | None = None, unmeasured: str = "") -> ClaimCheck:
    """Judge one number against the claim's range; ``unmeasured`` names a part not measured (caps at PARTLY)."""
    r = r or RANGES[cid]
    p = place(value, r)
    if p == "none":
        return _check(cid, Verdict.NOT_MEASURED, "no value measured here yet", measured, None, provenance)
    v = fmt.format(value) + r.unit
    verdict, why = {
        "in": (Verdict.HOLDS, f"{v} is inside the claimed {r.text()}"),
        "above": (Verdict.PARTLY, f"{v} is beyond the claimed {r.text()}: the claim understates it here"),
        "near": (Verdict.PARTLY, f"{v} is below the claimed {r.text()} but of the same order"),
        "below": (Verdict.NOT_HERE, f"{v} is far below the claimed {r.text()}"),
    }[p]
    if unmeasured and verdict is Verdict.HOLDS:
        verdict, why = Verdict.PARTLY, why + f"; {unmeasured} is not measured here"
    return _check(cid, verdict, why, measured, value, provenance)


def _parts(cid: int, parts: list[tuple[str, bool | None]], measured: str, value: float | None, provenance: str,
           unmeasured: str = "") -> ClaimCheck:
    """Combine named parts (True: reaches the claim, False: does not, None: not measured)."""
    known = [(n, ok) for n, ok in parts if ok is not None]
    if not known:
        return _check(cid, Verdict.NOT_MEASURED, "no value measured here yet", measured, value, provenance)
    good = [n for n, ok in known if ok]
    bad = [n for n, ok in known if not ok]
    if not bad:
        verdict = Verdict.HOLDS
    elif good:
        verdict = Verdict.PARTLY
    else:
        verdict = Verdict.NOT_HERE
    why = "; ".join(x for x in (("holds: " + ", ".join(good)) if good else "",
                                ("does not: " + ", ".join(bad)) if bad else "") if x)
    missing = [n for n, ok in parts if ok is None] + ([unmeasured] if unmeasured else [])
    if missing:
        why += "; not measured here: " + ", ".join(missing)
        if verdict is Verdict.HOLDS:
            verdict = Verdict.PARTLY
    return _check(cid, verdict, why, measured, value, provenance)


def _reaches(value: float | None, r: Range) -> bool | None:
    """True when the value reaches the range (inside or beyond it), None when missing."""
    p = place(value, r)
    return None if p == "none" else p in ("in", "above")


# ------------------------------------------------------------------------------------------ the judges
CLAIMED_1_MIB = {512: 1, 2048: 16, 8192: 256, 32768: 4096}


def judge_1(bytes_by_n: dict[int, float], *, measured: str = "", provenance: str = "computed") -> ClaimCheck:
    """Claim #1: one fp32 N×N score matrix; ``bytes_by_n`` maps N to the bytes computed (or measured)."""
    parts = [(f"N={n}: {bytes_by_n[n] / 2**20:,.4g} MiB vs {mib:,} claimed",
              place(bytes_by_n[n] / 2**20, Range(mib, mib, " MiB", RANGES[1].tol)) == "in")
             for n, mib in CLAIMED_1_MIB.items() if n in bytes_by_n]
    out = _parts(1, parts, measured, bytes_by_n.get(32768, math.nan) / 2**30, provenance)
    return out if out.verdict is not Verdict.HOLDS else _check(
        1, Verdict.HOLDS, "N² × 4 bytes gives exactly the claimed sizes when MB and GB mean MiB and GiB",
        measured, out.value, provenance)


def judge_2(flops: float, entries: float, *, measured: str = "", provenance: str = "computed") -> ClaimCheck:
    """Claim #2: the claimed "FLOPs" at N = 32768 (≈ 1 B) against real forward FLOPs and the N² entry count."""
    r = RANGES[2]
    if place(flops, r) == "in":
        return _check(2, Verdict.HOLDS, f"{flops:.3g} FLOPs matches the claimed ≈1 B", measured, flops, provenance)
    if place(entries, r) == "in":
        return _check(2, Verdict.PARTLY, f"the claimed numbers are the N² = {entries:.3g} score entries; forward "
                      f"FLOPs are {flops:.3g}, {flops / entries:.0f}× more", measured, flops, provenance)
    return _check(2, Verdict.NOT_HERE, f"neither FLOPs ({flops:.3g}) nor entries ({entries:.3g}) are ≈1 B",
                  measured, flops, provenance)


def judge_3(total_bytes: float, *, measured: str = "", provenance: str = "computed") -> ClaimCheck:
    """Claim #3: GPT-3 scores at 2048 tokens, fp32, 96 heads × 96 layers kept at once (claimed ≈144 GB)."""
    return _single(3, total_bytes / 2**30, measured, provenance, fmt="{:.4g}")


def judge_4(speedup: float | None, memory_ratio: float | None, exact: bool | None = None, *, measured: str = "",
            provenance: str = "") -> ClaimCheck:
    """Claim #4: FlashAttention 2–4× faster, 5–20× less memory, exact. Speed and memory decide; beyond the range
    counts as reaching it (the saving grows with N: the repo's own 10× at 2K, 20× at 4K). Exactness is a gate:
    an inexact result does not hold, an unchecked one caps the verdict at "holds partly"."""
    if exact is False:
        return _check(4, Verdict.NOT_HERE, "the output is not exact attention", measured, speedup, provenance)
    parts = [(f"speed {speedup:.2f}× (claim {RANGES[4].text()})" if speedup is not None else "speed",
              _reaches(speedup, RANGES[4])),
             (f"memory {memory_ratio:.3g}× less (claim {RANGE_4_MEMORY.text()})" if memory_ratio is not None
              else "memory", _reaches(memory_ratio, RANGE_4_MEMORY))]
    out = _parts(4, parts, measured, speedup, provenance, unmeasured="" if exact else "exact output")
    return out if not exact or out.verdict is not Verdict.HOLDS else _check(
        4, Verdict.HOLDS, out.why + "; exact (checked against float64)", measured, speedup, provenance)


def judge_5(speedup: float | None, *, measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #5: FlashAttention-2 5–7× faster than standard attention."""
    return _single(5, speedup, measured, provenance, fmt="{:.2f}")


def judge_6(speedup: float | None, accuracy_loss_pct: float | None = None, *, measured: str = "",
            provenance: str = "") -> ClaimCheck:
    """Claim #6: linear attention 10–50× faster at n=4096, 1–2% accuracy loss."""
    if accuracy_loss_pct is None:
        return _single(6, speedup, measured, provenance, fmt="{:.1f}", unmeasured="the accuracy part (needs a "
                       "model trained with linear attention)")
    return _parts(6, [(f"speed {speedup:.1f}×", _reaches(speedup, RANGES[6])),
                      (f"accuracy loss {accuracy_loss_pct:.1f}%", accuracy_loss_pct <= 2 * 1.1)],
                  measured, speedup, provenance)


def judge_7(speedup: float | None, *, measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #7: window 128 at n=2048 gives 16× (N/W); ±25% counts as matching."""
    return _single(7, speedup, measured, provenance, fmt="{:.1f}")


def judge_8(local: float | None, performer: float | None, linformer: float | None, *, measured: str = "",
            provenance: str = "") -> ClaimCheck:
    """Claim #8: at n=4096 local 8–16×, Performer 5–10×, Linformer 4–8× (each must reach its low end)."""
    vals = {"local": local, "performer": performer, "linformer": linformer}
    parts = [(f"{k} {v:.1f}× (claim {RANGES_8[k].text()})" if v is not None else k, _reaches(v, RANGES_8[k]))
             for k, v in vals.items()]
    worst = min((v / RANGES_8[k].low for k, v in vals.items() if v is not None), default=None)
    return _parts(8, parts, measured, worst, provenance)


def judge_9(count_ratio: float, speedup: float | None, n: int = 100, *, measured: str = "",
            provenance: str = "") -> ClaimCheck:
    """Claim #9: counts n(n+1)/2 vs n (5,050 vs 100 at n=100) and a ≥ 50× speed-up."""
    expected = (n + 1) / 2
    if abs(count_ratio - expected) > 0.01 * expected:
        return _check(9, Verdict.NOT_HERE, f"the counted K/V ratio {count_ratio:.2f}× is not n(n+1)/2 ÷ n = "
                      f"{expected:.1f}×", measured, speedup, provenance)
    if speedup is None:
        return _check(9, Verdict.PARTLY, f"the counts are exactly n(n+1)/2 vs n ({expected:.1f}×); time not "
                      "measured", measured, None, provenance)
    if _reaches(speedup, RANGES[9]):
        return _check(9, Verdict.HOLDS, f"the counts are exactly {expected:.1f}× and time follows: {speedup:.1f}×",
                      measured, speedup, provenance)
    return _check(9, Verdict.PARTLY, f"the counts are exactly {expected:.1f}×, but time is only {speedup:.1f}× "
                  "faster: each step also pays for Q, the MLP and per-call overhead", measured, speedup, provenance)


def judge_10(ratio_mha: float, ratio_gqa: float | None = None, *, measured: str = "",
             provenance: str = "computed") -> ClaimCheck:
    """Claim #10: the popular formula ÷ the exact cache bytes, for an MHA model and (optionally) a GQA one."""
    r = RANGES[10]
    if place(ratio_mha, r) != "in":
        return _check(10, Verdict.NOT_HERE, f"even for multi-head attention the formula gives {ratio_mha:.3g}× "
                      "the exact bytes", measured, ratio_mha, provenance)
    if ratio_gqa is None or place(ratio_gqa, r) == "in":
        return _check(10, Verdict.HOLDS, "the formula equals layers × kv_heads × head_dim × 2 × bytes here",
                      measured, ratio_mha, provenance)
    return _check(10, Verdict.PARTLY, f"exact for multi-head attention; with GQA it counts {ratio_gqa:.3g}× too "
                  "much (d_model must become kv_heads × head_dim)", measured, ratio_mha, provenance)


def judge_11(mha_bytes: float, shared_bytes: float, heads: int, kv_heads: int = 1, *, measured: str = "",
             provenance: str = "") -> ClaimCheck:
    """Claim #11: sharing K/V among heads shrinks the cache heads/kv_heads× (8 heads, one K/V -> 8×).
    Judged on measured cache bytes of a model with ``heads`` query heads and ``kv_heads`` K/V heads."""
    ratio = mha_bytes / shared_bytes
    expect = heads / kv_heads
    r = Range(expect, expect, "×", RANGES[11].tol)
    p = place(ratio, r)
    if p == "in":
        return _check(11, Verdict.HOLDS, f"measured cache bytes shrink {ratio:.3g}× = heads/kv_heads "
                      f"({heads}/{kv_heads}), exactly as the claim reasons", measured, ratio, provenance)
    if ratio > 1:
        return _check(11, Verdict.PARTLY, f"the cache shrinks {ratio:.3g}×, not heads/kv_heads = {expect:g}×",
                      measured, ratio, provenance)
    return _check(11, Verdict.NOT_HERE, f"the shared-K/V cache is not smaller ({ratio:.3g}×)", measured, ratio,
                  provenance)


def judge_12(speedup: float | None, output_identical: bool | None, tokens_per_call: float | None = None, *,
             measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #12: 2–3× with no quality loss. A speed-up above tokens-per-target-call is impossible (the target
    dominates), so it is reported as noise to re-measure, never as a finding."""
    if output_identical is False:
        return _check(12, Verdict.NOT_HERE, "the output differs from the target's own decoding: a bug, not a "
                      "trade-off", measured, speedup, provenance)
    if speedup is not None and tokens_per_call and speedup > tokens_per_call * 1.05:
        return _check(12, Verdict.NOT_MEASURED, f"{speedup:.2f}× exceeds the {tokens_per_call:.2f} tokens per "
                      "target call that bound it: load noise, re-measure", measured, speedup, provenance)
    out = _single(12, speedup, measured, provenance, fmt="{:.2f}")
    return _check(12, out.verdict, out.why + ("; output identical to the target's" if output_identical else ""),
                  measured, speedup, provenance)


def judge_13(paged_waste_pct: float, reserved_waste_pct: float, *, measured: str = "",
             provenance: str = "") -> ClaimCheck:
    """Claim #13 (Kwon et al.): reservation wastes 60–80% of KV memory, paging under 4%."""
    return _parts(13, [(f"paging wastes {paged_waste_pct:.1f}% (claim < 4%)",
                        place(paged_waste_pct, RANGES[13]) == "in"),
                       (f"reservation wastes {reserved_waste_pct:.0f}% (claim 60–80%)",
                        _reaches(reserved_waste_pct, RANGE_13_RESERVED))], measured, paged_waste_pct, provenance)


def judge_14(position_ratio: float, value_ratio: float, *, measured: str = "",
             provenance: str = "computed") -> ClaimCheck:
    """Claim #14: '100× fewer elements' — sequence positions (pixels ÷ patches) and input values."""
    return _parts(14, [(f"{position_ratio:.0f}× fewer sequence positions", _reaches(position_ratio, RANGES[14])),
                       (f"{value_ratio:.3g}× fewer input values", _reaches(value_ratio, RANGES[14]))],
                  measured, position_ratio, provenance)


def judge_15(entries_512: float, entries_224: float, *, measured: str = "", provenance: str = "computed") -> ClaimCheck:
    """Claim #15: ≈1 M attention entries at 512×512 and ≈38 K at 224×224 (16×16 patches)."""
    return _parts(15, [(f"{entries_512:,.0f} entries at 512×512 (claim ≈1 M)", place(entries_512, RANGES[15]) == "in"),
                       (f"{entries_224:,.0f} at 224×224 (claim ≈38 K)",
                        place(entries_224, Range(38_000, 38_000, "", RANGES[15].tol)) == "in")],
                  measured, entries_512, provenance)


def judge_16(diag_deviation: float, rounding_bound: float, length_ok: bool | None, *, measured: str = "",
             provenance: str = "") -> ClaimCheck:
    """Claim #16: q·k depends only on distance (deviation along diagonals within the rounding bound) and
    'any length' (``length_ok``: loss beyond the training context within 5% of inside, or no unseen angles)."""
    rel_ok = diag_deviation <= rounding_bound
    return _parts(16, [(f"q·k depends only on distance (deviation {diag_deviation:.1e} ≤ bound {rounding_bound:.1e})"
                        if rel_ok else f"distance-only (deviation {diag_deviation:.1e} > bound {rounding_bound:.1e})",
                        rel_ok), ("any length without scaling", length_ok)],
                  measured, diag_deviation / rounding_bound if rounding_bound else None, provenance)


def judge_17(speedup_pct: float, quality_drop_pct: float, *, measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #17: dropping half the attention layers: 40–50% faster, ~3% quality drop."""
    return _parts(17, [(f"{speedup_pct:.0f}% faster (claim 40–50%)", _reaches(speedup_pct, RANGES[17])),
                       (f"quality {quality_drop_pct:.1f}% worse (claim ~3%)",
                        place(quality_drop_pct, RANGE_17_QUALITY) == "in" or quality_drop_pct < 0)],
                  measured, speedup_pct, provenance)


def judge_18(flops_saving_pct: float, *, measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #18: PyramidDrop 55% fewer inference FLOPs (and 40% less training time, not measurable here)."""
    return _single(18, flops_saving_pct, measured, provenance, fmt="{:.0f}",
                   unmeasured="the 40% training-time part (LLaVA-NeXT)")


def judge_19(speedup: float | None, loss_increase_pct: float | None = None, *, measured: str = "",
             provenance: str = "") -> ClaimCheck:
    """Claim #19: ternary weights on x86 up to 6× faster (5–6×), lossless. Not faster at all: does not hold."""
    if speedup is not None and math.isfinite(speedup) and speedup <= 1.0:
        return _check(19, Verdict.NOT_HERE, f"the best ternary kernel is {speedup:.2f}× fp32: not faster",
                      measured, speedup, provenance)
    if loss_increase_pct is None:
        return _single(19, speedup, measured, provenance, fmt="{:.2f}", unmeasured="'lossless'")
    return _parts(19, [(f"speed {speedup:.2f}× (claim {RANGES[19].text()})", _reaches(speedup, RANGES[19])),
                       (f"loss {loss_increase_pct:+.1f}% (claim lossless)", loss_increase_pct <= 1.0)],
                  measured, speedup, provenance)


def judge_20(comparison_ratio: float, kept_weight: float | None = None, *, measured: str = "",
             provenance: str = "computed") -> ClaimCheck:
    """Claim #20: 1,000,000 vs 10,000 comparisons called '10× faster, same quality'. ``kept_weight``: share of
    exact attention's weight a 10-key method can see (same quality needs ≈ 1)."""
    p = place(comparison_ratio, RANGES[20])
    if p != "in":
        return _check(20, Verdict.NOT_HERE, f"the claim's own counts give {comparison_ratio:.3g}×, not 10×; same "
                      "quality depends on the method", measured, comparison_ratio, provenance)
    if kept_weight is not None and kept_weight < 0.99:
        return _check(20, Verdict.PARTLY, f"10× fewer comparisons, but they keep only {kept_weight:.0%} of exact "
                      "attention's weight", measured, comparison_ratio, provenance)
    return _check(20, Verdict.HOLDS, "the counts give 10×", measured, comparison_ratio, provenance)


def judge_21(throughput_ratio: float | None, length_exponent: float | None, state_constant: bool | None = None, *,
             measured: str = "", provenance: str = "") -> ClaimCheck:
    """Claim #21: about 5× a same-size Transformer's generation throughput (4–6×), linear in length
    (``length_exponent``: slope of log time vs log length, linear when ≤ 1.2), and unlimited length, which a
    lab can only check as its memory side: a state whose bytes stay the same at every context
    (``state_constant``; None when not measured)."""
    return _parts(21, [(f"throughput {throughput_ratio:.1f}× (claim ≈5×)" if throughput_ratio is not None
                        else "throughput", _reaches(throughput_ratio, RANGES[21])),
                       (f"time ∝ length^{length_exponent:.2f} (claim linear)" if length_exponent is not None
                        else "linear in length", None if length_exponent is None else length_exponent <= 1.2),
                       ("a fixed-size state at every context (the memory side of 'unlimited length')",
                        state_constant)],
                  measured, throughput_ratio, provenance)


def judge_22(max_rel_error: float | None, speedup: float | None = None, *, measured: str = "",
             provenance: str = "") -> ClaimCheck:
    """Claim #22: a lookup-table kernel reproduces the ternary product (``max_rel_error`` vs the float matmul,
    exact when ≤ 1e-4) without multiplications; ``speedup`` vs fp32 says whether that pays off here."""
    if max_rel_error is None:
        return not_measured(22, "no lookup-table kernel measured here yet", measured, provenance)
    if not max_rel_error <= 1e-4:
        return _check(22, Verdict.NOT_HERE, f"the lookup-table result differs from the matmul by {max_rel_error:.1e}",
                      measured, speedup, provenance)
    return _parts(22, [("table lookups and additions reproduce the product", True),
                       (f"{speedup:.2f}× vs fp32" if speedup is not None else "speed", _reaches(speedup, RANGES[22]))],
                  measured, speedup, provenance)


def not_measured(cid: int, why: str, measured: str = "not measured in this run", provenance: str = "") -> ClaimCheck:
    """The verdict for a claim with no value in this run (a slow row not run yet, a page not built yet)."""
    return _check(cid, Verdict.NOT_MEASURED, why, measured, None, provenance)


JUDGES = {i: globals()[f"judge_{i}"] for i in range(1, 23)}

__all__ = ["Range", "RANGES", "RANGES_8", "RANGE_4_MEMORY", "JUDGES", "place", "NEAR", "not_measured"] + [f"judge_{i}" for i in range(1, 23)]
