"""The state-space page's runner: the per-channel state it shows is the model's own state, claim #21's verdict
follows the numbers, inputs beyond the budget are refused before running, and the recorded run loads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from viz_core.claims import Verdict
from viz_core.errors import BudgetError, InputError
from viz_core.labs import ssm as lab


def _decode(mamba_ms, gpt_ms, state=250_880):
    ctx = np.array([64, 256, 1024, 4096])
    return lab.DecodeResult(ctx, np.array(mamba_ms) / 1e3, np.array(gpt_ms) / 1e3, np.zeros(4), np.zeros(4),
                            np.full(4, state), 4096 * ctx, "cpu", 1, 8)


def test_claim_21_verdict_follows_the_measurements():
    assert lab.claim_21(_decode([1, 1, 1, 1.1], [1, 2, 4, 6])).verdict is Verdict.HOLDS
    c = lab.claim_21(_decode([1, 1, 1, 1.1], [1, 1.2, 1.5, 2.0]))
    assert c.verdict is Verdict.PARTLY and "throughput 1.8×" in c.why
    grew = lab.claim_21(_decode([1, 1.5, 2, 3], [1, 2, 4, 6]))  # time grew: only the fixed-size state holds
    assert grew.verdict is Verdict.PARTLY and "does not: throughput 2.0×" in grew.why and "length^1.26" in grew.why
    assert "4,096" in c.measured and "250,880 B" in c.measured


def test_bad_input_refused_before_running():
    with pytest.raises(InputError, match="empty"):
        lab.inspect(lab.InspectConfig(text=""))
    with pytest.raises(InputError, match="100,000 bytes"):
        lab.inspect(lab.InspectConfig(text="é" * 50_000))  # counted in UTF-8 bytes
    with pytest.raises(InputError, match="prompt"):
        lab.compare(lab.CompareConfig(prompt="x" * 5000))
    with pytest.raises(BudgetError, match="65,536"):
        lab.decode(lab.DecodeConfig(contexts=(64, 65536)))
    nbytes, sec = lab.estimate_decode((4096,))
    assert nbytes > 2 * 4 * 4 * 4096 * 32 * 4 and 0 < sec < lab.MAX_SECONDS


def test_inspect_state_is_the_models_state():
    """The float64 per-channel recurrence the page shows ends where the model's own scan state ends."""
    text = "ROMEO: But soft"
    r = lab.inspect(lab.InspectConfig(text=text, layer=2, head=3, channel=7))
    mamba, _ = lab.models("cpu", "float32")
    with torch.no_grad():
        _, state = mamba(torch.tensor([list(text.encode())]), scan="sequential")
    assert r.state.shape == (len(text), mamba.cfg.d_state) and r.dt.shape == (len(text), mamba.cfg.n_heads)
    assert np.allclose(r.state[-1], state.ssm[2, 0, 3, 7].double().numpy(), atol=1e-4)
    assert np.all((r.keep > 0) & (r.keep < 1)) and r.scan_max_diff.max() < 1e-3


def test_recorded_decode_loads_when_present():
    d = lab.recorded_decode()
    if d is None:
        pytest.skip("no recorded assets/bench/ssm-cpu.json")
    assert len(d.contexts) == len(d.gpt_s) >= 2 and np.all(d.mamba_state_bytes == d.mamba_state_bytes[0])
    assert np.all(np.diff(d.gpt_cache_bytes) > 0)


def test_prefill_budget_covers_the_scans_measured_peak():
    """The budget estimate is at least the torch profiler's peak tensor bytes of each scan (H=8, P=32, N=32)."""
    from viz_core.measure.memory import tensor_peak_bytes
    from viz_core.ssm.scan import SCANS

    g = torch.Generator().manual_seed(0)
    for n in (256, 2048):
        x, dt = torch.randn(1, n, 8, 32, generator=g), torch.rand(1, n, 8, generator=g)
        A, Bm, Cm = -torch.linspace(1, 16, 8), torch.randn(1, n, 32, generator=g), torch.randn(1, n, 32, generator=g)
        with torch.no_grad():
            for name in ("parallel", "chunked"):
                peak, how = tensor_peak_bytes(lambda: SCANS[name](x, dt, A, Bm, Cm), "cpu")
                if peak is None:
                    pytest.skip(how)
                assert 0 < peak <= lab.prefill_bytes(n), (name, n, peak)
