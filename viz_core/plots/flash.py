"""Figures for the FlashAttention page: tiles, running softmax statistics, traffic, measured memory and speed.

Dao et al. 2022 (FlashAttention), Dao 2023 (FlashAttention-2). Pure functions of ``viz_core.labs.flash`` and ``flash_steps``
results; pages, tests and the CLI share them.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.errors import human_bytes
from viz_core.labs.flash import MeasureResult, method_label
from viz_core.labs.flash_steps import StepResult, state_at
from viz_core.plots.theme import DIVERGING, SEQUENTIAL, color, style

HIGHLIGHT = "#D55E00"
STATUS_COLORS = ["#ffffff", "#9ecae1", "#D55E00", "#d9d9d9"]  # pending, done, current, skipped
STATUS_NAMES = ["not yet", "done (on chip, discarded)", "current tile", "skipped (causal)"]


def _rect(fig, r0, r1, c0, c1, *, row, col, width=3, colour=HIGHLIGHT, dash=None):
    fig.add_shape(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                  line=dict(color=colour, width=width, dash=dash), row=row, col=col)


def blocks_figure(res: StepResult, step: int, height: int = 430) -> go.Figure:
    """Q, K, V and O side by side (rows = tokens): Q_i, K_j, V_j outlined; O rows fill in as blocks finish."""
    step = int(np.clip(step, 0, res.n_steps - 1))
    st = state_at(res, step)
    r0, r1 = res.rows[step]
    c0, c1 = res.cols[step]
    lim = float(np.nanmax(np.abs(np.concatenate([res.q, res.k, res.v]))))
    o_lim = float(np.nanmax(np.abs(res.reference_out))) or 1.0
    titles = [f"Q (block {res.q_block[step]} loaded)", f"K (block {res.kv_block[step]})",
              f"V (block {res.kv_block[step]})", "O (rows written so far)"]
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.06)
    for i, (mat, zl) in enumerate(((res.q, lim), (res.k, lim), (res.v, lim), (st["o"], o_lim)), start=1):
        fig.add_trace(go.Heatmap(z=mat, colorscale=DIVERGING, zmid=0, zmin=-zl, zmax=zl, showscale=False,
                                 hovertemplate="token %{y}, dim %{x}: %{z:.3f}<extra></extra>"), row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i, title_text="token" if i == 1 else None)
        fig.update_xaxes(title_text="dim", row=1, col=i)
    d = res.d
    _rect(fig, r0, r1, 0, d, row=1, col=1)
    if res.kv_block[step] >= 0:
        _rect(fig, c0, c1, 0, d, row=1, col=2)
        _rect(fig, c0, c1, 0, d, row=1, col=3)
    _rect(fig, r0, r1, 0, d, row=1, col=4, dash="dot")
    return style(fig, height=height, legend=False)


def tile_figure(res: StepResult, step: int, height: int = 430) -> go.Figure:
    """Left: the N×N score grid by tile status (it never exists in memory). Right: the current tile's P."""
    step = int(np.clip(step, 0, res.n_steps - 1))
    n = res.n
    grid = np.zeros((n, n))
    for s in range(step):
        (a, b), (c, e) = res.rows[s], res.cols[s]
        grid[a:b, c:e] = 1
    for i, j in res.skipped:
        grid[i * res.block_q:(i + 1) * res.block_q, j * res.block_k:(j + 1) * res.block_k] = 3
    (r0, r1), (c0, c1) = res.rows[step], res.cols[step]
    grid[r0:r1, c0:c1] = 2
    scale = []
    for k, col in enumerate(STATUS_COLORS):
        scale += [[k / 4, col], [(k + 1) / 4, col]]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=[f"Score grid, step {step + 1} of {res.n_steps}",
                                        f"Tile ({res.q_block[step]}, {res.kv_block[step]}): "
                                        "P = exp(S − m) on chip"])
    text = np.vectorize(lambda k: STATUS_NAMES[int(k)])(grid)
    fig.add_trace(go.Heatmap(z=grid, zmin=-0.0, zmax=4, colorscale=scale, showscale=False, text=text,
                             hovertemplate="query %{y}, key %{x}: %{text}<extra></extra>", xgap=0, ygap=0),
                  row=1, col=1)
    for t in range(0, n + 1, res.block_q):
        fig.add_shape(type="line", x0=-0.5, x1=n - 0.5, y0=t - 0.5, y1=t - 0.5,
                      line=dict(color="#555", width=1), row=1, col=1)
    for t in range(0, n + 1, res.block_k):
        fig.add_shape(type="line", y0=-0.5, y1=n - 0.5, x0=t - 0.5, x1=t - 0.5,
                      line=dict(color="#555", width=1), row=1, col=1)
    if res.kv_block[step] >= 0:
        _rect(fig, r0, r1, c0, c1, row=1, col=1, width=3, colour="#000")
    p = res.probs[step][: r1 - r0, : c1 - c0]
    show_text = max(p.shape) <= 10
    fig.add_trace(go.Heatmap(
        z=p, x=np.arange(c0, c0 + p.shape[1]), y=np.arange(r0, r0 + p.shape[0]), colorscale=SEQUENTIAL,
        zmin=0, zmax=1, colorbar=dict(title=dict(text="P"), x=1.0, len=0.8),
        text=res.scores[step][: r1 - r0, : c1 - c0] if show_text else None,
        texttemplate="%{text:.1f}" if show_text else None, textfont=dict(size=10),
        hovertemplate="query %{y}, key %{x}: P=%{z:.3f}, S=%{text:.3f}<extra></extra>"), row=1, col=2)
    for c in (1, 2):
        fig.update_yaxes(autorange="reversed", title_text="query" if c == 1 else None, row=1, col=c)
        fig.update_xaxes(title_text="key", row=1, col=c)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", scaleratio=1, constrain="domain", row=1, col=2)
    fig.update_xaxes(constrain="domain")
    fig.add_annotation(text="numbers: scaled scores S" if show_text else "hover for S and P", showarrow=False,
                       xref="x2 domain", yref="y2 domain", x=0.5, y=-0.28, font=dict(size=12, color="#555"))
    return style(fig, height=height, legend=False)


def stats_figure(res: StepResult, step: int, height: int = 330) -> go.Figure:
    """Running max m and running sum l per query row after this step (current block in orange)."""
    st = state_at(res, step)
    rows = np.arange(res.n)
    colours = np.where(st["status"] == 1, HIGHLIGHT, np.where(st["status"] == 2, "#0072B2", "#cccccc"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=["running max m (per query row)",
                                                        "running sum l = Σ exp(s − m)"], horizontal_spacing=0.1)
    m = np.where(np.isfinite(st["m"]), st["m"], np.nan)
    fig.add_trace(go.Bar(x=rows, y=m, marker_color=colours, hovertemplate="row %{x}: m=%{y:.3f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=rows, y=st["l"], marker_color=colours,
                         hovertemplate="row %{x}: l=%{y:.3f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="query row", row=1, col=1)
    fig.update_xaxes(title_text="query row", row=1, col=2)
    fig.update_yaxes(title_text="m (scaled score)", row=1, col=1)
    fig.update_yaxes(title_text="l (unitless)", row=1, col=2)
    return style(fig, height=height, legend=False)


def traffic_figure(res: StepResult, step: int, height: int = 360) -> go.Figure:
    """HBM bytes: naive (Algorithm 0) vs tiled so far / in total (from the trace) vs the N²d²/M bound."""
    step = int(np.clip(step, 0, res.n_steps - 1))
    so_far = float(res.read_bytes[: step + 1].sum() + res.write_bytes[: step + 1].sum())
    names = ["naive: reads", "naive: writes", "tiled: so far", "tiled: reads", "tiled: writes", "N²d²/M bound"]
    vals = [res.naive_read, res.naive_write, so_far, res.tiled_read, res.tiled_write, res.io_bound_bytes]
    cols = [color(1), color(1), HIGHLIGHT, color(0), color(0), "#777777"]
    fig = go.Figure(go.Bar(x=vals, y=names, orientation="h", marker_color=cols,
                           text=[human_bytes(v) for v in vals], textposition="auto",
                           hovertemplate="%{y}: %{x:,} bytes<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, x="bytes to/from HBM", height=height, legend=False)


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
          y="peak extra memory (MiB)", height=height)
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
    """Achieved TFLOP/s at the largest measured N per method, labelled with % of the device's peak."""
    names, vals, pcts = [], [], []
    for i, m in enumerate(res.methods):
        ok = np.where(np.isfinite(res.tflops[i]))[0]
        if not len(ok):
            continue
        j = ok[-1]
        names.append(f"{method_label(m)} (N={res.ns[j]})")
        vals.append(float(res.tflops[i, j]))
        pcts.append(float(res.pct_peak[i, j]))
    text = [f"{v:.3g} TFLOP/s" + (f" · {p:.1f}% of peak" if np.isfinite(p) else "") for v, p in zip(vals, pcts)]
    fig = go.Figure(go.Bar(x=vals, y=names, orientation="h", text=text, textposition="auto",
                           marker_color=[color(i) for i in range(len(vals))]))
    fig.update_yaxes(autorange="reversed")
    return style(fig, title=f"Achieved throughput (4·H·N²·d FLOPs; peak: {res.peak_source or 'unknown'})",
                 x="TFLOP/s", height=height, legend=False)
