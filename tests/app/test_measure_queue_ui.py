"""ui.measure_queue under AppTest: a session waits while another run holds the device, then measures; the
shared result is reused by the next run with its age."""
from __future__ import annotations

import threading
import time

from streamlit.testing.v1 import AppTest

from viz_core.measure.queue import SHARED, queue_for


def _script():
    import streamlit as st

    from ui.measure_queue import provenance, queued, shared

    with queued("ui test", device="cpu", threads=1, key="t") as held:
        st.session_state["inside"] = True
    st.session_state["queued_s"] = held["record"].queued_s
    value, rec = shared(("ui-test-key",), lambda: 42, label="shared test", device="cpu", threads=1)
    st.session_state["value"] = value
    provenance(rec)


def test_waits_for_the_device_then_runs_and_shares():
    SHARED.drop(("ui-test-key",))
    q = queue_for("cpu")
    holding, release = threading.Event(), threading.Event()

    def holder():
        with q.timed("other session"):
            holding.set()
            release.wait(10)

    h = threading.Thread(target=holder)
    h.start()
    holding.wait(5)
    seen = {}

    def release_later():  # once the page's run is waiting in line, let it wait a little, then free the device
        while q.waiting() == 0:
            time.sleep(0.01)
        seen["position"] = q.waiting()
        time.sleep(0.6)
        release.set()

    threading.Thread(target=release_later, daemon=True).start()
    at = AppTest.from_function(_script, default_timeout=30)
    t0 = time.perf_counter()
    at.run()
    h.join(5)
    assert not at.exception, [e.value for e in at.exception]
    assert seen["position"] == 1
    assert at.session_state["queued_s"] >= 0.5 and time.perf_counter() - t0 >= 0.5
    assert at.session_state["value"] == 42
    assert any("measured" in c.value and "1 thread" in c.value for c in at.caption) or at.warning
    at.run()  # the next run reuses the shared value
    assert SHARED.get(("ui-test-key",))[0] == 42 and not at.exception
