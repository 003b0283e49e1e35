"""Attention variants, one per module, registered by name in ``VARIANTS``.

A variant is ``fn(q, k, v, *, cfg) -> AttentionOutput`` with q, k, v shaped (B, H, N, D) (grouped
variants take fewer KV heads). ``reference.py`` is the spec every test compares to.
"""
from __future__ import annotations

from viz_core.attention.types import AttentionOutput, AttentionVariant

VARIANTS: dict[str, AttentionVariant] = {}


def register(variant: AttentionVariant) -> AttentionVariant:
    if variant.name in VARIANTS:
        raise ValueError(f"attention variant {variant.name!r} registered twice")
    VARIANTS[variant.name] = variant
    return variant


__all__ = ["VARIANTS", "register", "AttentionOutput", "AttentionVariant"]
