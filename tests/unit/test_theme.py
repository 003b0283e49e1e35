"""Presentation sizes are built into the figures: every font >= 18 px when scaled, unchanged otherwise."""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz_core.plots import theme


def _sizes(fig: go.Figure) -> list[float]:
    d = fig.to_plotly_json()
    out = []

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "size" and key.endswith("font"):
                    out.append(v)
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)

    walk(d)
    return out


def _figure() -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("left", "right"))
    fig.add_trace(go.Heatmap(z=[[1, 2], [3, 4]], text=[["a", "b"], ["c", "d"]], texttemplate="%{text}",
                             textfont=dict(size=10), colorbar=dict(title=dict(text="w"))), row=1, col=1)
    fig.add_trace(go.Scatter(x=[1, 2], y=[3, 4], mode="lines+text", text=["p", "q"], name="s"), row=1, col=2)
    theme.style(fig, title="t", x="x (tokens)", y="y (ms)")
    fig.update_annotations(font_size=12)  # a figure function setting its own size after style()
    fig.add_annotation(text="note", x=1, y=1, font=dict(size=11))
    return fig


def test_presentation_raises_every_font_to_the_minimum():
    with theme.scaled(theme.PRESENT_SCALE):
        fig = theme.enlarge(_figure())
        assert fig.layout.font.size >= 20 and fig.layout.height > 420
    sizes = _sizes(fig)
    assert len(sizes) >= 8 and min(sizes) >= theme.PRESENT_MIN_FONT, sorted(sizes)
    assert fig.layout.xaxis.tickfont.size >= 18 and fig.layout.yaxis2.title.font.size >= 18
    assert fig.data[0].textfont.size >= 18 and fig.data[0].colorbar.tickfont.size >= 18


def test_enlarge_is_idempotent_and_a_no_op_at_scale_one():
    fig = _figure()
    before = fig.to_plotly_json()
    assert theme.enlarge(fig).to_plotly_json() == before
    assert min(_sizes(fig)) < theme.PRESENT_MIN_FONT
    with theme.scaled(theme.PRESENT_SCALE):
        once = theme.enlarge(_figure()).to_plotly_json()
        twice = theme.enlarge(theme.enlarge(_figure())).to_plotly_json()
    assert once == twice
