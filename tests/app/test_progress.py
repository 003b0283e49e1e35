"""ui.progress: steps with a status box, a stop that keeps partial results, resumption from the cache."""
from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from ui import progress

    calls = st.session_state.setdefault("calls", [])
    stop_after = st.session_state.get("stop_after")

    def one(x):
        calls.append(x)
        if stop_after is not None and len(calls) >= stop_after:
            st.session_state["_stop_t"] = True  # what the Stop button's callback does mid-run
        return x * 10

    out, complete = progress.sweep("Tens", [1, 2, 3, 4], one, key="t", describe=lambda x: f"item {x}",
                                   draw_partial=lambda part: st.write(f"partial={part}"))
    st.write(f"out={out} complete={complete}")


def _texts(at):
    return [m.value for m in at.markdown]


def test_sweep_runs_every_step_and_reports_done():
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception
    assert "out=[10, 20, 30, 40] complete=True" in _texts(at)
    assert at.session_state["calls"] == [1, 2, 3, 4]
    assert "_stop_t" not in at.session_state


def test_stop_keeps_the_finished_steps_and_says_so():
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["stop_after"] = 2
    at.run()
    assert not at.exception
    assert "out=[10, 20] complete=False" in _texts(at)
    assert at.session_state["calls"] == [1, 2]  # the third step never started
    assert any("Stopped: showing 2 of 4" in i.value for i in at.info)
    # The next run (any control change) starts again; the stop request was consumed.
    at.session_state["stop_after"] = None
    at.run()
    assert "out=[10, 20, 30, 40] complete=True" in _texts(at)
