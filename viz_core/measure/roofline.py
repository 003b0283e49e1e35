"""The roofline model: how fast the hardware allows a computation to run, and how close a run came.

Williams, Waterman & Patterson 2009, "Roofline: an insightful visual performance model for multicore
architectures". A kernel doing F FLOPs and moving Q bytes between memory and the processor cannot finish
faster than

    roof_time = max(F / P, Q / B)          P: compute roof (FLOP/s), B: memory roof (bytes/s)

Its arithmetic intensity is I = F / Q (FLOP per byte), the attainable rate is min(P, B·I), and the
fraction of the roof a run reached is achieved / attainable = (F / t) / min(P, B·I) = roof_time / t.
Left of the ridge point I* = P / B a kernel is memory-bound (decoding one token reads every weight once);
right of it, compute-bound (prefill attention, a large matmul).

The roofs here are measured, never assumed, except the CUDA spec-sheet peak, which is shown beside a
measured matmul and labelled as such:
- compute: the best of a few large square matmuls, in each dtype, with the threads in use;
- memory: STREAM-style copy (a = b: 2 arrays moved) and triad (a = b + s·c: 3 arrays moved) over arrays far
  larger than the caches; the memory roof is the better of the two.
On a CPU with one torch thread the roofs are timed in the measuring thread's CPU time, so that time the OS
gives to other processes on a shared machine is not counted (contention for caches and memory still is).
On a CPU a working set that fits in cache can beat the DRAM roof, so % of roof above 100 is possible and
means exactly that.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from viz_core.device import _gpu_spec, resolve_device, resolve_dtype, synchronize
from viz_core.errors import InputError

MATMUL_N = 2048  # fp32 2048³ ≈ 17 GFLOP: ~0.2 s at 1 thread here, far from the overhead regime
STREAM_MIB = 256  # per array: far beyond any CPU cache


@dataclass(frozen=True)
class Roofs:
    """Measured roofs of one device at one thread count (plain numbers, JSON-ready)."""

    device: str  # "cpu" / "cuda"
    name: str  # CPU model or GPU name
    threads: int  # torch intra-op threads the CPU roofs were measured with
    compute_flops: dict = field(default_factory=dict)  # dtype name -> FLOP/s used as the roof
    compute_source: dict = field(default_factory=dict)  # dtype name -> "measured 2048³ matmul" / "spec sheet"
    measured_matmul_flops: dict = field(default_factory=dict)  # dtype name -> measured FLOP/s
    spec_flops: dict = field(default_factory=dict)  # dtype name -> spec-sheet FLOP/s (CUDA, known GPUs)
    copy_bytes_per_s: float = 0.0
    triad_bytes_per_s: float = 0.0
    spec_bandwidth_bytes_per_s: float | None = None
    bandwidth_source: str = "measured copy and triad"
    clock: str = "wall"  # "thread": CPU time of the measuring thread (1 CPU thread), else wall-clock
    matmul_n: int = MATMUL_N
    stream_bytes: int = STREAM_MIB * 2**20
    measured_at: str = ""  # ISO time
    loadavg_1m: float | None = None  # machine load when measured (a shared CPU makes roofs noisy)

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """The memory roof: the better of copy and triad."""
        return max(self.copy_bytes_per_s, self.triad_bytes_per_s)

    def peak(self, dtype: str = "float32") -> float:
        dtype = _dtype_key(dtype)
        if dtype not in self.compute_flops:  # fp16 and bf16 share the 16-bit roof (CPU runs fp16 as bf16)
            dtype = {"float16": "bfloat16", "bfloat16": "float16"}.get(dtype, dtype)
        if dtype not in self.compute_flops:
            raise InputError(f"No compute roof measured for {dtype}; have {', '.join(self.compute_flops)}.")
        return float(self.compute_flops[dtype])

    def ridge(self, dtype: str = "float32") -> float:
        """Arithmetic intensity (FLOP/byte) where the memory roof meets the compute roof."""
        return self.peak(dtype) / self.bandwidth_bytes_per_s

    def attainable(self, intensity: float, dtype: str = "float32") -> float:
        """min(P, B·I): the highest FLOP/s allowed at this intensity."""
        return min(self.peak(dtype), self.bandwidth_bytes_per_s * float(intensity))

    def summary(self) -> str:
        comp = ", ".join(f"{k} {v / 1e9:.3g} GFLOP/s ({self.compute_source.get(k, '')})"
                         for k, v in self.compute_flops.items())
        return (f"{self.name}, {self.threads} thread(s): {comp}; memory {self.bandwidth_bytes_per_s / 1e9:.3g} GB/s "
                f"(copy {self.copy_bytes_per_s / 1e9:.3g}, triad {self.triad_bytes_per_s / 1e9:.3g})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bandwidth_bytes_per_s"] = self.bandwidth_bytes_per_s
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Roofs":
        keys = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in keys})


@dataclass(frozen=True)
class Placement:
    """Where one measured run sits on the roofline."""

    flops: float
    bytes_moved: float
    seconds: float
    intensity: float  # FLOP / byte
    achieved_flops: float  # FLOP/s
    attainable_flops: float  # FLOP/s at this intensity
    roof_time_s: float  # max(F/P, Q/B)
    pct_of_roof: float  # 100 · roof_time / seconds
    bound: str  # "memory" or "compute"


def _dtype_key(dtype) -> str:
    return str(dtype).replace("torch.", "")


# ------------------------------------------------------------------------------------------ measuring
def default_clock(dev: torch.device) -> str:
    """'thread' (CPU time of the calling thread) on a CPU with one torch thread, where torch computes in the
    calling thread: time the OS gave to other processes is then not counted, so a shared machine still shows
    what its core can do. 'wall' otherwise (several threads; CUDA, synchronised)."""
    return "thread" if dev.type == "cpu" and torch.get_num_threads() == 1 else "wall"


def _best_seconds(fn, dev: torch.device, repeats: int, clock: str = "wall") -> float:
    tick = time.thread_time if clock == "thread" else time.perf_counter
    fn()  # warm-up (allocations, kernel selection)
    synchronize(dev)
    best = float("inf")
    for _ in range(max(1, repeats)):
        synchronize(dev)
        t0 = tick()
        fn()
        synchronize(dev)
        best = min(best, tick() - t0)
    return max(best, 1e-9)


def measure_matmul(n: int = MATMUL_N, dtype: str = "float32", device: str = "cpu", repeats: int = 3,
                   clock: str | None = None) -> float:
    """FLOP/s of the best of ``repeats`` n×n @ n×n matmuls (2n³ FLOPs each) in ``dtype``."""
    if n < 1:
        raise InputError("The matmul size must be at least 1.")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, generator=g).to(dt)
    b = torch.randn(n, n, device=dev, generator=g).to(dt)
    out = torch.empty(n, n, device=dev, dtype=dt)
    return 2.0 * n**3 / _best_seconds(lambda: torch.matmul(a, b, out=out), dev, repeats, clock or default_clock(dev))


def measure_stream(nbytes: int = STREAM_MIB * 2**20, device: str = "cpu", repeats: int = 5,
                   clock: str | None = None) -> tuple[float, float]:
    """(copy, triad) bytes/s over fp32 arrays of ``nbytes`` each.

    copy a = b moves 2·nbytes (read b, write a); triad a = b + 3·c moves 3·nbytes (read b, c; write a).
    Write-allocate traffic is not counted, as in STREAM.
    """
    if nbytes < 4:
        raise InputError("The stream arrays must hold at least one float.")
    dev = resolve_device(device)
    n = nbytes // 4
    a = torch.empty(n, device=dev)
    b = torch.rand(n, device=dev)
    c = torch.rand(n, device=dev)
    clock = clock or default_clock(dev)
    t_copy = _best_seconds(lambda: a.copy_(b), dev, repeats, clock)
    t_triad = _best_seconds(lambda: torch.add(b, c, alpha=3.0, out=a), dev, repeats, clock)
    return 2.0 * n * 4 / t_copy, 3.0 * n * 4 / t_triad


def stream_bytes_within(budget_bytes: float) -> int:
    """Per-array size of a stream measurement that fits a request's memory budget: three arrays plus the
    allocator's slack (a fifth of the budget each), at most ``STREAM_MIB`` and at least 8 MiB, in whole MiB.
    At the 256 MiB default that is 51 MiB per array: 153 MiB in all, beyond a 32 MiB last-level cache."""
    return int(max(8, min(STREAM_MIB, budget_bytes / 5 / 2**20))) * 2**20


def measure_roofs(device: str = "cpu", *, dtypes: tuple[str, ...] = ("float32", "bfloat16"),
                  matmul_n: int | None = None, stream_bytes: int | None = None, repeats: int = 3) -> Roofs:
    """Measure this device's roofs with the current torch thread count (set it first; the queue does).

    CPU: the compute roof per dtype is the measured matmul. CUDA: the spec-sheet peak of the named GPU
    where known (fp32 non-tensor for float32, dense tensor-core for 16-bit), the measured matmul beside it.
    """
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    n = matmul_n or (8192 if cuda else MATMUL_N)
    nb = stream_bytes or ((1024 if cuda else STREAM_MIB) * 2**20)
    name = torch.cuda.get_device_name(dev) if cuda else _cpu_name()
    spec = _gpu_spec(name) if cuda else None
    measured, roof, source, spec_flops = {}, {}, {}, {}
    clock = default_clock(dev)
    how = " (thread CPU time)" if clock == "thread" else ""
    for dt in dtypes:
        key = str(resolve_dtype(dt, dev)).replace("torch.", "")
        measured[key] = measure_matmul(n, key, dev.type, repeats)
        if spec:
            spec_flops[key] = spec[0] if key == "float32" else spec[1]
            roof[key], source[key] = spec_flops[key], "spec sheet"
        else:
            roof[key], source[key] = measured[key], f"measured {n}³ matmul{how}"
    copy, triad = measure_stream(nb, dev.type, repeats=max(2, repeats))
    return Roofs(device=dev.type, name=name, threads=torch.get_num_threads(), compute_flops=roof,
                 compute_source=source, measured_matmul_flops=measured, spec_flops=spec_flops,
                 copy_bytes_per_s=copy, triad_bytes_per_s=triad,
                 spec_bandwidth_bytes_per_s=spec[2] if spec else None, matmul_n=n, stream_bytes=nb,
                 bandwidth_source=f"measured copy and triad over {nb / 2**20:.0f} MiB arrays{how}", clock=clock,
                 measured_at=time.strftime("%Y-%m-%dT%H:%M:%S"), loadavg_1m=_loadavg())


def spec_roofs(gpu_name: str) -> Roofs | None:
    """Spec-sheet roofs of a known GPU (no measurement: for recorded runs that carry none)."""
    spec = _gpu_spec(gpu_name)
    if spec is None:
        return None
    comp = {"float32": spec[0], "float16": spec[1], "bfloat16": spec[1]}
    return Roofs(device="cuda", name=gpu_name, threads=0, compute_flops=comp,
                 compute_source={k: "spec sheet" for k in comp}, spec_flops=comp, copy_bytes_per_s=spec[2],
                 triad_bytes_per_s=spec[2], spec_bandwidth_bytes_per_s=spec[2], bandwidth_source="spec sheet")


@functools.lru_cache(maxsize=8)
def cached_roofs(device: str, threads: int) -> Roofs:
    """Roofs measured once per process per (device, threads); call with the threads already set."""
    if device == "cpu" and torch.get_num_threads() != threads:
        raise InputError(f"Set {threads} torch threads before measuring the roofs for them.")
    return measure_roofs(device)


def _cpu_name() -> str:
    from viz_core.device import _cpu_model

    return _cpu_model()


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# ------------------------------------------------------------------------------------------ placing
def place(flops: float, bytes_moved: float, seconds: float, roofs: Roofs, dtype: str = "float32") -> Placement:
    """A run of ``flops`` FLOPs moving ``bytes_moved`` bytes in ``seconds``: its spot on the roofline."""
    if flops < 0 or bytes_moved <= 0 or seconds <= 0:
        raise InputError("A roofline point needs FLOPs ≥ 0, bytes moved > 0 and a time > 0.")
    peak, bw = roofs.peak(dtype), roofs.bandwidth_bytes_per_s
    t_compute, t_memory = flops / peak, bytes_moved / bw
    roof_t = max(t_compute, t_memory)
    intensity = flops / bytes_moved
    return Placement(flops=flops, bytes_moved=bytes_moved, seconds=seconds, intensity=intensity,
                     achieved_flops=flops / seconds, attainable_flops=roofs.attainable(intensity, dtype),
                     roof_time_s=roof_t, pct_of_roof=100.0 * roof_t / seconds,
                     bound="compute" if t_compute >= t_memory else "memory")


def roof_time(flops: float, bytes_moved: float, roofs: Roofs, dtype: str = "float32") -> float:
    """Seconds the roofline allows: max(F / P, Q / B)."""
    return max(flops / roofs.peak(dtype), bytes_moved / roofs.bandwidth_bytes_per_s)


TIME_KEYS = (("time_s", 1.0), ("median_s", 1.0), ("time_ms", 1e-3), ("median_ms", 1e-3))


def row_seconds(row: dict) -> float | None:
    """The measured time of a suite row, whichever column the suite uses."""
    for key, scale in TIME_KEYS:
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v) * scale
    return None


def annotate_rows(rows: list[dict], roofs: Roofs) -> list[dict]:
    """Add ``roof_time_s``, ``pct_of_roof``, ``intensity_flop_per_byte`` and ``roof_bound`` to every row
    that states ``flops`` and ``bytes_moved`` (formulas, from the suite) and a measured time. In place."""
    for r in rows:
        f, q = r.get("flops"), r.get("bytes_moved")
        if not isinstance(f, (int, float)) or not isinstance(q, (int, float)) or q <= 0:
            continue
        dtype = str(r.get("dtype") or "float32")
        try:
            r["roof_time_s"] = float(f"{roof_time(f, q, roofs, dtype):.6g}")
            r["intensity_flop_per_byte"] = float(f"{f / q:.4g}")
            r["roof_bound"] = "compute" if f / roofs.peak(dtype) >= q / roofs.bandwidth_bytes_per_s else "memory"
        except InputError:  # no roof for this dtype
            continue
        t = row_seconds(r)
        if t:
            r["pct_of_roof"] = float(f"{100.0 * r['roof_time_s'] / t:.4g}")
    return rows
