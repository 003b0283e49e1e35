"""A small draft model proposes, the tiny GPT verifies several tokens per pass: speculative decoding, measured.

section: Generating
title: Speculative decoding
icon: 🎯
order: 40
"""
import dataclasses

import numpy as np
import streamlit as st

from ui import params, progress, state
from ui.errors import guard, stop
from ui.layout import claim_checks, figure, header, metrics, provenance_text
from ui.measure_queue import measured, point
from viz_core.labs import speculative
from viz_core.plots import decoding as plots


header("Speculative decoding: draft fast, verify in one pass",
       "Generating with a big model costs one full forward pass per token. A small **draft** model guesses the "
       "next γ tokens cheaply; the big **target** model then checks all γ guesses in **one** pass and keeps "
       "the ones it agrees with, plus one token of its own. With greedy decoding the result is exactly what "
       "the target alone would have written; with sampling a rejection rule keeps the target's distribution. "
       "Here the target is the trained tiny GPT (run eager, exactly like the plain decoding it is timed "
       "against) and the draft a 1-layer model distilled from it or trained on the same text. It pays when "
       "checking γ + 1 tokens costs about as much as one — true for the eager target (fixed cost per "
       "operation) and for large models (weights read once per pass), not for a fully fused CPU step, where "
       "each token costs its own arithmetic (`python -m viz_core bench decode` measures both).",
       ["Leviathan et al. 2023, Fast Inference from Transformers via Speculative Decoding",
        "Chen et al. 2023, Accelerating LLM Decoding with Speculative Sampling"])

s = state.settings()
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
prompt = params.text_input(c1, "Prompt", "ROMEO: But soft, what light", key="sd_prompt")
gamma = params.slider(c2, "Draft length γ", 1, 10, 4, key="sd_gamma")
n_new = params.slider(c3, "New tokens", 16, 160, 48, step=16, key="sd_new")
temp = params.select_slider(c4, "Temperature", [0.0, 0.5, 0.8, 1.0], value=0.0, key="sd_temp", help="0 = greedy")
c1, c2, c3 = st.columns([2, 2, 3])
cfg_draft = params.selectbox(c1, "Draft model", list(speculative.DRAFTS), index=0, key="sd_draft",
                             format_func=speculative.DRAFTS.get)
runs_as = params.radio(c2, "Draft runs as", ["compiled", "eager"], index=0, key="sd_runs_as", horizontal=True,
                       help="compiled: the draft's whole step in one numba call (CPU, float32); eager: PyTorch, "
                            "one call per operation. The target always runs eager, like the plain decoding it "
                            "is timed against.")
sweep = params.toggle(c3, "Also sweep γ = 1, 2, 3, 4, 6, 8 (a few seconds)", value=False, key="sd_sweep")

if not speculative.model_available(cfg_draft):
    st.warning(f"The draft model `{cfg_draft}` has not been trained yet (assets/models/{cfg_draft}.pt is missing): "
               "run `python -m viz_core.train gpt` to make it.")
    stop()
cfg = speculative.SpecConfig(prompt=prompt, new_tokens=n_new, gamma=gamma, temperature=float(temp), seed=s.seed,
                             draft=cfg_draft, draft_runs_as=runs_as, device=s.device, dtype=s.dtype)
with guard():
    res = measured(speculative.run, cfg, label="Drafting, verifying and timing", device=s.device,
                   button="▶ Draft, verify and time against plain decoding")
if res is None:
    stop()


def with_sweep(base, done: list) -> object:
    """The γ curve from one cached run per γ (each timed against plain decoding interleaved in that run)."""
    return dataclasses.replace(base, sweep_gamma=np.array([o.gamma for o in done]),
                               sweep_speedup=np.array([o.speedup for o in done]),
                               sweep_acceptance=np.array([o.acceptance_rate for o in done]),
                               sweep_tokens_per_call=np.array([o.tokens_per_target_call for o in done]))


if sweep:
    with guard(stop=False):
        done, complete = progress.sweep(
            "Sweeping the draft length γ", (1, 2, 3, 4, 6, 8), lambda g: point(speculative.run, dataclasses.replace(cfg, gamma=g), label=f"γ = {g}", device=s.device)[0],
            key="sd_sweep_run", describe=lambda g: f"γ = {g}: draft, verify, time against plain decoding",
            draw_partial=lambda part: figure(plots.gamma_sweep(with_sweep(res, part)), provenance="Measuring live …"))
        res = with_sweep(res, done) if done else res

same = {True: "same ✅", False: "differs ❌", None: "sampled"}[res.matches_target_greedy]
metrics([
    ("Acceptance rate", f"{res.acceptance_rate:.0%}", "draft tokens the target kept / draft tokens proposed"),
    ("Tokens per target call", f"{res.tokens_per_target_call:.2f}",
     f"{res.new_tokens} tokens in {res.target_calls} target passes "
     f"(plain decoding: {res.plain_target_calls})"),
    ("i.i.d. estimate", f"{res.expected_tokens_per_call:.2f}",
     "(1 − α^(γ+1)) / (1 − α) tokens per call (Leviathan et al. eq. 1) with the measured α; real acceptances "
     "are correlated (easy stretches of text), so the measured figure can differ"),
    ("Speed-up", f"{res.speedup:.2f}×", f"median of {res.repeats} timed runs (IQR {res.speedup_q1:.2f}–"
                                         f"{res.speedup_q3:.2f}×): {res.spec_s * 1e3:.0f} ms vs "
                                         f"{res.plain_s * 1e3:.0f} ms plain cached decoding; {res.device}, "
                                         f"{res.threads} thread(s)"),
    ("Same as target", same, "greedy: must be token-for-token identical; sampling: the rejection rule "
                                     "keeps the target's distribution (tested statistically)"),
])

if res.draft_ran_as != runs_as:
    st.info(f"The compiled draft runs on the CPU in float32; with {res.device} and {s.dtype} it ran "
            f"{res.draft_ran_as}.")
if res.remeasured:
    st.warning(f"A speed-up above the tokens per target call is impossible, so {res.remeasured} more round(s) of "
               "repeats were measured" + ("; still above it: the machine is loaded and these timings are noise, "
                                          "not a finding." if res.noisy else "; the medians are now within it."),
               icon="⚠️")
figure(plots.rounds(res), key="sd_rounds", provenance=provenance_text("measured live", device=res.device, threads=res.threads, dtype=s.dtype))
st.caption("One row per round: the draft's γ proposals left to right, then the target's own token. The target "
           "scores every proposal in the same forward pass; the first rejected one is replaced by the target's "
           "choice and the rest are discarded (grey). If all are accepted, that pass also yields a bonus token.")

l, r = st.columns([1, 1])
with l:
    st.markdown("**Speculative output**")
    st.code(res.text, language=None, wrap_lines=True)
with r:
    st.markdown("**Target alone (plain decoding)**")
    st.code(res.plain_text, language=None, wrap_lines=True)

if len(res.sweep_gamma) > 1:
    figure(plots.gamma_sweep(res), key="sd_sweep_fig", provenance=provenance_text("measured live", device=res.device, threads=res.threads, dtype=s.dtype))
    best = int(res.sweep_gamma[res.sweep_speedup.argmax()])
    st.markdown(f"Here the best γ was **{best}** ({res.sweep_speedup.max():.2f}×).")
st.markdown(f"Larger γ means more tokens per target pass when the draft is right, but more wasted draft work "
            f"when it is wrong. The draft has {res.draft_params:,} parameters, the target {res.target_params:,}. "
            + speculative.cost_sentence(res))
claim_checks([speculative.claim_12_check(res)])
st.caption("Bad input: an empty prompt is refused; any text is accepted (UTF-8 bytes); prompt + new tokens "
           "beyond the models' trained context is refused with a message.")
