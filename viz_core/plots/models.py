"""Figures for the trained tiny models: a ViT's image, attention rollout and per-layer CLS attention,
class probabilities and confusion matrix."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.plots.theme import SEQUENTIAL, color, heatmap, style


def _upsample(m: np.ndarray, f: int) -> np.ndarray:
    return np.kron(m, np.ones((f, f)))


def vit_attention_panels(image: np.ndarray, rollout: np.ndarray, layer_maps: np.ndarray, title: str) -> go.Figure:
    """Image | rollout over the image | CLS attention of each layer (7×7 patch grid, upsampled to pixels)."""
    L = layer_maps.shape[0]
    f = image.shape[0] // rollout.shape[0]
    names = ["image", "attention rollout (all layers)"] + [f"layer {i}: CLS → patches" for i in range(L)]
    fig = make_subplots(rows=1, cols=2 + L, subplot_titles=names, horizontal_spacing=0.02)
    fig.add_trace(go.Heatmap(z=image, colorscale="Gray", showscale=False, hovertemplate="pixel %{z}<extra></extra>"),
                  1, 1)
    fig.add_trace(go.Heatmap(z=image, colorscale="Gray", showscale=False, hoverinfo="skip"), 1, 2)
    r = _upsample(rollout / rollout.max(), f)
    fig.add_trace(go.Heatmap(z=r, colorscale=SEQUENTIAL, opacity=0.6, showscale=False, zmin=0, zmax=1,
                             hovertemplate="rollout (relative) %{z:.2f}<extra></extra>"), 1, 2)
    for i in range(L):
        m = layer_maps[i]
        fig.add_trace(go.Heatmap(z=_upsample(m, f), colorscale=SEQUENTIAL, showscale=i == L - 1, zmin=0,
                                 zmax=float(layer_maps.max()),
                                 colorbar=dict(title=dict(text="weight"), len=0.8) if i == L - 1 else None,
                                 hovertemplate="weight %{z:.3f}<extra></extra>"), 1, 3 + i)
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(showticklabels=False, constrain="domain")
    for k in range(2, 3 + L):
        fig.update_yaxes(scaleanchor=f"x{k}", row=1, col=k)
    fig.update_annotations(font_size=12)
    style(fig, title=title, height=250, legend=False)
    fig.update_layout(margin=dict(l=10, r=10, t=70, b=10))
    return fig


def class_probs(probs: np.ndarray, classes, true_label: int) -> go.Figure:
    cols = [color(2) if i == true_label else color(0) for i in range(len(classes))]
    fig = go.Figure(go.Bar(x=np.asarray(probs, float).tolist(), y=list(classes), orientation="h", marker_color=cols,
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, title="Class probabilities (green = true class)", x="probability", y=None, height=360,
                 legend=False)


def confusion(conf: np.ndarray, classes, title: str) -> go.Figure:
    frac = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    fig = heatmap(frac, title=title, x="predicted class", y="true class", colorscale="Blues", zmin=0, zmax=1,
                  colorbar_title="share of row", x_labels=list(classes), y_labels=list(classes),
                  hover="true %{y}<br>predicted %{x}<br>%{z:.2f}<extra></extra>", height=460)
    fig.update_xaxes(tickangle=-40)
    return fig
