"""Browser-side step-throughs for the tokens & sampling page (pure functions of ``viz_core.labs.tokens_steps``).

- ``decode_walk_figure``: decoding token by token; each frame is one step of the real run: the candidates the
  model offered (softmax at T = 1 and after the sampler) with the drawn token outlined, and the text so far.
- ``attention_grid_figure``: every layer (rows) × head (columns) as a small attention map (bertviz's model
  view, Vig 2019); the slider (or ▶) chooses a query token and every map lights up what that token attends to.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from viz_core.labs.tokens_steps import AttentionGrid, DecodeSteps
from viz_core.plots.animation import FramesFigure, controls
from viz_core.plots.theme import FONT_SIZE, color

DRAWN = "#D55E00"


def _esc(s: str) -> str:
    return html.escape(s.replace("\n", "↵").replace(" ", "·"))


def _wrap(pieces: list[str], widths: list[int], width: int = 95) -> str:
    """Join HTML pieces into lines of at most ``width`` visible characters (plotly does not wrap)."""
    lines, line, used = [], "", 0
    for p, w in zip(pieces, widths):
        if used + w > width and line:
            lines.append(line)
            line, used = "", 0
        line += p
        used += w
    return "<br>".join(lines + [line])


def decode_text(r: DecodeSteps, k: int, n_prompt: int = 12) -> str:
    """The prompt's last tokens (grey), the tokens drawn so far, the one drawn at step ``k`` in bold orange."""
    pieces, widths = [], []
    for t in r.prompt_labels[-n_prompt:]:
        pieces.append(f"<span style='color:#888'>{_esc(t)}</span>")
        widths.append(len(t))
    for j, t in enumerate(r.tokens[: k + 1]):
        pieces.append(f"<b><span style='color:{DRAWN}'>{_esc(t)}</span></b>" if j == k else _esc(t))
        widths.append(len(t))
    return _wrap(pieces, widths)


def step_label(k: int, n: int) -> str:
    return f"Token {k + 1} of {n}"


def decode_walk_figure(r: DecodeSteps, height: int = 560) -> go.Figure:
    n, kk = len(r.tokens), r.cand_p_t1.shape[1]
    ranks = list(range(1, kk + 1))

    def bars(k):
        lab = r.cand_labels[k]
        outline = [3 if lab[j] == r.tokens[k] and r.cand_p_final[k, j] > 0 else 0 for j in range(kk)]
        return [dict(type="bar", x=ranks, y=np.round(r.cand_p_t1[k], 4).tolist(), name="softmax(z), T = 1"),
                dict(type="bar", x=ranks, y=np.round(r.cand_p_final[k], 4).tolist(), name="after the sampler",
                     marker=dict(color=color(0), line=dict(color=DRAWN, width=outline)))]

    def layout(k):
        drawn = (f"<b>{step_label(k, n)}</b>: drew “{_esc(r.tokens[k])}” — p = {r.p_chosen[k]:.3f} under the sampler, "
                 f"{r.p_chosen_t1[k]:.3f} at T = 1; the sampler could draw {int(r.kept[k]):,} token(s), entropy "
                 f"{r.entropy_bits[k]:.2f} bits")
        return dict(annotations=[
            dict(text=drawn, x=0, y=1.0, xref="paper", yref="paper", yshift=8, xanchor="left", yanchor="bottom",
                 showarrow=False, align="left", font=dict(size=FONT_SIZE - 1, color="#222")),
            dict(text=decode_text(r, k), x=0, y=1.0, xref="paper", yref="paper", yshift=40, xanchor="left",
                 yanchor="bottom", showarrow=False, align="left", font=dict(size=FONT_SIZE - 1, family="monospace", color="#222"))],
            xaxis=dict(tickvals=ranks, ticktext=[_esc(t) for t in r.cand_labels[k]]))

    fig = go.Figure([go.Bar(bars(0)[0], marker_color="#c7c7c7"), go.Bar(bars(0)[1])])
    frames = [dict(name=str(k), data=bars(k), traces=[0, 1], layout=layout(k)) for k in range(n)]
    ymax = float(max(r.cand_p_t1.max(), r.cand_p_final.max())) if n else 1.0
    fig.update_layout(barmode="group", height=height, template="plotly_white", font=dict(size=FONT_SIZE),
                      margin=dict(l=60, r=20, t=150, b=150), legend=dict(orientation="v", x=1.0, xanchor="right", y=1.0,
                                                                         yanchor="top", bgcolor="rgba(255,255,255,0.8)"),
                      **layout(0),
                      **controls([str(k) for k in range(n)], [step_label(k, n) for k in range(n)], y=-0.2,
                                 speeds=((1000, "1 token/s"), (300, "3 tokens/s"))))
    fig.update_xaxes(title_text="the model's most likely next tokens at this step (drawn token outlined)",
                     type="linear", tickangle=0)
    fig.update_yaxes(title_text="probability", range=[0, min(1.0, ymax * 1.1 + 0.02)])
    return FramesFigure(fig, frames)


def attention_grid_figure(g: AttentionGrid, model: str, width_px: int = 820) -> go.Figure:
    """Layers (rows) × heads (columns) of small maps; the slider chooses the query token (see module doc)."""
    n_l, n_h, n, _ = g.weights.shape
    s = n + 1  # one blank cell between maps
    mosaic = np.full((n_l * s - 1, n_h * s - 1), np.nan)
    hover = np.full(mosaic.shape, "", dtype=object)
    for li in range(n_l):
        for h in range(n_h):
            w = np.where(np.triu(np.ones((n, n), bool), 1), np.nan, g.weights[li, h])
            mosaic[li * s:li * s + n, h * s:h * s + n] = w
            for i in range(n):
                for j in range(i + 1):
                    hover[li * s + i, h * s + j] = (f"layer {g.layers[li]}, head {h}<br>{_esc(g.labels[i])} → "
                                                    f"{_esc(g.labels[j])}: {w[i, j]:.3f}")

    def highlight(k):
        z = np.full(mosaic.shape, np.nan)
        for li in range(n_l):
            rows = li * s + k
            z[rows] = mosaic[rows]
        return np.where(np.isfinite(z), np.round(z, 3), None).tolist()

    base = np.where(np.isfinite(mosaic), np.round(mosaic, 3), None).tolist()
    fig = go.Figure([
        go.Heatmap(z=base, colorscale="Greys", zmin=0, zmax=1, showscale=False, opacity=0.35, text=hover.tolist(),
                   hovertemplate="%{text}<extra></extra>", xgap=0, ygap=0),
        go.Heatmap(z=highlight(n - 1), colorscale="Viridis", zmin=0, zmax=1, text=hover.tolist(),
                   hovertemplate="%{text}<extra></extra>",
                   colorbar=dict(title=dict(text="weight"), thickness=12, len=0.5))])
    heads = [dict(text=f"head {h}", x=h * s + (n - 1) / 2, y=-1.2, xref="x", yref="y", showarrow=False,
                  yanchor="bottom", font=dict(size=12)) for h in range(n_h)]
    layers = [dict(text=f"layer {layer}", x=-1.2, y=li * s + (n - 1) / 2, xref="x", yref="y", showarrow=False,
                   xanchor="right", font=dict(size=12)) for li, layer in enumerate(g.layers)]

    def layout(k):
        title = (f"<b>Query token {k + 1} of {n}: “{_esc(g.labels[k])}”</b> ({g.window}) — its row lights up in "
                 "every map (row = token looking, column = token looked at)")
        return dict(annotations=heads + layers + [dict(text=title, x=0, y=1.0, xref="paper", yref="paper", yshift=30,
                                                       xanchor="left", yanchor="bottom", showarrow=False,
                                                       font=dict(size=FONT_SIZE - 1, color="#222"))])

    frames = [dict(name=str(k), data=[dict(type="heatmap", z=highlight(k))], traces=[1], layout=layout(k))
              for k in range(n)]
    cell = min(9.0, (width_px - 160) / mosaic.shape[1])  # about square cells at a 1280-px-wide window
    height = int(cell * mosaic.shape[0]) + 230
    fig.update_xaxes(visible=False, range=[-0.5, mosaic.shape[1] - 0.5])
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(height=height, template="plotly_white", font=dict(size=FONT_SIZE), showlegend=False,
                      margin=dict(l=80, r=20, t=70, b=120), **layout(n - 1),
                      **controls([str(k) for k in range(n)], [f"Token {k + 1}: “{_esc(t)}”" for k, t in enumerate(g.labels)],
                                 active=n - 1, y=-0.02, speeds=((900, "1 token/s"),), show_ticks=False))
    return FramesFigure(fig, frames)
