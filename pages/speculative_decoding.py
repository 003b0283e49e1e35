"""A small draft model proposes, the tiny GPT verifies several tokens per pass: speculative decoding, measured.

section: Generating
title: Speculative decoding
icon: 🎯
order: 40
"""
import streamlit as st

from ui import cached, state
from ui.errors import guard
from ui.layout import ago, claim_checks, figure, header, metrics, provenance_text
from viz_core.labs import speculative
from viz_core.plots import decoding as plots

run = cached.timed(speculative.run)

header("Speculative decoding: draft fast, verify in one pass",
       "Generating with a big model costs one full forward pass per token. A small **draft** model guesses the "
       "next γ tokens cheaply; the big **target** model then checks all γ guesses in **one** pass and keeps "
       "the ones it agrees with, plus one token of its own. With greedy decoding the result is exactly what "
       "the target alone would have written; with sampling a rejection rule keeps the target's distribution. "
       "Here the target is the trained tiny GPT and the draft a smaller model trained on the same text.",
       ["Leviathan et al. 2023, Fast Inference from Transformers via Speculative Decoding",
        "Chen et al. 2023, Accelerating LLM Decoding with Speculative Sampling"])

s = state.settings()
st.session_state.setdefault("sd_run", 0)
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
prompt = c1.text_input("Prompt", "ROMEO: But soft, what light", key="sd_prompt")
gamma = c2.slider("Draft length γ", 1, 10, 4, key="sd_gamma")
n_new = c3.slider("New tokens", 16, 160, 48, step=16, key="sd_new")
temp = c4.select_slider("Temperature", [0.0, 0.5, 0.8, 1.0], value=0.0, key="sd_temp", help="0 = greedy")
c1, c2 = st.columns([1, 3])
if c1.button("Measure again", key="sd_again"):
    st.session_state["sd_run"] += 1
sweep = c2.toggle("Also sweep γ = 1, 2, 3, 4, 6, 8 (a few seconds)", value=False, key="sd_sweep")

cfg_draft = speculative.SpecConfig().draft
if not speculative.model_available(cfg_draft):
    st.warning(f"The draft model `{cfg_draft}` has not been trained yet (assets/models/{cfg_draft}.pt is missing): "
               "run `python -m viz_core.train gpt` to make it.")
    st.stop()
with guard():
    res, measured_at = run(speculative.SpecConfig(prompt=prompt, new_tokens=n_new, gamma=gamma, temperature=float(temp),
                                     seed=s.seed, device=s.device, dtype=s.dtype, run_id=st.session_state["sd_run"],
                                     sweep=(1, 2, 3, 4, 6, 8) if sweep else ()))

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
                                         f"{res.threads} thread(s), measured {ago(measured_at)}"),
    ("Output vs target alone", same, "greedy: must be token-for-token identical; sampling: the rejection rule "
                                     "keeps the target's distribution (tested statistically)"),
])

if res.remeasured:
    st.warning(f"A speed-up above the tokens per target call is impossible, so {res.remeasured} more round(s) of "
               "repeats were measured" + ("; still above it: the machine is loaded and these timings are noise, "
                                          "not a finding." if res.noisy else "; the medians are now within it."),
               icon="⚠️")
figure(plots.rounds(res), key="sd_rounds", provenance=provenance_text("measured live", device=res.device, threads=res.threads, dtype=s.dtype, when=ago(measured_at)))
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
    figure(plots.gamma_sweep(res), key="sd_sweep_fig", provenance=provenance_text("measured live", device=res.device, threads=res.threads, dtype=s.dtype, when=ago(measured_at)))
    best = int(res.sweep_gamma[res.sweep_speedup.argmax()])
    st.markdown(f"Here the best γ was **{best}** ({res.sweep_speedup.max():.2f}×).")
st.markdown(f"Larger γ means more tokens per target pass when the draft is right, but more wasted draft work "
            f"when it is wrong. The draft has {res.draft_params:,} parameters, the target {res.target_params:,}. "
            + speculative.cost_sentence(res))
claim_checks([speculative.claim_12_check(res)])
st.caption("Bad input: an empty prompt is refused; any text is accepted (UTF-8 bytes); prompt + new tokens "
           "beyond the models' trained context is refused with a message.")
