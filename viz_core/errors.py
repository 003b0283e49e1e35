"""Errors that carry a message meant for the person using the app.

A page catches ``LabError`` (see ``ui.errors.guard``) and shows its message instead of a traceback; any
other exception is a bug and is allowed to surface.
"""
from __future__ import annotations


class LabError(Exception):
    """Base class: the message is written for the user, in plain words."""


class InputError(LabError, ValueError):
    """The input (image, text, slider combination) cannot be used as given."""


class BudgetError(LabError, MemoryError):
    """The requested run would need more memory (or time) than the budget allows."""

    def __init__(self, message: str, *, required_bytes: int | None = None, budget_bytes: int | None = None):
        super().__init__(message)
        self.required_bytes = required_bytes
        self.budget_bytes = budget_bytes


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'. Binary units, as memory is allocated."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_count(n: float) -> str:
    """12_345_678 -> '12.3 M'."""
    n = float(n)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"
