"""The per-request budget: how much memory (and time) one page run may take on a shared lab server.

One Streamlit server serves a whole class, so a single request must not be able to exhaust it. Every
decode, resize and lab run estimates its peak *before* allocating and calls ``check_memory``; anything
over the budget is refused with a ``BudgetError`` that says what would fit.

Setting (documented in the README):

- ``LAB_REQUEST_BUDGET_MIB``: memory one request may add on the CPU, in MiB (default 256).
- ``LAB_REQUEST_SECONDS``: estimated seconds above which a run is refused (default 300); runs above
  ``PROGRESS_AFTER_S`` (5 s) show progress and a Stop button.

Shared resources loaded once per server (model weights behind ``st.cache_resource``) are not per-request
and are checked against the machine's free memory instead (``viz_core.bench.memory.check_budget`` with an
explicit budget).

Pure Python (no torch), so image decoding can use it without importing torch.
"""
from __future__ import annotations

import os

from viz_core.errors import BudgetError, human_bytes

ENV_MEMORY = "LAB_REQUEST_BUDGET_MIB"
ENV_SECONDS = "LAB_REQUEST_SECONDS"
DEFAULT_MIB = 256
DEFAULT_SECONDS = 300.0
# Measured RSS growth of a torch run exceeds its peak tensor bytes by up to ~25% (the allocator keeps freed
# blocks; glibc raises its mmap threshold after large frees): estimates from tensor sizes are multiplied by
# this before the budget check (attention at N = 1024…16384, 2026-11-30: growth / tensor peak ≤ 1.22).
ALLOCATOR_SLACK = 1.25
PROGRESS_AFTER_S = 5.0  # runs estimated above this show progress (or are refused when they cannot)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 and value == value and value != float("inf") else default


def request_budget_bytes() -> int:
    """Bytes one request may allocate on top of what the server already holds (default 256 MiB)."""
    return int(_env_float(ENV_MEMORY, DEFAULT_MIB) * 2**20)


def request_seconds() -> float:
    """Longest estimated run a request may start (default 300 s); longer runs are refused with a message."""
    return _env_float(ENV_SECONDS, DEFAULT_SECONDS)


def check_memory(required_bytes: float, *, what: str, fits: str | None = None,
                 budget_bytes: int | None = None) -> None:
    """Refuse ``what`` when its estimated peak ``required_bytes`` exceeds the per-request budget.

    ``fits`` says, in the user's terms, what would fit (e.g. "image size 640 or smaller").
    """
    budget = request_budget_bytes() if budget_bytes is None else int(budget_bytes)
    if required_bytes > budget:
        hint = f" What fits: {fits}." if fits else " Choose a smaller size."
        raise BudgetError(
            f"{what} would need about {human_bytes(required_bytes)} of memory, more than the "
            f"{human_bytes(budget)} one request may use on this shared server "
            f"(setting {ENV_MEMORY}).{hint}",
            required_bytes=int(required_bytes), budget_bytes=budget)


def check_seconds(estimated_s: float, *, what: str, fits: str | None = None, limit_s: float | None = None) -> None:
    """Refuse ``what`` when it is estimated to run longer than the per-request time limit."""
    limit = request_seconds() if limit_s is None else float(limit_s)
    if estimated_s > limit:
        hint = f" What fits: {fits}." if fits else ""
        raise BudgetError(f"{what} would take about {estimated_s:.0f} s on this machine, more than the "
                          f"{limit:.0f} s one request may run (setting {ENV_SECONDS}).{hint}")


def largest_fitting(options, need, budget_bytes: int | None = None):
    """The largest of ``options`` (ascending) whose ``need(option)`` fits the budget, or None."""
    budget = request_budget_bytes() if budget_bytes is None else budget_bytes
    best = None
    for o in options:
        if need(o) <= budget:
            best = o
    return best


def load_factor(measured_per_core: float) -> float:
    """How much longer a CPU run should take now than when its time was measured at ``measured_per_core``
    load average per core: (1 + load now) / (1 + load then), at least 1 (for time estimates shown first)."""
    try:
        per_core = os.getloadavg()[0] / max(1, os.cpu_count() or 1)
    except OSError:
        per_core = measured_per_core
    return max(1.0, (1 + per_core) / (1 + measured_per_core))
