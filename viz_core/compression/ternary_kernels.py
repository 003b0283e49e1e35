"""Ternary GEMV kernels for CPU: y = γ · (Q x) with Q ∈ {−1, 0, +1}^(out×in), batch-1 decoding shapes.

A ternary matrix-vector product needs no multiplications, but that only saves time if a kernel reads the
weights in their small form and does little work per weight. Three kernels, all compiled with numba
(LLVM, vectorised for the CPU it runs on; ``cache=True`` so compilation happens once per machine):

- ``gemv_int8``: Q stored as int8 (1 byte/weight, 4× fewer bytes than fp32). Convert and multiply-add.
- ``gemv_2bit``: Q packed 4 weights per byte (2 bits/weight, 16× fewer bytes). Packing is *planar*: byte k
  of a row holds weights k, k+n/4, k+2n/4, k+3n/4 (so four contiguous slices of x are read), as
  f = Σₛ (qₛ + 1)·4ˢ. The kernel never extracts the four weights. With g = f − 85 = Σₛ qₛ·4ˢ (balanced
  base-4 digits) the *prefixes* Dₛ = rint(g / 4ˢ) = qₛ + 4·qₛ₊₁ + … are exact, qₛ = Dₛ − 4·Dₛ₊₁, and
  Σₛ qₛ·xₛ = Σₛ Dₛ·x′ₛ with x′ₛ = xₛ − 4·xₛ₋₁ computed once per token. So each byte costs one convert,
  three multiply-and-round and four multiply-adds, all in float lanes (exact for these small integers).
- ``gemv_lut``: the lookup-table (LUT) method of bitnet.cpp's TL kernels (Wang et al. 2024, "1-bit AI
  Infra: Fast and Lossless BitNet b1.58 Inference on CPUs") and T-MAC (Wei et al. 2024): for each group
  of g activations, precompute once per token the sums for all 3^g ternary patterns; each weight group
  is stored as its pattern's index (base 3, one byte for g ≤ 5) and the row sum is Σ table[k][idx[r,k]].
  ``lut_gemv_reference`` is the same algorithm written in numpy, readable top to bottom.

bitnet.cpp makes the LUT fast with SIMD *shuffles* (``pshufb``/``tbl``): a 16-entry table sits in one
register and one instruction performs 16–64 lookups. Written as scalar loads, each lookup is a dependent
load, which the Low-bit page measures. All kernels are tested equal to the dequantized float matmul.
"""
from __future__ import annotations

import time

import numpy as np

try:  # numba is a runtime dependency (requirements.txt); import lazily-safe so the docs still load
    import numba
except ImportError:  # pragma: no cover - reported by kernels_available()
    numba = None

from viz_core.device import cpu_kernel
from viz_core.errors import InputError

LUT_G = 4  # activations per LUT group: 3^4 = 81 patterns, the index fits a byte (2 bits/weight)
KERNELS = ("int8", "2bit", "lut")


def kernels_available() -> bool:
    return numba is not None


_njit = cpu_kernel("The compiled ternary kernels")


# ------------------------------------------------------------------------------------------------ packing
def _check_ternary(q) -> np.ndarray:
    q = np.asarray(q)
    if q.ndim != 2:
        raise InputError(f"Ternary weights must be a (out, in) matrix; got shape {q.shape}.")
    if q.size and (q.min() < -1 or q.max() > 1):
        raise InputError("Ternary weights must hold only −1, 0 and +1.")
    return q.astype(np.int8)


def pack_2bit(q) -> np.ndarray:
    """(out, n) ternary -> (out, ceil(n/4)) uint8, planar: byte k holds codes of weights k + s·n4, s = 0…3,
    in bits 2s…2s+1 (code = q + 1; padding weights are 0, code 1)."""
    q = _check_ternary(q)
    out, n = q.shape
    n4 = -(-n // 4)
    codes = np.ones((out, 4 * n4), np.uint8)
    codes[:, :n] = q + 1
    planes = codes.reshape(out, 4, n4)  # plane s = weights s·n4 … (s+1)·n4 − 1
    return (planes[:, 0] | planes[:, 1] << 2 | planes[:, 2] << 4 | planes[:, 3] << 6).astype(np.uint8)


def unpack_2bit(packed: np.ndarray, n: int) -> np.ndarray:
    """Inverse of ``pack_2bit`` -> (out, n) int8."""
    planes = [(packed >> (2 * s)) & 3 for s in range(4)]
    return (np.concatenate(planes, axis=1)[:, :n].astype(np.int8) - 1)


def lut_patterns(g: int = LUT_G) -> np.ndarray:
    """(3^g, g) int8: row t is the ternary pattern whose base-3 digits (q + 1, least significant first) are t."""
    t = np.arange(3 ** g)[:, None]
    return ((t // 3 ** np.arange(g)) % 3 - 1).astype(np.int8)


def pack_lut(q, g: int = LUT_G) -> np.ndarray:
    """(out, n) ternary -> (out, ceil(n/g)) uint8 indices: Σⱼ (q[g·k+j] + 1)·3^j (padding weights are 0)."""
    if not 1 <= g <= 5:
        raise InputError(f"LUT group size g must be 1…5 (3^g indices in one byte); got {g}.")
    q = _check_ternary(q)
    out, n = q.shape
    groups = -(-n // g)
    codes = np.ones((out, groups * g), np.uint8)  # uint8 throughout: no int64 copy of the matrix
    codes[:, :n] = q + 1
    idx = np.zeros((out, groups), np.uint8)
    for j in range(g):  # Σⱼ codeⱼ·3ʲ ≤ 3^g − 1 ≤ 242 fits a byte
        idx += codes[:, j::g] * np.uint8(3 ** j)
    return idx


def lut_gemv_reference(idx: np.ndarray, x: np.ndarray, gamma: float, g: int = LUT_G) -> np.ndarray:
    """The LUT method in numpy. idx (out, G) from ``pack_lut``, x (n,) -> y (out,) = γ · Q x."""
    groups = idx.shape[1]
    xg = np.zeros(groups * g, x.dtype)
    xg[: x.shape[0]] = x
    xg = xg.reshape(groups, g)  # (G, g): one group of activations per row
    table = xg @ lut_patterns(g).T.astype(x.dtype)  # (G, 3^g): every pattern's sum, once per token
    picked = table[np.arange(groups)[None, :], idx]  # (out, G): each weight group looks up its sum
    return gamma * picked.sum(axis=1)


# ------------------------------------------------------------------------------------------ numba kernels
@_njit
def _gemv_int8(w, x, gamma, y):  # w (O, N) int8, x (B, N) f32, y (B, O) f32
    rows, n = w.shape
    for b in range(x.shape[0]):
        r = 0
        while r + 4 <= rows:  # four rows at once: four independent sums (the FMA latency is hidden)
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            for j in range(n):
                xj = x[b, j]
                a0 += np.float32(w[r, j]) * xj
                a1 += np.float32(w[r + 1, j]) * xj
                a2 += np.float32(w[r + 2, j]) * xj
                a3 += np.float32(w[r + 3, j]) * xj
            y[b, r], y[b, r + 1], y[b, r + 2], y[b, r + 3] = a0 * gamma, a1 * gamma, a2 * gamma, a3 * gamma
            r += 4
        for rr in range(r, rows):
            a = np.float32(0.0)
            for j in range(n):
                a += np.float32(w[rr, j]) * x[b, j]
            y[b, rr] = a * gamma


@_njit
def _gemv_2bit(p, xp, gamma, y):  # p (O, n4) uint8, xp (B, 4, n4) f32 planes x′ₛ = xₛ − 4·xₛ₋₁, y (B, O)
    # Float arithmetic throughout: numba widens integer shifts and masks to 64 bits (8 lanes, not 16).
    n4 = p.shape[1]
    for b in range(xp.shape[0]):
        for r in range(p.shape[0]):
            acc = np.float32(0.0)
            for k in range(n4):
                g = np.float32(p[r, k]) - np.float32(85.0)  # Σₛ qₛ·4ˢ ∈ [−85, 85]
                acc += (g * xp[b, 0, k]
                        + np.rint(g * np.float32(0.25)) * xp[b, 1, k]  # D₁ = q₁ + 4q₂ + 16q₃
                        + np.rint(g * np.float32(1 / 16)) * xp[b, 2, k]  # D₂ = q₂ + 4q₃
                        + np.rint(g * np.float32(1 / 64)) * xp[b, 3, k])  # D₃ = q₃
            y[b, r] = acc * gamma


def prefix_planes(x2: np.ndarray, n4: int) -> np.ndarray:
    """x (B, n) -> (B, 4, n4) float32 planes x′₀ = x₀, x′ₛ = xₛ − 4·xₛ₋₁ (plane s = x[s·n4 … (s+1)·n4 − 1])."""
    x4 = np.zeros((x2.shape[0], 4 * n4), np.float32)
    x4[:, : x2.shape[1]] = x2
    x4 = x4.reshape(x2.shape[0], 4, n4)
    xp = np.empty_like(x4)
    xp[:, 0] = x4[:, 0]
    xp[:, 1:] = x4[:, 1:] - np.float32(4) * x4[:, :-1]
    return xp


@_njit
def _lut_tables(xg, table):  # xg (G, g) f32 -> table (G, 3^g): pattern sums built digit by digit
    groups, g = xg.shape
    for k in range(groups):
        table[k, 0] = 0.0
        size = 1
        for j in range(g):  # extend every pattern of the first j digits with digit q_j ∈ {−1, 0, +1}
            for t in range(size):
                base = table[k, t]
                table[k, t + 2 * size] = base + xg[k, j]
                table[k, t + size] = base
                table[k, t] = base - xg[k, j]
            size *= 3


@_njit
def _gemv_lut(idx, table, gamma, y):  # idx (O, G) uint8, table (G, 3^g) f32, y (O,)
    for r in range(idx.shape[0]):
        acc = np.float32(0.0)
        for k in range(idx.shape[1]):
            acc += table[k, idx[r, k]]
        y[r] = acc * gamma


# ------------------------------------------------------------------------------------------- public API
class TernaryMatrix:
    """One ternary weight matrix W ≈ γ·Q in the three kernel formats. ``matvec(x, kernel)`` -> γ·x Qᵀ."""

    def __init__(self, q, gamma: float = 1.0, g: int = LUT_G):
        q = _check_ternary(q)
        self.out_features, self.in_features = q.shape
        self.gamma = np.float32(gamma)
        self.g = g
        self.int8 = np.ascontiguousarray(q)
        self.packed = pack_2bit(q)
        self.lut_idx = pack_lut(q, g)

    def weight_bytes(self, kernel: str) -> int:
        """Bytes of weights a kernel reads per product (plus the 4-byte γ)."""
        return {"int8": self.int8.nbytes, "2bit": self.packed.nbytes, "lut": self.lut_idx.nbytes}[kernel] + 4

    def dequantized(self) -> np.ndarray:
        w = self.int8.astype(np.float32)
        w *= self.gamma  # in place: one float32 copy of the matrix, not two
        return w

    def matvec(self, x: np.ndarray, kernel: str = "int8", out: np.ndarray | None = None) -> np.ndarray:
        """x (n,) or (B, n) float32 -> (out,) or (B, out)."""
        x = np.asarray(x, np.float32)
        single = x.ndim == 1
        x2 = np.ascontiguousarray(x[None] if single else x)
        if x2.ndim != 2 or x2.shape[1] != self.in_features:
            raise InputError(f"Input must end with {self.in_features} features; got shape {x.shape}.")
        bsz = x2.shape[0]
        y = out if out is not None else np.empty((bsz, self.out_features), np.float32)
        if kernel == "int8":
            _gemv_int8(self.int8, x2, self.gamma, y)
        elif kernel == "2bit":
            _gemv_2bit(self.packed, prefix_planes(x2, self.packed.shape[1]), self.gamma, y)
        elif kernel == "lut":
            groups = self.lut_idx.shape[1]
            xg = np.zeros((bsz, groups * self.g), np.float32)
            xg[:, : self.in_features] = x2
            table = np.empty((groups, 3 ** self.g), np.float32)
            for b in range(bsz):  # the tables are rebuilt for every token
                _lut_tables(xg[b].reshape(groups, self.g), table)
                _gemv_lut(self.lut_idx, table, self.gamma, y[b])
        else:
            raise InputError(f"Unknown kernel {kernel!r}; choose one of {KERNELS}.")
        return y[0] if single else y


def warm_up() -> dict[str, float]:
    """Compile (or load from numba's on-disk cache) every kernel once. -> seconds per kernel."""
    m = TernaryMatrix(np.array([[1, 0, -1, 1, 0]], np.int8))
    x = np.ones(5, np.float32)
    times = {}
    for k in KERNELS:
        t0 = time.perf_counter()
        m.matvec(x, k)
        times[k] = time.perf_counter() - t0
    return times
