"""Benchmarks page under AppTest: renders with roofs, a live sweep fills rows and the chart, the roofline
and comparison show, a stopped run keeps its rows."""
from __future__ import annotations

import json

from tests.app.helpers import assert_clean, open_page, plotly_specs, texts

PAGE = "pages/benchmarks.py"


def test_page_renders_roofs_and_recorded_runs():
    at = open_page(PAGE)
    assert_clean(at)
    t = texts(at)
    assert "Roofs" in t and "% of roof against" in t
    titles = [json.dumps(s.get("layout", {}).get("title", "")) for s in plotly_specs(at)]
    assert any("Roofline" in x for x in titles), titles


def test_live_sweep_adds_rows_and_points():
    at = open_page(PAGE)
    n_before = len(plotly_specs(at))
    at.multiselect(key="live_ns").set_value([64, 128]).run()
    at.number_input(key="live_repeats").set_value(1).run()
    at.button(key="live_run").click().run()
    assert_clean(at)
    rows = at.session_state["live_rows"]
    assert len(rows) == 4 and all("pct_of_roof" in r for r in rows if r.get("time_s"))
    specs = plotly_specs(at)
    assert len(specs) > n_before  # the live chart joined the page
    live = next(s for s in specs if "live attention run" in json.dumps(s["layout"].get("title", "")))
    assert sum(len(tr.get("x", [])) for tr in live["data"]) == 4
    roof = next(s for s in specs if "Roofline" in json.dumps(s["layout"].get("title", "")))
    assert any(tr.get("name", "").startswith("live:") for tr in roof["data"])


def test_stopped_run_keeps_partial_rows():
    at = open_page(PAGE)
    at.session_state["live_rows"] = [{"label": "sdpa", "variant": "sdpa", "n": 32, "time_ms": 0.1, "time_s": 1e-4}]
    at.session_state["live_done"] = False
    from viz_core.cli.live import LiveConfig

    at.session_state["live_cfg"] = LiveConfig()
    at.run()
    assert_clean(at)
    assert any("Stopped" in w.value for w in at.warning)


def test_bad_sweep_shows_a_message():
    at = open_page(PAGE)
    at.multiselect(key="live_variants_attention").set_value([]).run()
    assert not at.exception
    assert any("Choose variants" in e.value for e in at.error)
