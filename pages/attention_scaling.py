"""Time and peak memory vs sequence length, measured live for the chosen attention variants (log-log).

section: Attention
title: Attention scaling
icon: 📈
order: 20
"""
import streamlit as st

from ui import cached, errors, layout, params, state
from ui.measure_queue import gate, is_shared, point, provenance_many
from viz_core.attention import all_variants
from viz_core.labs.attention_scaling import EXPECTED_SLOPE, SweepConfig, contradicts, measure_point, summarize
from viz_core.attention.types import AttnConfig
from viz_core.measure.budget import request_budget_bytes
from viz_core.plots import attention as plots

variants = cached.resource(all_variants)()
LENGTHS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384]

layout.header(
    "Attention scaling",
    "How does the cost grow with the sequence length N? Exact attention computes N² scores, so its time grows "
    "with slope 2 on a log-log chart; a sliding window, linear attention, Performer and Linformer do O(N) work, "
    "slope 1. Each point below is **measured now** on this device (median of repeated calls after a warm-up). "
    "Before each point the lab estimates the memory it needs and **stops that variant** rather than exceed the "
    "budget you set; it also stops a variant whose next point would take longer than the time limit.",
    papers=["Vaswani et al. 2017", "Dao et al. 2022 (FlashAttention, via SDPA)", "Beltagy et al. 2020",
            "Katharopoulos et al. 2020", "Choromanski et al. 2021", "Wang et al. 2020"],
)
s = state.settings()
names = [n for n in sorted(variants) if n != "flash_tiled"]
chosen = params.multiselect("Variants", names, default=["full", "sdpa", "sliding_window", "linear"],
                        help="full = eager softmax(QKᵀ)V storing the N×N scores; sdpa = PyTorch's fused kernel.")
c1, c2, c3, c4 = st.columns(4)
max_n = params.select_slider(c1, "Longest sequence N", LENGTHS, value=1024)
heads = params.select_slider(c2, "Heads", [1, 2, 4, 8], value=4)
head_dim = params.select_slider(c2, "Head size d", [16, 32, 64], value=32)
cap_mib = request_budget_bytes() // 2**20  # one request may not use more (LAB_REQUEST_BUDGET_MIB)
budget_opts = [m for m in (64, 128, 256, 512, 1024, 2048, 4096, 8192) if m < cap_mib] + [cap_mib]
budget_mib = params.select_slider(c3, "Memory budget (MiB)", budget_opts,
                                  value=256 if 256 in budget_opts else cap_mib,
                                  help=f"A point whose estimated memory exceeds this is not run. At most {cap_mib} "
                                       "MiB: what one request may use on this server (LAB_REQUEST_BUDGET_MIB).")
max_s = params.slider(c3, "Time limit per point (s)", 1, 60, 10)
causal = params.toggle(c4, "Causal", value=False)
window = params.select_slider(c4, "Window (sliding window, Longformer, BigBird)", [32, 64, 128, 256], value=64)
features = params.select_slider(c4, "Performer features / Linformer k", [32, 64, 128, 256], value=64)

cfg = SweepConfig(variants=tuple(chosen), lengths=tuple(n for n in LENGTHS if n <= max_n), heads=heads,
                  head_dim=head_dim, device=s.device, dtype=s.dtype, seed=s.seed, repeats=5,
                  attn=AttnConfig(causal=causal, window=window, block=32, features=features, proj_k=features),
                  budget_bytes=budget_mib * 2**20, max_seconds=float(max_s), threads=s.threads)

with errors.guard():
    if not chosen:
        st.info("Pick at least one variant.")
        errors.stop()
    go = gate(is_shared(measure_point, cfg, cfg.variants[0], cfg.lengths[0], None, None, device=s.device,
                        threads=s.threads) or st.session_state.get("scaling_on", False),
              key="scaling", button="▶ Measure the sweep (one timed run per point, through this server's queue)")
    if go is None:
        errors.stop()
    st.session_state["scaling_on"] = True
    records = []
    bar = st.progress(0.0, text="measuring…")
    chart = st.empty()
    points, stamps = [], []
    total = len(cfg.variants) * len(cfg.lengths)
    for vi, var in enumerate(cfg.variants):
        prev = None
        for li, n in enumerate(cfg.lengths):
            if prev is not None and prev.stopped:
                break
            pt, rec = point(measure_point, cfg, var, n, prev.n if prev else None, prev.time_s if prev else None,
                            label=f"{var}, N = {n}", device=s.device, threads=s.threads, fresh=go == "fresh")
            stamps.append(rec.finished)
            records.append(rec)
            if prev is not None and not pt.stopped and contradicts(prev, pt):  # load noise: measure again, uncached
                again, rec = point(measure_point, cfg, var, prev.n, label=f"{var}, N = {prev.n}, again",
                                   device=s.device, threads=s.threads, fresh=True)
                records.append(rec)
                again.remeasured = prev.remeasured + 1
                points[points.index(prev)] = again
            prev = pt
            points.append(prev)
            done = vi * len(cfg.lengths) + li + 1
            bar.progress(done / total, text=f"{var}, N = {n}: " +
                         ("stopped (budget or time limit)" if prev.stopped else f"{prev.time_s * 1e3:.3g} ms"))
            with chart.container():
                layout.figure(plots.scaling_figure(points, EXPECTED_SLOPE), key=f"live-{done}",
                              provenance="Measured live now, point by point")
    res = summarize(cfg, points)
    bar.progress(1.0, text=f"done: {len([p for p in points if not p.stopped])} points measured")
    provenance_many(records)

with chart.container():
    when = layout.ago(min(stamps)) if stamps else "now"
    live = layout.provenance_text("measured live", device=res.device.upper(), threads=res.threads, dtype=s.dtype,
                                  when=f"oldest point {when}")
    layout.figure(plots.scaling_figure(res.points, res.expected, "time"), key="time",
                  provenance=live + f"; median of {cfg.repeats} repeats, bars ± IQR/2")
layout.figure(plots.scaling_figure(res.points, res.expected, "memory", memory_method=res.memory_method), key="memory",
              provenance=live + f"; memory: {res.memory_method}")
for m in res.messages:
    st.info(f"**Stopped:** {m}", icon="🛑")
again = sum(1 for p in res.points if p.remeasured)
st.caption(f"Measured live on {res.device.upper()} with {res.threads} torch thread(s), {s.dtype}, B=1, H={heads}, "
           f"d={head_dim}, random inputs; median of {cfg.repeats} repeats, bars ± half the interquartile range. "
           f"Peak memory: {res.memory_method}. Dotted lines: the expected slope, drawn back from each variant's "
           "longest N." + (f" {again} point(s) took longer than a longer sequence (impossible for this work) and "
                           "were measured again." if again else ""))
layout.table(name="scaling_slopes", data=[{"variant": v, "expected slope": res.expected[v],
               "measured time slope": round(res.slopes[v], 2) if res.slopes[v] == res.slopes[v] else None,
               "measured memory slope": round(res.memory_slopes[v], 2) if res.memory_slopes[v] == res.memory_slopes[v]
               else None} for v in cfg.variants], hide_index=True)
st.caption("Slopes are fitted on the longer half of the lengths, where the leading term dominates; at short "
           "lengths fixed overheads (Python, kernel launch) flatten every curve. SDPA's memory slope is 1: "
           "the fused kernel never stores the N×N scores, though its time still grows as N².")
