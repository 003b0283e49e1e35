"""Figures for the compression pages."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.plots.theme import DIVERGING, color, style


def layer_similarity(res) -> go.Figure:
    layers = [f"layer {i}" for i in range(res.n_layer)]
    fig = go.Figure([
        go.Bar(name="attention: cos(X, X+Attn(X))", x=layers, y=res.attn_similarity, marker_color=color(0),
               text=[f"{v:.3f}" for v in res.attn_similarity], textposition="outside"),
        go.Bar(name="MLP: cos(Y, Y+MLP(Y))", x=layers, y=res.mlp_similarity, marker_color=color(1),
               text=[f"{v:.3f}" for v in res.mlp_similarity], textposition="outside"),
    ])
    fig.update_yaxes(range=[0, 1.08])
    return style(fig, title="How much each sublayer changes its input (1 = not at all)",
                 y="mean cosine similarity", height=380)


def layer_drop_curve(res) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=res.dropped, y=res.loss, mode="lines+markers", name="loss, most redundant dropped first",
                             line=dict(color=color(0), width=3)), secondary_y=False)
    fig.add_trace(go.Scatter(x=res.dropped, y=res.loss_reverse, mode="lines+markers",
                             name="loss, least redundant first (control)", line=dict(color=color(3), dash="dash")),
                  secondary_y=False)
    fig.add_trace(go.Bar(x=res.dropped, y=res.time_ms, name="forward time (ms)", marker_color="rgba(0,0,0,0.15)"),
                  secondary_y=True)
    fig.update_yaxes(title_text="validation loss (nats/byte)", secondary_y=False)
    fig.update_yaxes(title_text="forward time (ms, median)", secondary_y=True, showgrid=False)
    fig.update_xaxes(dtick=1)
    return style(fig, title="Dropping attention sublayers", x="attention sublayers dropped", height=420)


def token_drop_curves(res) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy", "forward time for the batch"))
    for i, (m, acc) in enumerate(res.accuracy.items()):
        fig.add_trace(go.Scatter(x=res.kept_tokens, y=acc * 100, mode="lines+markers", name=m,
                                 line=dict(color=color(i))), row=1, col=1)
        fig.add_trace(go.Scatter(x=res.kept_tokens, y=res.time_ms[m], mode="lines+markers", name=m,
                                 line=dict(color=color(i)), showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="patch tokens kept", autorange="reversed")
    fig.update_yaxes(title_text="test accuracy (%)", row=1, col=1)
    fig.update_yaxes(title_text="ms (median)", row=1, col=2)
    style(fig, height=430)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0),
                      margin=dict(t=40, b=90))
    return fig


def kept_patches(res) -> go.Figure:
    """The example image with the surviving patches for each method (dropped patches greyed out)."""
    methods = list(res.example_kept)
    fig = make_subplots(rows=1, cols=len(methods), subplot_titles=methods, horizontal_spacing=0.04)
    img = res.example_image.astype(float)
    p = img.shape[0] // res.grid
    for j, m in enumerate(methods):
        mask = np.kron(res.example_kept[m], np.ones((p, p))).astype(bool)
        shown = np.where(mask, img, img * 0.15 + 60)
        fig.add_trace(go.Heatmap(z=shown, colorscale="gray", showscale=False, hoverinfo="skip"), row=1, col=j + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{j + 1 if j else ''}", visible=False, row=1, col=j + 1)
        fig.update_xaxes(visible=False, row=1, col=j + 1)
    return style(fig, title=f"Which patches survive ({res.example_label})", height=320, legend=False)


def quant_quality(res) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("held-out loss (lower is better)", "weight storage"))
    names = list(res.schemes)
    fig.add_trace(go.Bar(x=names, y=res.val_loss, marker_color=[color(i) for i in range(len(names))],
                         text=[f"{v:.3f}" for v in res.val_loss], textposition="outside", showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=names, y=res.storage_bytes / 1024, marker_color=[color(i) for i in range(len(names))],
                         text=[f"{v / 1024:.0f} KiB" for v in res.storage_bytes], textposition="outside",
                         showlegend=False), 1, 2)
    fig.update_yaxes(title_text="nats/byte", row=1, col=1)
    fig.update_yaxes(title_text="KiB (block linears)", row=1, col=2)
    style(fig, height=440, legend=False)
    fig.update_layout(margin=dict(t=45))
    return fig


def weight_corners(res) -> go.Figure:
    n = len(res.schemes)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(res.schemes), horizontal_spacing=0.03)
    lim = float(np.abs(res.sample_weights[0]).max()) or 1.0
    for j in range(n):
        fig.add_trace(go.Heatmap(z=res.sample_weights[j], colorscale=DIVERGING, zmin=-lim, zmax=lim,
                                 showscale=j == n - 1), 1, j + 1)
        fig.update_yaxes(autorange="reversed", visible=False, row=1, col=j + 1)
        fig.update_xaxes(visible=False, row=1, col=j + 1)
    return style(fig, title="The same 16×16 corner of the first attention weight matrix", height=300, legend=False)


def kernel_times(res, shape: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=res.kernel_ms, y=list(res.kernels), orientation="h",
                           marker_color=[color(i) for i in range(len(res.kernels))],
                           text=[f"{t:.2f} ms · reads {b / 2**20:.0f} MiB" for t, b in zip(res.kernel_ms, res.kernel_bytes)],
                           textposition="auto"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, title=f"y = x·Wᵀ for {shape}, measured here", x="median time (ms)", height=360, legend=False)


def time_vs_bytes(res) -> go.Figure:
    """Ternary GEMV: median time (filled, bars = IQR) and fastest call (open) against bytes of weights read."""
    from viz_core.labs.low_bit_kernels import LABELS

    fig = go.Figure()
    for j, k in enumerate(res.kernels):
        fig.add_trace(go.Scatter(
            x=[res.weight_bytes[j] / 2**20], y=[res.median_ms[j]], mode="markers+text", name=LABELS.get(k, k),
            marker=dict(size=14, color=color(j)), text=[f"{res.speedup[j]:.1f}× (best {res.speedup_best[j]:.1f}×)"],
            textposition="top center", error_y=dict(type="data", array=[res.iqr_ms[j] / 2], visible=True)))
        fig.add_trace(go.Scatter(x=[res.weight_bytes[j] / 2**20], y=[res.min_ms[j]], mode="markers", showlegend=False,
                                 name=f"{LABELS.get(k, k)}: fastest call",
                                 marker=dict(size=10, color=color(j), symbol="circle-open")))
    fp = [j for j, k in enumerate(res.kernels) if k == "fp32"]
    if fp:  # the memory roof: fp32's bandwidth applied to every size
        j = fp[0]
        gbs = res.weight_bytes[j] / (res.min_ms[j] * 1e-3)  # fp32's fastest call: its least disturbed bandwidth
        xs = np.geomspace(res.weight_bytes.min() / 2**20 / 1.5, res.weight_bytes.max() / 2**20 * 1.5, 20)
        fig.add_trace(go.Scatter(x=xs, y=xs * 2**20 / gbs * 1e3, mode="lines", name=f"fp32's best {gbs / 1e9:.0f} GB/s",
                                 line=dict(dash="dot", color="gray")))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return style(fig, title=f"Batch-1 product W x, W {res.shape}: time vs bytes of weights read<br>"
                            f"<sup>{res.provenance}</sup>",
                 x="weights read per product (MiB)", y="median time per product (ms)", height=420)
