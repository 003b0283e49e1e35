"""Figures for the FlashAttention page: traffic, measured memory and speed (the tile walk: ``flash_walk``).

Dao et al. 2022 (FlashAttention), Dao 2023 (FlashAttention-2). Pure functions of ``viz_core.labs.flash`` and ``flash_steps``
results; pages, tests and the CLI share them.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz_core.errors import human_bytes
from viz_core.labs.flash import MeasureResult, method_label
from viz_core.labs.flash_steps import StepResult
from viz_core.plots.attention import memory_method_label
from viz_core.plots.theme import color, style

HIGHLIGHT = "#D55E00"


def traffic_figure(res: StepResult, height: int = 330) -> go.Figure:
    """HBM traffic of the whole run: naive (Algorithm 0) vs tiled (counted by the trace) vs the N²d²/M bound."""
    names = ["naive: reads", "naive: writes", "tiled: reads", "tiled: writes", "N²d²/M bound"]
    vals = [res.naive_read, res.naive_write, res.tiled_read, res.tiled_write, res.io_bound_bytes]
    cols = [color(1), color(1), color(0), color(0), "#777777"]
    fig = go.Figure(go.Bar(x=[v / 1024 for v in vals], y=names, orientation="h", marker_color=cols,
                           text=[human_bytes(v) for v in vals], textposition="auto",
                           hovertemplate="%{y}: %{x:.3g} KiB<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, x="KiB to/from HBM (1 KiB = 1024 bytes)", height=height, legend=False)


def traffic_curve_figure(res: StepResult, height: int = 420) -> go.Figure:
    """HBM bytes vs N (log–log) for this d, Br, Bc: naive Θ(Nd + N²), tiled (counted), and N²d²/M."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=res.curve_n, y=res.curve_naive, name="naive (Θ(Nd + N²))", mode="lines+markers",
                             line=dict(color=color(1))))
    fig.add_trace(go.Scatter(x=res.curve_n, y=res.curve_tiled, name="tiled (counted)", mode="lines+markers",
                             line=dict(color=color(0))))
    fig.add_trace(go.Scatter(x=res.curve_n, y=res.curve_bound, name="N²d²/M", mode="lines",
                             line=dict(color="#777", dash="dash")))
    style(fig, x="sequence length N (tokens)", y="HBM bytes (read + write)", height=height)
    return _log_n_axes(fig, res.curve_n[::2])


def _finite(a) -> np.ndarray:
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _log_n_axes(fig: go.Figure, ns) -> go.Figure:
    """Log–log axes with the measured N as the x ticks and the legend under the plot (titles stay clear)."""
    fig.update_xaxes(type="log", tickvals=list(ns), ticktext=[f"{int(n):,}" for n in ns])
    fig.update_yaxes(type="log", exponentformat="SI")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0),
                      margin=dict(b=130))
    return fig


def memory_figure(res: MeasureResult, height: int = 500) -> go.Figure:
    """Peak extra memory vs N for each method (log–log), with the bytes of the N×N scores as a dashed line."""
    fig = go.Figure()
    for i, m in enumerate(res.methods):
        y = _finite(res.peak_bytes[i]) / 2**20
        if np.isfinite(y).any():
            fig.add_trace(go.Scatter(x=res.ns, y=y, mode="lines+markers", name=method_label(m),
                                     line=dict(color=color(i))))
    fig.add_trace(go.Scatter(x=res.ns, y=res.score_bytes / 2**20, mode="lines", name=f"N×N scores ×{res.heads} heads",
                             line=dict(color="#333", dash="dash")))
    style(fig, title=f"Peak extra memory ({res.source})", x="sequence length N (tokens)",
          y=f"peak extra memory (MiB, {memory_method_label(res.memory_method)})", height=height)
    return _log_n_axes(fig, res.ns)


def time_figure(res: MeasureResult, height: int = 500) -> go.Figure:
    """Median time per forward call vs N for each method (log–log)."""
    fig = go.Figure()
    for i, m in enumerate(res.methods):
        y = _finite(res.time_ms[i])
        if np.isfinite(y).any():
            fig.add_trace(go.Scatter(x=res.ns, y=y, mode="lines+markers", name=method_label(m),
                                     line=dict(color=color(i))))
    style(fig, title=f"Time per forward call ({res.source})", x="sequence length N (tokens)",
          y="median time (ms)", height=height)
    return _log_n_axes(fig, res.ns)


def throughput_figure(res: MeasureResult, height: int = 380) -> go.Figure:
    """Achieved TFLOP/s at the largest measured N per method, labelled with % of the named compute roof."""
    names, vals, pcts = [], [], []
    for i, m in enumerate(res.methods):
        ok = np.where(np.isfinite(res.tflops[i]))[0]
        if not len(ok):
            continue
        j = ok[-1]
        names.append(f"{method_label(m)} (N={res.ns[j]})")
        vals.append(float(res.tflops[i, j]))
        pcts.append(float(res.pct_peak[i, j]))
    text = [f"{v:.3g} TFLOP/s" + (f" · {p:.1f} % of roof" if np.isfinite(p) else "") for v, p in zip(vals, pcts)]
    fig = go.Figure(go.Bar(x=vals, y=names, orientation="h", text=text, textposition="auto",
                           marker_color=[color(i) for i in range(len(vals))]))
    fig.update_yaxes(autorange="reversed")
    roof = f"% of {res.peak_source}" if res.peak_source else "no real peak known: no %"
    noise = f"; above the roof, re-measured, hidden as noise: {', '.join(res.over_roof)}" if res.over_roof else ""
    return style(fig, title=f"Achieved throughput (4·H·N²·d FLOPs; {roof}{noise})",
                 x="TFLOP/s", height=height, legend=False)
