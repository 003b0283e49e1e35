"""Figures for the patching and patch-embedding pages."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz_core.errors import human_bytes, human_count
from viz_core.plots.theme import DIVERGING, SEQUENTIAL, color, heatmap, style


def png_source(rgb: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a PNG data URI: a few KB for the browser instead of a JSON array of every pixel."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_with_grid(image: np.ndarray, patch: int, *, label_tokens: bool = True, height: int = 520) -> go.Figure:
    """The image with the patch grid drawn over it; token indices written in each patch when few."""
    s = image.shape[0]
    g = s // patch
    fig = go.Figure(go.Image(source=png_source(image), hoverinfo="skip"))
    # One trace for the whole grid (lines separated by None): one shape per line made plotly quadratic,
    # 177 s for the 513 + 513 lines of a 1024-pixel image with 2-pixel patches.
    edges = np.arange(g + 1) * patch - 0.5
    lo, hi = -0.5, s - 0.5
    xs = np.column_stack([edges, edges, np.full(g + 1, np.nan)]).ravel()
    ys = np.tile([lo, hi, np.nan], g + 1)
    fig.add_trace(go.Scatter(x=np.concatenate([xs, ys]), y=np.concatenate([ys, xs]), mode="lines",
                             line=dict(color="rgba(255,255,255,0.9)", width=1.5 if g <= 32 else 0.6),
                             hoverinfo="skip", showlegend=False))
    if label_tokens and g <= 16:
        idx = np.arange(g * g)
        r, c = idx // g, idx % g
        fig.add_trace(go.Scatter(x=c * patch + patch / 2, y=r * patch + patch / 2, mode="text",
                                 text=[str(i) for i in idx], textfont=dict(color="white", size=11),
                                 hovertemplate="token %{text}<extra></extra>"))
    fig.update_xaxes(visible=False, range=[-0.5, s - 0.5])
    fig.update_yaxes(visible=False, range=[s - 0.5, -0.5], scaleanchor="x")
    style(fig, height=height, legend=False)
    fig.update_layout(margin=dict(l=5, r=5, t=5, b=5))
    return fig


def token_strip(patches: np.ndarray, n_tokens: int, *, per_row: int = 16, gap: int = 2,
                height: int | None = None, width_px: int = 600) -> go.Figure:
    """Patches laid out as the token sequence (reading order, wrapped every ``per_row`` tokens)."""
    n, p = patches.shape[0], patches.shape[1]
    per_row = min(per_row, n)
    rows = int(np.ceil(n / per_row))
    cell = p + gap
    canvas = np.full((rows * cell, per_row * cell, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, per_row)
        canvas[r * cell:r * cell + p, c * cell:c * cell + p] = patches[i]
    fig = go.Figure(go.Image(source=png_source(canvas), hoverinfo="skip"))
    idx = np.arange(n)
    fig.add_trace(go.Scatter(x=(idx % per_row) * cell + p / 2, y=(idx // per_row) * cell + p / 2, mode="markers",
                             marker=dict(size=max(6, min(40, 600 // per_row)), opacity=0),
                             text=[f"token {i}" for i in idx], hovertemplate="%{text}<extra></extra>"))
    title = (f"The sequence the transformer reads: tokens 0–{n - 1}" +
             (f" of {n_tokens:,} (first {n} drawn)" if n_tokens > n else ""))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    style(fig, title=title, height=height or int(min(900, 70 + width_px * rows / per_row)), legend=False)
    fig.update_layout(margin=dict(l=60, r=5, t=50, b=5))
    return fig


def cost_bars(pixel_cost, patch_cost) -> go.Figure:
    """Log-scale bars: full attention over pixels vs over patches (entries, bytes, FLOPs)."""
    metrics = [("score entries (N², one head)", "score_entries", human_count),
               ("score bytes (fp32, one head)", "score_bytes_fp32", human_bytes),
               ("attention FLOPs per layer", "flops_per_layer", lambda v: human_count(v) + "FLOP")]
    fig = go.Figure()
    for i, (name, costs) in enumerate((("over pixels", pixel_cost), ("over patches", patch_cost))):
        vals = [getattr(costs, attr) for _, attr, _ in metrics]
        fig.add_trace(go.Bar(name=f"{name} (N = {costs.tokens:,})", x=[m[0] for m in metrics], y=vals,
                             marker_color=color(i), text=[fmt(v) for v, (_, _, fmt) in zip(vals, metrics)],
                             textposition="outside"))
    fig.update_yaxes(type="log", title_text="count (log scale)", exponentformat="SI")  # as the table: 2.52 G
    return style(fig, title="Full attention over pixels vs over patches", height=420)


def embedding_heatmap(emb: np.ndarray, max_tokens: int = 256) -> go.Figure:
    z = emb[:max_tokens]
    lim = float(np.abs(z).max()) or 1.0
    return heatmap(z, title=f"Patch embeddings ({emb.shape[0]} tokens × {emb.shape[1]} dims"
                            + (f", first {max_tokens} tokens" if emb.shape[0] > max_tokens else "") + ")",
                   x="embedding dimension", y="token", colorscale=DIVERGING, zmin=-lim, zmax=lim,
                   colorbar_title="value", square=False, height=420)


def pca_scatter(coords: np.ndarray, rows: np.ndarray, cols: np.ndarray, explained: np.ndarray,
                colour_by: str = "row") -> go.Figure:
    """2D or 3D PCA of patch embeddings, coloured by the patch's row or column in the grid."""
    c = rows if colour_by == "row" else cols
    text = [f"token {i} (row {r}, col {k})" for i, (r, k) in enumerate(zip(rows, cols))]
    marker = dict(color=c, colorscale=SEQUENTIAL, size=6 if coords.shape[1] == 3 else 9,
                  colorbar=dict(title=dict(text=f"patch {colour_by}")), line=dict(width=0))
    if coords.shape[1] >= 3:
        fig = go.Figure(go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers",
                                     marker=marker, text=text, hovertemplate="%{text}<extra></extra>"))
        fig.update_layout(scene=dict(xaxis_title=f"PC1 ({explained[0]:.0%})", yaxis_title=f"PC2 ({explained[1]:.0%})",
                                     zaxis_title=f"PC3 ({explained[2]:.0%})"))
        return style(fig, title="PCA of patch embeddings (3D)", height=520, legend=False)
    fig = go.Figure(go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers", marker=marker, text=text,
                               hovertemplate="%{text}<extra></extra>"))
    return style(fig, title="PCA of patch embeddings", x=f"PC1 ({explained[0]:.0%} of variance)",
                 y=f"PC2 ({explained[1]:.0%} of variance)", height=480, legend=False)


def similarity_heatmap(sim: np.ndarray, title: str, max_tokens: int = 400) -> go.Figure:
    z = sim[:max_tokens, :max_tokens]
    return heatmap(z, title=title, x="token", y="token", colorscale=DIVERGING, zmin=-1, zmax=1,
                   colorbar_title="cosine", height=460)


def position_similarity_grid(sim_to_query: np.ndarray, grid: tuple[int, int], query: int, title: str) -> go.Figure:
    """Cosine similarity of one position's embedding to every position, drawn on the patch grid."""
    z = sim_to_query.reshape(grid)
    others = np.delete(sim_to_query, query) if sim_to_query.size > 1 else sim_to_query
    fig = heatmap(z, title=title, x="patch column", y="patch row", colorscale=SEQUENTIAL,
                  zmin=float(others.min()), zmax=float(others.max()), colorbar_title="cosine", height=380)
    r, c = divmod(query, grid[1])
    fig.add_trace(go.Scatter(x=[c], y=[r], mode="markers", marker=dict(symbol="x", size=14, color="black"),
                             hovertemplate="query patch<extra></extra>", showlegend=False))
    return fig
