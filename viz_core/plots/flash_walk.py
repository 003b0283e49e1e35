"""The FlashAttention tile walk as one browser-side animation: every step of the real trace is a Plotly frame.

Dao et al. 2022 (FlashAttention, Algorithm 1), Dao 2023 (FlashAttention-2 loop order). ``walk_figure`` turns a
``viz_core.labs.flash_steps.StepResult`` (the tiled forward run with a trace) into one figure whose frames are
the trace's steps: Q, K, V with the loaded blocks outlined, O filling in as blocks finish, the N×N score grid by
tile status, the current tile's P = exp(S − m) with its numbers, and the running max m and sum l per query row.
Play/pause, a speed menu and a step slider labelled "Step k of n" run in the browser: no server rerun per step.
The text above the plot ("Step k of n — …") is part of each frame, so slider, text and highlighted tile agree.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.errors import human_bytes
from viz_core.labs.flash_steps import StepResult
from viz_core.plots.animation import FramesFigure, controls
from viz_core.plots.theme import DIVERGING, FONT_SIZE, SEQUENTIAL

HIGHLIGHT = "#D55E00"
DONE, CURRENT, IN_PROGRESS = "#0072B2", HIGHLIGHT, "#E69F00"
GRID_COLORS = ["#ffffff", "#9ecae1", HIGHLIGHT, "#d9d9d9"]  # not yet, done, current, skipped
GRID_NAMES = ["not yet", "done (on chip, then discarded)", "current tile", "skipped (causal)"]
MAX_FRAMES = 256  # more tiles than this: the page asks for larger blocks
MAX_TILE_TEXT = 8  # numbers inside the tile only when it is at most 8×8 (readable at 1280 px)

# subplot positions
_Q, _K, _V, _O = (1, 1), (1, 2), (1, 3), (1, 4)
_GRID, _TILE = (2, 1), (2, 3)
_M, _L = (3, 1), (3, 3)


def step_label(k: int, n: int) -> str:
    """The one wording of a step, used by the slider and by the text: 'Step 3 of 9' (k counts from 0)."""
    return f"Step {k + 1} of {n}"


def step_text(res: StepResult, k: int) -> str:
    """What the tiled forward does in step ``k`` (0-based), in at most three short lines."""
    i, j = int(res.q_block[k]), int(res.kv_block[k])
    (r0, r1), (c0, c1) = res.rows[k], res.cols[k]
    first = k == 0 or res.q_block[k - 1] != i
    last = k == res.n_steps - 1 or res.q_block[k + 1] != i
    head = f"<b>{step_label(k, res.n_steps)}</b> — query block {i} (rows {r0}–{r1 - 1})"
    if j >= 0:
        head += f" × key block {j} (keys {c0}–{c1 - 1})"
    do = ([f"load Q<sub>{i}</sub>, start m = −∞, l = 0, Õ = 0"] if first else []) + (
        [f"load K<sub>{j}</sub>, V<sub>{j}</sub>; S = Q<sub>{i}</sub>K<sub>{j}</sub>ᵀ/√d on chip; "
         "rescale l, Õ by exp(m<sub>old</sub> − m<sub>new</sub>)"] if j >= 0 else ["no key visible (causal)"])
    if last:
        do.append(f"write O<sub>{i}</sub> = Õ / l to HBM, once")
    so_far = float(res.read_bytes[: k + 1].sum() + res.write_bytes[: k + 1].sum())
    traffic = (f"HBM this step: read {human_bytes(res.read_bytes[k])}, wrote {human_bytes(res.write_bytes[k])}; "
               f"so far {human_bytes(so_far)} of {human_bytes(res.tiled_read + res.tiled_write)}")
    return head + "<br>" + "; ".join(do) + "<br>" + traffic


def _edges(n: int, b: int) -> np.ndarray:
    return np.append(np.arange(0, n, b), n) - 0.5


def _states(res: StepResult):
    """Per step: tile-status grid (nq, nk), O estimate (N, D), m and l (N,), row status (N,)."""
    nq, nk = len(_edges(res.n, res.block_q)) - 1, len(_edges(res.n, res.block_k)) - 1
    grid = np.zeros((nq, nk))
    for i, j in res.skipped:
        grid[i, j] = 3
    o = np.full((res.n, res.d), np.nan)
    m, ll = np.full(res.n, np.nan), np.full(res.n, np.nan)
    status = np.zeros(res.n, int)  # 0 not started, 1 in progress, 2 written
    prev = None
    for k in range(res.n_steps):
        i, j = int(res.q_block[k]), int(res.kv_block[k])
        r0, r1 = res.rows[k]
        if prev is not None:
            grid[prev] = 1
        if j >= 0:
            grid[i, j] = 2
            prev = (i, j)
        else:
            prev = None
        w = r1 - r0
        o[r0:r1], m[r0:r1], ll[r0:r1] = res.o[k, :w], res.m[k, :w], res.l[k, :w]
        last = k == res.n_steps - 1 or res.q_block[k + 1] != i
        status[r0:r1] = 2 if last else 1
        yield grid.copy(), o.copy(), m.copy(), ll.copy(), status.copy()


def _rect(r0, r1, c0, c1, sp: tuple[int, int], fig_axes: dict, colour=HIGHLIGHT, dash=None, width=3) -> dict:
    xa, ya = fig_axes[sp]
    return dict(type="rect", xref=xa, yref=ya, x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                line=dict(color=colour, width=width, dash=dash))


def _r(a, nd: int = 3):
    """Rounded plain lists with None for NaN (smaller JSON for the browser)."""
    a = np.round(np.asarray(a, dtype=float), nd)
    return np.where(np.isfinite(a), a, None).tolist()


def walk_figure(res: StepResult, height: int = 1050) -> go.Figure:
    """All steps of the tiled forward as frames of one figure (see the module docstring)."""
    n_steps = res.n_steps
    if n_steps > MAX_FRAMES:
        raise ValueError(f"{n_steps} steps; at most {MAX_FRAMES} frames")
    fig = make_subplots(
        rows=3, cols=4, specs=[[{}, {}, {}, {}], [{"colspan": 2}, None, {"colspan": 2}, None],
                               [{"colspan": 2}, None, {"colspan": 2}, None]],
        row_heights=[0.3, 0.42, 0.28], vertical_spacing=0.11, horizontal_spacing=0.07,
        subplot_titles=["Q (queries)", "K (keys)", "V (values)", "O (rows written)",
                        "Score grid N×N: never stored", "Current tile: P = exp(S − m), on chip",
                        "running max m per query row", "running sum l = Σ exp(s − m)"])
    axes = {}
    for sp in (_Q, _K, _V, _O, _GRID, _TILE, _M, _L):
        sub = fig.get_subplot(*sp)
        axes[sp] = (sub.xaxis.plotly_name.replace("axis", ""), sub.yaxis.plotly_name.replace("axis", ""))
    lim = float(np.nanmax(np.abs(np.concatenate([res.q, res.k, res.v])))) or 1.0
    o_lim = float(np.nanmax(np.abs(res.reference_out))) or 1.0
    states = list(_states(res))
    hover = "token %{y}, dim %{x}: %{z:.3f}<extra></extra>"
    for sp, mat in ((_Q, res.q), (_K, res.k), (_V, res.v)):  # traces 0-2: never change
        fig.add_trace(go.Heatmap(z=_r(mat), colorscale=DIVERGING, zmid=0, zmin=-lim, zmax=lim, showscale=False,
                                 hovertemplate=hover), *sp)
    grid0, o0, m0, l0, st0 = states[0]
    fig.add_trace(go.Heatmap(z=_r(o0), colorscale=DIVERGING, zmid=0, zmin=-o_lim, zmax=o_lim, showscale=False,
                             hovertemplate=hover), *_O)  # 3
    scale = []
    for k, c in enumerate(GRID_COLORS):
        scale += [[k / 4, c], [(k + 1) / 4, c]]
    ex, ey = _edges(res.n, res.block_k), _edges(res.n, res.block_q)
    names = np.array(GRID_NAMES)
    fig.add_trace(go.Heatmap(z=grid0, x=ex, y=ey, zmin=0, zmax=4, colorscale=scale, showscale=False,
                             text=names[grid0.astype(int)], hovertemplate="tile: %{text}<extra></extra>"),
                  *_GRID)  # 4
    fig.add_trace(go.Heatmap(_tile_trace(res, 0)), *_TILE)  # 5
    fig.add_trace(go.Bar(_bars(m0, st0, "m")), *_M)  # 6
    fig.add_trace(go.Bar(_bars(l0, st0, "l")), *_L)  # 7

    grid_lines = []
    xg, yg = axes[_GRID]
    for t in ey:
        grid_lines.append(dict(type="line", xref=xg, yref=yg, x0=-0.5, x1=res.n - 0.5, y0=t, y1=t,
                               line=dict(color="#555", width=1)))
    for t in ex:
        grid_lines.append(dict(type="line", xref=xg, yref=yg, y0=-0.5, y1=res.n - 0.5, x0=t, x1=t,
                               line=dict(color="#555", width=1)))
    titles = [dict(a.to_plotly_json(), font=dict(size=FONT_SIZE), yshift=4) for a in fig.layout.annotations]

    def layout_for(k: int) -> dict:
        (r0, r1), (c0, c1) = res.rows[k], res.cols[k]
        shapes = list(grid_lines) + [_rect(r0, r1, 0, res.d, _Q, axes), _rect(r0, r1, 0, res.d, _O, axes, dash="dot")]
        if res.kv_block[k] >= 0:
            shapes += [_rect(c0, c1, 0, res.d, _K, axes), _rect(c0, c1, 0, res.d, _V, axes),
                       _rect(r0, r1, c0, c1, _GRID, axes, colour="#000")]
        text = dict(text=step_text(res, k), xref="paper", yref="paper", x=0, y=1.0, yshift=48, showarrow=False,
                    xanchor="left", yanchor="bottom", align="left", font=dict(size=FONT_SIZE, color="#222"))
        xt, yt = axes[_TILE]
        return {"shapes": shapes, "annotations": titles + [text],
                xt.replace("x", "xaxis"): dict(range=[c0 - 0.5, c0 + res.block_k - 0.5]),
                yt.replace("y", "yaxis"): dict(range=[r0 + res.block_q - 0.5, r0 - 0.5])}

    frames = []
    for k, (grid, o, m, ll, st) in enumerate(states):
        frames.append(dict(name=str(k), traces=[3, 4, 5, 6, 7], layout=layout_for(k), data=[
            dict(type="heatmap", z=_r(o)), dict(type="heatmap", z=grid.tolist(), text=names[grid.astype(int)].tolist()),
            _tile_trace(res, k), _bars(m, st, "m"), _bars(ll, st, "l")]))
    fig.update_layout(**layout_for(0))

    for sp in (_Q, _K, _V, _O):
        fig.update_yaxes(autorange="reversed", row=sp[0], col=sp[1], title_text="token" if sp == _Q else None)
        fig.update_xaxes(title_text="dim", row=sp[0], col=sp[1])
    fig.update_yaxes(autorange="reversed", title_text="query", scaleanchor=axes[_GRID][0], constrain="domain",
                     row=_GRID[0], col=_GRID[1])
    fig.update_xaxes(title_text="key", constrain="domain", range=[-0.5, res.n - 0.5], row=_GRID[0], col=_GRID[1])
    fig.update_yaxes(autorange=False, title_text="query", scaleanchor=axes[_TILE][0], constrain="domain",
                     row=_TILE[0], col=_TILE[1])
    fig.update_xaxes(autorange=False, title_text="key", constrain="domain", row=_TILE[0], col=_TILE[1])
    for sp, name in ((_M, "m (scaled score)"), (_L, "l (unitless)")):
        fig.update_xaxes(title_text="query row", range=[-0.5, res.n - 0.5], row=sp[0], col=sp[1])
        fig.update_yaxes(title_text=name, row=sp[0], col=sp[1])
    fin = lambda a: a[np.isfinite(a)]  # noqa: E731
    m_all, l_all = fin(res.m), fin(res.l)
    if m_all.size:
        lo, hi = min(0.0, float(m_all.min())), float(m_all.max())
        pad = 0.1 * (hi - lo) + 1e-3
        fig.update_yaxes(range=[lo - pad, hi + pad], row=_M[0], col=_M[1])
    if l_all.size:
        fig.update_yaxes(range=[0, float(l_all.max()) * 1.1 + 1e-3], row=_L[0], col=_L[1])
    fig.update_layout(height=height, template="plotly_white", font=dict(size=FONT_SIZE), showlegend=False,
                      margin=dict(l=60, r=20, t=120, b=190),
                      **controls([str(k) for k in range(n_steps)], [step_label(k, n_steps) for k in range(n_steps)],
                               y=-0.085))
    return FramesFigure(fig, frames)


def _tile_trace(res: StepResult, k: int) -> go.Heatmap:
    (r0, r1), (c0, c1) = res.rows[k], res.cols[k]
    p = res.probs[k][: r1 - r0, : c1 - c0]
    s = res.scores[k][: r1 - r0, : c1 - c0]
    show = max(res.block_q, res.block_k) <= MAX_TILE_TEXT and res.kv_block[k] >= 0
    return dict(type="heatmap", z=_r(p), x=list(range(c0, c1)), y=list(range(r0, r1)), customdata=_r(s),
                colorscale=SEQUENTIAL, zmin=0, zmax=1, colorbar=dict(title=dict(text="P"), len=0.3, y=0.5, thickness=14),
                texttemplate="%{z:.2f}" if show else "", textfont=dict(size=13),
                hovertemplate="query %{y}, key %{x}: P=%{z:.3f}, S=%{customdata:.3f}<extra></extra>")


def _bars(v: np.ndarray, status: np.ndarray, what: str) -> go.Bar:
    colours = np.where(status == 1, IN_PROGRESS, np.where(status == 2, DONE, "#cccccc"))
    return dict(type="bar", x=list(range(len(v))), y=_r(v), marker=dict(color=colours.tolist()),
                hovertemplate=f"row %{{x}}: {what}=%{{y:.3f}}<extra></extra>")
