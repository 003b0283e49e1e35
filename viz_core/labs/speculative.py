"""The speculative decoding page: the tiny draft proposes, the tiny GPT verifies; rounds, acceptance,
measured speed-up over plain decoding for a sweep of γ, and claim #12.

Leviathan et al. 2023, "Fast Inference from Transformers via Speculative Decoding"; Chen et al. 2023,
"Accelerating Large Language Model Decoding with Speculative Sampling". The algorithm is in
``viz_core.decoding.speculative``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viz_core.claims import ClaimCheck, judge_12
from viz_core.decoding.generate import check_length, encode_prompt, load_model
from viz_core.decoding.speculative import (SESSION_KINDS, GPTSession, SpecTrace, plain_generate, session,
                                          speculative_generate)
from viz_core.device import resolve_device
from viz_core.errors import InputError
from viz_core.measure.threads import PAGE_THREADS, with_threads
from viz_core.models.gpt import checkpoint_path


DRAFTS = {  # committed drafts (assets/models/<name>.pt, trained by viz_core.train.gpt) -> label
    "tiny-gpt-draft-distilled": "distilled from the target",
    "tiny-gpt-draft": "trained on the text",
}


# ---------------------------------------------------------------------------------------------- page runner
@dataclass(frozen=True)
class SpecConfig:
    prompt: str = "ROMEO: But soft, what light"
    new_tokens: int = 64
    gamma: int = 4
    temperature: float = 0.0
    seed: int = 0
    target: str = "tiny-gpt"
    draft: str = "tiny-gpt-draft-distilled"
    draft_runs_as: str = "compiled"  # the draft's whole step in one numba call (CPU, float32), or "eager"
    device: str = "auto"
    dtype: str = "float32"
    sweep: tuple[int, ...] = ()  # γ values for the speed-up curve (empty: only γ itself)
    repeats: int = 5  # timed repeats (median and IQR)
    run_id: int = 0


@dataclass(frozen=True)
class SpecResult:
    new_tokens: int
    gamma: int
    text: str
    plain_text: str
    matches_target_greedy: bool | None  # None when sampling
    proposed: np.ndarray  # (R, γ) draft tokens, −1 pad
    accepted: np.ndarray  # (R,)
    emitted: np.ndarray  # (R,)
    bonus: np.ndarray  # (R,) bool
    token_labels: tuple[tuple[str, ...], ...]  # printable proposed tokens per round
    emitted_labels: tuple[str, ...]
    acceptance_rate: float  # accepted / proposed
    tokens_per_target_call: float
    target_calls: int
    draft_calls: int
    plain_target_calls: int
    spec_s: float  # median seconds for new_tokens
    plain_s: float
    speedup: float
    sweep_gamma: np.ndarray
    sweep_speedup: np.ndarray
    sweep_acceptance: np.ndarray
    sweep_tokens_per_call: np.ndarray
    expected_tokens_per_call: float  # (1 − α^(γ+1)) / (1 − α) from the measured α (Leviathan et al. eq. 1)
    draft_params: int
    target_params: int
    device: str
    threads: int
    draft: str = ""
    draft_step_s: float = float("nan")  # seconds per draft call at γ (timed inside the speculative run)
    verify_s: float = float("nan")  # seconds per target (verify) call at γ
    draft_ran_as: str = "eager"  # what ran: "compiled" falls back to "eager" off the CPU or below float32
    repeats: int = 0  # timed repeats behind the medians (more when a result contradicted its bound)
    speedup_q1: float = float("nan")  # interquartile range of the per-repeat speed-up at γ
    speedup_q3: float = float("nan")
    remeasured: int = 0  # extra rounds of repeats because a speed-up exceeded tokens per target call
    noisy: bool = False  # still above that bound after re-measuring: load noise, not a finding


def token_label(tok):
    """A short printable label per token id for figures (space as '·', newline as '⏎')."""
    base = getattr(tok, "token_str", lambda i: tok.decode([i]))
    return lambda i: {32: "·", 10: "⏎", 9: "⇥"}.get(int(i), base(int(i)))


def model_available(name: str) -> bool:
    """Whether the checkpoint ``assets/models/<name>.pt`` exists (the page says so when it does not)."""
    return checkpoint_path(name).exists()


def _sessions(target, draft, n: int, gamma: int, draft_runs_as: str = "eager"):
    """The target always runs eager (the same code as the plain cached baseline); the draft as asked."""
    return GPTSession(target, n + gamma + 2), session(draft, n + gamma + 2, draft_runs_as)


@with_threads(PAGE_THREADS)
def run(cfg: SpecConfig) -> SpecResult:
    dev = resolve_device(cfg.device)
    target, tok, tcfg = load_model(cfg.target, dev.type, cfg.dtype)
    draft, dtok, dcfg = load_model(cfg.draft, dev.type, cfg.dtype)
    if tcfg.vocab_size != dcfg.vocab_size:
        raise InputError("The draft and target models must share a vocabulary.")
    if not 1 <= cfg.gamma <= 16:
        raise InputError("Choose a draft length γ between 1 and 16.")
    if cfg.temperature < 0:
        raise InputError("The temperature must be ≥ 0 (0 means greedy).")
    if cfg.draft_runs_as not in SESSION_KINDS:
        raise InputError(f"The draft runs as one of {SESSION_KINDS}; got {cfg.draft_runs_as!r}.")
    ran_as = cfg.draft_runs_as if dev.type == "cpu" and cfg.dtype == "float32" else "eager"
    ids = encode_prompt(tok, cfg.prompt)
    check_length(len(ids), cfg.new_tokens, min(tcfg.max_seq_len, dcfg.max_seq_len))
    kw = dict(temperature=cfg.temperature, seed=cfg.seed, device=dev)

    sweep = sorted(set(cfg.sweep) | {cfg.gamma})
    n_max = len(ids) + cfg.new_tokens
    plain_generate(GPTSession(target, 16), ids[:2], 4, **kw)  # warm-ups (first-call allocations)
    for g in sweep:
        speculative_generate(*_sessions(target, draft, 8, g, ran_as), ids[:2], 4, gamma=g, **kw)
    plain_t: list[float] = []
    spec_t: dict[int, list[float]] = {g: [] for g in sweep}
    traces: dict[int, SpecTrace] = {}

    def measure(repeats: int):
        nonlocal plain
        for _ in range(repeats):  # interleaved: every method once per repeat, so load drift is shared
            plain, secs = plain_generate(GPTSession(target, n_max + 1), ids, cfg.new_tokens, **kw)
            plain_t.append(secs)
            for g in sweep:
                traces[g] = speculative_generate(*_sessions(target, draft, n_max, g, ran_as), ids, cfg.new_tokens,
                                                 gamma=g, **kw)
                spec_t[g].append(traces[g].seconds)

    def over_bound() -> bool:
        """A speed-up above tokens per target call is impossible (each call costs at least a plain step)."""
        p = float(np.median(plain_t))
        return any(p / float(np.median(spec_t[g])) > 1.05 * cfg.new_tokens / max(1, traces[g].target_calls)
                   for g in sweep)

    plain: list[int] = []
    measure(max(1, cfg.repeats))
    remeasured = 0
    while over_bound() and remeasured < 2:  # load noise: measure more, never report it as a finding
        measure(max(1, cfg.repeats))
        remeasured += 1
    ratios = np.array(plain_t) / np.array(spec_t[cfg.gamma])  # per-repeat speed-up at γ
    plain_s = float(np.median(plain_t))
    tr, spec_s = traces[cfg.gamma], float(np.median(spec_t[cfg.gamma]))
    sw_speed, sw_acc, sw_tpc = [], [], []
    for g in sweep:
        t_g = traces[g]
        sw_speed.append(plain_s / float(np.median(spec_t[g])))
        prop = sum(len(r.proposed) for r in t_g.rounds)
        sw_acc.append(sum(r.accepted for r in t_g.rounds) / max(1, prop))
        sw_tpc.append(cfg.new_tokens / max(1, t_g.target_calls))
    r = tr.rounds
    width = max(len(x.proposed) for x in r)
    proposed = np.full((len(r), width), -1, dtype=np.int64)
    for i, x in enumerate(r):
        proposed[i, : len(x.proposed)] = x.proposed
    label = token_label(tok)
    n_prop = sum(len(x.proposed) for x in r)
    alpha = sum(x.accepted for x in r) / max(1, n_prop)
    expected = float(cfg.gamma + 1) if alpha >= 1 else (1 - alpha ** (cfg.gamma + 1)) / (1 - alpha)
    return SpecResult(
        new_tokens=cfg.new_tokens, gamma=cfg.gamma, text=tok.decode(tr.tokens), plain_text=tok.decode(plain),
        matches_target_greedy=(tr.tokens == plain) if cfg.temperature <= 0 else None,
        proposed=proposed, accepted=np.array([x.accepted for x in r]), emitted=np.array([x.emitted for x in r]),
        bonus=np.array([x.bonus for x in r]),
        token_labels=tuple(tuple(label(t) for t in x.proposed) for x in r),
        emitted_labels=tuple(label(x.emitted) for x in r), acceptance_rate=alpha,
        tokens_per_target_call=cfg.new_tokens / max(1, tr.target_calls), target_calls=tr.target_calls,
        draft_calls=tr.draft_calls, plain_target_calls=cfg.new_tokens, spec_s=spec_s, plain_s=plain_s,
        speedup=plain_s / spec_s, sweep_gamma=np.array(sweep), sweep_speedup=np.array(sw_speed),
        sweep_acceptance=np.array(sw_acc), sweep_tokens_per_call=np.array(sw_tpc),
        expected_tokens_per_call=float(expected), draft_params=sum(p.numel() for p in draft.parameters()),
        target_params=sum(p.numel() for p in target.parameters()), device=str(dev),
        threads=torch.get_num_threads(), draft=cfg.draft, draft_ran_as=ran_as,
        draft_step_s=tr.draft_s / max(1, tr.draft_calls), verify_s=tr.target_s / max(1, tr.target_calls), repeats=len(plain_t), speedup_q1=float(np.percentile(ratios, 25)),
        speedup_q3=float(np.percentile(ratios, 75)), remeasured=remeasured, noisy=over_bound())


def cost_sentence(res: SpecResult) -> str:
    """One sentence on what limits the speed-up, from the measured times (not assumed): a draft step and a
    verify pass (timed inside the speculative run) against a plain target step, and the speed-up they allow."""
    t_target = res.plain_s / max(1, res.plain_target_calls)  # s per plain target step
    t_draft, t_verify = res.draft_step_s, res.verify_s
    if not (t_target > 0 and t_draft > 0 and t_verify > 0):
        return f"Draft and verify times were not measured in this run ({res.device})."
    c, v = t_draft / t_target, t_verify / t_target
    p = res.draft_params / res.target_params
    drafts_per_round = res.draft_calls / max(1, res.target_calls)  # ≈ γ (fewer in a short last round)
    allowed = res.tokens_per_target_call / (drafts_per_round * c + v)  # plain time / speculative time per token
    if res.draft_ran_as == "compiled":
        why = "it runs as one compiled call per step while the target runs eager, paying a fixed cost per operation"
    elif c > 2 * p:
        why = "fixed per-call cost, not arithmetic, sets a small model's step time here"
    else:
        why = "step time follows model size here"
    return (f"Measured on {res.device}: a draft step took {t_draft * 1e3:.3f} ms, {c:.1%} of a plain target step, "
            f"with {p:.0%} of the target's parameters ({why}); checking γ + 1 = {res.gamma + 1} tokens took "
            f"{t_verify * 1e3:.2f} ms, {v:.2f}× a plain step. With {res.tokens_per_target_call:.2f} tokens per target "
            f"call that allows ≈ {allowed:.2f}× (measured {res.speedup:.2f}×).")


def claim_12_check(res: SpecResult) -> ClaimCheck:
    """Claim #12: 2–3× with no quality loss; '4 of 5 accepted → 4 tokens per target pass'."""
    same = "output identical to the target's own greedy decoding" if res.matches_target_greedy else (
        "sampled with the distribution-preserving rejection rule" if res.matches_target_greedy is None
        else "OUTPUT DIFFERS from target greedy")
    best = int(np.argmax(res.sweep_speedup)) if len(res.sweep_speedup) > 1 else None
    best_txt = (f"; best γ={int(res.sweep_gamma[best])}: {res.sweep_speedup[best]:.2f}×" if best is not None else "")
    measured = (f"γ={res.gamma}: acceptance {res.acceptance_rate:.0%}, {res.tokens_per_target_call:.2f} "
                f"tokens per target call, {res.speedup:.2f}× vs plain cached decoding{best_txt} ({res.device}, "
                f"{res.threads} thread(s); target eager like its baseline, draft {res.draft or 'model'} "
                f"{res.draft_ran_as}); {same}. With 4 of 5 accepted a pass yields 5 tokens (4 + the "
                "target's correction), not 4")
    if len(res.sweep_speedup):
        i = int(np.argmax(res.sweep_speedup))
        top, bound = float(res.sweep_speedup[i]), float(res.sweep_tokens_per_call[i])
    else:
        top, bound = res.speedup, res.tokens_per_target_call
    return judge_12(top, res.matches_target_greedy, bound, measured=measured,
                    provenance=f"measured live ({res.device}, {res.threads} thread(s))")
