"""Figures for the state-space (Mamba) page (pure functions of ``viz_core.labs.ssm`` results)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.plots.theme import DIVERGING, PALETTE, heatmap, style

MAMBA, GPT = PALETTE[2], PALETTE[0]
SCAN_COLORS = {"sequential": PALETTE[3], "parallel": PALETTE[1], "chunked": PALETTE[2], "SDPA attention": PALETTE[0]}


def state_heatmap(r, head: int, channel: int, layer: int) -> go.Figure:
    """The chosen channel's N-dimensional state after each byte (columns = bytes, rows = state index)."""
    z = r.state.T  # (N, L)
    m = float(np.abs(z).max()) or 1.0
    x = [f"{i}:{lab}" for i, lab in enumerate(r.labels)]
    fig = heatmap(z, title=f"State h over time, layer {layer}, head {head}, channel {channel}",
                  x="byte position : byte", y="state index n", colorscale=DIVERGING, zmin=-m, zmax=m,
                  colorbar_title="h (unitless)", square=False, height=380, x_labels=x,
                  hover="byte %{x}<br>n = %{y}<br>h = %{z:.3f}<extra></extra>")
    return fig


def delta_per_token(r, head: int, layer: int) -> go.Figure:
    """Δ per byte for the chosen head, and the fraction of the state it keeps, exp(ΔA)."""
    x = [f"{i}:{lab}" for i, lab in enumerate(r.labels)]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=r.dt[:, head], name="Δ (step size)", marker_color=PALETTE[1]), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=r.keep[:, head], name="kept: exp(Δ·A)", mode="lines+markers",
                             line=dict(color=MAMBA), marker=dict(size=4)), secondary_y=True)
    fig.update_yaxes(title_text="Δ (unitless step)", secondary_y=False)
    fig.update_yaxes(title_text="fraction of state kept", range=[0, 1.02], secondary_y=True)
    return style(fig, title=f"Δ per byte, layer {layer}, head {head} (A = {r.A[head]:.2f}): large Δ = decay, write in",
                 x="byte position : byte", height=360)


def delta_heads(r, layer: int) -> go.Figure:
    """Δ for every head and byte (rows = heads)."""
    x = [f"{i}:{lab}" for i, lab in enumerate(r.labels)]
    return heatmap(np.log10(r.dt.T), title=f"log₁₀ Δ for every head, layer {layer}", x="byte position : byte",
                   y="head", colorbar_title="log₁₀ Δ", square=False, height=300, x_labels=x,
                   hover="byte %{x}<br>head %{y}<br>log₁₀Δ = %{z:.2f}<extra></extra>")


def scan_times(m) -> go.Figure:
    """Measured time per call vs N for the three scans and SDPA (log–log)."""
    fig = go.Figure([go.Scatter(x=m.lengths, y=m.time_s[i] * 1e3, name=n, mode="lines+markers",
                                line=dict(color=SCAN_COLORS[n], dash="dot" if n.startswith("SDPA") else None),
                                error_y=dict(type="data", array=m.iqr_s[i] * 1e3, visible=True))
                     for i, n in enumerate(m.names)])
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return style(fig, title=f"Measured time per call ({m.device}, {m.threads} thread(s); bars: IQR)",
                 x="sequence length N (tokens)", y="time (ms, log scale)", height=380)


def work_depth(m) -> go.Figure:
    """Work (multiply-adds) and depth (sequential levels) of each scan vs N, computed."""
    fig = make_subplots(1, 2, subplot_titles=("work (multiply-adds)", "depth (sequential levels)"))
    for i, n in enumerate(m.names[:3]):
        for j, arr in enumerate((m.work, m.depth)):
            fig.add_trace(go.Scatter(x=m.lengths, y=arr[i], name=n, mode="lines+markers", showlegend=j == 0,
                                     line=dict(color=SCAN_COLORS[n])), 1, j + 1)
    fig.update_xaxes(type="log", title_text="sequence length N (tokens)")
    fig.update_yaxes(type="log", title_text="multiply-adds (log scale)", col=1)
    fig.update_yaxes(type="log", title_text="levels (count, log scale)", col=2)
    return style(fig, title="Work and depth (computed from the algorithms)", height=360)


def decode_latency(d) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=d.contexts, y=d.mamba_s * 1e3, name="tiny Mamba (state)", mode="lines+markers",
                   line=dict(color=MAMBA), error_y=dict(type="data", array=d.mamba_iqr_s * 1e3, visible=True)),
        go.Scatter(x=d.contexts, y=d.gpt_s * 1e3, name="tiny GPT (KV cache)", mode="lines+markers",
                   line=dict(color=GPT), error_y=dict(type="data", array=d.gpt_iqr_s * 1e3, visible=True)),
    ])
    fig.update_xaxes(type="log")
    fig.update_yaxes(rangemode="tozero")
    return style(fig, title="Per-token latency vs context", x="context already held (tokens, log scale)",
                 y=f"ms per token (median of {d.steps}, IQR bars)", height=360)


def decode_memory(d) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=d.contexts, y=d.mamba_state_bytes / 2**20, name="Mamba state (all layers)",
                   mode="lines+markers", line=dict(color=MAMBA)),
        go.Scatter(x=d.contexts, y=d.gpt_cache_bytes / 2**20, name="GPT KV cache (filled)", mode="lines+markers",
                   line=dict(color=GPT)),
    ])
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return style(fig, title="Decoding memory vs context", x="context already held (tokens, log scale)",
                 y="MiB held by the tensors (log scale)", height=360)


def long_context(lr) -> go.Figure:
    mids = [f"{a}–{b}" for a, b in zip(lr.bucket_edges[:-1], lr.bucket_edges[1:])]
    fig = go.Figure([go.Bar(x=mids, y=lr.mamba_loss, name="tiny Mamba", marker_color=MAMBA),
                     go.Bar(x=mids, y=lr.gpt_loss, name="tiny GPT", marker_color=GPT)])
    fig.add_vline(x=next((i for i, a in enumerate(lr.bucket_edges[1:]) if a > lr.trained_context), 0) - 0.5,
                  line_dash="dash", annotation_text=f"trained context {lr.trained_context}")
    return style(fig, title=f"Held-out loss by position ({lr.windows} windows)",
                 x="position in the window (bytes)", y="next-byte loss (nats/byte)", height=360)
