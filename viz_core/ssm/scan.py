"""Three implementations of the same selective scan, and the one-token step used for decoding.

The recurrence (per batch b, head h, channel p, state n; decay shared by a head, see ``selective.py``):

    h_t = a_t · h_{t−1} + Δ_t x_t B_tᵀ        a_t = exp(Δ_t A)          h: (H, P, N) per sequence
    y_t = h_t C_t + D x_t                                                  y: (H, P)

1. ``scan_sequential``: the RNN view, one step after another. Work O(L), depth L. **The spec.**
2. ``scan_parallel``: the recurrence is a composition of affine maps h ↦ a·h + b, and composition is
   associative: (a₂, b₂) ∘ (a₁, b₁) = (a₂a₁, a₂b₁ + b₂). So all prefixes can be computed by a parallel prefix
   sum: Blelloch's work-efficient up-sweep/down-sweep scan (Blelloch 1990, "Prefix Sums and Their
   Applications", §1.2), here iterative and in place, one fused multiply-add over a strided view per level.
   Work ≈ 2L combines, depth ≈ 2·log₂L. Mamba's CUDA kernel uses this scan in SRAM (Gu & Dao 2023, §3.3.2).
   On a CPU, what decides its speed is memory: the states are scanned in cache-sized blocks of channels in
   one reused buffer, and the leaf level is done in factored form (the input is an outer product Δx Bᵀ), so
   only the L/2 odd tokens' states are materialised, one block at a time.
3. ``scan_chunked``: the state-space dual (SSD) form (Dao & Gu 2024, "Transformers are SSMs", §6). Cut the
   sequence into chunks of Q tokens. Inside a chunk the output is a masked, decay-weighted attention-like
   matrix product, y = (L ∘ C Bᵀ) (Δx), quadratic in Q; between chunks only the (H, P, N) state is passed
   on, L/Q sequential steps. Work O(L·Q·(N+P)·H + L·H·P·N), depth ≈ L/Q (+ log Q inside the matmuls),
   no per-token state materialised: the fastest form on a CPU and the one used for training here.

All three take x (B, L, H, P), dt (B, L, H), A (H,), Bm, Cm (B, L, N), an optional initial state
h0 (B, H, P, N), and return (y (B, L, H, P), h_L (B, H, P, N)) without the D·x skip (the block adds it).
``step`` advances one token with the fixed-size state: this is what makes decoding O(1) per token.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from viz_core.errors import InputError
from viz_core.ssm.selective import discretize_input, discretize_zoh


def _check(x, dt, A, Bm, Cm):
    if x.dim() != 4 or dt.shape != x.shape[:3] or A.shape != x.shape[2:3] or Bm.shape != Cm.shape \
            or Bm.shape[:2] != x.shape[:2]:
        raise InputError(f"scan shapes: x {tuple(x.shape)} (B, L, H, P), dt {tuple(dt.shape)} (B, L, H), "
                         f"A {tuple(A.shape)} (H,), B {tuple(Bm.shape)} and C {tuple(Cm.shape)} (B, L, N).")
    if x.shape[1] == 0:
        raise InputError("The sequence is empty: a scan needs at least one token.")


def _zeros_state(x, Bm):
    b, _, h, p = x.shape
    return x.new_zeros(b, h, p, Bm.shape[-1])  # (B, H, P, N)


# ------------------------------------------------------------------------------------------------ 1. sequential
def step(h: torch.Tensor, x_t: torch.Tensor, dt_t: torch.Tensor, A: torch.Tensor, B_t: torch.Tensor,
         C_t: torch.Tensor):
    """One token. h (B, H, P, N), x_t (B, H, P), dt_t (B, H), B_t, C_t (B, N) -> (y_t (B, H, P), new h).
    Memory and time do not depend on how many tokens came before."""
    a = torch.exp(dt_t * A)[..., None, None]  # (B, H, 1, 1) = Ā
    u = (dt_t[..., None] * x_t)[..., None] * B_t[:, None, None, :]  # (B, H, P, N) = Δ x Bᵀ
    h = a * h + u  # (B, H, P, N)
    y = h @ C_t[:, None, :, None]  # (B, H, P, 1) = h C
    return y[..., 0], h


def scan_sequential(x, dt, A, Bm, Cm, h0=None):
    """The spec: the recurrence run token by token (Python loop over L)."""
    _check(x, dt, A, Bm, Cm)
    h = _zeros_state(x, Bm) if h0 is None else h0
    ys = []
    for t in range(x.shape[1]):
        y_t, h = step(h, x[:, t], dt[:, t], A, Bm[:, t], Cm[:, t])
        ys.append(y_t)
    return torch.stack(ys, dim=1), h  # (B, L, H, P), (B, H, P, N)


# ------------------------------------------------------------------------------------------------ 2. parallel
# Blelloch's scan (1990, "Prefix Sums and Their Applications", §1.2), iterative and in place, for the affine
# maps h ↦ a·h + b. Elements are indexed 0..L−1 along dim 1; "stride s" levels run s = 1, 2, 4, … while 2s ≤ L.
#   up-sweep, stride s:   for i = 2s−1, 4s−1, …   b[i] ← a[i]·b[i−s] + b[i];  a[i] ← a[i]·a[i−s]
#       (afterwards b[i] and a[i] hold the composition of the block of 2s maps ending at i)
#   down-sweep, stride s from the top down: for i = 3s−1, 5s−1, …   b[i] ← a[i]·b[i−s] + b[i]
#       (b[i−s] is already a full prefix, a[i] and b[i] are the block of s maps ending at i)
# Work: ≤ 2L combines; depth: 2·⌊log₂L⌋ levels. Each level is one strided-view op over the whole tensor.

def _levels(n: int) -> list[int]:
    """The strides of the up-sweep for n elements: 1, 2, 4, … while 2s ≤ n (the down-sweep runs them reversed)."""
    out, s = [], 1
    while 2 * s <= n:
        out.append(s)
        s *= 2
    return out


def _up(t: torch.Tensor, s: int):
    """(hi, lo) views of t (B, L, ...) at stride s of the up-sweep: positions 2s−1, 4s−1, … and those s before."""
    m = t.shape[1] // (2 * s)
    return t[:, 2 * s - 1:2 * s * m:2 * s], t[:, s - 1:2 * s * m - s:2 * s]  # (B, m, ...) each


def _down(t: torch.Tensor, s: int):
    """(hi, lo) views at stride s of the down-sweep: positions 3s−1, 5s−1, … and those s before (full prefixes)."""
    m = (t.shape[1] - s) // (2 * s)
    return t[:, 3 * s - 1:3 * s - 1 + 2 * s * m:2 * s], t[:, 2 * s - 1:2 * s - 1 + 2 * s * m:2 * s]


def blelloch_decays(a: torch.Tensor) -> tuple[list, list]:
    """The decays the scan multiplies by, per level: a (B, L, ...) -> (ups, downs), lists of (B, m_level, ...).

    They depend on a only, so a scan over many state blocks that share a (every channel of a head) computes
    them once; the up-sweep's a-products are taken on a copy, a is not changed."""
    a = a.clone()
    ups = []
    for s in _levels(a.shape[1]):
        hi, lo = _up(a, s)
        ups.append(hi.clone())  # a[i] now: the decay of the s maps ending at i, this level's multiplier
        hi.mul_(lo)  # a[i] ← a[i]·a[i−s]: the decay of the whole block of 2s
    downs = [_down(a, s)[0].clone() for s in reversed(_levels(a.shape[1]))]
    return ups, downs


def blelloch_sweep_(b: torch.Tensor, ups: list, downs: list) -> torch.Tensor:
    """In place: b (B, L, ...) the inputs b_t -> the prefixes h_t. ups/downs from ``blelloch_decays``, each
    broadcastable to the level's (B, m, ...) view of b. One fused multiply-add (addcmul_) per level."""
    levels = _levels(b.shape[1])
    for s, a_hi in zip(levels, ups):
        hi, lo = _up(b, s)
        hi.addcmul_(lo, a_hi)  # b[i] += a[i]·b[i−s]
    for s, a_hi in zip(reversed(levels), downs):
        hi, lo = _down(b, s)
        if hi.shape[1]:
            hi.addcmul_(lo, a_hi)
    return b


def associative_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All prefixes of h_t = a_t·h_{t−1} + b_t (h_{−1} = 0) along dim 1 by Blelloch's scan (see above).

    a, b (B, L, ...) broadcastable to each other -> h (B, L, ...), a new contiguous tensor. a may stay small:
    (B, L, H, 1, 1) against b (B, L, H, P, N). Differentiable (out of place) when autograd needs it."""
    shape = torch.broadcast_shapes(a.shape, b.shape)
    a = a.expand(*shape[:2], *a.shape[2:]) if a.dim() == len(shape) else a.expand(shape)
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        return _associative_scan_recursive(a, b.expand(shape))
    ups, downs = blelloch_decays(a)
    return blelloch_sweep_(b.expand(shape).clone(memory_format=torch.contiguous_format), ups, downs)


def _associative_scan_recursive(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same scan, out of place (new tensors per level) so that autograd can differentiate it: compose pairs
    (2k, 2k+1), scan the L/2 pairs recursively (their prefixes are h at the odd positions), then
    h_{2k} = a_{2k}·h_{2k−1} + b_{2k}."""
    n = b.shape[1]
    if n == 1:
        return b
    if n % 2:  # pad with the identity map (a=1, b=0): it leaves every prefix unchanged
        a = torch.cat([a, torch.ones_like(a[:, :1])], 1)
        b = torch.cat([b, torch.zeros_like(b[:, :1])], 1)
    a0, a1, b0, b1 = a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]  # (B, L/2, ...) each
    h_odd = _associative_scan_recursive(a1 * a0, a1 * b0 + b1)  # h at 2k+1
    h_even = torch.cat([b0[:, :1], a0[:, 1:] * h_odd[:, :-1] + b0[:, 1:]], 1)  # h at 2k
    return torch.stack([h_even, h_odd], 2).flatten(1, 2)[:, :n]  # interleave -> (B, L, ...)


BLOCK_BYTES = 8 * 2 ** 20  # one block of materialised states: small enough to stay in cache and be reused


def scan_parallel(x, dt, A, Bm, Cm, h0=None, block_bytes: int = BLOCK_BYTES):
    """The same scan as a log-depth associative scan over all L tokens at once (Blelloch, in place).

    Leaf level in factored form: the input of token t is the outer product Δx_t B_tᵀ, so the first up-sweep
    level (compose tokens 2k and 2k+1) and the last down-sweep level (fill in the even tokens) are done without
    storing the even tokens' states: the scan runs on the L/2 pairs, and y at an even token is read out as
    y_2k = a_2k·(h_{2k−1}·C_2k) + Δx_2k·(B_2k·C_2k). The state channels are independent, so the pairs' states
    are scanned in blocks of channels of one head, (B, L/2, p, N) with p chosen so the block is ≤ block_bytes:
    one reused buffer that stays in cache, read out and overwritten by the next block."""
    _check(x, dt, A, Bm, Cm)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, dt, A, Bm, Cm, h0) if t is not None):
        return _scan_parallel_autograd(x, dt, A, Bm, Cm, h0)
    b, n, nh, p = x.shape
    ns, m = Bm.shape[-1], n // 2  # m pairs of tokens (2k, 2k+1); the last token is alone when n is odd
    a = discretize_zoh(dt, A)  # (B, L, H)
    dx = dt[..., None] * x  # (B, L, H, P) = Δx
    a_pair = a[:, 1:2 * m:2] * a[:, 0:2 * m:2]  # (B, m, H): decay of the pair (a_{2k+1}·a_2k)
    dx0 = dx[:, 0:2 * m:2] * a[:, 1:2 * m:2, :, None]  # (B, m, H, P): a_{2k+1}·Δx_2k, its input decayed once
    dx1, B0, B1 = dx[:, 1:2 * m:2], Bm[:, 0:2 * m:2], Bm[:, 1:2 * m:2]  # (B, m, H, P), (B, m, N) ×2
    ups, downs = blelloch_decays(a_pair[..., None, None])  # per level (B, m_level, H, 1, 1)
    y = x.new_empty(b, n, nh, p)  # (B, L, H, P)
    y_even = y[:, 0::2]  # (B, ⌈L/2⌉, H, P): the even tokens' own input first, Δx_2k·(B_2k·C_2k)
    y_even.copy_(dx[:, 0::2] * (Bm[:, 0::2] * Cm[:, 0::2]).sum(-1)[:, :, None, None])
    if h0 is not None:  # token 0 also reads the initial state: a_0·(h0·C_0)
        y_even[:, 0] += a[:, 0, :, None] * torch.einsum("bhpn,bn->bhp", h0, Cm[:, 0])
    h_last = x.new_empty(b, nh, p, ns)  # (B, H, P, N)
    ke = (n - 1) // 2  # even tokens 2, 4, …: the state they read is the odd one before them, h_{2k−1}
    pb = max(1, min(p, block_bytes // max(1, b * m * ns * x.element_size())))  # channels per block
    buf = x.new_empty(b * m * pb * ns)  # one block's pair states, reused
    for hd in range(nh):
        up_h, down_h = [u[:, :, hd] for u in ups], [d[:, :, hd] for d in downs]  # (B, m_level, 1, 1)
        for p0 in range(0, p, pb):
            p1 = min(p, p0 + pb)
            hs = buf[:b * m * (p1 - p0) * ns].view(b, m, p1 - p0, ns)  # (B, m, p, N)
            torch.mul(dx0[:, :, hd, p0:p1, None], B0[:, :, None, :], out=hs)  # pair input: a·Δx_2k B_2kᵀ
            hs.addcmul_(dx1[:, :, hd, p0:p1, None], B1[:, :, None, :])  # + Δx_{2k+1} B_{2k+1}ᵀ
            if h0 is not None and m:  # fold the initial state into the first pair: h_1 = a_pair·h0 + b_pair
                hs[:, 0].addcmul_(h0[:, hd, p0:p1], a_pair[:, 0, hd, None, None])
            blelloch_sweep_(hs, up_h, down_h)  # h at every odd token 2k+1
            y[:, 1:2 * m:2, hd, p0:p1] = torch.einsum("bkpn,bkn->bkp", hs, Cm[:, 1:2 * m:2])  # h_{2k+1} C_{2k+1}
            # even tokens after the first (ke of them): each reads the odd state just before it
            y[:, 2::2, hd, p0:p1] += a[:, 2::2, hd, None] * torch.einsum("bkpn,bkn->bkp", hs[:, :ke], Cm[:, 2::2])
            if n % 2 == 0:
                h_last[:, hd, p0:p1] = hs[:, -1]
            else:  # the last token is even: h = a·h_{L−2} + Δx Bᵀ
                prev = hs[:, -1] if m else h0[:, hd, p0:p1] if h0 is not None else x.new_zeros(b, p1 - p0, ns)
                u_last = dx[:, -1, hd, p0:p1, None] * Bm[:, -1, None, :]  # (B, p, N)
                h_last[:, hd, p0:p1] = a[:, -1, hd, None, None] * prev + u_last
    return y, h_last


def _scan_parallel_autograd(x, dt, A, Bm, Cm, h0):
    """For training through it: the whole (B, L, H, P, N) state at once, out of place."""
    a = discretize_zoh(dt, A)[..., None, None]  # (B, L, H, 1, 1)
    u = discretize_input(x, dt, Bm)  # (B, L, H, P, N)
    if h0 is not None:
        u = torch.cat([u[:, :1] + a[:, :1] * h0[:, None], u[:, 1:]], 1)
    hs = associative_scan(a, u)  # (B, L, H, P, N)
    y = torch.einsum("blhpn,bln->blhp", hs, Cm)  # (B, L, H, P)
    return y, hs[:, -1]


# ------------------------------------------------------------------------------------------------ 3. chunked SSD
def scan_chunked(x, dt, A, Bm, Cm, h0=None, chunk: int = 64):
    """SSD: quadratic matrix form inside chunks of ``chunk`` tokens, the state passed between chunks."""
    _check(x, dt, A, Bm, Cm)
    if chunk < 1:
        raise InputError(f"chunk must be ≥ 1 (got {chunk}).")
    b, n, nh, p = x.shape
    q = min(chunk, n)
    pad = (-n) % q  # pad with Δ = 0: decay 1 and no input, so the state passes through unchanged
    if pad:
        x, dt = F.pad(x, (0, 0, 0, 0, 0, pad)), F.pad(dt, (0, 0, 0, pad))
        Bm, Cm = F.pad(Bm, (0, 0, 0, pad)), F.pad(Cm, (0, 0, 0, pad))
    c = x.shape[1] // q
    xc = (dt[..., None] * x).view(b, c, q, nh, p)  # (B, c, Q, H, P) = Δx
    Bc, Cc = Bm.view(b, c, q, -1), Cm.view(b, c, q, -1)  # (B, c, Q, N)
    la = (dt * A).view(b, c, q, nh).permute(0, 3, 1, 2)  # (B, H, c, Q) = log Ā ≤ 0
    cum = torch.cumsum(la, dim=-1)  # (B, H, c, Q): log of the decay from the chunk start to token i
    # decay from token j to token i inside a chunk: exp(cum_i − cum_j) for j ≤ i, else 0
    seg = cum[..., :, None] - cum[..., None, :]  # (B, H, c, Q, Q)
    causal = torch.ones(q, q, dtype=torch.bool, device=x.device).tril()
    Lmat = torch.exp(seg.masked_fill(~causal, -math.inf))  # (B, H, c, Q, Q)

    # (a) inside each chunk, from a zero state: y_i = Σ_{j≤i} (C_i·B_j) L_ij Δ_j x_j
    G = Cc @ Bc.transpose(-1, -2)  # (B, c, Q, Q) = C Bᵀ, shared by the heads
    M = G[:, None] * Lmat  # (B, H, c, Q, Q)
    y_diag = torch.einsum("bhcij,bcjhp->bcihp", M, xc)  # (B, c, Q, H, P)

    # (b) each chunk's own contribution to the state at its end: Σ_j exp(cum_last − cum_j) Δ_j x_j B_jᵀ
    w_end = torch.exp(cum[..., -1:] - cum)  # (B, H, c, Q)
    s_chunk = torch.einsum("bhcj,bcjhp,bcjn->bchpn", w_end, xc, Bc)  # (B, c, H, P, N)

    # (c) pass the state between chunks: c sequential steps on (B, H, P, N)
    h = x.new_zeros(b, nh, p, Bm.shape[-1]) if h0 is None else h0
    decay_chunk = torch.exp(cum[..., -1])  # (B, H, c): decay over a whole chunk
    starts = []
    for k in range(c):
        starts.append(h)  # the state entering chunk k
        h = decay_chunk[:, :, k, None, None] * h + s_chunk[:, k]
    h_in = torch.stack(starts, 1)  # (B, c, H, P, N)

    # (d) what the entering state contributes inside the chunk: y_i += exp(cum_i) · h_in C_i
    y_off = torch.einsum("bcin,bchpn,bhci->bcihp", Cc, h_in, torch.exp(cum))  # (B, c, Q, H, P)
    y = (y_diag + y_off).reshape(b, c * q, nh, p)[:, :n]  # (B, L, H, P)
    return y, h


SCANS = {"sequential": scan_sequential, "parallel": scan_parallel, "chunked": scan_chunked}


def work_depth(kind: str, n: int, *, chunk: int = 64, heads: int = 8, head_dim: int = 32,
               d_state: int = 32) -> tuple[float, float]:
    """(work in multiply-adds, depth in sequential levels) of one scan over n tokens with H heads of P channels
    and state size N (defaults: one tiny-Mamba layer). S = H·P·N numbers in the state.

    sequential: per token Ā·h + Δx·Bᵀ and h·C: 3·S each, n levels.
    parallel (Blelloch): ≈ 2(n−1) combines of S each, plus the inputs and read-outs (2·S per token);
        2·⌈log₂n⌉ levels.
    chunked (SSD), chunk Q: C·Bᵀ (n·Q·N), the decay mask (n·Q·H), the masked product (n·Q·H·P), chunk states
        and read-outs from the entering state (2·S per token), state passing (S per chunk);
        depth ⌈n/Q⌉ state passes + ⌈log₂Q⌉ for the reductions inside a chunk."""
    n = max(1, int(n))
    S = heads * head_dim * d_state
    if kind == "sequential":
        return float(3 * n * S), float(n)
    levels = math.ceil(math.log2(n)) if n > 1 else 0
    if kind == "parallel":
        return float(2 * (n - 1) * S + 2 * n * S), float(2 * levels)
    if kind == "chunked":
        q = max(1, min(chunk, n))
        c = math.ceil(n / q)
        work = c * q * q * (d_state + heads + heads * head_dim) + 2 * c * q * S + c * S
        return float(work), float(c + (math.ceil(math.log2(q)) if q > 1 else 0))
    raise InputError(f"Unknown scan {kind!r}; choose one of {sorted(SCANS)}.")
