"""Device and dtype choice, synchronisation, and a description of the hardware.

Every measurement in the lab says which device it ran on; ``describe()`` is where that text comes from.
Peak FLOP/s comes from the spec sheet on known GPUs and from a measured matmul on CPU, and is labelled so.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from viz_core.errors import InputError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
DEVICE_CHOICES = ("auto", "cpu", "cuda")

# Dense (no sparsity) spec-sheet figures: (fp32 non-tensor FLOP/s, bf16/fp16 tensor FLOP/s, HBM bytes/s).
_GPU_SPECS: dict[str, tuple[float, float, float]] = {
    "H200": (67e12, 989e12, 4.8e12),
    "H100 PCIe": (51e12, 756e12, 2.0e12),
    "H100": (67e12, 989e12, 3.35e12),  # SXM
    "A100": (19.5e12, 312e12, 2.0e12),
    "L40S": (91.6e12, 362e12, 0.864e12),
    "L4": (30.3e12, 121e12, 0.3e12),
    "A10": (31.2e12, 125e12, 0.6e12),
    "T4": (8.1e12, 65e12, 0.32e12),
    "V100": (15.7e12, 125e12, 0.9e12),
    "RTX 4090": (82.6e12, 165e12, 1.0e12),
    "RTX 3090": (35.6e12, 71e12, 0.936e12),
}


def cuda_available() -> bool:
    return torch.cuda.is_available()


def available_devices() -> list[str]:
    """Device names the user may pick, for the sidebar."""
    out = ["auto", "cpu"]
    if cuda_available():
        out.append("cuda")
    return out


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU. Asking for CUDA without one is a clear error."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if name == "cuda":
        if not cuda_available():
            raise InputError("CUDA was requested but this machine has no CUDA GPU; choose 'auto' or 'cpu'.")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"Unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")


def resolve_dtype(name: str = "float32", device: torch.device | str | None = None) -> torch.dtype:
    """dtype by name. Half precision on CPU is allowed but slow; float16 there falls back to bfloat16."""
    if name not in DTYPES:
        raise InputError(f"Unknown dtype {name!r}; choose one of {', '.join(DTYPES)}.")
    dtype = DTYPES[name]
    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type == "cpu" and dtype is torch.float16:
        return torch.bfloat16
    return dtype


def dtype_bytes(dtype: torch.dtype | str) -> int:
    if isinstance(dtype, str):
        dtype = DTYPES[dtype]
    return torch.empty((), dtype=dtype).element_size()


def synchronize(device: torch.device | str) -> None:
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def default_threads() -> int:
    """Threads torch uses here (the lab states it beside every CPU timing)."""
    return torch.get_num_threads()


def recommended_threads() -> int:
    """CPU threads for interactive runs: all cores but one, so the server and the browser keep one.

    On a 2-core machine two torch threads competing with the browser were seen to be 10× slower than one.
    """
    return max(1, (os.cpu_count() or 1) - 1)


def set_threads(n: int) -> int:
    """Set torch's intra-op threads (process-wide) to ``n`` clipped to [1, cores]; returns what was set."""
    n = max(1, min(int(n), os.cpu_count() or 1))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _mem_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=4)
def measured_cpu_matmul_flops(n: int = 1024, repeats: int = 3) -> float:
    """Achieved fp32 FLOP/s of one n×n matmul on this CPU with the current thread count (a measurement)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


@dataclass(frozen=True)
class HardwareInfo:
    device: str  # "cpu" / "cuda"
    name: str  # GPU name or CPU model
    threads: int  # torch intra-op threads (CPU) or SM count (CUDA)
    torch_version: str
    cuda_version: str | None
    total_memory_bytes: int | None
    peak_flops_fp32: float | None
    peak_flops_half: float | None
    peak_flops_source: str  # "spec sheet", "measured fp32 matmul" or "unknown"
    bandwidth_bytes_per_s: float | None

    def summary(self) -> str:
        if self.device == "cuda":
            return f"{self.name} (CUDA {self.cuda_version}), torch {self.torch_version}"
        return f"{self.name}, {self.threads} torch threads, torch {self.torch_version}"


def _gpu_spec(name: str) -> tuple[float, float, float] | None:
    for key in sorted(_GPU_SPECS, key=len, reverse=True):  # most specific first ("H100 PCIe" before "H100")
        if key.lower() in name.lower():
            return _GPU_SPECS[key]
    return None


def describe(device_name: str = "auto", measure_cpu_peak: bool = False) -> HardwareInfo:
    """What we run on. ``measure_cpu_peak`` runs a ~0.1 s matmul to estimate the CPU's peak FLOP/s."""
    dev = resolve_device(device_name)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        spec = _gpu_spec(props.name)
        return HardwareInfo(
            device="cuda",
            name=props.name,
            threads=props.multi_processor_count,
            torch_version=torch.__version__,
            cuda_version=torch.version.cuda,
            total_memory_bytes=int(props.total_memory),
            peak_flops_fp32=spec[0] if spec else None,
            peak_flops_half=spec[1] if spec else None,
            peak_flops_source="spec sheet" if spec else "unknown",
            bandwidth_bytes_per_s=spec[2] if spec else None,
        )
    peak = measured_cpu_matmul_flops() if measure_cpu_peak else None
    return HardwareInfo(
        device="cpu",
        name=_cpu_model(),
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        cuda_version=None,
        total_memory_bytes=_mem_total_bytes(),
        peak_flops_fp32=peak,
        peak_flops_half=None,
        peak_flops_source="measured fp32 matmul" if peak else "unknown",
        bandwidth_bytes_per_s=None,
    )


def cpu_count() -> int:
    return os.cpu_count() or 1


LOW_PRECISION = (torch.bfloat16, torch.float16)
_ONEDNN_LOCK = threading.Lock()
_ONEDNN_OFF = [0, True]  # [runs inside onednn_off_for_low_precision now, the setting before the first]


@contextlib.contextmanager
def onednn_off_for_low_precision(dtype: torch.dtype, device: torch.device | str = "cpu"):
    """Run bf16/fp16 CPU work without oneDNN (``torch.backends.mkldnn``), restoring the setting after.

    oneDNN keeps a compiled matmul kernel for every new bf16 shape and never frees it: a decode (one new
    shape per generated token) grew the process by ~0.7 MiB per token (measured here with torch 2.13: +174 MiB
    for the first 64-token bf16 decode, +146 MiB more for a 120-token one; 600 shapes of a bf16 linear:
    +414 MiB). ATen's own kernels allocate nothing per shape. fp32 is left alone (it does not grow).
    The flag is process-wide: a concurrent fp32 run in another session may also skip oneDNN meanwhile
    (slower, never wrong).
    """
    if torch.device(device).type != "cpu" or dtype not in LOW_PRECISION:
        yield
        return
    with _ONEDNN_LOCK:  # counted, so that overlapping sessions restore the setting only when the last one ends
        if _ONEDNN_OFF[0] == 0:
            _ONEDNN_OFF[1] = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _ONEDNN_OFF[0] += 1
    try:
        yield
    finally:
        with _ONEDNN_LOCK:
            _ONEDNN_OFF[0] -= 1
            if _ONEDNN_OFF[0] == 0:
                torch.backends.mkldnn.enabled = _ONEDNN_OFF[1]


def without_onednn_for_low_precision(select: Callable[..., tuple[str, str]]):
    """Decorator: run the function under ``onednn_off_for_low_precision`` for the (dtype, device) names that
    ``select(*args, **kwargs)`` picks from its arguments (the lab's config)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            dtype, device = select(*args, **kwargs)
            dev = resolve_device(device)
            with onednn_off_for_low_precision(resolve_dtype(dtype, dev), dev):
                return fn(*args, **kwargs)
        return wrapper
    return deco


def cpu_kernel(what: str):
    """Decorator: compile a CPU kernel with numba (``cache=True``: once per machine; fastmath; no bounds checks).

    Without numba the kernel raises an ``InputError`` naming ``what`` needs it, so pages can say so."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is pinned in requirements.txt
        numba = None

    def wrap(fn):
        if numba is None:
            def missing(*a, **k):
                raise InputError(f"{what} needs numba (pip install -r requirements.txt).")
            return missing
        return numba.njit(cache=True, fastmath=True, nogil=True, boundscheck=False)(fn)

    return wrap
