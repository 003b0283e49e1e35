"""The attention pages: controls change what is shown; bad combinations give plain messages."""
import json

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts
from viz_core.measure.queue import SHARED


def _rows(z) -> int:
    """Rows of a heatmap's z as serialised by plotly (a list, or binary data with a shape)."""
    return int(str(z["shape"]).split(",")[0]) if isinstance(z, dict) else len(z)


def _widget(items, label_start):
    return next(w for w in items if w.label.startswith(label_start))


def test_lab_page_shows_each_variant_and_reacts_to_controls():
    at = open_page("pages/attention_lab.py")
    assert_clean(at)
    shown = texts(at)
    overview = [a["text"] for a in plotly_specs(at)[0]["layout"]["annotations"]]  # one map per variant, first
    assert overview[0].startswith("exact")
    for name in ("sliding_window", "bigbird", "linear", "performer", "linformer", "hierarchical"):
        assert any(t.startswith(name + "<br>") for t in overview), overview
    assert "#### sliding_window" in shown  # the first variant in detail
    assert "Claim #6" in shown and "Claim #20" in shown
    before = at.dataframe[0].value
    assert len(before) == 6
    n_heatmap = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["z"]
    assert _rows(n_heatmap) == 128
    at.selectbox(key="al_detail").set_value("performer").run()  # another variant in detail (the fragment)
    assert_clean(at)
    assert "#### performer" in texts(at) and "#### sliding_window" not in texts(at)
    mem_col = [c for c in before.columns if c.startswith("peak memory (")]  # the column names its method
    assert mem_col == ["peak memory (torch-profiler tensor bytes)"]
    assert all(r != "—" for r in before[mem_col[0]])  # measured, also from the script thread

    _widget(at.select_slider, "Sequence length").set_value(64)
    at.multiselect[0].set_value(["sliding_window", "differential"])
    at.run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 2
    z = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["z"]
    assert _rows(z) == 64

    _widget(at.toggle, "Causal").set_value(True)
    at.multiselect[0].set_value(["linformer"])
    at.run()
    assert_clean(at)
    assert "no causal form" in texts(at)  # refused with a plain message, not a traceback
    # ... and the reason sits right under the table, where the empty row is read
    assert any(w.value.startswith("**linformer** did not run") for w in at.warning)
    assert at.dataframe[0].value["note"][0].startswith("did not run:")


def test_lab_page_at_large_n_shows_per_row_summaries():
    at = open_page("pages/attention_lab.py")
    _widget(at.select_slider, "Sequence length").set_value(1024)
    at.multiselect[0].set_value(["sliding_window", "linear"])
    at.run()
    assert_clean(at)
    assert "too large to draw" in texts(at)
    titles = [a["text"] for sp in plotly_specs(at) for a in sp["layout"].get("annotations", [])]
    assert titles.count("error of each query row's output vs exact") == 1  # the variant shown in detail
    assert titles.count("keys each query row may attend to") == 1  # the window has a mask
    at.selectbox(key="al_detail").set_value("linear").run()
    titles = [a["text"] for sp in plotly_specs(at) for a in sp["layout"].get("annotations", [])]
    assert titles.count("error of each query row's output vs exact") == 1
    assert titles.count("keys each query row may attend to") == 0  # linear has no mask


def test_scaling_page_measures_and_stops_at_the_budget():
    SHARED.clear()  # nothing measured yet on this "server"
    at = open_page("pages/attention_scaling.py")
    assert_clean(at)
    assert not plotly_specs(at)  # the sweep is timed: it starts on its button (fast first render)
    at.button(key="scaling_go").click().run()
    assert_clean(at)
    assert "measured" in texts(at) and "thread" in texts(at)  # the sweep's load and threads
    specs = plotly_specs(at)
    assert specs and specs[0]["layout"]["xaxis"]["type"] == "log"
    at.multiselect[0].set_value(["full", "linear"])
    _widget(at.select_slider, "Longest sequence").set_value(2048)
    _widget(at.select_slider, "Memory budget").set_value(64)
    at.run()
    assert_clean(at)
    assert "Stopped:" in texts(at) and "full at N = " in texts(at)
    rows = at.dataframe[0].value
    assert list(rows["variant"]) == ["full", "linear"]
