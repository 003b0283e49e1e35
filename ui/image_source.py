"""The image picker shared by the vision pages: a bundled sample or an upload (kept across pages)."""
from __future__ import annotations

import streamlit as st

from ui import params
from viz_core.vision.images import sample_names

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]


def pick_image(key: str = "image") -> tuple[str | bytes, str]:
    """Sidebar-free picker; returns (source, label) where source is a sample name or upload bytes."""
    names = sample_names()
    c1, c2 = st.columns([1, 2])
    with c1:
        choice = params.radio("Image", ["Sample", "Upload"], horizontal=True, key=f"{key}_kind")
    with c2:
        if choice == "Sample":
            default = names.index("chelsea") if "chelsea" in names else 0
            name = params.selectbox("Sample photo", names, index=default, key=f"{key}_sample")
            return name, f"sample “{name}”"
        up = st.file_uploader("Your image (PNG, JPEG, WebP, …)", type=UPLOAD_TYPES, key=f"{key}_upload")
    if up is None:
        st.info("No file uploaded yet: showing the sample photo “chelsea”.")
        return "chelsea", "sample “chelsea”"
    return up.getvalue(), f"upload “{up.name}”"
