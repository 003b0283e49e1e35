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


def series_name(row: dict, suite: str) -> str:
    """Which line/marker group a row belongs to on the roofline."""
    for key in ("label", "method", "layout", "variant"):
        if row.get(key) not in (None, ""):
            return f"{suite}: {row[key]}"
    return suite


SYMBOLS = {"attention": "circle", "flash": "square", "rope": "triangle-up", "decode": "diamond", "live": "star"}


def roofline_points(rows, suite: str, source: str = "") -> list[dict]:
    """Plain points (intensity, achieved FLOP/s, % of roof) of the rows that carry formulas and a time."""
    from viz_core.measure.roofline import row_seconds

    pts = []
    for r in rows:
        f, q, t = r.get("flops"), r.get("bytes_moved"), row_seconds(r)
        if not (isinstance(f, (int, float)) and isinstance(q, (int, float)) and q > 0 and f > 0 and t):
            continue
        size = r.get("n", r.get("N"))
        if size is None:  # decode: the draft length and the prompt say which point it is
            size = f"{r.get('new_tokens', '')} tokens, {r.get('prompt', '')} prompt" + (
                f", γ={r['gamma']}" if r.get("gamma") not in (None, "") else "")
        pts.append({"series": series_name(r, suite), "intensity": f / q, "achieved": f / t,
                    "pct": r.get("pct_of_roof"), "size": size, "source": source, "seconds": t})
    return pts


def roofline_figure(roofs, points: list[dict], *, dtypes=("float32", "bfloat16"), title: str | None = None,
                    roofs_label: str = "") -> go.Figure:
    """Log-log roofline: the memory roof (slope 1), a compute roof per dtype, and every measured point.

    Points left of the ridge are memory-bound (decoding a token reads every weight), right of it
    compute-bound (prefill attention). Arrows join eager attention to the fused/tiled kernels at the same N:
    the same FLOPs with fewer bytes moved, so tiled attention moves right, towards the compute roof.
    """
    fig = go.Figure()
    xs = [p["intensity"] for p in points] or [1.0]
    lo, hi = min(min(xs) / 3, 0.05), max(max(xs) * 3, 4 * max(roofs.ridge(d) for d in dtypes if d in roofs.compute_flops))
    bw = roofs.bandwidth_bytes_per_s
    for i, dt in enumerate(d for d in dtypes if d in roofs.compute_flops):
        peak, ridge = roofs.peak(dt), roofs.ridge(dt)
        fig.add_trace(go.Scatter(
            x=[lo, ridge, hi], y=[bw * lo / 1e9, peak / 1e9, peak / 1e9], mode="lines",
            name=f"roof {dt}: {peak / 1e9:.3g} GFLOP/s, {bw / 1e9:.3g} GB/s",
            hovertemplate=f"{roofs.compute_source.get(dt, '')}; memory: {roofs.bandwidth_source}<extra></extra>", line=dict(color="#444" if i == 0 else "#999", dash="solid" if i == 0 else "dash")))
    by_series: dict[str, list[dict]] = {}
    for p in points:
        by_series.setdefault(p["series"], []).append(p)
    for i, (name, pts) in enumerate(sorted(by_series.items())):
        fig.add_trace(go.Scatter(
            x=[p["intensity"] for p in pts], y=[p["achieved"] / 1e9 for p in pts], mode="markers",
            name=name, marker=dict(size=10, color=color(i + 2), symbol=SYMBOLS.get(name.split(":")[0], "circle")),
            text=[f"{_size(p['size'])}<br>{p['pct']:.3g} % of roof" if p.get("pct") is not None else _size(p["size"])
                  for p in pts],
            hovertemplate="%{text}<br>%{x:.3g} FLOP/byte, %{y:.3g} GFLOP/s<extra>" + name + "</extra>"))
    # eager -> fused/tiled at the largest N both measured, per suite: same FLOPs, fewer bytes (moves right)
    for suite, fast in (("attention", "sdpa"), ("flash", "tiled"), ("live", "sdpa"), ("live", "tiled")):
        eager = {p["size"]: p for p in points if p["series"] == f"{suite}: reference"}
        both = [p for p in points if p["series"] == f"{suite}: {fast}" and p["size"] in eager]
        if not both:
            continue
        p = max(both, key=lambda q: q["size"] if isinstance(q["size"], (int, float)) else 0)
        e = eager[p["size"]]
        fig.add_annotation(x=_log(p["intensity"]), y=_log(p["achieved"] / 1e9), ax=_log(e["intensity"]),
                           ay=_log(e["achieved"] / 1e9), xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=2, arrowwidth=1.5, arrowcolor="#555", text="")
        fig.add_annotation(x=_log(p["intensity"]), y=_log(p["achieved"] / 1e9), text=f"{fast}, N={p['size']}",
                           showarrow=False, yshift=-14, font=dict(size=11, color="#555"))
    ridge = roofs.ridge(dtypes[0]) if dtypes[0] in roofs.compute_flops else None
    if ridge:
        fig.add_vline(x=ridge, line=dict(color="#ccc", dash="dot"))
        fig.add_annotation(x=_log(ridge), y=1, yref="paper", text="ridge: memory-bound ← | → compute-bound",
                           showarrow=False, yanchor="bottom", font=dict(size=12))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    style(fig, title=title or f"Roofline of {roofs.name} ({roofs_label})", height=600,
          x="arithmetic intensity (FLOP / byte moved, by formula)", y="achieved GFLOP/s")
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1.0, xanchor="left", yanchor="top", font=dict(size=12)),
                      margin=dict(r=20, t=50))
    return fig


def _size(size) -> str:
    return f"N={size}" if isinstance(size, (int, float)) else str(size)


def _log(v: float) -> float:
    import math

    return math.log10(max(float(v), 1e-30))


def compare_chart(pairs: list[dict], label_a: str, label_b: str) -> go.Figure:
    """Ratio of run B's time to run A's at every point both measured (1 = same speed)."""
    pairs = sorted(pairs, key=lambda p: p["b_over_a"])
    fig = go.Figure(go.Bar(x=[p["b_over_a"] for p in pairs], y=[p["point"] for p in pairs], orientation="h",
                           marker_color=[color(0) if p["b_over_a"] >= 1 else color(1) for p in pairs],
                           hovertemplate="%{y}<br>B / A = %{x:.3g}×<extra></extra>"))
    fig.add_vline(x=1.0, line=dict(color="#444", dash="dot"))
    fig.update_xaxes(type="log")
    return style(fig, title=f"time of B ÷ time of A (B = {label_b[:60]}; A = {label_a[:60]})",
                 x="time ratio B / A (log; > 1: A is faster)", y=None, height=max(320, 22 * len(pairs) + 120),
                 legend=False)
