"""Pick attention variants and see, for the same Q, K, V, what each computes, how far it is from exact, and its cost.

section: Attention
title: Attention variants
icon: 🔍
order: 10
"""
import streamlit as st

from ui import cached, errors, layout, params, state
from ui.measure_queue import measured
from viz_core.attention import all_variants
from viz_core.labs.attention_lab import (DEFAULT_VARIANTS, InputConfig, LabConfig, claim_checks, recorded_rows,
                                         run_lab, window_mass_n1000)
from viz_core.attention.types import AttnConfig
from viz_core.plots import attention as plots

mass_1000 = cached.data(window_mass_n1000)
variants = cached.resource(all_variants)()
HIDDEN = {"flash_tiled"}  # the FlashAttention page steps through it; too slow to time here

layout.header(
    "Attention variants",
    "Every variant below **runs for real** on the same queries, keys and values. For each one you see its "
    "sparsity mask, its attention weights per head (for linear attention and Performer the weights they "
    "*imply*, φ(Q)φ(K)ᵀ row-normalised; for every variant the matrix W with output = W·V), how far its output is "
    "from exact softmax attention, and what it costs: theoretical score entries, FLOPs and bytes next to the "
    "time and peak memory measured on this device.",
    papers=["Vaswani et al. 2017", "Child et al. 2019 (Sparse Transformer)", "Beltagy et al. 2020 (Longformer)",
            "Zaheer et al. 2020 (BigBird)", "Katharopoulos et al. 2020 (linear)", "Choromanski et al. 2021 (Performer)",
            "Wang et al. 2020 (Linformer)", "Shazeer 2019 (MQA)", "Ainslie et al. 2023 (GQA)",
            "Ye et al. 2024 (Differential)", "Zhu & Soricut 2021 (H-Transformer-1D)", "Dong et al. 2024 (FlexAttention)"],
)
s = state.settings()

names = [n for n in sorted(variants) if n not in HIDDEN]
chosen = params.multiselect("Variants", names, default=[n for n in DEFAULT_VARIANTS if n in names],
                        help="Each is compared with exact softmax attention on the same inputs.")
c1, c2, c3, c4, c5 = st.columns(5)
kind = params.radio(c1, "Inputs", ["structured", "random"], horizontal=True,
                help="Structured: each head is a smooth random walk, so nearby tokens are similar and patterns "
                     "are visible. Random: i.i.d. Gaussian Q, K, V.")
n = params.select_slider(c2, "Sequence length N", [16, 32, 64, 128, 256, 512, 1024, 2048], value=128)
heads = params.select_slider(c3, "Heads", [1, 2, 4, 8], value=4)
head_dim = params.select_slider(c4, "Head size d", [8, 16, 32, 64], value=32)
causal = params.toggle(c5, "Causal", value=False, help="Each query sees only itself and earlier tokens.")

with st.expander("Variant parameters", expanded=False):
    p1, p2, p3, p4 = st.columns(4)
    window = params.slider(p1, "Window (keys per query)", 2, 256, 32, help="Sliding window, strided, Longformer, BigBird.")
    stride = params.slider(p1, "Stride", 2, 32, 8, help="Strided: also every stride-th key; fixed layout: block period.")
    block = params.select_slider(p2, "Block size", [4, 8, 16, 32, 64], value=16,
                             help="Block-sparse kernel, BigBird random blocks, hierarchical blocks.")
    n_global = params.slider(p2, "Global tokens", 0, 16, 2)
    n_random = params.slider(p2, "Random blocks (BigBird)", 0, 8, 1)
    features = params.select_slider(p3, "Performer features m", [8, 16, 32, 64, 128, 256, 512, 1024], value=64)
    proj_k = params.select_slider(p3, "Linformer k", [4, 8, 16, 32, 64, 128, 256], value=32)
    proj_kind = params.radio(p3, "Linformer projection", ["pool", "random"], horizontal=True)
    kv_heads = params.select_slider(p4, "KV heads (GQA)", [1, 2, 4, 8], value=min(2, heads))
    lam = params.slider(p4, "λ (differential)", 0.0, 1.0, 0.5, 0.05)
    levels = params.slider(p4, "Levels (hierarchical)", 0, 5, 2)
    impl = params.radio(p1, "Sparse masks run as", ["blocks", "dense", "flex"], horizontal=True,
                    help="blocks: skip empty blocks; dense: masked N×N (the spec); flex: compiled FlexAttention.")
    if impl == "flex" and s.device != "cuda":
        st.warning("FlexAttention compiles with torch.compile first: 20–30 s on this CPU per new shape. The "
                   "compile time is shown separately and never counted as run time.", icon="⏳")

attn = AttnConfig(causal=causal, window=window, stride=stride, n_global=n_global, n_random=n_random, block=block,
                  sparse_impl=impl, features=features, proj_k=proj_k, proj_kind=proj_kind, kv_heads=kv_heads,
                  lam=lam, levels=levels, seed=s.seed)
cfg = LabConfig(variants=tuple(chosen), inputs=InputConfig(n, heads, head_dim, 1, kind, s.seed, s.device, s.dtype),
                attn=attn, show_heads=2, threads=s.threads)

with errors.guard():
    if not chosen:
        st.info("Pick at least one variant.")
        errors.stop()
    res, measured_at = measured(run_lab, cfg, label="Running and timing the variants", device=s.device,
                                threads=s.threads, stamp=True)

st.caption(f"Measured live {layout.ago(measured_at)} on {res.device.upper()} ({res.threads} torch thread(s)), "
           f"{res.dtype}, B=1, H={res.heads}, "
           f"N={res.n}, d={res.head_dim}. Time: median of 3 calls after a warm-up. Peak memory: "
           f"{'CUDA max_memory_allocated' if res.device == 'cuda' else 'tensor bytes allocated, from the torch profiler'}."
           f" Exact attention here: {res.exact_time_s * 1e3:.3g} ms.")
layout.table(plots.results_table(res), name="attention_variants", hide_index=True, width="stretch",
             column_config={"max |err|": st.column_config.NumberColumn(format="%.3g"),
                            "rel. err": st.column_config.NumberColumn(format="%.3g"),
                            "row KL (nats)": st.column_config.NumberColumn(format="%.3g"),
                            "time (ms)": st.column_config.NumberColumn(format="%.3g"),
                            "speed-up vs exact": st.column_config.NumberColumn(format="%.2f×")})
for v in res.variants:
    if not v.ok:
        st.warning(f"**{v.name}** did not run with these settings: {v.message}", icon="⚠️")
st.caption("**exact for its mask** = softmax attention computed exactly over the pairs the variant's mask allows; "
           "its rel. err against *full* attention is the weight outside the mask, so it can be large (a window "
           "misses distant keys). rel. err = ‖out − exact‖ / ‖exact‖ (Frobenius). Row KL = mean over query rows of "
           "KL(variant ‖ exact) of the attention weights (empty where weights can be negative). At small N fixed "
           "overheads dominate the times: use the scaling page for long sequences.")
if res.exact_weights is None:
    st.info(f"At N = {res.n} the N×N weight maps are too large to draw (they are drawn for N ≤ 512): each variant "
            "shows, per query row, the keys it may attend to and the relative error of that row's output.")

live = layout.provenance_text("measured live", device=res.device.upper(), threads=res.threads, dtype=res.dtype,
                              when=layout.ago(measured_at))
drawn = [v for v in res.variants if v.ok and (v.mask is not None or v.weights is not None)]
if drawn and res.exact_weights is not None:
    st.markdown("#### Every variant at a glance")
    layout.figure(plots.overview_figure(drawn, res.exact_weights), key="overview", provenance=live)
    st.caption("Exact attention (head 1), then each variant: its mask where it has one (the query-key pairs it "
               "computes), else the weights its approximation implies (head 1). Below: one variant in detail.")


@st.fragment
def one_variant() -> None:
    """The chosen variant's mask, weights per head and error against exact attention (reruns alone)."""
    names = [v.name for v in res.variants]
    pick = params.selectbox("Show in detail", names, index=0, key="al_detail")
    v = res.variants[names.index(pick)]
    st.markdown(f"#### {v.name} {'· exact for its mask' if v.exact else '· approximate'}")
    st.caption(f"{v.summary} — *{v.paper}*. Time {v.time_complexity}, memory {v.memory_complexity}.")
    if not v.ok:
        st.info(v.message)
        return
    if res.exact_weights is not None:
        layout.figure(plots.exact_figure(res.exact_weights), key="exact", provenance=live)
    layout.figure(plots.variant_figure(v, res.exact_weights), key=f"v-{v.name}", provenance=live)


one_variant()
layout.figure(plots.cost_figure(res), key="cost",
              provenance="Computed from formulas (score entries, FLOPs, bytes), beside times and peak memory " + live)

rows, rows_from = recorded_rows(s.device)
layout.claim_checks(claim_checks(rows, window_mass_n1000=mass_1000(s.seed), provenance=rows_from),
                    title="Claims, checked here")
st.caption(f"Speed claims use the recorded `python -m viz_core bench attention` run for the sidebar's device "
           f"({rows_from}). Re-run it on your machine to update.")
