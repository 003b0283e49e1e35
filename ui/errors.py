"""Show user-facing errors as messages, not tracebacks."""
from __future__ import annotations

import contextlib
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
