"""Figures for the RoPE pages: pure functions from ``viz_core.labs.rope`` and ``rope_scaling`` results to plotly figures."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.plots.animation import FramesFigure, controls
from viz_core.plots.theme import DIVERGING, FONT_SIZE, color, style
from viz_core.plots.vision import png_source
from viz_core.rope import SCALING_LABELS

TAU = 2 * math.pi


def _legend_below(fig: go.Figure, b: int = 110) -> go.Figure:
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0), margin=dict(b=b))
    return fig


def _circle(r: float, cx: float = 0.0, cy: float = 0.0, n: int = 73) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, TAU, n)
    return cx + r * np.cos(t), cy + r * np.sin(t)


def _hands(angles: np.ndarray, centers: np.ndarray) -> tuple[list, list]:
    xs, ys = [], []
    for (x0, y0), a in zip(centers, angles):
        xs += [round(x0 + 0.0, 4), round(x0 + math.cos(a), 4), None]
        ys += [round(y0 + 0.0, 4), round(y0 + math.sin(a), 4), None]
    return xs, ys


def _short(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x / 1000:.3g}k" if x < 1e6 else f"{x:.1e}"


def rotation_text(r, k: int) -> str:
    """The numbers of frame ``k`` (position m): the angle m·θ, the angle measured from the vectors, |q|."""
    m = int(r.positions[k])
    a = float(r.frame_angle[k])
    return (f"<b>Position m = {m:,}</b> · pair {r.pair} turned by m·θ = {a:.6g} rad ≡ {a % TAU:.4g} rad (mod 2π) · "
            f"measured from the vectors: {float(r.frame_measured[k]):.4g} rad · |q| {r.norm_before:.4f} → "
            f"{float(r.frame_norm[k]):.4f}")


def rotation_walk_figure(r, per_row: int | None = None) -> go.Figure:
    """One position control for both views (RotationResult): left, the chosen pair of q at position 0 and after
    RoPE at m, with the trail of the positions walked so far; right, every pair as a clock hand at m·θᵢ.
    Frames are the positions m … m + P − 1 (computed by ``viz_core.labs.rope.rotation`` with the lab's RoPE); play, pause,
    speed and the 'Position m' slider run in the browser, and the numbers above the plot follow the frame."""
    half = r.clock_angles.shape[1]
    per_row = per_row or (4 if half <= 8 else 8)
    rows = math.ceil(half / per_row)
    centers = np.array([(2.6 * (i % per_row), -2.9 * (i // per_row)) for i in range(half)])
    fig = make_subplots(rows=1, cols=2, column_widths=[0.38, 0.62], horizontal_spacing=0.08,
                        subplot_titles=[f"Pair {r.pair} of q (dimensions {r.pair}, {r.pair} + d/2)",
                                        "Every pair: hand angle m·θᵢ (λ = tokens per turn)"])
    rad = float(np.hypot(*r.before)) or 1.0
    cx, cy = _circle(rad)
    fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", line=dict(color="#d1d5db", width=1), hoverinfo="skip"), 1, 1)
    fig.add_trace(go.Scatter(x=[0, r.before[0]], y=[0, r.before[1]], mode="lines+markers", name="position 0",
                             line=dict(color="#6b7280", width=4), marker=dict(size=[0, 10], color="#6b7280")), 1, 1)
    trail = dict(type="scatter", mode="markers", marker=dict(size=6, color=color(1), opacity=0.6),
                 hovertemplate="(%{x:.2f}, %{y:.2f})<extra>walked</extra>")
    vec = dict(type="scatter", mode="lines+markers", line=dict(color=color(0), width=4),
               marker=dict(size=[0, 12], color=color(0)), hovertemplate="(%{x:.3f}, %{y:.3f})<extra>at m</extra>")
    pair = np.round(r.frame_pair, 5)

    def left(k):
        return [dict(trail, x=pair[: k + 1, 0].tolist(), y=pair[: k + 1, 1].tolist()),
                dict(vec, x=[0, float(pair[k, 0])], y=[0, float(pair[k, 1])])]

    fig.add_trace(go.Scatter(left(0)[0]), 1, 1)  # 2: trail
    fig.add_trace(go.Scatter(left(0)[1]), 1, 1)  # 3: vector at m
    ccx, ccy = [], []
    for x0, y0 in centers:
        x, y = _circle(1.0, x0, y0, 49)
        ccx += list(np.round(x, 4)) + [None]
        ccy += list(np.round(y, 4)) + [None]
    fig.add_trace(go.Scatter(x=ccx, y=ccy, mode="lines", line=dict(color="#d1d5db", width=1), hoverinfo="skip"), 1, 2)
    labels = [f"{i}: λ {_short(w)}" for i, w in enumerate(r.wavelengths)]
    fig.add_trace(go.Scatter(x=centers[:, 0], y=centers[:, 1] - 1.3, mode="text", text=labels,
                             textfont=dict(size=11), hoverinfo="skip"), 1, 2)
    hx, hy = _hands(r.clock_angles[0], centers)
    fig.add_trace(go.Scatter(x=hx, y=hy, mode="lines", line=dict(color=color(0), width=3), hoverinfo="skip"), 1, 2)
    # the chosen pair's clock drawn in the left panel's colour
    titles = [dict(a.to_plotly_json(), font=dict(size=FONT_SIZE), yshift=4) for a in fig.layout.annotations]

    def annotations(k):
        return titles + [dict(text=rotation_text(r, k), xref="paper", yref="paper", x=0, y=1.0, yshift=34,
                              showarrow=False, xanchor="left", yanchor="bottom", align="left",
                              font=dict(size=FONT_SIZE - 1, color="#222"))]

    frames = []
    for k, m in enumerate(r.positions):
        hx, hy = _hands(r.clock_angles[k], centers)
        frames.append(dict(name=str(int(m)), traces=[2, 3, 6], layout=dict(annotations=annotations(k)),
                           data=left(k) + [dict(type="scatter", x=hx, y=hy)]))
    lim = rad * 1.25
    fig.update_xaxes(range=[-lim, lim], zeroline=True, title_text=f"dimension {r.pair}", row=1, col=1)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", scaleratio=1, zeroline=True,
                     title_text=f"dimension {r.pair} + d/2", row=1, col=1)
    fig.update_xaxes(visible=False, range=[-1.4, 2.6 * (min(half, per_row) - 1) + 1.4], row=1, col=2)
    fig.update_yaxes(visible=False, scaleanchor="x2", scaleratio=1, range=[-2.9 * (rows - 1) - 1.7, 1.3],
                     row=1, col=2)
    names = [str(int(m)) for m in r.positions]
    fig.update_layout(height=max(560, 260 + 120 * rows), template="plotly_white", font=dict(size=FONT_SIZE),
                      showlegend=False, margin=dict(l=60, r=10, t=95, b=190), annotations=annotations(0),
                      **controls(names, [f"Position m = {int(m):,}" for m in r.positions], speeds=(
                          (400, "2.5 positions/s"), (120, "8 positions/s")), redraw=True, y=-0.2))
    return FramesFigure(fig, frames)


def spectrum_figure(sp) -> go.Figure:
    """Wavelength 2π/θᵢ per pair (log scale) against the context length (SpectrumResult)."""
    full = sp.turns >= 1
    fig = go.Figure(go.Bar(x=np.arange(len(sp.wavelengths)), y=sp.wavelengths,
                           marker_color=[color(0) if f else color(1) for f in full],
                           customdata=np.stack([sp.turns, sp.freqs], -1),
                           hovertemplate="pair %{x}<br>wavelength %{y:.4g} tokens<br>%{customdata[0]:.3g} turns in "
                                         "the context<br>θ = %{customdata[1]:.3g} rad/token<extra></extra>"))
    fig.add_hline(y=sp.context, line_dash="dash", line_color="#111827")
    fig.add_annotation(x=0, y=math.log10(sp.context), text=f"context {sp.context:,} tokens", showarrow=False,
                       xanchor="left", yanchor="bottom", font=dict(size=12))  # log axis: y in log10 units
    fig.update_yaxes(type="log")
    return style(fig, title=f"{sp.n_full_turn} of {len(full)} pairs turn at least once within the context (blue);<br>"
                            "the rest never complete a turn (orange)",
                 x="pair index i", y="wavelength 2π/θᵢ (tokens, log)", height=380, legend=False)


def relative_heatmaps(rel, labels: dict[str, str]) -> go.Figure:
    """Score q_m·k_n/√d over (m, n) for each embedding; a relative scheme is constant along diagonals."""
    m = len(rel.methods)
    titles = [f"{labels[k]}<br>diag. deviation {d:.1e}" for k, d in zip(rel.methods, rel.diag_deviation)]
    fig = make_subplots(rows=1, cols=m, subplot_titles=titles, horizontal_spacing=0.03)
    pos = rel.positions
    for i, s in enumerate(rel.scores):
        lim = float(np.abs(s).max()) or 1.0
        fig.add_trace(go.Heatmap(z=s, x=pos, y=pos, colorscale=DIVERGING, zmin=-lim, zmax=lim, showscale=False,
                                 hovertemplate="m=%{y}<br>n=%{x}<br>score %{z:.4f}<extra></extra>"), 1, i + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", constrain="domain",
                         row=1, col=i + 1, showticklabels=i == 0)
        fig.update_xaxes(title_text="key n", constrain="domain", row=1, col=i + 1)
    fig.update_yaxes(title_text="query position m", row=1, col=1)
    fig.update_annotations(font_size=12)
    style(fig, height=340, legend=False)
    fig.update_layout(margin=dict(t=70, b=40))
    return fig


def relative_profile(rel, labels: dict[str, str]) -> go.Figure:
    """Every score plotted against m − n: RoPE's points fall on one curve, additive embeddings scatter."""
    m, n = np.meshgrid(rel.positions, rel.positions, indexing="ij")
    dist = (m - n).ravel()
    fig = go.Figure()
    order = [i for i, k in enumerate(rel.methods) if k != "rope"] + [rel.methods.index("rope")]  # RoPE on top
    for i in order:
        k, s = rel.methods[i], rel.scores[i]
        fig.add_trace(go.Scattergl(x=dist, y=s.ravel(), mode="markers", name=labels[k],
                                   marker=dict(size=7 if k == "rope" else 4, color=color(i),
                                               opacity=1.0 if k == "rope" else 0.45),
                                   hovertemplate="m−n=%{x}<br>score %{y:.4f}<extra></extra>"))
    return style(fig, x="distance m − n (tokens)", y="score q·k / √d", height=400)


def scaling_angle_figure(sc) -> go.Figure:
    """Angle of one pair vs position per scaling method, with the range of angles seen in training."""
    fig = go.Figure()
    L = sc.train_context
    seen = min(sc.trained_max_angle, TAU)
    fig.add_vrect(x0=0, x1=L, fillcolor="#e5e7eb", opacity=0.5, line_width=0, layer="below", annotation_text="trained context",
                  annotation_position="top left")
    fig.add_hrect(y0=0, y1=seen, fillcolor=color(2), opacity=0.12, line_width=0, layer="below",
                  annotation_text="angles seen in training", annotation_position="bottom right")
    for i, (m, a) in enumerate(zip(sc.methods, sc.pair_angles)):
        fig.add_trace(go.Scatter(x=sc.positions, y=a, mode="lines", name=SCALING_LABELS[m],
                                 line=dict(color=color(i), width=3, dash="dot" if m == "yarn" else None),
                                 hovertemplate="position %{x:.0f}<br>angle %{y:.3f} rad<extra></extra>"))
    style(fig, title=f"Pair {sc.pair} (wavelength {sc.wavelengths[sc.pair]:,.4g} tokens) up to {sc.factor:g}·L",
          x="position (tokens)", y="angle m·θ' (rad)", height=460)
    return _legend_below(fig)


def freq_ratio_figure(sc) -> go.Figure:
    """θ'ᵢ/θᵢ per pair against its wavelength: what each method does to each frequency."""
    fig = go.Figure()
    for i, (m, r) in enumerate(zip(sc.methods, sc.freq_ratio)):
        fig.add_trace(go.Scatter(x=sc.wavelengths, y=r, mode="lines+markers", name=SCALING_LABELS[m],
                                 line=dict(color=color(i), width=2), marker=dict(size=5),
                                 hovertemplate="wavelength %{x:.4g} tokens<br>θ'/θ = %{y:.4f}<extra></extra>"))
    fig.add_vline(x=sc.train_context, line_dash="dash", line_color="#111827")  # shapes: data units
    fig.add_annotation(x=math.log10(sc.train_context), y=1, yref="paper",  # annotations on a log axis: log10
                       text=f" L = {sc.train_context:,}", showarrow=False, xanchor="left")
    fig.update_xaxes(type="log")
    style(fig, title="θ'ᵢ/θᵢ per pair: 1 = unchanged, 1/s = fully interpolated",
          x="original wavelength 2π/θᵢ (tokens, log)", y="θ'ᵢ / θᵢ", height=440)
    return _legend_below(fig)


def decay_figure(sc) -> go.Figure:
    """Left: mean q·R(r)q/|q|² over random directions; right: RoFormer's upper bound, per method."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "mean similarity of a random q with itself at distance r", "RoFormer's relative upper bound (Su et al. §3.4.3)"))
    for i, m in enumerate(sc.methods):
        for col, y in ((1, sc.decay_mean[i]), (2, sc.decay_bound[i])):
            fig.add_trace(go.Scatter(x=sc.decay_distance, y=y, mode="lines", name=SCALING_LABELS[m],
                                     legendgroup=m, showlegend=col == 1, line=dict(color=color(i), width=2),
                                     hovertemplate="r=%{x:.0f}<br>%{y:.3f}<extra></extra>"), 1, col)
        for col in (1, 2):
            fig.update_xaxes(title_text="distance r = m − n (tokens)", row=1, col=col)
    for col in (1, 2):
        fig.add_vline(x=sc.train_context, line_dash="dash", row=1, col=col)
    fig.update_yaxes(title_text="q·R(r)q / |q|²", row=1, col=1)
    fig.update_yaxes(title_text="(1/(d/2)) Σⱼ |Sⱼ|", row=1, col=2)
    fig.update_annotations(font_size=12)
    style(fig, height=440)
    return _legend_below(fig)


def long_context_figure(lc) -> go.Figure:
    """The tiny GPT's loss per position bin, with and without scaling (LongContextResult)."""
    centers = (lc.bin_edges[:-1] + lc.bin_edges[1:]) / 2
    fig = go.Figure()
    fig.add_vrect(x0=0, x1=lc.train_context, fillcolor="#e5e7eb", opacity=0.5, line_width=0, layer="below",
                  annotation_text="trained context", annotation_position="top left")
    for i, (m, y) in enumerate(zip(lc.methods, lc.loss)):
        fig.add_trace(go.Scatter(x=centers, y=y, mode="lines+markers", name=SCALING_LABELS[m],
                                 line=dict(color=color(i), width=3),
                                 hovertemplate="positions near %{x:.0f}<br>loss %{y:.3f} nats<extra></extra>"))
    style(fig, title=f"Tiny GPT: next-token loss by position ({lc.n_tokens:,} tokens per method, {lc.device})",
          x="position in the window (tokens)", y="loss (nats/token)", height=440)
    return _legend_below(fig)


def patch_figure(pr, height: int = 460) -> go.Figure:
    """The image twice, each patch tinted by how similar the chosen patch finds it: 2D axial vs 1D raster RoPE."""
    p, (rows, cols) = pr.patch_size, pr.grid
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=("2D axial RoPE (rows and columns)", "1D RoPE over the reading order"))
    lo = float(min(pr.score_2d.min(), pr.score_1d.min()))
    for col, z in ((1, pr.score_2d), (2, pr.score_1d)):
        fig.add_trace(go.Image(source=png_source(pr.image), hoverinfo="skip"), 1, col)  # PNG: the browser decodes it
        fig.add_trace(go.Heatmap(z=z, x0=p / 2 - 0.5, dx=p, y0=p / 2 - 0.5, dy=p, colorscale="Viridis", zmin=lo, zmax=1,
                                 opacity=0.62, showscale=col == 2,
                                 colorbar=dict(title=dict(text="mean q·k/|q|²"), len=0.9),
                                 customdata=np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1),
                                 hovertemplate="patch (%{customdata[0]}, %{customdata[1]})<br>similarity %{z:.3f}"
                                               "<extra></extra>"), 1, col)
        x0, y0 = pr.col * p - 0.5, pr.row * p - 0.5
        fig.add_shape(type="rect", x0=x0, x1=x0 + p, y0=y0, y1=y0 + p, line=dict(color="#ff2d55", width=3),
                      row=1, col=col)
        fig.update_xaxes(visible=False, row=1, col=col)
        fig.update_yaxes(visible=False, row=1, col=col)
    fig.update_annotations(font_size=13)
    style(fig, height=height, legend=False)
    fig.update_layout(margin=dict(l=5, r=5, t=40, b=5))
    return fig
