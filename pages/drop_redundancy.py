"""Drop attention layers and tokens that add little, on the tiny models trained here, and measure the cost.

section: Compressing
title: Dropping layers & tokens
icon: ✂️
order: 10
"""
import streamlit as st

from ui import params, state
from ui.errors import guard
from ui.layout import claim_checks, figure, header, metrics
from ui.measure_queue import measured
from viz_core.errors import human_bytes
from viz_core.labs import drop_redundancy as red
from viz_core.plots import compression as plots


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
    lres = measured(red.layer_drop, red.LayerDropConfig(windows=windows, device=device), device=device,
                    label="Scoring and timing every layer drop", button="▶ Drop layers: score and time them")
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
        figure(plots.layer_similarity(lres), key="layer_sim")
    with c2:
        figure(plots.layer_drop_curve(lres), key="layer_curve")
    st.caption(f"Similarity is averaged over {lres.tokens_evaluated:,} held-out tokens. The first attention layer "
               "changes its input most (it mixes raw byte embeddings); deeper ones are closer to 1 and cost less "
               f"to drop. Times: median of 2 forward passes (after a warm-up) of one batch of windows on {lres.device.upper()}.")

st.subheader("Patch tokens of the tiny ViT (Fashion-MNIST)")
c1, c2, c3 = st.columns(3)
after = params.slider(c1, "Drop after layer", 0, 3, 1, key="drop_after",
                  help="Tokens are removed after this many encoder blocks (0 = before the first).")
n_images = params.select_slider(c2, "Test images", [100, 200, 500, 1000, 2000], value=100, key="drop_images")
example_keep = params.select_slider(c3, "Kept fraction in the example", [0.75, 0.5, 0.375, 0.25, 0.125], value=0.25,
                                key="drop_keep")
with guard():
    tres = measured(red.token_drop, red.TokenDropConfig(drop_after_layer=after, n_images=n_images,
                                                        example_keep=example_keep, device=device), device=device,
                    label="Dropping tokens and scoring the test images", button="▶ Drop tokens: score and time them")
if tres is not None:
    figure(plots.token_drop_curves(tres), key="token_curves")
    figure(plots.kept_patches(tres), key="kept")
    st.caption("similarity: repeatedly drop the patch token most similar (cosine) to another kept one · "
               "cls-attention: keep the tokens the CLS token attends to most, as PyramidDrop ranks image tokens by "
               "the attention they receive · random: the control. Accuracy on the committed test subset.")

checks = ([red.layer_claim(lres)] if lres is not None else []) + ([red.token_claim(tres)] if tres is not None else [])
if checks:
    claim_checks(checks)
