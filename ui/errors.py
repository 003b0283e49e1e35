"""Show user-facing errors as messages, not tracebacks, and end a page so that app.py still finishes.

- ``guard()``: a ``LabError`` inside the block becomes a clear message (and ends the page when ``stop``).
- ``stop()``: ends the page early. Unlike ``st.stop()`` it lets app.py draw the done-marker and the
  timing caption (after ``st.stop()`` Streamlit drops every element the script still sends).
- ``crafted_value(exc)``: recognises errors raised inside Streamlit's widget decoding while the script
  runs (NaN or ±inf in an integer ``number_input``, a file extension the uploader does not accept);
  app.py's session-level guard turns them into a message, and the session goes on (``ui.crafted``
  handles the same values where Streamlit decodes them before the script starts).
"""
from __future__ import annotations

import contextlib
import contextvars
import traceback
from pathlib import Path
from typing import Iterator

import streamlit as st

from viz_core.errors import BudgetError, LabError

_ROUTED: contextvars.ContextVar[bool] = contextvars.ContextVar("lab_routed", default=False)
_STREAMLIT_DIR = str(Path(st.__file__).resolve().parent)


class PageStopped(Exception):
    """Raised by ``stop()`` inside a page run by app.py's router; app.py catches it."""


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """app.py runs the page inside this block, so ``stop()`` knows the router will catch ``PageStopped``."""
    token = _ROUTED.set(True)
    try:
        yield
    finally:
        _ROUTED.reset(token)


def end_page() -> None:
    """End the page here. Under app.py's router the done-marker is still drawn; elsewhere ``st.stop()``."""
    if _ROUTED.get():
        raise PageStopped()
    st.stop()


stop = end_page  # pages call ``errors.stop()`` where they would call ``st.stop()``


@contextlib.contextmanager
def guard(stop: bool = True) -> Iterator[None]:
    """Inside this block a ``LabError`` becomes a clear message (and stops the page when ``stop``).

    Anything else is a bug and propagates, so tests and the browser see it.
    """
    try:
        yield
    except BudgetError as e:
        st.warning(f"**Too big for this machine.** {e}", icon="🧮")
        if stop:
            end_page()
    except LabError as e:
        st.error(str(e), icon="⚠️")
        if stop:
            end_page()


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(exc.__traceback__)


def crafted_value(exc: BaseException) -> str | None:
    """A plain-words description when ``exc`` can only come from a value no control of the page offers.

    - Streamlit's own widget decoding failed (``int(nan)`` in ``number_input``: ValueError/OverflowError
      raised inside a ``deserialize`` in Streamlit's package);
    - the uploader refused a file extension (Streamlit's "Invalid file extension");
    Returns None for anything else (a bug, which must surface). ``ui.crafted`` catches these where
    Streamlit decodes widget values; this is the second line, for anything raised while the script runs.
    """
    frames = _frames(exc)
    if not frames:
        return None
    in_streamlit = frames[-1].filename.startswith(_STREAMLIT_DIR)
    if isinstance(exc, (ValueError, OverflowError, TypeError)) and in_streamlit and \
            any(f.name == "deserialize" and f.filename.startswith(_STREAMLIT_DIR) for f in frames):
        return f"A control sent a value it cannot hold ({exc})."
    if type(exc).__name__ == "StreamlitAPIException" and "Invalid file extension" in str(exc):
        return f"That file type is not accepted here. {str(exc).replace('`', '')}"
    return None
