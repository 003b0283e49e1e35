"""Watch FlashAttention compute exact attention tile by tile, and measure where the memory goes.

section: Attention
title: FlashAttention, step by step
icon: ⚡
order: 30
"""
import streamlit as st

from ui import cached, longrun, params, state
from ui.errors import guard
from ui.layout import ago, claim_checks, figure, header, metrics, provenance_text
from ui.measure_queue import queued
from viz_core.labs import flash as flash_lab, flash_steps
from viz_core.errors import human_bytes
from viz_core.plots import flash as plots, flash_walk as walk

load_recorded = cached.data(flash_lab.load_recorded)
measure_flash = cached.timed(flash_lab.measure)  # (result, time measured); its _progress is not in the key

header("FlashAttention, step by step",
       "Standard attention writes the whole N×N score matrix to GPU main memory (HBM), reads it back for the "
       "softmax, writes the probabilities, and reads them again. **FlashAttention** never stores it: it loads "
       "a block of queries and streams key/value blocks through fast on-chip memory (SRAM), keeping only a "
       "running max **m**, a running sum **l** and a rescaled output per row (the *online softmax*). The "
       "result is exactly the same. Below it runs in plain PyTorch on real numbers, one tile per step.",
       ["Dao et al. 2022, FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
        "Dao 2023, FlashAttention-2", "Milakov & Gimelshein 2018, Online normalizer calculation for softmax"])

s = state.settings()
STEP_PROV = ("Computed live: the tiled algorithm run step by step on random inputs (CPU, float32); bytes by "
             "the FlashAttention I/O formulas")
step_through = cached.data(flash_steps.step_through)


@st.fragment
def step_section():
    """Controls, metrics and the tile walk: moving one of these reruns only this section."""
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 0.8])
    n = params.slider(c1, "Tokens N", 1, 64, 24, key="fa_n")
    d = params.slider(c2, "Head size d", 1, 16, 8, key="fa_d")
    br = params.slider(c3, "Query block Br", 1, 64, 8, key="fa_br", help="Rows of Q per tile; larger than N means one block.")
    bc = params.slider(c4, "Key block Bc", 1, 64, 8, key="fa_bc", help="Rows of K and V per tile.")
    causal = params.toggle(c5, "Causal", key="fa_causal", help="Tiles entirely above the diagonal are skipped.")
    res = None
    with guard(stop=False):
        res = step_through(flash_steps.StepConfig(n=n, d=d, block_q=br, block_k=bc, causal=causal, seed=s.seed,
                                                  dtype=s.dtype))
    if res is None:
        return
    if br > n or bc > n:
        st.info(f"A block larger than the sequence is clipped to it: Br = {res.block_q}, Bc = {res.block_k}.")
    metrics([
        ("Tiles computed", f"{res.n_steps}", f"{len(res.skipped)} skipped by the causal mask"),
        ("Max |tiled − reference|", f"{res.max_abs_error:.1e}", f"{s.dtype}; reference materialises softmax(QKᵀ/√d)"),
        ("HBM traffic, naive", human_bytes(res.naive_read + res.naive_write), "Algorithm 0 of Dao et al."),
        ("HBM traffic, tiled", human_bytes(res.tiled_read + res.tiled_write), "counted by the trace"),
        ("SRAM per tile", human_bytes(res.sram_bytes), "Q_i, K_j, V_j, S, P, Õ, m, l"),
    ])
    if res.n_steps > walk.MAX_FRAMES:
        st.info(f"{res.n_steps} tiles are too many to step through in the browser (at most {walk.MAX_FRAMES}): "
                "choose larger blocks Br or Bc.")
    else:
        st.markdown("**The tile walk** — ▶ plays in your browser at the chosen speed; drag the slider to step. "
                    "Every frame is one step of the traced run above: outlined blocks are in SRAM.")
        figure(walk.walk_figure(res), key="fa_walk", provenance=STEP_PROV)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Traffic as N grows: the IO-complexity formula**")
        figure(plots.traffic_curve_figure(res), key="fa_curve", provenance=STEP_PROV)
    with right:
        st.markdown("**HBM traffic of this run: naive vs tiled**")
        figure(plots.traffic_figure(res), key="fa_traffic", provenance=STEP_PROV)
        st.latex(r"\text{naive} = \Theta(Nd + N^2)")
        st.latex(r"\text{tiled} = \Theta\!\left(N^2 d^2 / M\right)")
    st.markdown(
        f"Counted here (Br = {res.block_q}, Bc = {res.block_k}, {res.elem_bytes}-byte values): tiled reads "
        f"= N·d + ⌈N/Br⌉·N·2d values, writes = N·d values + N fp32 log-sum-exps. The trace's total "
        f"({human_bytes(res.tiled_read + res.tiled_write)}) equals this formula "
        f"({human_bytes(res.formula_read + res.formula_write)}). M is the tile's SRAM working set "
        f"({res.sram_values:,.0f} values); with Br ≈ M/(4d) the K/V re-reads become ≈ 8·N²d²/M. It pays on a GPU, "
        "where HBM is ~10× slower than SRAM (A100: 1.5–2 TB/s HBM vs ~19 TB/s SRAM, as quoted by Dao et al. 2022).")


step_section()


@st.fragment
def memory_section():
    """The measured memory/time story and the claims: its selector and button rerun only this section."""
    st.subheader("The memory story, measured")
    st.markdown("Peak extra memory and time of standard attention (stores N×N), PyTorch's fused SDPA kernel, and "
                "the tiled loop above, as N grows. CPU: growth of peak RSS in a fresh process per point; CUDA: "
                "the allocator's peak. On CPU a few MiB of allocator and thread workspace set the floor at small N.")
    backends = cached.data(flash_lab.backends_here)(s.device, s.dtype)
    st.caption(f"SDPA backends that run on this device ({s.dtype}, head size 64, probed): **{', '.join(backends)}**.")
    runs = [p.name for p in flash_lab.recorded_runs()]
    mc1, mc2 = st.columns([2, 1])
    choice = params.selectbox(mc1, "Show", ["recorded: " + r for r in runs] + ["measure on this device now"], key="fa_src")
    mres = None
    with guard(stop=False):
        if choice.startswith("recorded: "):
            mres = load_recorded(str(flash_lab.ASSETS_BENCH / choice.removeprefix("recorded: ")))
            st.caption(f"Recorded with `python -m viz_core bench flash` on **{mres.device_label}** "
                       f"({mres.source}, {mres.heads} heads, d={mres.d}, {mres.dtype}) — not this session's device.")
        else:
            mcfg = flash_lab.MeasureConfig(ns=(256, 1024, 2048), device=s.device, dtype=s.dtype, repeats=3,
                                           threads=s.threads, methods=flash_lab.default_methods(s.device, s.dtype))
            est = flash_lab.estimate_measure_s(mcfg)
            mc2.markdown(f"Estimated **{est:.0f} s** on this machine now (a fresh Python process per memory point); "
                         "above a few seconds it shows progress and a Stop button.")
            if mc2.button("Measure now", key="fa_measure") or st.session_state.get("fa_measured"):
                st.session_state["fa_measured"] = True
                with queued("Measuring reference, SDPA and tiled attention", device=s.device, threads=s.threads,
                            key="fa_q"):
                    mres, measured_at = longrun.run(
                        measure_flash, mcfg, estimate_s=est, key="fa_measure_run", fits="a recorded run ('Show')",
                        what="Measuring reference, SDPA and tiled attention at N = 256, 1024, 2048") or (None, None)
    if mres is not None:
        if mres.source == "measured now":
            prov = provenance_text("measured live", device=mres.device_label, dtype=mres.dtype, when=ago(measured_at))
        else:
            prov = provenance_text("recorded", when=mres.source, hardware=mres.device_label,
                                   file="assets/bench/" + choice.removeprefix("recorded: "))
        a, b = st.columns(2)
        with a:
            figure(plots.memory_figure(mres), key="fa_mem", provenance=f"{prov} · memory: {mres.memory_method}")
        with b:
            figure(plots.time_figure(mres), key="fa_time", provenance=prov)
        figure(plots.throughput_figure(mres), key="fa_tput", provenance=f"{prov} · % of {mres.peak_source}")
    claim_checks(flash_lab.claim_checks(mres))


memory_section()
