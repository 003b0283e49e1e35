"""Run a real patch embedding in torch: conv == unfold + linear, the embedding space, and position embeddings.

section: Seeing
title: Patch embedding
icon: 🔢
order: 20
"""
import streamlit as st

from ui import cached, params, state
from ui.errors import guard
from ui.image_source import pick_image
from ui.layout import figure, header, metrics, notes as show_notes
from viz_core.plots import vision as plots
from viz_core.labs import patch_embedding as embedding
from viz_core.vision import patching

PROV = ("Computed live: a randomly initialised patch embedding (sidebar seed) on the chosen image; the trained "
        "positions come from the committed tiny-ViT checkpoint")
run = cached.data(embedding.run)
trained = cached.data(embedding.trained_positions)

header("Patch embedding: patches become vectors",
       "Each p×p×3 patch is mapped to a D-dimensional vector by one linear layer. Written as a convolution "
       "with kernel size = stride = p, it is the **same computation** as cutting patches (unfold) and "
       "multiplying by a matrix — checked below on your image. Similar-looking patches land close together; "
       "position embeddings are added so the model knows *where* each patch was.",
       ["Dosovitskiy et al. 2021 (ViT)", "Vaswani et al. 2017 (sinusoidal positions)",
        "He et al. 2022, MAE (2D sin-cos positions)"])

source, label = pick_image("embedding")
c1, c2, c3 = st.columns(3)
size = params.select_slider(c1, "Image size", patching.IMAGE_SIZES, value=224, key="emb_image_size")
# only patch sizes this page accepts here: a grid of at least 2×2 and at most MAX_TOKENS tokens
patch_opts = [p for p in patching.PATCH_SIZES if 2 * p <= size and (size // p) ** 2 <= embedding.MAX_TOKENS]
patch = params.select_slider(c2, "Patch size", patch_opts, value=16 if 16 in patch_opts else patch_opts[0],
                             key="emb_patch", help=f"Sizes that make more than {embedding.MAX_TOKENS:,} tokens are not "
                                                   "offered: this page draws N×N similarity maps.")
d_model = params.select_slider(c3, "Embedding width D", [32, 64, 128, 192, 384, 768], value=192, key="emb_d")
seed = state.settings().seed

with guard():
    fitted, _ = patching.fit_size(size, patch)
    g = fitted // patch
    q = params.slider("Query patch for the position maps (token index)", 0, max(1, g * g - 1),
                      value=min(g * g // 2 + g // 2, g * g - 1), key="emb_query") if g > 1 else 0
    dims = params.radio("PCA", ["2D", "3D"], horizontal=True, key="emb_pca")
    res = run(source, embedding.EmbedConfig(image_size=size, patch_size=patch, d_model=d_model, seed=seed,
                                            pca_components=3 if dims == "3D" else 2, query_patch=q))

show_notes(res.notes)
n = res.embeddings.shape[0]
metrics([
    ("Tokens × dims", f"{n} × {d_model}"),
    ("Parameters", f"{3 * patch * patch * d_model + d_model:,}", "3·p²·D weights + D biases"),
    ("max |conv − (unfold+linear)|", f"{res.conv_vs_linear_max_abs:.2e}", "fp32 rounding only"),
    ("PCA variance shown", f"{res.pca_explained.sum():.0%}"),
])
st.caption(f"Weights: torch's default Conv2d initialisation drawn from seed {seed} (sidebar). A linear map "
           "keeps the geometry of the patches, so the structure below is real even before training.")

figure(plots.embedding_heatmap(res.embeddings), key="emb", provenance=PROV)
left, right = st.columns(2)
with left:
    colour_by = params.radio("Colour points by", ["row", "column"], horizontal=True, key="emb_colour")
    figure(plots.pca_scatter(res.pca_coords, res.rows, res.cols, res.pca_explained,
                             "row" if colour_by == "row" else "col"), key="pca", provenance=PROV)
with right:
    figure(plots.similarity_heatmap(res.cosine, "Cosine similarity between patch embeddings"), key="cos", provenance=PROV)

st.subheader("Position embeddings: learned vs sinusoidal")
st.markdown("Cosine similarity of the query patch's position embedding (✕) with every other position (colour range: the other positions' min to max). "
            "2D sinusoids are similar for nearby patches by construction; a learned table starts random "
            "and only acquires structure through training.")
cols = st.columns(3)
with cols[0]:
    figure(plots.position_similarity_grid(res.pos_sim_sinusoidal, res.grid, q, "2D sinusoidal (fixed)"), key="pos_sin", provenance=PROV)
    st.caption(f"Correlation of similarity with closeness: {res.pos_neighbour_corr_sinusoidal:+.2f}")
with cols[1]:
    figure(plots.position_similarity_grid(res.pos_sim_learned, res.grid, q, "Learned, at initialisation"), key="pos_learn", provenance=PROV)
    st.caption(f"Correlation of similarity with closeness: {res.pos_neighbour_corr_learned:+.2f}")
with cols[2], guard(stop=False):
    r, c = divmod(q, res.grid[1])
    frac = (r / max(1, res.grid[0] - 1), c / max(1, res.grid[1] - 1))
    tp = trained(*frac)
    figure(plots.position_similarity_grid(tp.sim, tp.grid, tp.query, "Learned, after training"), key="pos_trained", provenance=PROV)
    st.caption(f"Correlation with closeness: {tp.neighbour_corr:+.2f}. From the {tp.model_card}; the query "
               "is mapped to the same relative place on its grid.")
