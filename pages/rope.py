"""Rotary position embedding: positions as rotations, and why q·k then depends only on distance.

section: Position
title: RoPE: rotations
icon: 🌀
order: 10
"""
import streamlit as st

from ui import cached, params, state
from ui.errors import guard
from ui.image_source import pick_image
from ui.layout import figure, header, metrics, notes as show_notes
from viz_core.labs import rope as rope_lab
from viz_core.plots import rope as plots

PROV = "Computed live from the RoPE formulas (float64 angles) on these settings; random q, k from the seed"
run_rotation = cached.data(rope_lab.rotation)
run_spectrum = cached.data(rope_lab.spectrum)
run_relative = cached.data(rope_lab.relative)
run_patches = cached.data(rope_lab.patch_rope, max_entries=16)

header("RoPE: positions as rotations",
       "Rotary position embedding splits each query and key vector into pairs of dimensions and rotates pair *i* "
       "by the angle **m·θᵢ**, where *m* is the token's position and **θᵢ = base^(−2i/d)**. Rotating both q and k "
       "means their dot product only sees the *difference* of their angles, so it depends on the distance m − n "
       "alone. All of it is computed live by `viz_core/rope.py`, the code the tiny GPT runs.",
       papers=["Su et al. 2021, RoFormer (arXiv:2104.09864)", "Heo et al. 2024, RoPE for Vision Transformer (2D axial)",
               "Vaswani et al. 2017, Attention Is All You Need (sinusoidal embeddings)"])
s = state.settings()
base = params.number_input("Base", min_value=2.0, max_value=1e7, value=10000.0, step=1000.0, format="%g",
                           help="θᵢ = base^(−2i/d), so the base must be above 1 (used by sections 1–3). Llama 2 "
                                "uses 10,000, Llama 3 uses 500,000. Try 2: every pair turns fast.")


@st.fragment
def rotation_section():
    st.subheader("1 · A rotation you can see")
    c1, c2, c3 = st.columns(3)
    head_dim = int(params.slider(c1, "Head dimension d", 2, 256, 16, step=2,
                                 help="d/2 pairs, so d is even; real models use 64–128."))
    pair = params.slider(c2, "Pair i", 0, head_dim // 2 - 1, 0, help="Pair (i, i + d/2) in the half-split layout.") \
        if head_dim > 2 else 0  # d = 2 has a single pair
    first = params.number_input(c3, "First position of the walk", min_value=0, max_value=2 * 10**12, value=0, step=1,
                                key="rope_first", help="The figure walks m = this … this + 47 with its own Position m "
                                "slider. Angles are float64: up to about 2.25·10¹² they stay exact to 10⁻³ rad.")
    with guard(stop=False):
        rot = run_rotation(rope_lab.RotationConfig(head_dim=head_dim, base=base, pair=pair, position=int(first),
                                                   seed=s.seed))
    if "rot" not in locals():
        return
    figure(plots.rotation_walk_figure(rot), key="rope_walk", provenance=PROV)
    st.caption(f"One control moves both views: the **Position m** slider under the figure (▶ plays it in your browser). "
               f"λ = tokens per turn (2π/θᵢ): pair 0 turns {rot.freqs[0]:.3g} rad per token, pair {head_dim // 2 - 1} "
               f"{rot.freqs[-1]:.3g} rad per token ({rot.wavelengths[-1]:,.0f} tokens per turn); |q| never changes.")


rotation_section()


@st.fragment
def spectrum_section():
    st.subheader("2 · The frequency spectrum")
    c1, c2 = st.columns(2)
    spec_dim = params.selectbox(c1, "Head dimension", [32, 64, 128, 256], index=1, key="spec_dim")
    context = params.select_slider(c2, "Context length (tokens)", [256, 1024, 2048, 4096, 8192, 32768, 131072], value=4096)
    with guard(stop=False):
        sp = run_spectrum(rope_lab.SpectrumConfig(head_dim=spec_dim, base=base, context=context))
    if "sp" not in locals():
        return
    figure(plots.spectrum_figure(sp), provenance=PROV)
    st.caption(f"With base {base:g}, the slowest pair needs {sp.max_wavelength:,.0f} tokens for one turn. Pairs that "
               "never complete a turn inside the context see only part of the circle during training — the root of "
               "the long-context problem on the next page.")


spectrum_section()


@st.fragment
def relative_section():
    st.subheader("3 · The relative-position property, checked live")
    st.markdown("Fix two random vectors q and k, place q at every position m and k at every position n, and compute "
                "the score q_m·k_n/√d. With RoPE the matrix is constant along every diagonal (same m − n). Additive "
                "embeddings (q + p_m)·(k + p_n) are not: the cross terms q·p_n and p_m·k depend on absolute "
                "positions.")
    c1, c2, c3 = st.columns(3)
    n_pos = params.slider(c1, "Positions", 8, 128, 48, step=8)
    offset = params.select_slider(c2, "First position", [0, 1000, 10**6, 10**9, 10**12], value=0,
                              format_func=lambda v: f"{v:,}")
    rel_dim = params.selectbox(c3, "Head dimension", [16, 32, 64, 128], index=2, key="rel_dim")
    with guard(stop=False):
        rel = run_relative(rope_lab.RelativeConfig(head_dim=rel_dim, n=n_pos, base=base, offset=offset,
                                                   seed=s.seed, dtype=s.dtype, device=s.device))
    if "rel" not in locals():
        return
    labels = rope_lab.EMBEDDING_LABELS
    figure(plots.relative_heatmaps(rel, labels), provenance=PROV)
    i_rope = rel.methods.index("rope")
    metrics([("RoPE: diagonal deviation", f"{rel.diag_deviation[i_rope]:.2e}",
              f"in {rel.dtype} on {rel.device}; the largest possible |score| is {rel.score_scale:.2f}"),
             ("RoPE in float64", f"{rel.rope_deviation_float64:.2e}"),
             ("Sinusoidal additive", f"{rel.diag_deviation[rel.methods.index('sinusoidal')]:.2e}"),
             ("Angles in float32 instead", f"{rel.float32_angle_error:.2e}",
              "max |score − exact score| when m·θ is computed in float32: fine near 0, wrong at 10⁶ and beyond")],
            columns=4)
    st.markdown("**Every (m, n) score against its distance m − n:** RoPE's points (big, blue) fall on one curve.")
    figure(plots.relative_profile(rel, labels), provenance=PROV)
    st.caption(f"'No position information' is also constant along diagonals — but it is the same number everywhere "
               f"(spread of the diagonal means: {rel.diag_spread[rel.methods.index('none')]:.1e}, against "
               f"{rel.diag_spread[i_rope]:.2f} with RoPE): it cannot tell distances apart. The learned-style table "
               "is a random table standing in for a trained one. Scores are computed on the sidebar's device and "
               "precision; try the first position at 10⁹ to see float64 angles keep the property and float32 "
               "angles lose it.")


relative_section()


@st.fragment
def patch_section():
    st.subheader("4 · 2D RoPE on image patches")
    st.markdown("A ViT reads the patch grid as one sequence. **Axial 2D RoPE** rotates the first half of each head "
                "by the patch's row and the second half by its column, so q·k depends only on the (row, column) "
                "offset. Pick a patch (red box): every other patch is tinted by the mean q·k/|q|² between them "
                "(over random directions q = k), against 1D RoPE on the reading-order index, where the patch "
                "directly below is a whole row of tokens away.")
    source, label = pick_image("patching")
    c1, c2, c3, c4 = st.columns(4)
    patch = params.select_slider(c1, "Patch size", [8, 14, 16, 28, 32], value=16, key="rope_patch")
    img_base = params.select_slider(c2, "Base (2D)", [10.0, 100.0, 1000.0, 10000.0], value=100.0,
                                help="Vision RoPE often uses a small base: a 14×14 grid is short.")
    g = 224 // patch
    prow = params.slider(c3, "Patch row", 0, g - 1, min(6, g - 1), key="rope_prow")
    pcol = params.slider(c4, "Patch column", 0, g - 1, min(6, g - 1), key="rope_pcol")
    with guard(stop=False):
        pr = run_patches(source, rope_lab.PatchRopeConfig(image_size=224, patch_size=patch, row=prow, col=pcol,
                                                          head_dim=64, base=img_base))
    if "pr" not in locals():
        return
    show_notes(pr.notes)
    figure(plots.patch_figure(pr), provenance=PROV)
    st.caption(f"{label}, 224×224, {g}×{g} patches, head dimension 64. The 2D map is a '+' shape: axial RoPE adds a "
               "row term and a column term, so patches in the same row or column stay similar (mixed-frequency "
               "variants learn diagonal directions too). Moving the chosen patch only shifts the map: the map for "
               f"another patch matches this one shifted, to {pr.offset_only_error:.1e}.")


patch_section()
