"""Shared look of every figure: readable on a projector, units on axes, consistent colours."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import plotly.graph_objects as go

# Sequential scale for attention weights / similarities, diverging scale for signed values / errors.
SEQUENTIAL = "Viridis"
DIVERGING = "RdBu"
MASK_COLORS = [[0.0, "#f3f4f6"], [1.0, "#1f4e79"]]  # False, True
# Qualitative palette (colour-blind friendly, Okabe–Ito) for variants/methods.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#882255", "#44AA99", "#117733"]

FONT_SIZE = 14
# Presentation mode (a projector at 1280x720): every text in a figure at least this many pixels.
PRESENT_MIN_FONT = 18
PRESENT_SCALE = 1.45  # 14 px -> 20 px base text
_SCALE: contextvars.ContextVar[float] = contextvars.ContextVar("figure_scale", default=1.0)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def set_scale(scale: float) -> None:
    """Font scale for figures built from now on in this thread/context (app.py sets it per script run)."""
    _SCALE.set(float(scale))


def scale() -> float:
    return _SCALE.get()


@contextlib.contextmanager
def scaled(factor: float) -> Iterator[None]:
    token = _SCALE.set(float(factor))
    try:
        yield
    finally:
        _SCALE.reset(token)


def presenting() -> bool:
    return _SCALE.get() > 1.0


def _px(size, minimum: float) -> float:
    """At least ``minimum`` (idempotent, so a figure can be enlarged twice)."""
    return max(minimum, size) if isinstance(size, (int, float)) else minimum


def enlarge(fig: go.Figure) -> go.Figure:
    """In presentation mode, raise every font in the figure (titles, ticks, legends, annotations, colour bars,
    trace text such as heatmap cells) to at least PRESENT_MIN_FONT px, including sizes a figure function set
    itself after ``style()``. A no-op at scale 1."""
    if not presenting():
        return fig
    lo = PRESENT_MIN_FONT
    lay = fig.layout
    fig.update_layout(font_size=_px(lay.font.size, lo + 2))
    if lay.title and lay.title.text:
        fig.update_layout(title_font_size=_px(lay.title.font.size or FONT_SIZE + 4, lo + 6))
    fig.update_layout(legend_font_size=_px(lay.legend.font.size, lo))
    fig.for_each_xaxis(lambda ax: ax.update(tickfont_size=_px(ax.tickfont.size, lo),
                                            title_font_size=_px(ax.title.font.size, lo + 2)))
    fig.for_each_yaxis(lambda ax: ax.update(tickfont_size=_px(ax.tickfont.size, lo),
                                            title_font_size=_px(ax.title.font.size, lo + 2)))
    for ann in lay.annotations or ():
        ann.font.size = _px(ann.font.size, lo)
    for tr in fig.data:
        if "textfont" in tr:
            tr.textfont.size = _px(tr.textfont.size, lo)
        if "colorbar" in tr and tr.colorbar is not None:
            tr.colorbar.tickfont.size = _px(tr.colorbar.tickfont.size, lo)
            tr.colorbar.title.font.size = _px(tr.colorbar.title.font.size, lo)
        if "marker" in tr and "colorbar" in tr.marker and tr.marker.showscale:
            tr.marker.colorbar.tickfont.size = _px(tr.marker.colorbar.tickfont.size, lo)
    return fig


def altair_config(chart):
    """The same sizes for an Altair chart (none of the pages draw Altair today; kept beside Plotly's)."""
    base = _px(FONT_SIZE, PRESENT_MIN_FONT) if presenting() else FONT_SIZE
    return (chart.configure_axis(labelFontSize=base, titleFontSize=base + 2)
            .configure_legend(labelFontSize=base, titleFontSize=base)
            .configure_title(fontSize=base + 6).configure_text(fontSize=base))


def style(fig: go.Figure, *, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = 420, legend: bool = True) -> go.Figure:
    """Apply the lab's layout: title, axis titles (with units), margins, font size."""
    # Title at the top of the canvas, the (horizontal) legend in its own row just above the plot area, so
    # the two never overlap however long the title is.
    # Subplot titles sit just above the top row of plots: leave them room, or the canvas clips them.
    titled = any(a.yanchor == "bottom" and (a.y or 0) >= 0.99 and a.yref == "paper" for a in fig.layout.annotations)
    k = _SCALE.get()
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", y=0.99, yanchor="top", yref="container") if title else None,
        height=round(height * (1 + (k - 1) / 2)),
        margin=dict(l=round(60 * k), r=20,
                    t=round(((45 if title else 10) + (35 if legend else 0) + (28 if titled else 0)) * k),
                    b=round(50 * k)),
        font=dict(size=round(FONT_SIZE * k)),
        showlegend=legend,
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0.0),
    )
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return enlarge(fig)


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
