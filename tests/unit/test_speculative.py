"""Speculative decoding: greedy output == target greedy; sampling keeps the target's distribution (chi-square)."""
import importlib.util

import numpy as np
import pytest
import torch
from scipy import stats

from viz_core.decoding import speculative as sd
from viz_core.decoding.generate import generate
from viz_core.errors import InputError
from viz_core.models.gpt import GPTConfig, TinyGPT


class Trigram:
    """Toy session whose next-token logits depend on the last two tokens it holds (so cache bookkeeping
    errors change the output)."""

    def __init__(self, table):
        self.table, self.seq = table, []

    @property
    def length(self):
        return len(self.seq)

    def feed(self, ids):
        out = []
        for t in ids:
            prev = self.seq[-1] if self.seq else 0
            self.seq.append(t)
            out.append(self.table[prev, t])
        return np.array(out)

    def truncate(self, n):
        assert 0 <= n <= len(self.seq)
        self.seq = self.seq[:n]


def _tables(v=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1.5, (v, v, v)), rng.normal(0, 1.5, (v, v, v))


def _exact(table, prompt, n):
    """Exact target distribution of the next n tokens (all sequences), softmax at T=1."""
    v = table.shape[0]
    out = {}

    def rec(seq, p):
        if len(seq) == len(prompt) + n:
            out[tuple(seq[len(prompt):])] = p
            return
        probs = sd.probs(table[seq[-2], seq[-1]], 1.0)
        for t in range(v):
            rec(seq + [t], p * probs[t])

    rec(list(prompt), 1.0)
    return out


def _empirical_pvalue(t_table, d_table, prompt, n, gamma, runs=3000):
    exact = _exact(t_table, prompt, n)
    keys = sorted(exact)
    counts = dict.fromkeys(keys, 0)
    for s in range(runs):
        tr = sd.speculative_generate(Trigram(t_table), Trigram(d_table), prompt, n, gamma=gamma, temperature=1.0,
                                     seed=s)
        counts[tuple(tr.tokens)] += 1
    f_obs = np.array([counts[k] for k in keys], float)
    f_exp = np.array([exact[k] for k in keys]) * runs
    return stats.chisquare(f_obs, f_exp).pvalue


@pytest.mark.parametrize("gamma,n", [(3, 2), (1, 3), (2, 3)])
def test_sampling_preserves_target_distribution(gamma, n):
    t, d = _tables()
    assert _empirical_pvalue(t, d, [1, 2], n, gamma) > 1e-3


def test_negative_control_always_accept_is_detected(monkeypatch):
    """A wrong rule (accept every draft token) produces the draft's distribution, and the test notices."""
    t, d = _tables()
    monkeypatch.setattr(sd, "verify", lambda p, q, x, u1, u2: (True, x))
    assert _empirical_pvalue(t, d, [1, 2], 2, 3) < 1e-6


def test_verify_rule_single_step_distribution():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    q = np.array([0.1, 0.2, 0.3, 0.4])
    counts = np.zeros(4)
    n = 20000
    for _ in range(n):
        x = sd.sample(q, rng.random())
        _, tok = sd.verify(p, q, x, rng.random(), rng.random())
        counts[tok] += 1
    assert stats.chisquare(counts, p * n).pvalue > 1e-3
    # greedy: one-hot p and q accept iff they agree, and otherwise emit the target's argmax
    one = np.eye(4)
    assert sd.verify(one[2], one[2], 2, 0.99, 0.5) == (True, 2)
    assert sd.verify(one[1], one[2], 2, 0.0, 0.5) == (False, 1)


def _gpt(seed, **kw):
    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(d_model=64, max_seq_len=128, **kw)).eval()


@pytest.mark.parametrize("gamma", [1, 3, 5])
@pytest.mark.parametrize("same_draft", [False, True])
def test_greedy_equals_target_greedy(gamma, same_draft):
    target = _gpt(0, n_layer=2, n_head=4, n_kv_head=2)
    draft = target if same_draft else _gpt(1, n_layer=1, n_head=2, n_kv_head=1)
    ids = list(b"It was the best")
    tr = sd.speculative_generate(sd.GPTSession(target, 80), sd.GPTSession(draft, 80), ids, 37, gamma=gamma)
    plain, _ = sd.plain_generate(sd.GPTSession(target, 80), ids, 37)
    assert tr.tokens == plain == generate(target, ids, 37, use_cache=False).tokens
    assert len(tr.tokens) == 37 and sum(r.accepted + 1 for r in tr.rounds) >= 37
    if same_draft:  # a perfect draft: every proposal accepted, γ + 1 tokens per target call
        assert all(r.accepted == len(r.proposed) for r in tr.rounds)
        remaining, calls = 37, 0
        while remaining > 0:
            remaining -= min(gamma, remaining) + 1
            calls += 1
        assert tr.target_calls == calls


def test_bad_input():
    t, d = _tables()
    with pytest.raises(InputError):
        sd.speculative_generate(Trigram(t), Trigram(d), [], 3)
    with pytest.raises(InputError):
        sd.speculative_generate(Trigram(t), Trigram(d), [1], 3, gamma=0)


def test_sampled_gpt_rounds_account_for_every_token():
    target = _gpt(0, n_layer=2, n_head=4, n_kv_head=2)
    draft = _gpt(1, n_layer=1, n_head=2, n_kv_head=1)
    ids = list(b"Once upon")
    ts, ds = sd.GPTSession(target, 80), sd.GPTSession(draft, 80)
    tr = sd.speculative_generate(ts, ds, ids, 30, gamma=4, temperature=1.0, seed=5)
    produced = sum(r.accepted + 1 for r in tr.rounds)
    assert len(tr.tokens) == 30 and 30 <= produced <= 31
    assert ts.length == len(ids) + produced - 1  # the target cache holds every committed token but the last
    assert ds.length <= ts.length
    assert tr.target_calls == len(tr.rounds)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_greedy_equals_target_greedy_on_cuda():
    target = _gpt(0, n_layer=2, n_head=4, n_kv_head=2).cuda()
    draft = _gpt(1, n_layer=1, n_head=2, n_kv_head=1).cuda()
    ids = list(b"It was the best")
    tr = sd.speculative_generate(sd.GPTSession(target, 80), sd.GPTSession(draft, 80), ids, 30, gamma=3,
                                 device="cuda")
    assert tr.tokens == sd.plain_generate(sd.GPTSession(target, 80), ids, 30)[0]


def test_speedup_above_tokens_per_call_is_remeasured_not_reported(monkeypatch):
    """A speculative run timed faster than its bound (load noise) triggers more repeats; if it stays above the bound
    the result says so (noisy) and claim #12's judge reports noise, not a finding."""
    from viz_core.labs import speculative as sp

    real = sp.plain_generate
    calls = {"n": 0}

    def slow_plain(*a, **kw):  # every plain run looks 100× slower than it is: the speed-up breaks its bound
        calls["n"] += 1
        out, secs = real(*a, **kw)
        return out, secs * 100

    monkeypatch.setattr(sp, "plain_generate", slow_plain)
    if not sp.model_available(sp.SpecConfig().draft):
        pytest.skip("draft checkpoint missing")
    res = sp.run(sp.SpecConfig(new_tokens=8, gamma=2, repeats=1, device="cpu"))
    assert res.remeasured == 2 and res.noisy and res.repeats == 3
    assert calls["n"] == 1 + 3  # one warm-up, then 1 + 2 rounds of repeats
    c = sp.claim_12_check(res)
    assert c.verdict.value == "not measured here" and "noise" in c.why


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba missing")
@pytest.mark.parametrize("gamma", [2, 4])
def test_compiled_draft_proposes_what_the_eager_draft_proposes(gamma):
    """The draft's implementation changes its speed, never the output: a numba draft proposes the same tokens
    as the eager one, round for round, and greedy output stays the target's own."""
    target = _gpt(0, n_layer=2, n_head=4, n_kv_head=2)
    draft = _gpt(1, n_layer=1, n_head=2, n_kv_head=1)
    ids = list(b"It was the best")
    eager = sd.speculative_generate(sd.session(target, 80), sd.session(draft, 80), ids, 37, gamma=gamma)
    compiled = sd.speculative_generate(sd.session(target, 80), sd.session(draft, 80, "compiled"), ids, 37,
                                       gamma=gamma)
    assert [r.proposed for r in compiled.rounds] == [r.proposed for r in eager.rounds]
    assert compiled.tokens == eager.tokens == generate(target, ids, 37, use_cache=False).tokens
    for tr in (eager, compiled):  # the time inside each model's calls is part of the run's time
        assert 0 < tr.draft_s and 0 < tr.target_s and tr.draft_s + tr.target_s <= tr.seconds


def test_compiled_session_refuses_what_it_cannot_run():
    with pytest.raises(InputError, match="float32"):
        sd.session(_gpt(1, n_layer=1, n_head=2, n_kv_head=1).to(torch.bfloat16), 16, "compiled")
    with pytest.raises(InputError, match="Unknown session kind"):
        sd.session(_gpt(1, n_layer=1, n_head=2, n_kv_head=1), 16, "jit")
