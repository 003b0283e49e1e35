"""Drop attention layers and tokens that add little, on the tiny models trained here, and measure the cost.

section: Compressing
title: Dropping layers & tokens
icon: ✂️
order: 10
"""
import streamlit as st

from ui import cached, longrun, params, state
from ui.errors import guard, stop
from ui.layout import ago, claim_checks, figure, header, metrics, provenance_text
from ui.measure_queue import measured, queued
from viz_core.errors import human_bytes
from viz_core.labs import drop_redundancy as red
from viz_core.plots import compression as plots

token_drop = cached.data(red.token_drop)
token_drop_estimate = cached.data(red.estimate_token_drop_s)

header("Dropping redundant layers and tokens",
       "Not every part of a trained transformer pulls its weight. If an attention sublayer's output is almost "
       "the same vector as its input, skipping it changes little — and saves its compute *and* its KV cache. "
       "Likewise, image tokens that duplicate others can be dropped part-way through the network. Both are "
       "measured below on models trained in this repository.",
       ["He et al. 2024, What Matters in Transformers? Not All Attention Is Needed",
        "Xing et al. 2024, PyramidDrop", "Abnar & Zuidema 2020 (attention flow)"])

st.subheader("Attention layers of the tiny GPT (Shakespeare)")
windows = params.select_slider("Held-out windows of 256 bytes", [4, 8, 16, 32], value=4, key="drop_windows")
device = state.settings().device
with guard():
    lres, lres_at = measured(red.layer_drop, red.LayerDropConfig(windows=windows, device=device), device=device,
                             label="Scoring and timing every layer drop", stamp=True,
                             button="▶ Drop layers: score and time them")
if lres is not None:
    half = lres.n_layer // 2
    metrics([
        ("Most redundant attention", f"layer {int(lres.drop_order[0])}", "highest cos(X, X + Attn(X))"),
        (f"Loss, {half} dropped", f"{lres.loss[half]:.3f}", f"vs {lres.loss[0]:.3f} nats/byte with all layers"),
        (f"Control, {half} dropped", f"{lres.loss_reverse[half]:.3f}", "dropping the least redundant first"),
        ("KV cache per token", human_bytes(lres.kv_bytes_per_token[half]),
         f"of {human_bytes(lres.kv_bytes_per_token[0])} (fp32)"),
    ])
    c1, c2 = st.columns(2)
    with c1:
        figure(plots.layer_similarity(lres), key="layer_sim", provenance=provenance_text("measured live", device=lres.device, when=ago(lres_at)) + " (cosine on held-out text; committed tiny GPT)")
    with c2:
        figure(plots.layer_drop_curve(lres), key="layer_curve", provenance=provenance_text("measured live", device=lres.device, when=ago(lres_at)) + " (loss and forward time)")
    st.caption(f"Similarity is averaged over {lres.tokens_evaluated:,} held-out tokens. {red.layer_sentence(lres)} "
               f"Times: median of 2 forward passes (after a warm-up) of one batch of windows on {lres.device.upper()}.")

st.subheader("Patch tokens of the tiny ViT (Fashion-MNIST)")
c1, c2, c3 = st.columns(3)
after = params.slider(c1, "Drop after layer", 0, 3, 1, key="drop_after",
                  help="Tokens are removed after this many encoder blocks (0 = before the first).")
# (2000 images grew RSS by 426 MiB in the fuzz run, over the 256 MiB request budget)
n_images = params.select_slider(c2, "Test images", [100, 200, 500, 1000], value=100, key="drop_images")
example_keep = params.select_slider(c3, "Kept fraction in the example", [0.75, 0.5, 0.375, 0.25, 0.125], value=0.25,
                                key="drop_keep")
tcfg = red.TokenDropConfig(drop_after_layer=after, n_images=n_images, example_keep=example_keep, device=device)
tres = None
if st.session_state.get("drop_tok_on") or st.button("▶ Drop tokens: score and time them", key="drop_tok_go"):
    st.session_state["drop_tok_on"] = True
    with guard(), queued("Dropping tokens", device=device, key="drop_tok_q"):  # its forward passes are timed
        tres = longrun.run(token_drop, tcfg, estimate_s=token_drop_estimate(tcfg), key="drop_tokens",
                           what=f"Dropping tokens on {n_images:,} test images", fits="fewer test images")
if tres is None:
    stop()
live = provenance_text("measured live", device=tres.device)
figure(plots.token_drop_curves(tres), key="token_curves", provenance=live + "; FLOPs computed by formula")
figure(plots.kept_patches(tres), key="kept", provenance=live)
st.caption("similarity: repeatedly drop the patch token most similar (cosine) to another kept one · "
           "cls-attention: keep the tokens the CLS token attends to most, as PyramidDrop ranks image tokens by "
           "the attention they receive · random: the control. Accuracy on the committed test subset.")

claim_checks(([red.layer_claim(lres)] if lres is not None else []) + [red.token_claim(tres)])
