"""Cut a real image into patches, read them as a token sequence, and count what attention over them costs.

section: Seeing
title: ViT patching
icon: 🧩
order: 10
"""
import streamlit as st

from ui import cached, params
from ui.errors import guard
from ui.image_source import pick_image
from ui.layout import claim_checks, figure, header, metrics, notes as show_notes
from viz_core.errors import human_bytes, human_count
from viz_core.plots import vision as plots
from viz_core.labs import vit_patching as patching
from viz_core.vision.patching import IMAGE_SIZES, PATCH_SIZES

PROV = "Computed live: the chosen image cut into patches; costs by formula (tokens², FLOPs = 4·N²·d per layer)"
run = cached.data(patching.run)

header("ViT patching: an image becomes a sequence",
       "A Vision Transformer does not look at pixels one by one. It cuts the image into square **patches**, "
       "flattens each into a vector and reads them left-to-right, top-to-bottom like words in a sentence. "
       "Attention compares every token with every other, so its cost grows with the **square** of the "
       "number of tokens — which is why patching matters.",
       ["Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (ViT)"])

source, label = pick_image("patching")
c1, c2 = st.columns(2)
size = params.select_slider(c1, "Image size (pixels per side)", IMAGE_SIZES, value=224, key="patch_image_size")
patch = params.select_slider(c2, "Patch size (pixels per side)", [p for p in PATCH_SIZES if p <= size], value=16,
                             key="patch_size")
with st.expander("Model width used for the FLOP count"):
    d_model = params.select_slider("d_model", [192, 384, 768, 1024, 1280], value=768,
                               help="ViT-Ti 192, ViT-S 384, ViT-B 768, ViT-L 1024, ViT-H 1280")
    heads = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}[d_model]

with guard():
    res = run(source, patching.PatchConfig(image_size=size, patch_size=patch, d_model=d_model, heads=heads))

show_notes(res.notes)
rows, cols = res.grid
metrics([
    ("Pixels", f"{res.n_pixels:,}", f"{res.image_size}×{res.image_size}"),
    ("Tokens", f"{res.n_tokens:,}", f"{rows}×{cols} patches of {patch}×{patch}"),
    ("Values per token", f"{res.values_per_token:,}", f"3 channels × {patch}×{patch}"),
    ("Sequence shorter by", f"{res.n_pixels / res.n_tokens:,.0f}×"),
    ("Attention entries fewer by", f"{res.pixel_cost.score_entries / res.patch_cost.score_entries:,.0f}×"),
])

left, right = st.columns([1, 1])
with left:
    st.markdown(f"**{label}**, resized to {res.image_size}×{res.image_size} with the patch grid")
    figure(plots.image_with_grid(res.image, patch, height=460), key="grid", provenance=PROV)
with right:
    figure(plots.token_strip(res.patches, res.n_tokens, per_row=20), key="strip", provenance=PROV)
    st.caption("Read left to right, top to bottom: the grid is flattened into one sequence (rows of 20 here).")
st.caption(f"Cutting and re-assembling is exact: fold(unfold(image)) differs from the image by at most "
           f"{res.reconstruction_max_error:g} (computed with torch.nn.functional.unfold / fold).")

st.subheader("What full attention would cost")
figure(plots.cost_bars(res.pixel_cost, res.patch_cost), key="costs", provenance=PROV)
pc, tc = res.pixel_cost, res.patch_cost
st.markdown(
    f"| | tokens N | score entries N² (one head) | score bytes (fp32, one head) | FLOPs per layer (4·N²·d, d={d_model}) |\n"
    f"|---|---|---|---|---|\n"
    f"| over pixels | {pc.tokens:,} | {human_count(pc.score_entries)} | {human_bytes(pc.score_bytes_fp32)} | {human_count(pc.flops_per_layer)}FLOP |\n"
    f"| over patches | {tc.tokens:,} | {human_count(tc.score_entries)} | {human_bytes(tc.score_bytes_fp32)} | {human_count(tc.flops_per_layer)}FLOP |"
)
st.caption("Computed from the formulas in viz_core/measure/flops.py: N² scores per head, 4 bytes each in fp32; "
           "forward attention is 4·N²·d FLOPs per layer (QKᵀ and PV, a multiply-add counted as 2).")

claim_checks(cached.data(patching.claim_checks)())
