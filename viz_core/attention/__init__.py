"""Attention variants, one per module, registered by name in ``VARIANTS``.

A variant is ``fn(q, k, v, *, cfg) -> AttentionOutput`` with q, k, v shaped (B, H, N, D) (grouped
variants take fewer KV heads). ``reference.py`` is the spec every test compares to.

Each variant module calls ``register(AttentionVariant(...))`` at import; ``all_variants()`` imports every
module of this package once, so a new variant is a new file and nothing else.
"""
from __future__ import annotations

import importlib
import pkgutil

from viz_core.attention.types import AttentionOutput, AttentionVariant

VARIANTS: dict[str, AttentionVariant] = {}
_NOT_VARIANTS = {"types", "reference"}


def register(variant: AttentionVariant) -> AttentionVariant:
    existing = VARIANTS.get(variant.name)
    if existing is not None and existing.fn is not variant.fn and existing.fn.__qualname__ != variant.fn.__qualname__:
        raise ValueError(f"attention variant {variant.name!r} registered twice")
    VARIANTS[variant.name] = variant
    return variant


def all_variants() -> dict[str, AttentionVariant]:
    """Import every variant module (idempotent) and return the registry."""
    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_") and m.name not in _NOT_VARIANTS:
            importlib.import_module(f"{__name__}.{m.name}")
    return VARIANTS


__all__ = ["VARIANTS", "register", "all_variants", "AttentionOutput", "AttentionVariant"]
