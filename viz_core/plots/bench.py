"""Generic chart of a recorded benchmark run: one line per category, optional log-log axes."""
from __future__ import annotations

import plotly.graph_objects as go

from viz_core.plots.theme import color, style


def run_chart(rows, x: str, y: str, group: str | None, *, log_x: bool = True, log_y: bool = True,
              title: str | None = None) -> go.Figure:
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        xv, yv = r.get(x), r.get(y)
        if not isinstance(xv, (int, float)) or not isinstance(yv, (int, float)):
            continue
        key = str(r.get(group, "")) if group else y
        series.setdefault(key, []).append((xv, yv))
    fig = go.Figure()
    for i, (name, pts) in enumerate(sorted(series.items())):
        pts.sort()
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 name=name, line=dict(color=color(i))))
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return style(fig, title=title, x=x, y=y, height=460)
