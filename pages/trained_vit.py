"""A tiny ViT trained here on Fashion-MNIST: its predictions, attention per layer and attention rollout.

section: Seeing
title: A trained tiny ViT
icon: 👕
order: 30
"""
import streamlit as st

from ui import cached, params
from ui.errors import guard, stop
from ui.layout import figure, header, metrics
from viz_core.labs import trained_vit as vit_explore
from viz_core.plots import models as plots

PROV = "Computed live with the committed tiny-ViT checkpoint on the committed Fashion-MNIST test subset"
view = cached.data(vit_explore.view)
evaluate = cached.data(vit_explore.evaluate)

header("A trained tiny ViT",
       "A vision transformer cuts a 28×28 Fashion-MNIST image into a 7×7 grid of 4×4 patches, adds a CLS "
       "token, and lets all 50 tokens attend to each other; the CLS token's final state is classified. "
       "This one is a committed checkpoint trained by the lab's own script (`python -m viz_core.train vit`; "
       "where and how long is in its model card in `assets/models/`). Attention rollout multiplies the head-averaged attention of every layer (with the "
       "residual connection as identity) to show which patches the decision draws on.",
       ["Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (ViT)",
        "Abnar & Zuidema 2020, Quantifying Attention Flow in Transformers (rollout)",
        "Heo et al. 2024, Rotary Position Embedding for Vision Transformer (2D RoPE)",
        "Xiao et al. 2017, Fashion-MNIST"])

names = vit_explore.available()
if not names:
    st.warning("No ViT checkpoint in assets/models/; run `python -m viz_core.train vit`.")
    stop()
c1, c2, c3, c4 = st.columns([2, 3, 2, 2])
name = params.selectbox(c1, "Model", names, key="vit_model",
                    help="tiny-vit: learned position embeddings; tiny-vit-rope2d: axial 2D rotary positions.")
index = params.slider(c2, "Test image #", 0, 1999, 0, key="vit_index", help="From the committed 2,000-image test subset.")
head = params.selectbox(c3, "Head for per-layer maps", ["mean of heads", 0, 1, 2, 3], key="vit_head")
residual = params.slider(c4, "Rollout residual weight", 0.0, 0.9, 0.5, step=0.1, key="vit_residual",
                     help="0.5 is the paper's choice: Â = ½I + ½A.")

with guard():
    v = view(vit_explore.ViewConfig(model=name, index=index, head=-1 if head == "mean of heads" else int(head),
                                    residual=residual))
pred = int(v.probs.argmax())
st.markdown(f"True class **{v.classes[v.label]}**, predicted **{v.classes[pred]}** "
            + ("✅" if pred == v.label else "❌"))
metrics([("Confidence", f"{v.probs[pred] * 100:.1f} %"),
         ("Accuracy (model card)", f"{vit_explore.card_accuracy(name) * 100:.2f} %",
          "measured at training time on the committed 2,000 test images; recompute it below")])
figure(plots.vit_attention_panels(v.image, v.rollout, v.layer_maps,
                                  f"{name} ({'learned positions' if v.pos == 'learned' else '2D RoPE'}): "
                                  "where the CLS token looks"), key="vit_panels", provenance=PROV)
st.caption("Per-layer maps show the CLS token's attention to each patch (its attention to itself is left out: "
           + ", ".join(f"layer {i}: {s:.2f}" for i, s in enumerate(v.cls_self)) + "). Brighter = more weight.")
a, b = st.columns(2)
with a:
    figure(plots.class_probs(v.probs, v.classes, v.label), key="vit_probs", provenance=PROV)
with b:
    st.markdown("**All 2,000 committed test images**")
    if st.button("Evaluate now (a few seconds)", key="vit_eval"):
        st.session_state.setdefault("vit_evaluated", set()).add(name)
    if name in st.session_state.get("vit_evaluated", set()):
        with guard():
            ev = evaluate(name)
        st.markdown(f"Accuracy computed now: **{ev.accuracy * 100:.2f} %** (model card: {ev.card_accuracy * 100:.2f} %"
                    + (f"; full 10,000-image test set at training time: {ev.full_test_accuracy * 100:.2f} %"
                       if ev.full_test_accuracy is not None else "") + ").")
        figure(plots.confusion(ev.confusion, v.classes, f"Confusion on {ev.n:,} test images"), key="vit_conf", provenance=PROV)
        st.caption(vit_explore.most_confused(ev.confusion, v.classes))
