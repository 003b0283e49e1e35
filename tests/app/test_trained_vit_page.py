"""Trained-ViT page: the image slider and model choice change what is shown; evaluation matches the card."""
from __future__ import annotations

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts


def test_trained_vit_page_controls():
    at = open_page("pages/trained_vit.py")
    assert_clean(at)
    first = plotly_specs(at)[0]["data"][0]["z"]
    at.slider(key="vit_index").set_value(7).run()
    assert plotly_specs(at)[0]["data"][0]["z"] != first
    at.button(key="vit_eval").click().run()
    assert_clean(at)
    assert "Accuracy computed now" in texts(at)
    assert any(s["data"][0]["type"] == "heatmap" and "Confusion" in str(s["layout"]["title"]) for s in plotly_specs(at))
    for name in at.selectbox(key="vit_model").options:
        at.selectbox(key="vit_model").set_value(name).run()
        assert_clean(at)
