"""Figures for the tokens & sampling page: coloured tokens (HTML), merge curve, next-token bars, attention."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from viz_core.plots.theme import color, heatmap, style

_TOKEN_BG = ["#dbeafe", "#fde68a", "#bbf7d0", "#fecaca", "#e9d5ff", "#fed7aa", "#a5f3fc", "#f5d0fe"]


def tokens_html(tokens, ids, max_tokens: int = 600) -> str:
    """Each token as a coloured chip with its id underneath; spaces shown as · and newlines as ↵."""
    parts = []
    for k, (t, i) in enumerate(zip(tokens[:max_tokens], ids[:max_tokens])):
        shown = html.escape(t.replace(" ", "·").replace("\n", "↵").replace("\t", "⇥")) or "∅"
        parts.append(f'<span style="display:inline-block;margin:2px;padding:1px 4px;border-radius:4px;'
                     f'background:{_TOKEN_BG[k % len(_TOKEN_BG)]};font-family:monospace;text-align:center;'
                     f'line-height:1.1;color:#111">{shown}<br><small style="color:#555">{int(i)}</small></span>')
    more = (f'<span style="color:#555"> … and {len(tokens) - max_tokens:,} more tokens</span>'
            if len(tokens) > max_tokens else "")
    return '<div style="line-height:2.2">' + "".join(parts) + more + "</div>"


def merge_curve(merges: np.ndarray, tokens: np.ndarray, n_bytes: int, current: int | None = None,
                title: str = "Fewer tokens as merges are learned") -> go.Figure:
    fig = go.Figure(go.Scatter(x=merges, y=tokens, mode="lines+markers", name="tokens", line=dict(color=color(0))))
    fig.add_hline(y=n_bytes, line_dash="dot", annotation_text="bytes (no merges)", annotation_position="top right")
    if current is not None:
        fig.add_vline(x=current, line_dash="dash", line_color=color(3), annotation_text=f"{current} merges")
    return style(fig, title=title, x="merges applied (vocabulary = 256 + merges)", y="tokens for the text (count)",
                 height=320, legend=False)


def next_token_bars(labels, p_t1, p_t, p_final, temperature: float) -> go.Figure:
    """The most likely next tokens: softmax at T = 1, at the chosen T, and after top-k/top-p."""
    lab = [f"{s!s}" for s in labels]
    p_t1, p_t, p_final = (np.asarray(a, dtype=float).tolist() for a in (p_t1, p_t, p_final))  # plain JSON lists
    fig = go.Figure()
    fig.add_bar(x=lab, y=p_t1, name="softmax(z), T = 1", marker_color="#c7c7c7")
    fig.add_bar(x=lab, y=p_t, name=f"softmax(z / T), T = {temperature:g}", marker_color=color(0))
    fig.add_bar(x=lab, y=p_final, name="after top-k / top-p, renormalised", marker_color=color(1))
    fig.update_layout(barmode="group", bargap=0.2)
    fig.update_xaxes(type="category", tickangle=-45)
    style(fig, title="Next-token probabilities", x="candidate next token (sorted by p at T = 1)",
          y="probability", height=440)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0),
                      margin=dict(b=130))
    return fig


def temperature_curve(p_t1: np.ndarray, temperature: float) -> go.Figure:
    """How temperature reshapes the same logits: p_i ∝ exp(z_i / T) for several T, the chosen one bold."""
    z = np.log(np.clip(p_t1, 1e-12, None))
    fig = go.Figure()
    temps = sorted({0.25, 0.5, 1.0, 2.0, float(temperature)})
    for k, t in enumerate(temps):
        p = np.exp((z - z.max()) / max(t, 1e-3))
        p = p / p.sum()  # renormalised over the shown tokens
        bold = abs(t - temperature) < 1e-9
        fig.add_scatter(x=np.arange(1, len(p) + 1), y=p, mode="lines+markers", name=f"T = {t:g}",
                        line=dict(width=4 if bold else 1.5, color=color(k)))
    style(fig, title="softmax(z / T), same logits", x="rank of token at T = 1",
          y="probability (renormalised over shown)", height=440)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0.0),
                      margin=dict(b=130))
    return fig


def attention_heatmap(weights: np.ndarray, labels, title: str) -> go.Figure:
    n = len(labels)
    ticks = [f"{i}:{s}" for i, s in enumerate(labels)]
    z = np.where(np.triu(np.ones((n, n), bool), 1), np.nan, weights)  # masked (future) cells left blank
    fig = heatmap(z, title=title, x="key token (attended to)", y="query token (attending)", zmin=0.0,
                  zmax=float(np.nanmax(z)) if n else 1.0, colorbar_title="weight", x_labels=ticks, y_labels=ticks,
                  hover="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>", height=560)
    fig.update_xaxes(tickangle=-60, tickfont=dict(size=10))
    fig.update_yaxes(tickfont=dict(size=10))
    return fig
