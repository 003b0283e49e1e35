"""The one torch-threads context: every timed or page run that sets CPU threads goes through it."""
from __future__ import annotations

import contextlib
import functools
from typing import Callable

import torch

from viz_core.errors import InputError

PAGE_THREADS = None  # pages run with the sidebar's thread count (ui.state applies it to torch on every run)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU (intra-op) threads, then restore the previous count.

    ``None`` or 0 leaves torch's setting as it is. On a shared CPU 1 thread is the repeatable choice (two
    threads competing with other processes can be several times slower).
    """
    if not n:
        yield
        return
    if n < 1:
        raise InputError("Threads must be at least 1.")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def with_threads(n: int | None | Callable[..., int | None] = PAGE_THREADS):
    """Decorator: run the function inside ``torch_threads(n)``. ``n`` may be a function of the call's
    arguments (e.g. ``lambda cfg, *_: cfg.threads``) for runners whose config says how many threads."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with torch_threads(n(*args, **kwargs) if callable(n) else n):
                return fn(*args, **kwargs)
        return run
    return wrap
