"""FLOP and byte formulas. Counting convention: a multiply-add is 2 FLOPs."""
from __future__ import annotations


def attention_flops(batch: int, heads: int, n_q: int, d: int, n_kv: int | None = None, *,
                    causal: bool = False, density: float = 1.0) -> float:
    """Forward attention: QKᵀ (2·N·M·D) plus PV (2·N·M·D) per head = 4·B·H·N·M·D.

    Causal halves it (only the lower triangle is needed); a sparse mask multiplies by its density.
    Softmax (a few FLOPs per score) is left out, as is customary.
    """
    n_kv = n_q if n_kv is None else n_kv
    f = 4.0 * batch * heads * n_q * n_kv * d * density
    return f / 2 if causal else f


def score_matrix_bytes(n_q: int, n_kv: int | None = None, *, batch: int = 1, heads: int = 1,
                       bytes_per_value: int = 4) -> int:
    """Bytes of the materialised score (or probability) matrix: B·H·N·M·bytes."""
    n_kv = n_q if n_kv is None else n_kv
    return batch * heads * n_q * n_kv * bytes_per_value


def matmul_flops(m: int, k: int, n: int) -> float:
    return 2.0 * m * k * n


def linear_attention_flops(batch: int, heads: int, n: int, d: int, d_v: int | None = None,
                           features: int | None = None) -> float:
    """φ(K)ᵀV (2·N·F·Dv) + φ(Q)(φ(K)ᵀV) (2·N·F·Dv) + normaliser (2·N·F·2) per head."""
    d_v = d if d_v is None else d_v
    f = d if features is None else features
    return batch * heads * (4.0 * n * f * d_v + 4.0 * n * f)


def achieved_fraction(flops: float, seconds: float, peak_flops: float | None) -> float | None:
    """Achieved FLOP/s as a fraction of the peak, or None when the peak is unknown."""
    if not peak_flops or seconds <= 0:
        return None
    return flops / seconds / peak_flops


def attention_bytes_moved(batch: int, heads: int, n: int, d: int, elem_bytes: int,
                          intermediate_bytes: float = 0.0) -> float:
    """Bytes an attention forward moves to and from memory, by formula (the roofline's Q).

    Q, K, V read once and O written once (4·B·H·N·D·bytes: what a fused kernel such as SDPA or
    FlashAttention must move at least), plus every intermediate buffer written once and read once
    (2·intermediate_bytes). For eager softmax(QKᵀ)V the intermediates are S and P (2·B·H·N²·bytes), which
    gives Dao et al.'s Algorithm 0 count, 4·B·H·(N·D + N²)·bytes.
    """
    return 4.0 * batch * heads * n * d * elem_bytes + 2.0 * intermediate_bytes


def rope_flops(batch: int, heads: int, n: int, d: int) -> float:
    """RoPE on x of shape (B, H, N, D): x·cos + rotate(x)·sin, 3 FLOPs per element (2 mul + 1 add)."""
    return 3.0 * batch * heads * n * d


def decoder_step_cost(params: float, n_layer: int, d_kv: int, d_attn: int, tokens: int, context: float,
                      elem_bytes: int, *, cached: bool) -> tuple[float, float]:
    """(FLOPs, bytes) of one forward call of a decoder on ``tokens`` new positions at ``context`` positions.

    FLOPs: 2·params per token (every weight is a multiply-add; the tied embedding counts as the LM head)
    plus attention 4·context·d_attn per token per layer (QKᵀ and PV; causal prefill over T tokens uses the
    mean context T/2). Bytes: every weight read once per call, plus, when ``cached``, the K and V cache read
    (2·n_layer·context·d_kv·bytes). Activations are left out (they stay in cache at these sizes).
    """
    flops = 2.0 * params * tokens + 4.0 * n_layer * context * d_attn * tokens
    moved = params * elem_bytes + (2.0 * n_layer * context * d_kv * elem_bytes if cached else 0.0)
    return flops, moved
