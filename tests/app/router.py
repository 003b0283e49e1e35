"""Run pages through app.py under AppTest (router, sidebar, URL), as the real server does.

AppTest resets ``PagesManager.uses_pages_directory`` before every run; with a ``pages/`` folder that makes
``switch_page`` run the page file alone (Streamlit's v1 multipage mode). The real server leaves that mode
when app.py calls ``st.navigation``; ``through_app`` does the same for tests.
"""
from __future__ import annotations

import contextlib
import json
from typing import Iterator

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.app.helpers import ROOT


@contextlib.contextmanager
def through_app() -> Iterator[None]:
    orig = PagesManager.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    try:
        yield
    finally:
        PagesManager.__init__ = orig


def open_with_query(path: str, query: dict[str, str], timeout: float = 180) -> AppTest:
    """Open ``path`` the way a shared link does: the query string is there from the first run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for k, v in query.items():
        at.query_params[k] = v
    # Our url_path is the file stem, so switching before the first run opens that page directly.
    at.switch_page(path).run()
    return at


def figure_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
