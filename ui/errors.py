"""Show user-facing errors as messages, not tracebacks."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from viz_core.errors import BudgetError, LabError


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
            st.stop()
    except LabError as e:
        st.error(str(e), icon="⚠️")
        if stop:
            st.stop()


@contextlib.contextmanager
def never_traceback() -> Iterator[None]:
    """Around a whole page (app.py): an unexpected exception becomes a message, never a traceback.

    Whatever ``client.showErrorDetails`` says, the reader sees what failed in plain words; the traceback goes
    to the server log. Streamlit's own control flow (st.stop, st.rerun) passes through (BaseException).
    """
    try:
        yield
    except LabError as e:
        st.error(str(e), icon="⚠️")
    except Exception as e:  # noqa: BLE001 - the last line of defence before the browser
        logging.getLogger("lab").exception("page failed")
        st.error(f"**This page hit an unexpected problem** ({type(e).__name__}: {str(e)[:300]}). "
                 "The details are in the server log; try other settings or reload the page.", icon="🛑")
