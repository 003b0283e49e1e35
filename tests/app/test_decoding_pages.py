"""The decoding pages render with the trained models, and their main controls change what they show."""
import base64

import numpy as np
import pytest

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts
from viz_core.measure.queue import SHARED

pytestmark = pytest.mark.slow


def _arr(v):
    """Plotly stores numpy arrays as {'dtype', 'bdata'} (base64) in its JSON."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _trace_len(spec, name_part):
    return [len(_arr(t["x"])) for t in spec["data"] if name_part in t.get("name", "")]


def _start(at, key):
    """Press a section's start button if it is there (a result this server measured before shows at once)."""
    if any(b.key == key for b in at.button):
        at.button(key=key).click().run()


def test_kv_cache_page():
    SHARED.clear()  # nothing measured yet on this "server": the timed section waits for its button
    at = open_page("pages/kv_cache.py")
    assert_clean(at)
    assert "Same tokens both ways" not in texts(at)  # timed generation starts on its button (fast first render)
    at.button(key="mq_kv_cache_run_go").click().run()
    at.button(key="kv_gqa_go").click().run()
    assert_clean(at)
    t = texts(at)
    assert "Same tokens both ways: yes" in t and "Claim #9" in t and "5,050" in t
    lat = plotly_specs(at)[0]
    assert _trace_len(lat, "with KV cache") == [64]
    at.slider(key="kv_new").set_value(16).run()
    assert_clean(at)
    assert _trace_len(plotly_specs(at)[0], "with KV cache") == [16]
    calc = [s for s in plotly_specs(at) if "KV cache at" in str(s["layout"].get("title"))][0]
    before = _arr(calc["data"][1]["y"])
    at.select_slider(key="kv_ctx").set_value(8192).run()
    calc = [s for s in plotly_specs(at) if "KV cache at" in str(s["layout"].get("title"))][0]
    assert 2 * before == pytest.approx(_arr(calc["data"][1]["y"]))
    at.text_input(key="kv_prompt").set_value("").run()
    assert any("empty" in e.value for e in at.error)
    at.text_input(key="kv_prompt").set_value("x" * 250).run()
    assert any("context" in e.value for e in at.error)
    # the error stays in its section: the calculator and the GQA section still render
    assert not at.exception
    assert any("KV cache at" in str(s["layout"].get("title")) for s in plotly_specs(at))
    assert "MQA and GQA on the tiny GPT" in texts(at)
    assert any("held-out loss (nats/byte)" in list(df.value.columns) for df in at.dataframe)


def test_paged_page():
    at = open_page("pages/paged_attention.py")
    assert_clean(at)
    t = texts(at)
    assert "Claim #13" in t and "Block tables" in t
    waste = [m.value for m in at.get("metric") if m.label == "Waste, paged"][0]
    at.select_slider(key="pg_block").set_value(64).run()
    assert_clean(at)
    assert [m.value for m in at.get("metric") if m.label == "Waste, paged"][0] != waste
    # the sentence is computed from the same numbers as the chart: it never says a pool fits what the chart exceeds
    sentence = next(m.value for m in at.markdown if m.value.startswith("**Requests**"))
    peak = int([m.value for m in at.get("metric") if m.label == "Contiguous needs"][0].split()[0]
               .replace(",", ""))
    pool = int(at.select_slider(key="pg_pool").value)
    assert f"{peak:,}** slots" in sentence
    assert ("more than the pool has" in sentence) == (peak > pool)
    assert "Paged attention = ordinary attention" in texts(at)
    at.select_slider(key="pg_prefix").set_value(40).run()
    assert_clean(at)
    assert "Prefix sharing" in texts(at)


def test_speculative_page():
    SHARED.clear()
    at = open_page("pages/speculative_decoding.py")
    assert_clean(at)
    assert "Claim #12" not in texts(at)  # timed: starts on its button (fast first render)
    at.button(key="mq_speculative_run_go").click().run()
    assert_clean(at)
    t = texts(at)
    assert "Same as target: same" in t and "Claim #12" in t
    rounds = plotly_specs(at)[0]
    assert len(_arr(rounds["data"][0]["x"])) == 4 + 1  # γ draft columns + the target's token
    at.slider(key="sd_gamma").set_value(2).run()
    assert_clean(at)
    assert len(_arr(plotly_specs(at)[0]["data"][0]["x"])) == 2 + 1


def test_speculative_page_draft_choices():
    """The draft trained on the text, run eager; then bfloat16, where the compiled draft cannot run: it says so."""
    SHARED.clear()
    at = open_page("pages/speculative_decoding.py")
    at.selectbox(key="sd_draft").set_value("tiny-gpt-draft")
    at.radio(key="sd_runs_as").set_value("eager").run()
    at.button(key="mq_speculative_run_go").click().run()
    assert_clean(at)
    t = texts(at)
    assert "draft tiny-gpt-draft eager" in t and "a draft step took" in t
    at.radio(key="sd_runs_as").set_value("compiled")
    at.selectbox(key="dtype").set_value("bfloat16").run()
    if "mq_speculative_run_go" in [b.key for b in at.button]:  # once started, a session's runs follow its controls
        at.button(key="mq_speculative_run_go").click().run()
    assert_clean(at)
    assert "ran eager" in texts(at)


def test_kv_cache_fast_switch():
    at = open_page("pages/kv_cache.py")
    assert "torch ops/step" not in str(plotly_specs(at))  # eager by default: nothing heavy runs
    _start(at, "mq_kv_cache_run_go")
    at.radio(key="kv_fast_mode").set_value("fast (time every path)").run()
    assert_clean(at)
    spec = [s for s in plotly_specs(at) if "greedy tokens with the KV cache" in str(s["layout"].get("title"))][0]
    assert len(_arr(spec["data"][0]["x"])) == 4 and (_arr(spec["data"][0]["x"]) > 0).all()
    t = texts(at)
    assert "torch operations" in t and "µs per operation" in t and "same tokens as the eager spec: yes, yes, yes, yes" in t
