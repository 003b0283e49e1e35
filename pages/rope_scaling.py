"""RoPE beyond the training context: score decay, and what PI, NTK-aware scaling and YaRN do to the angles.

section: Position
title: RoPE: long context
icon: 📏
order: 20
"""
import streamlit as st

from ui import cached, longrun, params, state
from ui.errors import guard
from ui.layout import claim_checks, figure, header, table
from viz_core.labs import rope as rope_lab, rope_scaling
from viz_core.plots import rope as plots

PROV = "Computed from the scaling formulas (PI, NTK, YaRN) and the RoPE frequencies on the settings above"
run_scaling = cached.data(rope_scaling.scaling)
run_relative = cached.data(rope_lab.relative)
run_gpt = cached.data(rope_scaling.long_context_gpt, max_entries=8)
estimate_gpt = cached.data(rope_scaling.estimate_long_context_s, max_entries=8)
gpt_available = cached.data(rope_scaling.gpt_available)

header("RoPE beyond the training context",
       "RoPE has no table of positions, so a model *can* be fed any length — but during training each slow pair "
       "only ever turned through part of its circle. Past the trained length **L** those pairs reach angles the "
       "model never saw. Context-extension methods rewrite the frequencies θᵢ so that the longer context "
       "**s·L** stays inside familiar angles: **position interpolation** divides every frequency by s, "
       "**NTK-aware** scaling raises the base so fast pairs stay put and the slowest is divided by s, and "
       "**YaRN** keeps fast pairs exactly, interpolates slow ones, ramps in between and sharpens attention.",
       papers=["Su et al. 2021, RoFormer", "Chen et al. 2023, Position Interpolation (arXiv:2306.15595)",
               "bloc97 2023, NTK-aware scaled RoPE", "Peng et al. 2023, YaRN (arXiv:2309.00071)"])
s = state.settings()

c1, c2, c3, c4 = st.columns(4)
head_dim = params.selectbox(c1, "Head dimension d", [16, 32, 64, 128], index=2)
base = params.select_slider(c2, "Base", [100.0, 1000.0, 10000.0, 500000.0], value=10000.0)
L = params.select_slider(c3, "Trained context L", [64, 256, 1024, 2048, 4096], value=256)
factor = params.select_slider(c4, "Scale factor s", [2.0, 4.0, 8.0, 16.0], value=4.0,
                          format_func=lambda v: f"{v:g}× → {int(v * L):,} tokens")
auto = rope_scaling.first_slow_pair(head_dim, base, L)
pair = params.slider("Pair drawn in the angle chart", 0, head_dim // 2 - 1, auto,
                 help=f"Default: pair {auto}, the first whose wavelength exceeds L, so it never turns fully in "
                      "training.")
with guard():
    sc = run_scaling(rope_scaling.ScalingConfig(head_dim=head_dim, base=base, train_context=L, factor=factor,
                                            pair=pair))

st.subheader("1 · Beyond L: angle vs position, per method")
figure(plots.scaling_angle_figure(sc), provenance=PROV)
SHORT = {"none": "No scaling", "linear": "PI", "ntk": "NTK-aware", "yarn": "YaRN"}
names = [SHORT[m] for m in sc.methods]
table(name="rope_scaling_methods", data={"method": names,
              "pairs at unseen angles": [f"{u} / {head_dim // 2}" for u in sc.unseen_pairs],
              "turns past the range seen in training (at most)": [f"{t:.2f}" for t in sc.unseen_turns],
              "pairs changed inside L": [f"{c} / {head_dim // 2}" for c in sc.inside_changed]}, hide_index=True)
figure(plots.freq_ratio_figure(sc), provenance=PROV)
st.caption(f"PI divides every frequency by s = {factor:g}, so it also changes the angles the model learned inside "
           f"L (it needs fine-tuning). NTK-aware keeps pair 0 exactly and divides the slowest by exactly s. YaRN "
           f"keeps pairs that turn more than β = 32 times within L, interpolates pairs turning less than once, "
           f"and multiplies q and k by {sc.attention_factor[-1]:.3f} (0.1·ln s + 1). 'Unseen' counts pairs that "
           "never completed a turn within L and, up to s·L, rotate past the largest angle reached in training.")

st.subheader("2 · How scores decay with distance")
figure(plots.decay_figure(sc), provenance=PROV)
st.caption("Left: the score of a random direction q with a copy of itself r tokens away, averaged over directions "
           "(= trace of the rotation / d, computed by rotating the identity matrix with RoPE). Right: the upper "
           "bound RoFormer uses to argue long-term decay. Scaling stretches both curves: distant tokens look "
           "closer.")

st.subheader("3 · A real model past its context: the lab's tiny GPT")
gpt = None
if not gpt_available():
    st.info("The tiny GPT checkpoint (assets/models/tiny-gpt.pt) is not there; the claim below uses the analytic "
            "measure instead. Make it with `python -m viz_core.train gpt`.")
else:
    c1, c2 = st.columns([1, 3])
    gpt_factor = params.select_slider(c1, "Evaluate at", [2.0, 4.0, 8.0], value=4.0, format_func=lambda v: f"{v:g}× its context")
    windows = params.select_slider(c1, "Text windows", [2, 4, 8, 16], value=4)
    if c1.button("Run the tiny GPT", type="primary", help="Timed before it starts; longer runs show progress and a Stop button") or \
            st.session_state.get("rope_gpt_ran"):
        st.session_state["rope_gpt_ran"] = True
        gcfg = rope_scaling.LongContextConfig(factor=gpt_factor, n_windows=windows, seed=s.seed, device=s.device)
        with guard(stop=False):  # estimated first (one pass timed); above ~5 s: progress and a Stop button
            gpt = longrun.run(run_gpt, gcfg, estimate_s=estimate_gpt(gcfg), key="rope_gpt",
                              what=f"Scoring {windows} windows at {gpt_factor:g}× the context with every method",
                              fits="fewer text windows or a smaller factor")
    if gpt is not None:
        with c2:
            figure(plots.long_context_figure(gpt), provenance=PROV)
        table(name="long_context_loss", data={"method": [SHORT[m] for m in gpt.methods],
                      "loss at positions < L (nats/token)": [round(float(a), 2) for a in gpt.loss_inside],
                      "loss at positions ≥ L (nats/token)": [round(float(b), 2) for b in gpt.loss_beyond]},
                     hide_index=True)
        st.caption(f"No fine-tuning: the model was trained on {gpt.train_context} tokens with plain RoPE and is run "
                   "with each method's frequencies as is. PI without fine-tuning shifts every learned angle, which "
                   "is why the PI paper fine-tunes; NTK-aware and YaRN were designed to work without it.")
    else:
        c2.markdown("Scores Shakespeare validation text at every position of windows longer than the model was "
                    "trained on, once with each method's frequencies. Press the button (a few seconds on CPU).")

with guard():
    rel = run_relative(rope_lab.RelativeConfig(head_dim=head_dim, n=32, base=base, seed=s.seed, dtype=s.dtype,
                                               device=s.device))
    claim_checks([rope_scaling.claim16(rel, sc, gpt)])
