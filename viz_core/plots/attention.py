"""Figures for the attention lab: masks, weight maps, errors, cost, and the scaling chart (pure functions)."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.errors import human_bytes, human_count
from viz_core.plots.theme import DIVERGING, MASK_COLORS, SEQUENTIAL, color, style

MEMORY_METHODS = {  # viz_core.measure.memory's method strings -> how an axis or column names them
    "peak tensor bytes (torch profiler)": "torch-profiler tensor bytes",
    "peak RSS growth, fresh subprocess": "process RSS growth, fresh subprocess",
    "cuda max_memory_allocated": "CUDA allocator peak",
}


def memory_method_label(method: str) -> str:
    """Which of the three memory measurements a number is, for axis titles and column headers."""
    if not method:
        return "method not recorded"
    return MEMORY_METHODS.get(method, method)


def variant_figure(v, exact_weights: np.ndarray | None, height: int = 330) -> go.Figure:
    """One row: the mask (if any), then per head the variant's weights, then |variant − exact| of head 1.

    ``v`` is a ``lab.VariantResult``; ``exact_weights`` (heads, N, N)."""
    panels: list[tuple[str, np.ndarray, dict]] = []
    if v.mask is not None:
        panels.append((f"mask ({v.density:.1%} of pairs)", v.mask.astype(np.uint8),  # 1 byte per pair in the page
                       dict(colorscale=MASK_COLORS, zmin=0, zmax=1, showscale=False)))
    if v.weights is not None:
        signed = v.signed_weights
        vmax = float(np.abs(v.weights).max()) or 1.0
        for h in range(v.weights.shape[0]):
            kw = dict(colorscale=DIVERGING, zmid=0, zmin=-vmax, zmax=vmax) if signed else \
                dict(colorscale=SEQUENTIAL, zmin=0, zmax=vmax)
            panels.append((f"head {h + 1} weights" + (" (signed)" if signed else ""), v.weights[h],
                           dict(kw, showscale=h == 0, colorbar=dict(title="weight", x=1.0, len=0.8))))
        if exact_weights is not None:
            diff = np.abs(v.weights[0] - exact_weights[0])
            panels.append(("|variant − exact|, head 1", diff,
                           dict(colorscale="Reds", zmin=0, zmax=float(diff.max()) or 1.0, showscale=False)))
    if not panels:
        return row_summary_figure(v, height=height)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels],
                        horizontal_spacing=0.04)
    for i, (_, z, kw) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(z=z, hovertemplate="query %{y}, key %{x}: %{z:.3g}<extra></extra>", **kw),
                      row=1, col=i)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i,
                         title_text="query" if i == 1 else None, constrain="domain")
        fig.update_xaxes(title_text="key", row=1, col=i, constrain="domain")
    style(fig, height=height, legend=False)
    fig.update_annotations(font_size=13)
    return fig


def row_summary_figure(v, height: int = 330) -> go.Figure:
    """For N too large to draw N×N maps: per query row, the keys it may attend to and how far its output is
    from exact attention (relative error over heads and dimensions)."""
    n = len(v.row_err) if v.row_err is not None else 0
    bins = min(n, 256)
    edges = np.linspace(0, n, bins + 1).astype(int)
    x = (edges[:-1] + edges[1:] - 1) / 2

    def binned(a, fn):
        return [float(fn(a[a0:a1])) for a0, a1 in zip(edges[:-1], edges[1:])]

    titles = (["keys each query row may attend to"] if v.row_keys is not None else []) + [
        "error of each query row's output vs exact"]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.1)
    col = 1
    if v.row_keys is not None:
        fig.add_trace(go.Scatter(x=x, y=binned(v.row_keys, np.mean), mode="lines", line=dict(color=color(0)),
                                 hovertemplate="rows near %{x:.0f}: %{y:,.0f} keys<extra></extra>"), 1, 1)
        fig.update_yaxes(title_text="keys (count)", rangemode="tozero", row=1, col=1)
        fig.update_xaxes(title_text="query row", row=1, col=1)
        col = 2
    if n:
        fig.add_trace(go.Scatter(x=x, y=binned(v.row_err, np.max), mode="lines", name="max in bin",
                                 line=dict(color=color(3)), hovertemplate="rows near %{x:.0f}: %{y:.3g}<extra></extra>"),
                      1, col)
        fig.add_trace(go.Scatter(x=x, y=binned(v.row_err, np.mean), mode="lines", name="mean in bin",
                                 line=dict(color=color(1), dash="dot"),
                                 hovertemplate="rows near %{x:.0f}: %{y:.3g}<extra></extra>"), 1, col)
        fig.update_yaxes(title_text="‖out − exact‖ / ‖exact‖ (row)", rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text="query row", row=1, col=col)
    style(fig, height=height, legend=True)
    fig.update_annotations(font_size=13)
    return fig


def overview_figure(variants, exact_weights: np.ndarray | None, per_row: int = 4,
                    row_height: int = 290) -> go.Figure:
    """One map per variant (exact attention first, head 1), ``per_row`` to a row: the variant's mask where it
    has one (which query-key pairs it computes), else its head-1 weights (what its approximation implies).
    ``variants``: ``lab.VariantResult`` that ran and have a mask or weights."""
    panels: list[tuple[str, np.ndarray, dict]] = []
    if exact_weights is not None:
        panels.append(("exact<br>weights, head 1", exact_weights[0],
                       dict(colorscale=SEQUENTIAL, zmin=0, zmax=float(exact_weights[0].max()) or 1.0)))
    for v in variants:
        if v.mask is not None:
            panels.append((f"{v.name}<br>mask: {v.density:.0%} of pairs", v.mask.astype(np.uint8),
                           dict(colorscale=MASK_COLORS, zmin=0, zmax=1)))
        elif v.weights is not None:
            vmax = float(np.abs(v.weights[0]).max()) or 1.0
            kw = dict(colorscale=DIVERGING, zmid=0, zmin=-vmax, zmax=vmax) if v.signed_weights else \
                dict(colorscale=SEQUENTIAL, zmin=0, zmax=vmax)
            panels.append((f"{v.name}<br>implied weights, head 1", v.weights[0], kw))
    cols = max(1, min(per_row, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.04,
                        vertical_spacing=0.16 if rows > 1 else 0.0)
    for i, (_, z, kw) in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Heatmap(z=z, showscale=False, hovertemplate="query %{y}, key %{x}: %{z:.3g}<extra></extra>",
                                 **kw), row=r, col=c)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=r, col=c,
                         constrain="domain", title_text="query" if c == 1 else None)
        fig.update_xaxes(row=r, col=c, constrain="domain", title_text="key" if r == rows else None)
    return style(fig, height=row_height * rows + 40, legend=False)


def exact_figure(exact_weights: np.ndarray, height: int = 330) -> go.Figure:
    """Exact softmax attention weights per head (the target every variant is compared with)."""
    hs = exact_weights.shape[0]
    fig = make_subplots(rows=1, cols=hs, subplot_titles=[f"exact, head {h + 1}" for h in range(hs)],
                        horizontal_spacing=0.04)
    vmax = float(exact_weights.max()) or 1.0
    for h in range(hs):
        fig.add_trace(go.Heatmap(z=exact_weights[h], colorscale=SEQUENTIAL, zmin=0, zmax=vmax, showscale=h == 0,
                                 colorbar=dict(title="weight"),
                                 hovertemplate="query %{y}, key %{x}: %{z:.3g}<extra></extra>"), row=1, col=h + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{h + 1 if h else ''}", row=1, col=h + 1,
                         constrain="domain")
        fig.update_xaxes(title_text="key", row=1, col=h + 1, constrain="domain")
    fig.update_yaxes(title_text="query", row=1, col=1)
    return style(fig, height=height, legend=False)


def results_table(result) -> list[dict]:
    """One row per variant with units, for st.dataframe (``result`` is a ``lab.LabResult``); the memory column
    names its method (torch-profiler tensor bytes on CPU, CUDA allocator peak on GPU)."""
    method = next((v.memory_method for v in result.variants if v.memory_method), "")
    rows = []
    for v in result.variants:
        if not v.ok:
            rows.append({"variant": v.name, "exact for its mask": "—", "note": "did not run: " + v.message})
            continue
        c = v.cost
        rows.append({
            "variant": v.name,
            "exact for its mask": "yes" if v.exact else "no (approximate)",
            "pairs used": f"{v.density:.1%}" if v.density is not None else "—",
            "max |err|": v.max_abs_err,
            "rel. err": v.rel_err,
            "row KL (nats)": None if math.isnan(v.row_kl) else v.row_kl,
            "score entries": human_count(c.score_entries) if c else "",
            "FLOPs": human_count(c.flops) if c else "",
            "bytes (theory)": human_bytes(c.bytes) if c else "",
            "time (ms)": v.time_s * 1e3,
            "speed-up vs exact": result.exact_time_s / v.time_s if v.time_s > 0 else None,
            f"peak memory ({memory_method_label(method)})": human_bytes(v.peak_bytes) if v.peak_bytes is not None
            else "—",
            "note": ("compile " + f"{v.compile_s:.1f} s (not in time)") if v.compile_s else v.message,
        })
    return rows


def cost_figure(result, height: int = 360) -> go.Figure:
    """Theoretical FLOPs next to measured time and peak memory, per variant (log scales)."""
    ok = [v for v in result.variants if v.ok and v.cost is not None]
    names = ["exact"] + [v.name for v in ok]
    exact_flops = 4.0 * result.heads * result.n * result.n * result.head_dim
    flops = [exact_flops] + [max(v.cost.flops, 1) for v in ok]
    times = [result.exact_time_s * 1e3] + [v.time_s * 1e3 for v in ok]
    mems = [result.exact_peak_bytes] + [v.peak_bytes for v in ok]
    method = memory_method_label(next((v.memory_method for v in result.variants if v.memory_method), ""))
    fig = make_subplots(rows=1, cols=3, subplot_titles=["theoretical FLOPs", "measured time (ms)",
                                                        f"peak memory (MiB): {method}"], horizontal_spacing=0.08,
                        column_widths=[0.27, 0.27, 0.46])  # room for the memory title and its method
    cols = [color(i) for i in range(len(names))]
    fig.add_trace(go.Bar(x=names, y=flops, marker_color=cols, hovertemplate="%{x}: %{y:.3s} FLOPs<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=times, marker_color=cols, hovertemplate="%{x}: %{y:.3g} ms<extra></extra>"),
                  row=1, col=2)
    fig.add_trace(go.Bar(x=names, y=[(m or 0) / 2**20 for m in mems], marker_color=cols,
                         hovertemplate="%{x}: %{y:.3g} MiB<extra></extra>"), row=1, col=3)
    for c in (1, 2, 3):  # SI prefixes (2.52 G), as the table writes them
        fig.update_yaxes(type="log", exponentformat="SI", row=1, col=c)
    fig.update_yaxes(title_text="FLOPs", row=1, col=1)
    fig.update_yaxes(title_text="ms", row=1, col=2)
    fig.update_yaxes(title_text="MiB", row=1, col=3)
    return style(fig, height=height, legend=False)


def scaling_figure(points, expected: dict[str, int], metric: str = "time", height: int = 420,
                   memory_method: str = "") -> go.Figure:
    """Log-log time (or peak memory, labelled with ``memory_method``) vs N per variant, with dashed guides of the
    expected slope.

    ``points``: ``lab.SweepPoint`` list; each guide ends at the variant's longest measured N."""
    fig = go.Figure()
    variants = list(dict.fromkeys(p.variant for p in points))
    for i, var in enumerate(variants):
        pts = [p for p in points if p.variant == var and not p.stopped]
        err = None
        if metric == "time":
            ys = [p.time_s * 1e3 for p in pts]
            iqr = [p.time_iqr_s * 1e3 / 2 if p.time_iqr_s == p.time_iqr_s else 0 for p in pts]
            err = dict(type="data", array=iqr, visible=True, thickness=1, width=3)  # ± IQR/2 of the repeats
        else:
            ys = [(p.peak_bytes or float("nan")) / 2**20 for p in pts]
        ns = [p.n for p in pts]
        fig.add_trace(go.Scatter(x=ns, y=ys, mode="lines+markers", name=var, line=dict(color=color(i)), error_y=err,
                                 hovertemplate=f"{var}" + " N=%{x}: %{y:.3g}<extra></extra>"))
        good = [(n, y) for n, y in zip(ns, ys) if y == y and y > 0]
        if len(good) >= 2 and metric == "time":
            s = expected.get(var, 2)
            n0 = good[0][0]
            n1, y1 = good[-1]  # anchored at the longest N, where the leading term dominates
            fig.add_trace(go.Scatter(x=[n0, n1], y=[y1 * (n0 / n1) ** s, y1], mode="lines", showlegend=False,
                                     line=dict(color=color(i), dash="dot", width=1),
                                     hovertemplate=f"slope {s} guide<extra></extra>"))
    ns_all = sorted({p.n for p in points})
    fig.update_xaxes(type="log", title_text="sequence length N (tokens)", tickvals=ns_all,
                     ticktext=[str(n) for n in ns_all])
    mem = f"peak memory (MiB, {memory_method_label(memory_method)})"
    fig.update_yaxes(type="log", title_text="time per call (ms)" if metric == "time" else mem)
    ys_all = [y for tr in fig.data for y in (tr.y or ()) if y is not None and y == y and y > 0]
    if ys_all and max(ys_all) / min(ys_all) > 30:
        fig.update_yaxes(dtick=1)  # label decades only: 1, 10, 100 (plotly's 2 and 5 labels read as values)
    return style(fig, height=height,
                 title="time vs N (dotted: expected slope 1 or 2)" if metric == "time" else
                 f"peak memory vs N: {memory_method_label(memory_method)}")
