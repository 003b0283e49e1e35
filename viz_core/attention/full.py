"""Full attention as variants: the reference spec registered as "full" (obeys ``cfg.causal``) and "causal".

Vaswani et al. 2017, "Attention Is All You Need": softmax(QKᵀ/√d + mask) V with the N×N score matrix
materialised (what every efficient variant avoids). See reference.py.
"""
from __future__ import annotations

from viz_core.attention import register
from viz_core.attention.reference import reference_attention
from viz_core.attention.types import AttentionOutput, AttentionVariant


def full_attention(q, k, v, *, cfg) -> AttentionOutput:
    """(B, H, N, D) -> (B, H, N, Dv) with weights (B, H, N, M). Reads causal, scale."""
    return reference_attention(q, k, v, causal=bool(getattr(cfg, "causal", False)), scale=getattr(cfg, "scale", None))


def causal_attention(q, k, v, *, cfg) -> AttentionOutput:
    """Always causal (query i sees keys j <= i)."""
    return reference_attention(q, k, v, causal=True, scale=getattr(cfg, "scale", None))


register(AttentionVariant(
    name="full", fn=full_attention, exact=True,
    paper="Vaswani et al. 2017, Attention Is All You Need",
    time_complexity="O(N² d)", memory_complexity="O(N²) scores stored",
    summary="The spec: every query scores every key; the N×N score matrix is stored.",
    params=("causal",),
))
register(AttentionVariant(
    name="causal", fn=causal_attention, exact=True,
    paper="Vaswani et al. 2017, Attention Is All You Need (decoder masking)",
    time_complexity="O(N² d)", memory_complexity="O(N²) scores stored",
    summary="Full attention where each token only sees itself and the past.",
    params=(),
))
