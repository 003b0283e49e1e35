"""Show user-facing errors as messages, not tracebacks, and end a page so that app.py still finishes.

- ``guard()``: a ``LabError`` inside the block becomes a clear message (and ends the page when ``stop``).
- ``stop()``: ends the page early. Unlike ``st.stop()`` it lets app.py draw the done-marker and the
  timing caption (after ``st.stop()`` Streamlit drops every element the script still sends).
- ``never_traceback()``: app.py's last line of defence around the whole page.
Values that only a crafted client can send are caught earlier, where Streamlit decodes them (``ui.crafted``).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Iterator

import streamlit as st

from viz_core.errors import BudgetError, LabError

_ROUTED: contextvars.ContextVar[bool] = contextvars.ContextVar("lab_routed", default=False)


class PageStopped(BaseException):
    """Raised by ``stop()`` inside a page run by app.py's router; app.py catches it.

    A BaseException, like Streamlit's own control flow, so ``except Exception`` blocks let it pass.
    """


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


@contextlib.contextmanager
def never_traceback() -> Iterator[None]:
    """Around a whole page (app.py): an unexpected exception becomes a message, never a traceback.

    Whatever ``client.showErrorDetails`` says, the reader sees what failed in plain words; the traceback goes
    to the server log. Streamlit's own control flow (st.stop, st.rerun) and ``PageStopped`` pass through
    (BaseException).
    """
    try:
        yield
    except LabError as e:
        st.error(str(e), icon="⚠️")
    except Exception as e:  # noqa: BLE001 - the last line of defence before the browser
        logging.getLogger("lab").exception("page failed")
        st.error(f"**This page hit an unexpected problem** ({type(e).__name__}: {str(e)[:300]}). "
                 "The details are in the server log; try other settings or reload the page.", icon="🛑")
