"""What the lab is, what it runs on, and the path an image takes through a vision transformer.

section: Start
title: Home
icon: ⚡
order: 0
default: true
"""
from pathlib import Path

import streamlit as st

from ui import cached, params, registry, state
from ui.layout import metrics
from viz_core.device import describe
from viz_core.errors import human_bytes

hardware = cached.resource(describe)

st.title("⚡ Transformer Efficiency Lab")
st.markdown(
    "Why are modern transformers fast? Every page here **runs the technique for real** in PyTorch on this "
    "machine — patching, rotary positions, a dozen attention variants, FlashAttention's tiles, KV caches, "
    "speculative decoding — and shows what it computes, how far it is from exact attention, and what it "
    "costs in time and memory, measured here. Claims from papers and tutorials are shown as claims, "
    "next to what this device measured."
)

s = state.settings()
hw = hardware(s.device)
st.subheader("Running on")
metrics([
    ("Device", "GPU" if hw.device == "cuda" else "CPU", hw.name),
    ("Processor", hw.name[:28] + ("…" if len(hw.name) > 28 else ""), hw.name),
    ("Threads" if hw.device == "cpu" else "SMs", str(hw.threads)),
    ("Memory", human_bytes(hw.total_memory_bytes) if hw.total_memory_bytes else "unknown"),
    ("torch", hw.torch_version.split("+")[0], f"torch {hw.torch_version}"),
])

st.subheader("The path an image takes through a vision transformer")
STEPS = [
    ("Image", "pixels: 224×224×3", None),
    ("Patches", "a grid read as a sequence", "pages/vit_patching.py"),
    ("Embed", "each patch → a vector", "pages/patch_embedding.py"),
    ("RoPE", "positions as rotations", "pages/rope.py"),
    ("Attention", "sparse, linear, tiled", "pages/attention_lab.py"),
    ("KV cache", "generate without recomputing", "pages/kv_cache.py"),
]
root = Path(registry.ROOT)
per_row = 3 if s.presentation else len(STEPS)  # large text on a projector: two rows of three boxes fit
for start in range(0, len(STEPS), per_row):
    row = STEPS[start:start + per_row]
    cols = st.columns([7, 1] * (len(row) - 1) + [7], vertical_alignment="center", gap="small")
    for j, (label, what, path) in enumerate(row):
        with cols[2 * j].container(border=True):
            if path and (root / path).exists():
                st.page_link(path, label=f"**{label}**", query_params=params.shared())
            else:
                st.markdown(f"**{label}**")
            st.caption(what)
        if j < len(row) - 1:
            cols[2 * j + 1].markdown("<div style='text-align:center;font-size:1.6rem'>→</div>", unsafe_allow_html=True)

st.subheader("All pages")
for section, pages in registry.by_section().items():
    if section == "Start":
        continue
    st.markdown(f"**{section}**")
    for p in pages:
        st.page_link(p.path, label=f"{p.title} — {p.summary}", icon=p.icon, query_params=params.shared())
