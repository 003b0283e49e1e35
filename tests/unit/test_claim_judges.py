"""Every claim's judge flips its verdict when the value crosses the claim's stated range.

For each claim: one value inside the claimed range (the verdict it must give) and one outside (a different
verdict). Claim #11 is judged on the measured KV-cache bytes of the real MHA / GQA / MQA tiny GPTs.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from viz_core import claims
from viz_core.claims import CLAIMS, JUDGES, Verdict

H, P, N = Verdict.HOLDS, Verdict.PARTLY, Verdict.NOT_HERE
B = {n: n * n * 4 for n in (512, 2048, 8192, 32768)}  # fp32 bytes, the right arithmetic
B16 = {n: n * n * 2 for n in B}  # fp16: half the claimed sizes
GPT3 = 2048**2 * 4 * 96 * 96

# claim id -> (args inside, verdict inside, args outside, verdict outside)
CASES = {
    1: ((B,), H, (B16,), N),
    2: ((2**30, 2**30), H, (4 * 2**30 * 64, 2**30), P),
    3: ((GPT3,), H, (GPT3 / 2,), P),
    4: ((3.0, 10.0, True), H, (0.5, 1.5, True), N),
    5: ((6.0,), H, (1.2,), N),
    6: ((20.0, 1.0), H, (3.0, 1.0), P),
    7: ((15.0,), H, (2.0,), N),
    8: ((9.0, 6.0, 5.0), H, (2.0, 1.0, 1.0), N),
    9: ((50.5, 55.0), H, (50.5, 6.0), P),
    10: ((1.0, 1.0), H, (1.0, 8.0), P),
    11: ((8.0, 1.0, 8), H, (8.0, 2.0, 8), P),
    12: ((2.5, True, 4.0), H, (0.4, True, 4.0), N),
    13: ((2.0, 70.0), H, (30.0, 35.0), N),
    14: ((256.0, 256.0), H, (256.0, 1.0), P),
    15: ((1_048_576, 38_416), H, (4_000_000, 150_000), N),
    16: ((1e-7, 1e-6, True), H, (1e-7, 1e-6, False), P),
    17: ((45.0, 3.0), H, (10.0, 20.0), N),
    18: ((60.0,), P, (10.0,), N),  # the training-time part is never measured here: at best "partly"
    19: ((5.5, 0.5), H, (0.8, 0.5), N),
    20: ((10.0, 1.0), H, (100.0, 1.0), N),
    21: ((5.0, 1.0, True), H, (1.1, 2.0, False), N),
    22: ((1e-7, 2.0), H, (1e-2, 2.0), N),
}


def test_one_judge_per_claim():
    assert set(JUDGES) == set(CLAIMS) == set(CASES)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_judge_flips_across_the_claimed_range(cid):
    inside, v_in, outside, v_out = CASES[cid]
    a, b = JUDGES[cid](*inside), JUDGES[cid](*outside)
    assert a.claim.id == b.claim.id == cid
    assert (a.verdict, b.verdict) == (v_in, v_out), (a.why, b.why)
    assert a.why and b.why and a.why != b.why


def test_speedup_above_its_physical_bound_is_noise_not_a_finding():
    # speculative decoding cannot beat tokens per target call: 3.70× at 3.43 tokens/call is load noise
    c = claims.judge_12(3.70, True, 3.43)
    assert c.verdict is Verdict.NOT_MEASURED and "noise" in c.why
    assert claims.judge_12(2.5, True, 3.43).verdict is Verdict.HOLDS
    assert claims.judge_12(2.5, False, 3.43).verdict is Verdict.NOT_HERE


def test_missing_value_is_not_measured():
    assert claims.judge_5(None).verdict is Verdict.NOT_MEASURED
    assert claims.judge_4(None, None).verdict is Verdict.NOT_MEASURED


def test_tolerance_edges():
    r = claims.RANGES[5]  # 5–7×, 10 %
    assert claims.place(5 * 0.91, r) == "in" and claims.place(5 * 0.89, r) == "near"
    assert claims.place(7 * 1.09, r) == "in" and claims.place(7 * 1.11, r) == "above"
    assert claims.place(2.4, r) == "below" and claims.place(float("nan"), r) == "none"


# ----------------------------------------------------------------- claim #11 on the real tiny GPTs
ROOT = Path(__file__).resolve().parents[2]


def _measured_cache(name: str, tokens: int = 24) -> tuple[int, int, int]:
    """(bytes of K/V held after generating with the cache, n_head, n_kv_head) for a committed checkpoint."""
    import torch

    from viz_core.decoding.generate import generate
    from viz_core.models.gpt import load_tiny_gpt

    model, tok, cfg = load_tiny_gpt(name, "cpu", torch.float32)
    trace = generate(model, tok.encode("To be, or not")[:8], tokens, use_cache=True, count_kv=False)
    return int(trace.cache_bytes[-1]), cfg.n_head, cfg.n_kv_head or cfg.n_head


@pytest.mark.skipif(not (ROOT / "assets/models/tiny-gpt-mqa.pt").exists(), reason="checkpoints not present")
def test_claim_11_on_measured_cache_bytes_of_the_tiny_gpts():
    mha, h, kv = _measured_cache("tiny-gpt")
    gqa, h_g, kv_g = _measured_cache("tiny-gpt-gqa")
    mqa, h_m, kv_m = _measured_cache("tiny-gpt-mqa")
    assert h == h_g == h_m == kv and kv_m == 1 and 1 < kv_g < h
    assert claims.judge_11(mha, mqa, h, kv_m).verdict is Verdict.HOLDS
    assert claims.judge_11(mha, gqa, h, kv_g).verdict is Verdict.HOLDS
    # the GQA model is not a one-K/V-head model: judged as if it were, the claim's h× does not appear
    wrong = claims.judge_11(mha, gqa, h, 1)
    assert wrong.verdict is Verdict.PARTLY and wrong.value == pytest.approx(h / kv_g)


def test_claim_4_exactness_is_a_gate():
    assert claims.judge_4(3.0, 10.0, False).verdict is Verdict.NOT_HERE  # inexact: does not hold
    unchecked = claims.judge_4(3.0, 10.0, None)
    assert unchecked.verdict is Verdict.PARTLY and "exact" in unchecked.why


def test_no_verdict_is_decided_outside_the_judges():
    """grep: no page, lab, CLI suite or technique names a verdict; only viz_core/claims/ does (and ui's icon map)."""
    import re

    pattern = re.compile(r"Verdict\.(HOLDS|PARTLY|NOT_HERE|NOT_MEASURED)|check_ratio|check_value")
    offenders = []
    for base in ("viz_core", "pages", "ui"):
        for p in (ROOT / base).rglob("*.py"):
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith("viz_core/claims/") or rel == "ui/layout.py":
                continue
            if pattern.search(p.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert not offenders, offenders
    layout = (ROOT / "ui/layout.py").read_text(encoding="utf-8")
    assert len(pattern.findall(layout)) == 4  # the icon per verdict, nothing else
