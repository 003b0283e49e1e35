"""Peak memory, measured honestly per device, and the budget check that runs before anything big.

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (bytes above the baseline).
- CPU: tensor memory is invisible to tracemalloc, so we run the workload in a *fresh subprocess* and
  report the growth of its peak RSS (``ru_maxrss``) over the RSS it had once inputs were built.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from viz_core.device import synchronize
from viz_core.errors import BudgetError, human_bytes
from viz_core.measure import budget as request_budget

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class MemoryMeasurement:
    peak_bytes: int  # extra bytes at the peak, above the baseline
    method: str  # "cuda max_memory_allocated" or "peak RSS growth, fresh subprocess"
    device: str


def available_bytes(device: torch.device | str = "cpu") -> int:
    """Free memory now: ``cudaMemGetInfo`` on CUDA, MemAvailable from /proc/meminfo on CPU."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3  # conservative guess when /proc is not there


def default_budget_bytes(device: torch.device | str = "cpu", fraction: float = 0.5,
                         cap_bytes: int | None = 8 * 1024**3) -> int:
    """What one interactive run may use: a fraction of free memory, capped (a shared server stays up)."""
    b = int(available_bytes(device) * fraction)
    return min(b, cap_bytes) if cap_bytes else b


def check_budget(required_bytes: float, *, what: str, budget_bytes: int | None = None,
                 device: torch.device | str = "cpu", fits: str | None = None) -> None:
    """Raise ``BudgetError`` with a clear message when ``required_bytes`` exceeds the budget (``fits``: what
    would fit, in the user's terms).

    The default budget is the per-request budget (``viz_core.measure.budget``: 256 MiB unless
    ``LAB_REQUEST_BUDGET_MIB`` says otherwise) on the CPU, and half the free memory (capped) on CUDA.
    """
    if budget_bytes is None and torch.device(device).type == "cpu":
        request_budget.check_memory(required_bytes, what=what, fits=fits)
        return
    budget = default_budget_bytes(device) if budget_bytes is None else budget_bytes
    if required_bytes > budget:
        raise BudgetError(
            f"{what} would need about {human_bytes(required_bytes)}, more than the "
            f"{human_bytes(budget)} this run may use on {torch.device(device).type.upper()}. "
            + (f"What fits: {fits}." if fits else "Choose a smaller size."),
            required_bytes=int(required_bytes),
            budget_bytes=int(budget),
        )


def cuda_peak_bytes(fn: Callable[[], object], device: torch.device | str = "cuda") -> MemoryMeasurement:
    """Peak bytes allocated by ``fn()`` above what was allocated before it (CUDA caching allocator)."""
    dev = torch.device(device)
    synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev)
    fn()
    synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev) - base
    return MemoryMeasurement(int(peak), "cuda max_memory_allocated", str(dev))


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="utf-8") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _reset_hwm() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0); False if not allowed.

    Without it, the peak left by ``import torch`` hides any workload smaller than that bump.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _hwm_bytes() -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmHWM not found")


_CHILD = r"""
import importlib, json, sys
spec = json.loads(sys.argv[1])
import torch
torch.set_num_threads(spec["threads"])
from viz_core.measure import memory as m
mod = importlib.import_module(spec["module"])
run = getattr(mod, spec["function"])(**spec["kwargs"])  # builds inputs, returns a zero-arg callable
hwm = m._reset_hwm()  # peak RSS := current RSS, so only the workload's growth counts
base = m._rss_bytes() if hwm else max(m._rss_bytes(), m._maxrss_bytes())
run()
peak = m._hwm_bytes() if hwm else m._maxrss_bytes()
print("PEAK_RSS_GROWTH", max(0, peak - base))
"""


def subprocess_peak_rss(module: str, function: str, kwargs: dict | None = None, *,
                        threads: int | None = None, timeout_s: float = 300) -> MemoryMeasurement:
    """Run ``module.function(**kwargs)()`` in a fresh Python and return its peak RSS growth.

    ``function`` must build its inputs and return a zero-argument callable that does the work; the
    growth is measured from after the inputs exist to the peak while the callable runs.
    """
    spec = {"module": module, "function": function, "kwargs": kwargs or {},
            "threads": threads or torch.get_num_threads()}
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout_s, env=env, cwd=str(REPO_ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("PEAK_RSS_GROWTH"):
            return MemoryMeasurement(int(line.split()[1]), "peak RSS growth, fresh subprocess", "cpu")
    raise RuntimeError(f"memory probe failed: {proc.stderr[-2000:]}")


def measure_peak(module: str, function: str, kwargs: dict | None = None, *,
                 device: torch.device | str = "cpu", threads: int | None = None) -> MemoryMeasurement:
    """Peak memory of a workload on ``device``: CUDA allocator in-process, CPU in a fresh subprocess.

    ``kwargs`` should carry ``device`` if the factory needs it; it is added when missing.
    """
    dev = torch.device(device)
    kwargs = dict(kwargs or {})
    kwargs.setdefault("device", dev.type)
    if dev.type == "cuda":
        import importlib

        run = getattr(importlib.import_module(module), function)(**kwargs)
        return cuda_peak_bytes(run, dev)
    return subprocess_peak_rss(module, function, kwargs, threads=threads)


# ------------------------------------------------------------ tensor bytes from the torch profiler (CPU)
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """The profiler's C++ side prints two log lines per use to fd 2; hide them (only for that moment)."""
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def tensor_peak_bytes(fn, device: torch.device | str) -> tuple[int | None, str]:
    """Peak bytes of tensors allocated while ``fn()`` runs (above what existed before).

    CUDA: ``max_memory_allocated``. CPU: the torch profiler's allocation events replayed in time order
    (allocator-level tensor bytes; RSS-based numbers come from the benchmark's fresh-subprocess probe).
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        m = cuda_peak_bytes(fn, dev)
        return m.peak_bytes, m.method
    try:
        from torch.autograd import profiler as autograd_profiler  # (torch.profiler imports inductor: +5 s)

        with _quiet_stderr(), autograd_profiler.profile(use_cpu=True, profile_memory=True) as prof:
            fn()
        events = sorted((e.start_ns(), e.nbytes()) for e in prof.kineto_results.events()
                        if e.name() == "[memory]")
    except Exception:  # noqa: BLE001 - the profiler's API is not public; say so instead of failing
        return None, "not measured (profiler unavailable)"
    cur = peak = 0
    for _, nb in events:
        cur += nb
        peak = max(peak, cur)
    return int(peak), "peak tensor bytes (torch profiler)"
