"""Shared look of every figure: readable on a projector, units on axes, consistent colours."""
from __future__ import annotations

import plotly.graph_objects as go

# Sequential scale for attention weights / similarities, diverging scale for signed values / errors.
SEQUENTIAL = "Viridis"
DIVERGING = "RdBu"
MASK_COLORS = [[0.0, "#f3f4f6"], [1.0, "#1f4e79"]]  # False, True
# Qualitative palette (colour-blind friendly, Okabe–Ito) for variants/methods.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#882255", "#44AA99", "#117733"]

FONT_SIZE = 14


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def style(fig: go.Figure, *, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = 420, legend: bool = True) -> go.Figure:
    """Apply the lab's layout: title, axis titles (with units), margins, font size."""
    # Title at the top of the canvas, the (horizontal) legend in its own row just above the plot area, so
    # the two never overlap however long the title is.
    # Subplot titles sit just above the top row of plots: leave them room, or the canvas clips them.
    titled = any(a.yanchor == "bottom" and (a.y or 0) >= 0.99 and a.yref == "paper" for a in fig.layout.annotations)
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", y=0.99, yanchor="top", yref="container") if title else None,
        height=height,
        margin=dict(l=60, r=20, t=(45 if title else 10) + (35 if legend else 0) + (28 if titled else 0), b=50),
        font=dict(size=FONT_SIZE),
        showlegend=legend,
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0.0),
    )
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def heatmap(z, *, title: str | None = None, x: str | None = None, y: str | None = None,
            colorscale: str | list = SEQUENTIAL, zmin: float | None = None, zmax: float | None = None,
            colorbar_title: str | None = None, height: int = 420, square: bool = True,
            x_labels=None, y_labels=None, hover: str | None = None) -> go.Figure:
    """A heatmap with row 0 at the top (matrix convention), as attention maps are read."""
    trace = go.Heatmap(z=z, x=x_labels, y=y_labels, colorscale=colorscale, zmin=zmin, zmax=zmax,
                       colorbar=dict(title=dict(text=colorbar_title)) if colorbar_title else None,
                       hovertemplate=hover)
    fig = go.Figure(trace)
    fig.update_yaxes(autorange="reversed")
    if square:
        fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
        fig.update_xaxes(constrain="domain")
    return style(fig, title=title, x=x, y=y, height=height, legend=False)
