"""ui.longrun: a run estimated above ~5 s shows progress and a Stop button; above the limit it is refused."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

import tests.app.helpers  # noqa: F401  (repo root on sys.path, pages routed through app.py)


def _script():
    import time

    import streamlit as st

    from ui import longrun
    from ui.errors import guard

    def slow(n, _progress=None):  # five steps; the callback reports each
        total = 0
        for i in range(5):
            time.sleep(0.05)
            total += n
            if _progress is not None:
                _progress((i + 1) / 5, f"step {i + 1}")
        return total

    with guard():
        res = longrun.run(slow, 7, estimate_s=st.session_state.get("est", 10.0), key="t", what="The slow sum",
                          fits="a smaller n")
        st.write(f"result={res}")


def _app() -> AppTest:
    at = AppTest.from_function(_script, default_timeout=60)
    at.run()
    return at


def test_long_run_shows_progress_and_a_stop_button_and_returns_the_result():
    at = _app()
    assert not at.exception
    assert any(b.label == "⏹ Stop" for b in at.button)
    assert "result=35" in " ".join(str(m.value) for m in at.markdown)
    bars = at.get("progress")
    assert bars and "done in" in bars[0].proto.text and "estimated 10 s" in bars[0].proto.text


def test_stop_remembers_the_configuration_and_offers_to_run_it_anyway():
    at = _app()
    next(b for b in at.button if b.label == "⏹ Stop").click().run()
    assert not at.exception
    assert any("Stopped: The slow sum" in str(i.value) for i in at.info)
    assert "result=None" in " ".join(str(m.value) for m in at.markdown)
    at.run()  # an unrelated rerun does not start the stopped run again
    assert "result=None" in " ".join(str(m.value) for m in at.markdown)
    next(b for b in at.button if b.label == "Run it anyway").click().run()
    assert "result=35" in " ".join(str(m.value) for m in at.markdown)


def test_short_runs_show_nothing_and_too_long_runs_are_refused():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["est"] = 1.0
    at.run()
    assert not at.button and "result=35" in " ".join(str(m.value) for m in at.markdown)
    at.session_state["est"] = 10_000.0
    at.run()
    assert not at.exception
    assert any("about 10000 s" in str(w.value) and "What fits: a smaller n" in str(w.value) for w in at.warning)
