"""The shared sidebar (device, dtype, seed, presentation mode) and how pages read it."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from viz_core.device import DTYPES, available_devices, cpu_count, recommended_threads, set_threads

_DEFAULTS = {"device": "auto", "dtype": "float32", "seed": 0, "presentation": False,
             "threads": recommended_threads()}


@dataclass(frozen=True)
class Settings:
    device: str  # "auto" / "cpu" / "cuda"
    dtype: str  # "float32" / "bfloat16" / "float16"
    seed: int
    presentation: bool
    threads: int


def sidebar() -> Settings:
    """Draw the shared controls (called by app.py on every run, before the page)."""
    for k, v in _DEFAULTS.items():
        st.session_state.setdefault(k, v)
    with st.sidebar:
        st.markdown("### Run settings")
        devices = available_devices()
        if st.session_state["device"] not in devices:
            st.session_state["device"] = "auto"
        st.selectbox("Device", devices, key="device",
                     help="'auto' uses CUDA when this machine has a GPU, else the CPU.")
        st.selectbox("Precision", list(DTYPES), key="dtype",
                     help="Data type of activations. float16 on CPU runs as bfloat16.")
        st.number_input("Random seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                        help="Every random input and weight in the lab is drawn from this seed.")
        st.number_input("CPU threads", min_value=1, max_value=cpu_count(), step=1, key="threads",
                        help="torch intra-op threads for CPU work. The default leaves one core for the server "
                             "and the browser; every CPU timing states the threads it ran with.")
        st.toggle("Presentation mode", key="presentation", help="Larger text for a projector.")
    set_threads(st.session_state["threads"])
    if st.session_state["presentation"]:
        st.markdown("<style>html, body, [class*='st-'] {font-size: 1.15rem;} h1 {font-size: 2.6rem;}</style>",
                    unsafe_allow_html=True)
    return settings()


def settings() -> Settings:
    s = st.session_state
    return Settings(device=s.get("device", "auto"), dtype=s.get("dtype", "float32"),
                    seed=int(s.get("seed", 0)), presentation=bool(s.get("presentation", False)),
                    threads=int(s.get("threads", recommended_threads())))
