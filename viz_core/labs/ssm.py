"""The state-space page: the trained tiny Mamba's recurrence on the user's text (state and Δ per byte), the
three scans timed against SDPA attention, decoding latency and memory against context for Mamba's fixed
state and the tiny GPT's growing KV cache, both models continuing one prompt, and claim #21.

The algorithms are in ``viz_core.ssm`` (selective SSM, scans, model) and ``viz_core.models`` (tiny GPT,
KV cache); this module runs and times them and returns numpy arrays and plain numbers.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from viz_core.claims import ClaimCheck, judge_21
from viz_core.device import resolve_device, resolve_dtype, synchronize
from viz_core.errors import BudgetError, InputError
from viz_core.measure.memory import check_budget
from viz_core.measure.threads import PAGE_THREADS, torch_threads
from viz_core.measure.timer import time_fn
from viz_core.models.data import load_corpus
from viz_core.models.gpt import ByteTokenizer, checkpoint_path, load_checkpoint, load_tiny_gpt
from viz_core.models.kv_cache import KVCache, cache_bytes
from viz_core.train.loop import eval_loss
from viz_core.sampling import SamplingConfig, generate
from viz_core.ssm.mamba import load_tiny_mamba, state_bytes
from viz_core.ssm.scan import BLOCK_BYTES, SCANS, work_depth

MAX_INSPECT_BYTES = 2048  # one heatmap column per byte
MAX_PROMPT_BYTES = 4096
MAX_SECONDS = 60.0  # estimated compute beyond this is refused before the run
CPU_FLOPS = 4e10  # conservative 1-thread fp32 rate used only for the time estimate (measured roof ~9e10)
TOK = ByteTokenizer()


@functools.lru_cache(maxsize=4)
def models(device: str = "cpu", dtype: str = "float32"):
    """(tiny Mamba, tiny GPT), loaded once per device and dtype; shared and never mutated."""
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    return load_tiny_mamba(device=dev, dtype=dt)[0], load_tiny_gpt(device=dev, dtype=dt)[0]


@functools.lru_cache(maxsize=1)
def model_cards(device: str = "cpu") -> tuple[dict, dict]:
    """The checkpoints' recorded training metadata (val loss over 64 windows, wall time, ...): (Mamba, GPT)."""
    return load_tiny_mamba()[2], load_checkpoint(checkpoint_path("tiny-gpt"))[3]


def encode(text: str, limit: int, what: str) -> list[int]:
    if not text:
        raise InputError(f"The {what} is empty: type at least one character.")
    n = len(text.encode("utf-8"))  # estimated before any model runs
    if n > limit:
        raise InputError(f"The {what} is {n:,} bytes long; this view reads at most {limit:,} bytes "
                         "(each byte is one token). Shorten it.")
    return TOK.encode(text)


# ------------------------------------------------------------------------------------ the recurrence on text
@dataclass(frozen=True)
class InspectConfig:
    text: str = "ROMEO:\nBut soft, what light through yonder window breaks?"
    layer: int = 0
    head: int = 0
    channel: int = 0
    device: str = "cpu"
    dtype: str = "float32"


@dataclass(frozen=True)
class InspectResult:
    labels: tuple  # (L,) printable byte labels
    dt: np.ndarray  # (L, H) Δ per byte and head, chosen layer
    keep: np.ndarray  # (L, H) exp(Δ·A): fraction of the state kept at each byte
    state: np.ndarray  # (L, N) the chosen channel's state after each byte (float64 recurrence)
    A: np.ndarray  # (H,)
    loss: np.ndarray  # (L−1,) next-byte loss in nats
    scan_names: tuple
    scan_max_diff: np.ndarray  # (3,) max |logits − sequential logits|
    n_layer: int
    n_heads: int
    head_dim: int
    d_state: int
    state_bytes: int


def inspect(cfg: InspectConfig) -> InspectResult:
    """Run the trained tiny Mamba on ``cfg.text`` with each scan; return the chosen layer's Δ and the state
    of one channel of one head over time, recomputed by the plain recurrence from the layer's Δ, B, C, x."""
    ids = encode(cfg.text, MAX_INSPECT_BYTES, "text")
    mamba, _ = models(cfg.device, cfg.dtype)
    c = mamba.cfg
    for name, v, hi in (("layer", cfg.layer, c.n_layer), ("head", cfg.head, c.n_heads),
                        ("channel", cfg.channel, c.head_dim)):
        if not 0 <= v < hi:
            raise InputError(f"The {name} must be between 0 and {hi - 1} (got {v}).")
    idx = torch.tensor([ids], device=mamba.tok_emb.weight.device)
    with torch_threads(PAGE_THREADS), torch.no_grad():
        ref, _, inside = mamba(idx, scan="sequential", return_internals=True)
        diffs = [float((mamba(idx, scan=s)[0] - ref).abs().max()) for s in SCANS]
    lay = inside[cfg.layer]
    dt = lay["dt"][0].double().cpu().numpy()  # (L, H)
    A = -torch.exp(mamba.blocks[cfg.layer].A_log).double().cpu().numpy()  # (H,)
    x = lay["x"][0, :, cfg.head, cfg.channel].double().cpu().numpy()  # (L,)
    Bm = lay["B"][0].double().cpu().numpy()  # (L, N)
    h, states = np.zeros(c.d_state), []
    for t in range(len(ids)):  # h_t = exp(Δ_t A) h_{t−1} + Δ_t x_t B_t for this one channel
        h = math.exp(dt[t, cfg.head] * A[cfg.head]) * h + dt[t, cfg.head] * x[t] * Bm[t]
        states.append(h)
    loss = F.cross_entropy(ref[0, :-1].float(), idx[0, 1:], reduction="none").cpu().numpy()
    return InspectResult(tuple(TOK.token_str(i) for i in ids), dt, np.exp(dt * A), np.array(states), A, loss,
                         tuple(SCANS), np.array(diffs), c.n_layer, c.n_heads, c.head_dim, c.d_state, state_bytes(c))


# ------------------------------------------------------------------------------------ scans and prefill
@dataclass(frozen=True)
class MixerConfig:
    lengths: tuple = (64, 256, 1024, 4096)
    repeats: int = 3
    chunk: int = 64
    device: str = "cpu"
    run_id: int = 0


@dataclass(frozen=True)
class MixerResult:
    lengths: np.ndarray  # (K,)
    names: tuple  # ("sequential", "parallel", "chunked", "SDPA attention")
    time_s: np.ndarray  # (4, K) median seconds per call
    iqr_s: np.ndarray  # (4, K)
    work: np.ndarray  # (3, K) multiply-adds (scans only; ssm.scan.work_depth)
    depth: np.ndarray  # (3, K) sequential levels
    max_diff: np.ndarray  # (3, K) max |y − y_sequential| / max |y_sequential|
    crossover: dict  # scan name -> smallest measured N where it beats SDPA, or None
    dims: str
    device: str
    threads: int


def prefill_bytes(n: int, chunk: int = 64, heads: int = 8, head_dim: int = 32) -> float:
    """Peak tensor bytes of one scan at length n, float32 (checked against the torch profiler's peak at
    n = 1024…16384): chunked keeps 4 (B, H, c, Q, Q) decay masks and ~5 (B, L, H, P) tensors; parallel one
    block of states (``BLOCK_BYTES``) and ~3 (B, L, H, P) tensors."""
    return float(max(n * heads * 4 * (4 * chunk + 5 * head_dim), BLOCK_BYTES + n * heads * head_dim * 4 * 3))


def mixers(cfg: MixerConfig) -> MixerResult:
    """One tiny-Mamba layer's scan (H=8, P=32, N=32) by each method, and one tiny-GPT layer's causal SDPA
    (4 heads × 32), on random inputs of each length, batch 1; timed with warm-up, median of repeats."""
    dev = resolve_device(cfg.device)
    lengths = sorted({int(n) for n in cfg.lengths})
    if not lengths or lengths[0] < 1:
        raise InputError("Give at least one sequence length ≥ 1.")
    H, P, N = 8, 32, 32
    check_budget(prefill_bytes(lengths[-1], cfg.chunk), what=f"The scans at N={lengths[-1]:,}", device=dev)
    est = sum(n * 60e-6 for n in lengths) * (cfg.repeats + 1)  # sequential: ~60 µs per token measured here
    if est > MAX_SECONDS:
        raise BudgetError(f"The sequential scan alone would take about {est:.0f} s; choose shorter lengths.")
    g = torch.Generator().manual_seed(0)
    t = np.zeros((4, len(lengths)))
    iqr, diff = np.zeros_like(t), np.zeros((3, len(lengths)))
    with torch_threads(PAGE_THREADS), torch.no_grad():
        for j, n in enumerate(lengths):
            x = torch.randn(1, n, H, P, generator=g).to(dev)
            dt = F.softplus(torch.randn(1, n, H, generator=g) - 2).to(dev)
            A = -torch.linspace(1, 16, H).to(dev)
            Bm, Cm = torch.randn(1, n, N, generator=g).to(dev), torch.randn(1, n, N, generator=g).to(dev)
            q, k, v = (torch.randn(1, 4, n, 32, generator=g).to(dev) for _ in range(3))
            calls = [lambda f=f: f(x, dt, A, Bm, Cm, **({"chunk": cfg.chunk} if f is SCANS["chunked"] else {}))
                     for f in SCANS.values()]
            calls.append(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            ys = [c()[0] for c in calls[:3]]
            diff[:, j] = [float((y - ys[0]).abs().max() / ys[0].abs().max()) for y in ys]
            for i, c in enumerate(calls):
                tm = time_fn(c, device=dev, warmup=1, repeats=cfg.repeats)
                t[i, j], iqr[i, j] = tm.median_s, tm.spread_s
    wd = np.array([[work_depth(s, n, chunk=cfg.chunk, heads=H, head_dim=P, d_state=N) for n in lengths]
                   for s in SCANS])  # (3, K, 2)
    cross = {s: next((n for j, n in enumerate(lengths) if t[i, j] < t[3, j]), None) for i, s in enumerate(SCANS)}
    return MixerResult(np.array(lengths), tuple(SCANS) + ("SDPA attention",), t, iqr, wd[..., 0], wd[..., 1],
                       diff, cross, f"scan H={H}, P={P}, N={N}; SDPA 4 heads × 32, causal; batch 1", str(dev),
                       torch.get_num_threads() if dev.type == "cpu" else 0)


# ------------------------------------------------------------------------------------ decoding vs context
@dataclass(frozen=True)
class DecodeConfig:
    contexts: tuple = (64, 256, 1024)
    steps: int = 12  # timed decode steps per context; latency = their median
    device: str = "cpu"
    dtype: str = "float32"
    run_id: int = 0


@dataclass(frozen=True)
class DecodeResult:
    contexts: np.ndarray  # (K,)
    mamba_s: np.ndarray  # (K,) median seconds per token
    gpt_s: np.ndarray  # (K,)
    mamba_iqr_s: np.ndarray
    gpt_iqr_s: np.ndarray
    mamba_state_bytes: np.ndarray  # (K,) bytes of the MambaState tensors
    gpt_cache_bytes: np.ndarray  # (K,) bytes of the filled part of the KV cache
    device: str
    threads: int
    steps: int


def estimate_decode(contexts, device: str = "cpu") -> tuple[int, float]:
    """(bytes, seconds) that ``decode`` would need, from the shapes alone: the KV cache for the longest
    context, and the GPT prefill's attention FLOPs (causal, 4 layers × 4·N²·d / 2) at a conservative rate."""
    n = max(contexts) + 64
    by = cache_bytes(4, 1, 4, n, 32) + n * 256 * 4 * 40  # cache + prefill activations (≈40 vectors per token)
    sec = 4 * 4 * n * n * 128 / 2 / CPU_FLOPS + n * 7 * 2e-4  # attention + Mamba's chunked prefill
    return int(by), (sec if resolve_device(device).type == "cpu" else sec / 50)


def decode(cfg: DecodeConfig) -> DecodeResult:
    """For each context length c: fill Mamba's state and the GPT's KV cache with c held-out bytes (one
    incremental pass), then time ``steps`` single-token steps of each model, interleaved."""
    ctx = sorted({int(c) for c in cfg.contexts})
    if not ctx or ctx[0] < 1:
        raise InputError("Give at least one context length ≥ 1.")
    need, sec = estimate_decode(ctx, cfg.device)
    check_budget(need, what=f"Decoding at a context of {ctx[-1]:,} tokens", device=resolve_device(cfg.device))
    if sec > MAX_SECONDS:
        raise BudgetError(f"Filling a {ctx[-1]:,}-token context would take about {sec:.0f} s here (the GPT's "
                          f"attention grows as N²); this page allows {MAX_SECONDS:.0f} s. Choose a shorter context.")
    mamba, gpt = models(cfg.device, cfg.dtype)
    dev = mamba.tok_emb.weight.device
    val = TOK.encode(load_corpus("val"))
    ids = torch.tensor([(val * (ctx[-1] // len(val) + 2))[: ctx[-1] + cfg.steps + 1]], device=dev)
    rows = []
    with torch_threads(PAGE_THREADS), torch.no_grad():
        cache = KVCache.empty(gpt.cfg, 1, ctx[-1] + cfg.steps + 1, device=dev, dtype=gpt.tok_emb.weight.dtype)
        state, done = mamba.empty_state(1), 0
        for c in ctx:
            _, state = mamba(ids[:, done:c], state=state)  # chunked scan, continuing from the state
            gpt(ids[:, done:c], cache=cache)
            done = c
            tm, tg, s = [], [], state
            for i in range(cfg.steps + 1):  # first step of each is a warm-up
                nxt = ids[:, c + i]
                synchronize(dev)
                t0 = time.perf_counter()
                _, s = mamba.step(nxt, s)
                synchronize(dev)
                t1 = time.perf_counter()
                gpt(nxt[:, None], cache=cache)
                synchronize(dev)
                t2 = time.perf_counter()
                if i:
                    tm.append(t1 - t0)
                    tg.append(t2 - t1)
            cache.truncate(c)
            rows.append((np.median(tm), np.median(tg), _iqr(tm), _iqr(tg), s.nbytes,
                         cache_bytes(gpt.cfg.n_layer, 1, gpt.cfg.n_kv_head, c, gpt.cfg.head_dim,
                                     cache.k.dtype)))
    r = np.array(rows, dtype=np.float64)
    return DecodeResult(np.array(ctx), r[:, 0], r[:, 1], r[:, 2], r[:, 3], r[:, 4].astype(np.int64),
                        r[:, 5].astype(np.int64), str(dev), torch.get_num_threads() if dev.type == "cpu" else 0,
                        cfg.steps)


def _iqr(xs) -> float:
    q1, q3 = np.percentile(xs, [25, 75])
    return float(q3 - q1)


# ------------------------------------------------------------------------------------ both models continue
@dataclass(frozen=True)
class CompareConfig:
    prompt: str = "HAMLET:\nTo be, or not to be"
    new_tokens: int = 80
    temperature: float = 0.8
    seed: int = 0
    eval_windows: int = 4  # held-out windows of 256 bytes (the model cards use 64)
    device: str = "cpu"
    dtype: str = "float32"


@dataclass(frozen=True)
class CompareResult:
    mamba_text: str
    gpt_text: str
    mamba_val: float  # nats/byte over the held-out windows of 256 bytes
    gpt_val: float
    windows: int
    mamba_card_val: float  # the checkpoints' recorded 64-window numbers
    gpt_card_val: float


def compare(cfg: CompareConfig) -> CompareResult:
    """Both trained models continue the same prompt (same sampler and seed) and are scored on the same
    held-out windows (``eval_loss``, the training scripts' protocol)."""
    ids = encode(cfg.prompt, MAX_PROMPT_BYTES, "prompt")
    if not 1 <= cfg.new_tokens <= 1000:
        raise InputError("Ask for 1 … 1000 new tokens.")
    if cfg.temperature < 0:
        raise InputError("The temperature must be ≥ 0 (0 means greedy).")
    mamba, gpt = models(cfg.device, cfg.dtype)
    dev = mamba.tok_emb.weight.device
    sc = SamplingConfig(temperature=cfg.temperature, top_k=40 if cfg.temperature > 0 else 0)
    idx = torch.tensor([ids], device=dev)
    va = torch.tensor(TOK.encode(load_corpus("val")), dtype=torch.long, device=dev)
    with torch_threads(PAGE_THREADS), torch.no_grad():
        out_m = generate(mamba, idx, cfg.new_tokens, sc, seed=cfg.seed, cache=mamba.empty_state(1))
        cache = KVCache.empty(gpt.cfg, 1, len(ids) + cfg.new_tokens, device=dev, dtype=gpt.tok_emb.weight.dtype)
        out_g = generate(gpt, idx, cfg.new_tokens, sc, seed=cfg.seed, cache=cache)
        lm, lg = eval_loss(mamba, va, 256, cfg.eval_windows), eval_loss(gpt, va, 256, cfg.eval_windows)
    return CompareResult(TOK.decode(out_m[0].tolist()), TOK.decode(out_g[0].tolist()), lm, lg, cfg.eval_windows,
                         *(float(m.get("val_loss_nats_per_byte", float("nan"))) for m in model_cards(cfg.device)))


@dataclass(frozen=True)
class LongConfig:
    window: int = 1024  # held-out bytes per window: beyond the 256 both models were trained on
    windows: int = 4
    device: str = "cpu"
    dtype: str = "float32"


@dataclass(frozen=True)
class LongResult:
    bucket_edges: np.ndarray  # (K+1,) positions
    mamba_loss: np.ndarray  # (K,) mean held-out next-byte loss (nats) per position bucket
    gpt_loss: np.ndarray
    windows: int
    trained_context: int


def long_context(cfg: LongConfig) -> LongResult:
    """Next-byte loss by position over long held-out windows: does quality hold beyond the trained context?"""
    if not 64 <= cfg.window <= 16384 or not 1 <= cfg.windows <= 16:
        raise InputError("Choose a window of 64 … 16,384 bytes and 1 … 16 windows.")
    check_budget(cfg.windows * cfg.window * (256 * 4 * 60 + 4 * 4 * 4), what="Scoring the long windows",
                 device=resolve_device(cfg.device))
    mamba, gpt = models(cfg.device, cfg.dtype)
    va = torch.tensor(TOK.encode(load_corpus("val")), dtype=torch.long, device=mamba.tok_emb.weight.device)
    w = min(cfg.window, va.numel() - 2)
    starts = np.linspace(0, va.numel() - w - 2, cfg.windows).astype(int)
    x = torch.stack([va[s: s + w + 1] for s in starts])  # (W, w+1) held-out windows
    with torch_threads(PAGE_THREADS), torch.no_grad():
        per = [F.cross_entropy(m(x[:, :-1])[0].transpose(1, 2).float(), x[:, 1:], reduction="none").mean(0)
               for m in (mamba, gpt)]  # (w,) each
    edges = np.unique(np.r_[0, 2 ** np.arange(5, int(math.log2(w)) + 1), w].clip(0, w))
    b = [np.array([p[a:e].mean().item() for a, e in zip(edges[:-1], edges[1:])]) for p in per]
    return LongResult(edges, b[0], b[1], len(starts), int(gpt.cfg.max_seq_len))


# ------------------------------------------------------------------------------------ claim #21
def claim_21(d: DecodeResult, c: LongResult | None = None, provenance: str | None = None) -> ClaimCheck:
    """Computed from the decode sweep (state vs cache bytes, latency growth, throughput ratio at the
    longest context) and, when given, the loss beyond the trained context."""
    flat = d.mamba_s[-1] / d.mamba_s[0]
    grow = d.gpt_s[-1] / d.gpt_s[0]
    ratio = d.gpt_s[-1] / d.mamba_s[-1]
    const = bool(np.all(d.mamba_state_bytes == d.mamba_state_bytes[0]))
    measured = (f"{d.device}, {d.threads} thread(s): Mamba's state {d.mamba_state_bytes[0]:,} B at every context, "
                f"the GPT's KV cache {d.gpt_cache_bytes[0]:,} → {d.gpt_cache_bytes[-1]:,} B from {d.contexts[0]:,} "
                f"to {d.contexts[-1]:,} tokens; per-token latency ×{flat:.2f} (Mamba) vs ×{grow:.2f} (GPT); "
                f"GPT/Mamba time per token at {d.contexts[-1]:,}: {ratio:.2f}×")
    if c is not None:
        measured += (f"; held-out loss at positions {c.bucket_edges[-2]}–{c.bucket_edges[-1]}: Mamba "
                     f"{c.mamba_loss[-1]:.2f}, GPT {c.gpt_loss[-1]:.2f} nats/byte (trained on "
                     f"{c.trained_context})")
    # total time to reach context n grows as n^exponent: 1 + log(per-token growth) / log(context growth)
    exponent = 1.0 + math.log(flat) / math.log(d.contexts[-1] / d.contexts[0]) if const else None
    return judge_21(ratio, exponent, const, measured=measured,
                    provenance=provenance or (f"recorded: assets/bench/ssm-cpu.json, {d.threads} thread(s)"
                                          if "recorded" in d.device else f"measured live on {d.device}, {d.threads} thread(s)"))


def recorded_decode(path=None) -> DecodeResult | None:
    """The decode rows of the recorded CPU benchmark (``assets/bench/ssm-cpu.json``) as a DecodeResult."""
    import json
    from pathlib import Path

    p = Path(path) if path else Path(__file__).resolve().parents[2] / "assets" / "bench" / "ssm-cpu.json"
    if not p.exists():
        return None
    rows = [r for r in json.loads(p.read_text(encoding="utf-8"))["rows"] if r["kind"] == "decode"]
    m = sorted((r for r in rows if r["method"] == "tiny-mamba"), key=lambda r: r["n"])
    g = sorted((r for r in rows if r["method"] == "tiny-gpt"), key=lambda r: r["n"])
    col = lambda rs, k, s=1.0: np.array([r[k] * s for r in rs])  # noqa: E731
    return DecodeResult(col(m, "n").astype(int), col(m, "median_ms", 1e-3), col(g, "median_ms", 1e-3),
                        col(m, "iqr_ms", 1e-3), col(g, "iqr_ms", 1e-3), col(m, "state_bytes").astype(np.int64),
                        col(g, "state_bytes").astype(np.int64), f"{m[0]['device']} (recorded)", int(m[0]["threads"]),
                        int(m[0]["steps"]))
