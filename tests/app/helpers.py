"""AppTest helpers shared by the page tests."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def route_through_app() -> None:
    """Make AppTest run every page through app.py (router, shared sidebar, done-marker).

    A ``pages/`` folder next to app.py puts a fresh ``PagesManager`` in Streamlit's v1 multipage mode, in
    which ``switch_page`` runs the page file alone. AppTest builds a new ``PagesManager`` on every run, so
    we set the flag right after each is built: the state a real server reaches once ``st.navigation`` has
    run (and that ``ui._leave_mpa_v1`` forces on a cold server).
    """
    if getattr(PagesManager.__init__, "_lab_routed", False):
        return
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    init._lab_routed = True  # type: ignore[attr-defined]
    PagesManager.__init__ = init  # type: ignore[method-assign]


route_through_app()


def open_page(path: str, timeout: float = 120) -> AppTest:
    """Run app.py, switch to ``path`` (e.g. 'pages/vit_patching.py') and run it through app.py's router."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if path != home_path():
        at.switch_page(path).run()
    assert_routed(at)
    return at


def home_path() -> str:
    from ui import registry

    return next(p.path for p in registry.discover_pages() if p.default)


def done_marker(at: AppTest) -> bool:
    """True when app.py drew its done-marker (`.st-key-lab_page_done`) in this run."""
    if any("This page ran in" in str(c.value) for c in at.caption):
        return True
    return any("lab-run" in str(getattr(el, "proto", "")) for el in at.get("html"))  # (presentation mode)


def assert_routed(at: AppTest) -> None:
    """The run went through app.py: the shared sidebar is there and the done-marker was drawn."""
    labels = [w.label for w in at.sidebar.selectbox] + [w.label for w in at.sidebar.number_input]
    assert "Device" in labels and "Random seed" in labels, f"no shared sidebar: {labels}"
    if not at.exception:
        assert done_marker(at), "app.py's done-marker is missing"


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def texts(at: AppTest) -> str:
    """All markdown, captions, metrics and titles of the page as one string (for assertions)."""
    parts = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "text", "info", "warning", "error",
                 "success", "code", "latex"):
        parts += [str(getattr(e, "value", "")) for e in at.get(kind)]
    for m in at.get("metric"):
        parts.append(f"{m.label}: {m.value}")
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
