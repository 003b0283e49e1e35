"""Keep the server's resident memory close to what its sessions hold (glibc malloc settings, Linux only).

A Streamlit server runs every script run in its own thread, and torch frees large tensors with ``free()``.
With glibc's defaults that memory often stays in the process (per-thread arenas; a "dynamic" mmap threshold
that grows to 32 MiB after the first large free, so later big tensors live on the heap and are not returned).
Measured with scripts/memory_walk.py, that is the difference between the RSS a page needs and the RSS the
server keeps after it. ``tune()`` fixes the mmap threshold at 1 MiB (big tensors go back to the system as soon
as they are freed) and caps the arenas; ``trim()`` returns free heap pages after each page run.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name or "libc.so.6")
        lib.mallopt  # noqa: B018 - glibc only (musl, macOS: no mallopt/malloc_trim)
        lib.malloc_trim  # noqa: B018
        return lib
    except (OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=1)
def tune() -> bool:
    """Once per process. Returns whether the settings were applied (glibc found)."""
    lib = _libc()
    if lib is None:
        return False
    ok = lib.mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1
    ok &= lib.mallopt(M_TRIM_THRESHOLD, 8 << 20) == 1
    ok &= lib.mallopt(M_ARENA_MAX, 2) == 1
    return bool(ok)


def trim() -> None:
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)
