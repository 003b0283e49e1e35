"""Browser-side animation helpers: frames that play, pause and step in the browser (no server rerun per step).

Plotly validates every property of every frame when frames are built as graph objects, which for a few hundred
frames takes many seconds on a shared CPU. ``FramesFigure`` keeps the frames as plain dicts (built by the
figure functions from numpy arrays, so their shape is known) and adds them when the figure is serialised;
the base figure (traces, layout) is validated as usual.
"""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from viz_core.plots.theme import FONT_SIZE, PRESENT_MIN_FONT, presenting


class FramesFigure(go.Figure):
    """A ``go.Figure`` whose animation frames are plain dicts, appended in ``to_dict`` (what Streamlit sends)."""

    def __init__(self, fig: go.Figure, frames: list[dict]):
        super().__init__(fig)
        self._raw_frames = frames

    @property
    def raw_frames(self) -> list[dict]:
        return self._raw_frames

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["frames"] = self._raw_frames
        if presenting():  # frames, sliders and buttons carry their own fonts: raise them as enlarge() does
            _raise_fonts(d, PRESENT_MIN_FONT)
        return d


def _raise_fonts(x, lo: float, key: str = "") -> None:
    """Every explicit ``size`` under a ``*font`` key, at least ``lo`` (in place)."""
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "size" and key.endswith("font") and isinstance(v, (int, float)) and v < lo:
                x[k] = lo
            else:
                _raise_fonts(v, lo, k)
    elif isinstance(x, list):
        for v in x:
            _raise_fonts(v, lo, key)


def controls(names: Sequence[str], labels: Sequence[str], *, active: int = 0,
             speeds: Sequence[tuple[int, str]] = ((1000, "1 step/s"), (400, "2.5 steps/s"), (125, "8 steps/s")),
             y: float = -0.05, redraw: bool = True, show_ticks: bool | None = None) -> dict:
    """Layout entries for play buttons (one per speed), pause, and a step slider whose current value shows the
    step's label (e.g. 'Step 3 of 9'). ``names`` are the frame names, ``labels`` what the slider shows."""
    show_ticks = len(names) <= 12 if show_ticks is None else show_ticks
    steps = [dict(label=lab, method="animate",
                  args=[[nm], dict(mode="immediate", frame=dict(duration=0, redraw=redraw), transition=dict(duration=0))])
             for nm, lab in zip(names, labels)]
    play = [dict(label=f"▶ {label}", method="animate",
                 args=[None, dict(frame=dict(duration=ms, redraw=redraw), fromcurrent=True,
                                  transition=dict(duration=0), mode="immediate")]) for ms, label in speeds]
    pause = dict(label="⏸ pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))])
    return dict(
        updatemenus=[dict(type="buttons", direction="right", showactive=False, x=0.0, y=y - 0.02, xanchor="left",
                          yanchor="top", pad=dict(t=0, r=6), font=dict(size=12), buttons=play + [pause])],
        sliders=[dict(active=active, x=0.0, len=1.0, y=y - 0.09, yanchor="top", pad=dict(t=0, b=0),
                      currentvalue=dict(prefix="", visible=True, xanchor="right", font=dict(size=FONT_SIZE, color="#222")),
                      font=dict(size=10, color="#444" if show_ticks else "rgba(0,0,0,0)"),
                      ticklen=4 if show_ticks else 0, minorticklen=0, steps=steps)])
