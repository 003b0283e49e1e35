"""AppTest helpers shared by the page tests."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(path: str, timeout: float = 120) -> AppTest:
    """Run app.py, switch to ``path`` (e.g. 'pages/vit_patching.py') and run it."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    at.switch_page(path).run()
    return at


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
