"""The shared sidebar (presentation mode, device, dtype, seed, threads) and how pages read it.

Device, precision, seed and presentation mode live in the URL too (``ui.params``): ``?present=1&seed=7``.
Presentation mode is the first control in the sidebar so it is reachable without scrolling at 720 px.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui import params
from viz_core.device import DTYPES, available_devices, cpu_count, recommended_threads, set_threads


@dataclass(frozen=True)
class Settings:
    device: str  # "auto" / "cpu" / "cuda"
    dtype: str  # "float32" / "bfloat16" / "float16"
    seed: int
    presentation: bool
    threads: int


def presentation_toggle() -> bool:
    """The presentation-mode toggle (drawn first in the sidebar by app.py); ``?present=1`` turns it on."""
    with st.sidebar:
        return bool(params.toggle("Presentation mode", value=False, key="presentation", url_name="present",
                                  help="Projector view: larger text and charts, developer detail hidden, "
                                       "Previous/Next buttons through the lesson."))


def sidebar() -> Settings:
    """Draw the shared run settings (called by app.py on every run, before the page)."""
    with st.sidebar:
        s = settings()
        summary = f"{s.device} · {s.dtype} · seed {s.seed} · {s.threads} thread{'s' if s.threads > 1 else ''}"
        with st.expander(f"Run settings: {summary}", expanded=False):
            devices = available_devices()
            params.selectbox("Device", devices, index=devices.index("auto") if "auto" in devices else 0,
                             key="device", help="'auto' uses CUDA when this machine has a GPU, else the CPU.")
            params.selectbox("Precision", list(DTYPES), index=0, key="dtype",
                             help="Data type of activations. float16 on CPU runs as bfloat16.")
            params.number_input("Random seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="seed",
                                help="Every random input and weight in the lab is drawn from this seed.")
            st.number_input("CPU threads", min_value=1, max_value=cpu_count(), value=recommended_threads(), step=1,
                            key="threads",
                            help="torch intra-op threads of this session's timed runs, set inside the server's "
                                 "measurement queue for the run and restored afterwards (so sessions never change "
                                 "each other's threads). The default leaves one core for the server and the "
                                 "browser; every CPU timing states the threads it ran with.")
    set_threads(recommended_threads())  # the server's count for untimed work: the same for every session
    return settings()


def settings() -> Settings:
    s = st.session_state
    return Settings(device=s.get("device", "auto"), dtype=s.get("dtype", "float32"),
                    seed=int(s.get("seed", 0)), presentation=bool(s.get("presentation", False)),
                    threads=int(s.get("threads", recommended_threads())))


def presenting() -> bool:
    return bool(st.session_state.get("presentation", False))
