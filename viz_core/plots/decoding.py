"""Figures for the decoding pages: KV cache, paged attention, speculative decoding (pure functions)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.errors import human_bytes
from viz_core.plots.theme import PALETTE, color, style

CACHED, UNCACHED = PALETTE[0], PALETTE[3]
GB = 1e9


# ---------------------------------------------------------------------------------------------- KV cache
def latency(res) -> go.Figure:
    """Per-token latency: flat with the cache, growing without it. The axis stops at 1.3× the 95th percentile
    so that a rare scheduler hiccup on a shared CPU does not flatten the rest (the title counts them)."""
    x = np.arange(1, res.new_tokens + 1)
    fig = go.Figure([
        go.Scatter(x=x, y=res.step_s_uncached * 1e3, name="without cache (recompute)", mode="lines+markers",
                   marker=dict(size=4), line=dict(color=UNCACHED)),
        go.Scatter(x=x, y=res.step_s_cached * 1e3, name="with KV cache", mode="lines+markers", marker=dict(size=4),
                   line=dict(color=CACHED)),
    ])
    both = np.concatenate([res.step_s_uncached, res.step_s_cached]) * 1e3
    top = 1.3 * float(np.percentile(both, 95))
    above = int((both > top).sum())
    fig.update_yaxes(range=[0, top])
    title = "Time per token" + (f" ({above} outlier(s) above the axis)" if above else "")
    return style(fig, title=title, x="generated token #", y="latency (ms)", height=360)


def cumulative(res) -> go.Figure:
    x = np.arange(1, res.new_tokens + 1)
    fig = go.Figure([
        go.Scatter(x=x, y=np.cumsum(res.step_s_uncached) * 1e3, name="without cache", line=dict(color=UNCACHED)),
        go.Scatter(x=x, y=np.cumsum(res.step_s_cached) * 1e3, name="with KV cache", line=dict(color=CACHED)),
    ])
    return style(fig, title="Cumulative generation time", x="generated token #", y="total time (ms)", height=360)


def projections(res) -> go.Figure:
    """Cumulative K/V projections per layer (measured by hooks) and the closed forms."""
    n = np.arange(1, res.new_tokens + 1)
    p = res.prompt_tokens
    fig = go.Figure([
        go.Bar(x=n, y=np.cumsum(res.kv_rows_uncached), name="without cache (measured)", marker_color=UNCACHED,
               opacity=0.55),
        go.Bar(x=n, y=np.cumsum(res.kv_rows_cached), name="with cache (measured)", marker_color=CACHED),
        go.Scatter(x=n, y=n * p + n * (n - 1) / 2, name="Σ (P + i)  formula", mode="lines",
                   line=dict(color="black", dash="dot")),
        go.Scatter(x=n, y=p + n - 1, name="P + n − 1  formula", mode="lines", line=dict(color="gray", dash="dash")),
    ])
    fig.update_layout(barmode="overlay")
    return style(fig, title="K/V vectors computed per layer", x="generated tokens n",
                 y="K/V projections (cumulative)", height=380)


def cache_growth(res) -> go.Figure:
    tokens = res.prompt_tokens + np.arange(res.new_tokens)
    fig = go.Figure([
        go.Scatter(x=tokens, y=res.cache_bytes / 1024, name="measured (filled cache tensors)", mode="markers",
                   marker=dict(color=CACHED, size=6)),
        go.Scatter(x=tokens, y=res.formula_bytes / 1024, mode="lines", line=dict(color="black", dash="dot"),
                   name=(f"2×{res.n_layer} layers×{res.n_kv_head} kv_heads×{res.head_dim}×tokens×"
                         f"{res.bytes_per_value} B")),
    ])
    return style(fig, title="KV cache size while generating", x="tokens in the cache", y="KiB", height=360)


def calculator(res) -> go.Figure:
    """GB of KV cache per model: as built, if it were MHA, if it were MQA (log scale)."""
    fig = go.Figure([
        go.Bar(x=list(res.names), y=res.bytes_if_mha / GB, name="if MHA (kv_heads = heads)", marker_color=PALETTE[3]),
        go.Bar(x=list(res.names), y=res.bytes_actual / GB, name="as built", marker_color=PALETTE[0],
               text=[f"{b / GB:.3g} GB<br>{k}" for b, k in zip(res.bytes_actual, res.kinds)],
               textposition="outside"),
        go.Bar(x=list(res.names), y=res.bytes_if_mqa / GB, name="if MQA (1 KV head)", marker_color=PALETTE[2]),
    ])
    fig.update_yaxes(type="log", dtick=1)  # label powers of ten only
    fig.update_layout(barmode="group")
    return style(fig, title=f"KV cache at {res.context:,} tokens × batch {res.batch}, "
                            f"{res.bytes_per_value:g} B/value", y="GB (10⁹ bytes, log scale)", height=430)


def gqa(res) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("KV cache (measured tensors)", "held-out perplexity"))
    cols = [color(i) for i in range(len(res.labels))]
    fig.add_trace(go.Bar(x=list(res.labels), y=res.cache_bytes / 1024, marker_color=cols, showlegend=False,
                         text=[human_bytes(b) for b in res.cache_bytes], textposition="auto"), 1, 1)
    fig.add_trace(go.Bar(x=list(res.labels), y=res.perplexity, marker_color=cols, showlegend=False,
                         text=[f"{p:.3f}" for p in res.perplexity], textposition="auto"), 1, 2)
    lo, hi = float(res.perplexity.min()), float(res.perplexity.max())
    fig.update_yaxes(title_text=f"KiB at {res.context} tokens", row=1, col=1)
    fig.update_yaxes(title_text="perplexity per byte", row=1, col=2,
                     range=[max(0.0, lo - (hi - lo) * 2 - 0.05), hi + (hi - lo) + 0.05])
    return style(fig, height=380, legend=False)


# ---------------------------------------------------------------------------------------------- paged
def _owner_color(o: int) -> str:
    if o == -1:
        return "#e5e7eb"
    if o == -2:
        return "#6b7280"
    return color(int(o))


def block_map(res, per_row: int | None = None) -> go.Figure:
    """Physical blocks as squares coloured by request (grey: shared prefix; light: free), fill as text."""
    n = len(res.block_owner)
    per_row = per_row or (16 if n <= 96 else 32)
    big = per_row <= 16
    idx = np.arange(n)
    x, y = idx % per_row, idx // per_row
    text = [("" if o == -1 else f"{f}/{res.block_size}") for o, f in zip(res.block_owner, res.block_fill)]
    hover = [(f"block {i}: free" if o == -1 else
              f"block {i}: {'shared prefix' if o == -2 else f'request {o}'}, {f}/{res.block_size} tokens, "
              f"refcount {r}") for i, (o, f, r) in enumerate(zip(res.block_owner, res.block_fill, res.block_refs))]
    fig = go.Figure()
    owners = sorted(set(int(o) for o in res.block_owner))
    for o in owners:
        sel = res.block_owner == o
        name = "free" if o == -1 else ("shared prefix" if o == -2 else f"request {o}")
        fig.add_trace(go.Scatter(
            x=x[sel], y=y[sel], mode="markers+text" if big else "markers", name=name,
            text=[t for t, s in zip(text, sel) if s],
            hovertext=[h for h, s in zip(hover, sel) if s], hoverinfo="text", textfont=dict(size=11, color="white"),
            marker=dict(symbol="square", size=34 if big else 17, color=_owner_color(o),
                        line=dict(color="white", width=1))))
    rows = int(np.ceil(n / per_row))
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[-0.7, per_row - 0.3])
    what = "text: tokens filled / block size" if big else "hover for tokens filled"
    return style(fig, title=f"Physical KV blocks at step {res.snap_step} ({what})",
                 height=110 + (40 if big else 22) * rows)


def memory_timeline(res) -> go.Figure:
    t = np.arange(res.steps)
    fig = go.Figure([
        go.Scatter(x=t, y=res.contig_alloc, name=f"contiguous would need: {res.max_len} per request in flight",
                   line=dict(color=UNCACHED)),
        go.Scatter(x=t, y=res.paged_alloc, name=f"paged: blocks of {res.block_size}", line=dict(color=CACHED)),
        go.Scatter(x=t, y=res.tokens, name="tokens actually stored", line=dict(color="black", dash="dot")),
    ])
    cap = res.num_blocks * res.block_size
    fig.add_hline(y=cap, line=dict(color="gray", dash="dash"), annotation_text=f"pool: {cap:,} slots",
                  annotation_position="top left")
    return style(fig, title="KV slots while serving the requests", x="decode step", y="token slots", height=380)


# ---------------------------------------------------------------------------------------------- speculative
def rounds(res, max_rounds: int = 32) -> go.Figure:
    """Each round: γ proposed tokens (green accepted, red rejected, grey never checked) + the target's token."""
    r = min(len(res.accepted), max_rounds)
    g = res.proposed.shape[1]
    z = np.full((r, g + 1), np.nan)
    text = [["" for _ in range(g + 1)] for _ in range(r)]
    for i in range(r):
        n_prop = int((res.proposed[i] >= 0).sum())
        for j in range(n_prop):
            z[i, j] = 0 if j < res.accepted[i] else (1 if j == res.accepted[i] else 2)
            text[i][j] = res.token_labels[i][j]
        z[i, g] = 3 if res.bonus[i] else 4
        text[i][g] = res.emitted_labels[i]
    scale = [[0.0, "#16a34a"], [0.2, "#16a34a"], [0.2, "#dc2626"], [0.4, "#dc2626"], [0.4, "#d1d5db"],
             [0.6, "#d1d5db"], [0.6, "#7c3aed"], [0.8, "#7c3aed"], [0.8, "#2563eb"], [1.0, "#2563eb"]]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=13, color="white"),
                               colorscale=scale, zmin=-0.5, zmax=4.5, showscale=False, xgap=2, ygap=2,
                               x=[f"draft {j + 1}" for j in range(g)] + ["target"],
                               y=[f"round {i + 1}" for i in range(r)], hoverinfo="skip"))
    fig.update_yaxes(autorange="reversed")
    title = ("Rounds: green accepted · red rejected · grey not checked · blue target's correction · "
             "purple bonus token")
    return style(fig, title=title + (f" (first {r} of {len(res.accepted)})" if len(res.accepted) > r else ""),
                 height=120 + 26 * r, legend=False)


def gamma_sweep(res) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=res.sweep_gamma, y=res.sweep_speedup, name="speed-up vs plain decoding (×)",
                             mode="lines+markers", line=dict(color=PALETTE[0])), secondary_y=False)
    fig.add_trace(go.Scatter(x=res.sweep_gamma, y=res.sweep_tokens_per_call, name="tokens per target call",
                             mode="lines+markers", line=dict(color=PALETTE[1], dash="dash")), secondary_y=True)
    fig.add_hline(y=1.0, line=dict(color="gray", dash="dot"))
    fig.update_yaxes(title_text="speed-up (×)", secondary_y=False)
    fig.update_yaxes(title_text="tokens per target call", secondary_y=True)
    return style(fig, title="Draft length γ: measured speed-up and tokens per target call", x="γ (draft tokens)",
                 height=380)


def fast_paths(res) -> go.Figure:
    """Cached greedy decoding of the tiny GPT: tokens/s per decode path, with torch ops per step."""
    fig = go.Figure(go.Bar(x=res.tokens_per_s, y=list(res.labels), orientation="h",
                           marker_color=[color(i) for i in range(len(res.paths))],
                           text=[f"{t:,.0f} tokens/s · {s:,.0f} µs/step · {o:.0f} torch ops/step"
                                 for t, s, o in zip(res.tokens_per_s, res.step_us, res.ops_per_step)],
                           textposition="auto"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, title=f"Tiny GPT, {res.new_tokens} greedy tokens with the KV cache, {res.threads} CPU thread "
                 "(measured live)", x="tokens per second", height=330, legend=False)
