"""The PagedAttention page: a serving simulation of paged vs contiguous KV memory, and claim #13.

Kwon et al. 2023, "Efficient Memory Management for Large Language Model Serving with PagedAttention".
Requests arrive and grow; the paged server stores their K/V in fixed-size blocks from ``BlockManager``
(sharing a common prefix copy-on-write), the contiguous one reserves ``max_len`` slots per request. Every
step checks paged attention against contiguous attention on the same data.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from viz_core.claims import ClaimCheck, judge_13
from viz_core.decoding.paged import OutOfBlocks, PagedKVCache, paged_attention
from viz_core.errors import InputError
from viz_core.measure.threads import PAGE_THREADS, with_threads


# ---------------------------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class ServeConfig:
    block_size: int = 16
    num_blocks: int = 48  # pool size; the contiguous scheme gets the same number of token slots
    max_len: int = 256  # what a contiguous server reserves per request (the model's maximum length)
    requests: int = 6
    shared_prefix: int = 0  # tokens of a common prompt prefix every request shares (0 = none)
    share: bool = True  # share the prefix's blocks copy-on-write (off: every request stores its own copy)
    step: int = -1  # snapshot step for the block map (−1: the step of peak paged memory)
    seed: int = 0
    n_kv_head: int = 2
    head_dim: int = 16


@dataclass(frozen=True)
class ServeResult:
    prompt_lens: np.ndarray  # (R,)
    output_lens: np.ndarray  # (R,)
    arrival: np.ndarray  # (R,) step each request arrives
    steps: int
    # time series, one value per step
    tokens: np.ndarray  # tokens stored (paged, distinct)
    paged_alloc: np.ndarray  # slots allocated in blocks
    contig_alloc: np.ndarray  # slots reserved by the contiguous scheme (same requests in flight)
    contig_tokens: np.ndarray  # tokens the contiguous scheme stores (prefix copied per request)
    running: np.ndarray  # requests in flight (paged)
    contig_fit: int  # requests a contiguous pool of the same size can hold at once
    # snapshot
    snap_step: int
    block_owner: np.ndarray  # (num_blocks,) request id, −1 free, −2 shared by several
    block_fill: np.ndarray  # (num_blocks,) tokens in each block
    block_refs: np.ndarray  # (num_blocks,) reference count
    tables: tuple[tuple[int, ...], ...]  # per request at the snapshot (empty when not in flight)
    lengths: np.ndarray  # (R,) tokens per request at the snapshot
    # accounting
    paged_waste_pct: float  # time-averaged internal fragmentation of paging
    contig_waste_pct: float  # time-averaged waste of contiguous max-length reservation
    peak_paged_slots: int
    peak_contig_slots: int
    shared_saved_blocks: int  # blocks not allocated thanks to prefix sharing (at the snapshot)
    cow_copies: int
    preemptions: int  # requests pre-empted when the pool ran dry
    attn_max_err: float  # max |paged − contiguous attention| over all in-flight requests, every step
    block_size: int
    num_blocks: int
    max_len: int


def _requests(cfg: ServeConfig):
    rng = np.random.default_rng(cfg.seed)
    limit = cfg.max_len - cfg.shared_prefix
    if limit < 4:
        raise InputError(f"The shared prefix ({cfg.shared_prefix}) leaves no room under max_len ({cfg.max_len}).")
    prompt = rng.integers(4, max(5, limit // 4), cfg.requests)
    out = np.minimum(rng.integers(8, max(9, limit // 2), cfg.requests), limit - prompt)
    arrival = np.sort(rng.integers(0, max(1, int(out.mean()) // 3), cfg.requests))
    arrival[0] = 0
    return prompt + cfg.shared_prefix, out, arrival


@with_threads(PAGE_THREADS)
def simulate(cfg: ServeConfig) -> ServeResult:
    """Runs with one torch thread (tiny tensors).

    Serve ``requests`` (random prompt/output lengths, staggered arrivals; all at step 0 when they share a
    prefix) through a paged KV cache, one decode token per running request per step. Requests are admitted
    first-come-first-served when their prompt fits in free blocks; when the pool runs dry the latest admitted
    request is pre-empted (its blocks freed, its tokens recomputed on re-admission, as vLLM does). The same
    requests in flight are accounted for a contiguous server that reserves ``max_len`` slots per request.
    Every step, paged attention for every running request is checked against contiguous attention."""
    if not 1 <= cfg.block_size <= 256:
        raise InputError("Block size must be between 1 and 256 tokens.")
    if not 1 <= cfg.requests <= 64:
        raise InputError("Serve between 1 and 64 requests.")
    if cfg.num_blocks * cfg.block_size < cfg.max_len + cfg.block_size:
        raise InputError(f"The pool ({cfg.num_blocks} blocks × {cfg.block_size} tokens) must hold at least one "
                         f"max-length request ({cfg.max_len} tokens) plus a block; enlarge it.")
    if cfg.num_blocks > 4096 or cfg.max_len > 8192:
        raise InputError("Keep the pool ≤ 4096 blocks and max_len ≤ 8192 tokens for this demo.")
    prompt, out, arrival = _requests(cfg)
    if cfg.shared_prefix:
        arrival = np.zeros_like(arrival)
    total = prompt + out
    g = torch.Generator().manual_seed(cfg.seed)
    h, d, bs = cfg.n_kv_head, cfg.head_dim, cfg.block_size
    prefix_k = torch.randn(cfg.shared_prefix, h, d, generator=g)
    prefix_v = torch.randn(cfg.shared_prefix, h, d, generator=g)
    kv = []  # every request's K/V for all its tokens; the prefix part is identical across requests
    for r in range(cfg.requests):
        extra = int(total[r]) - cfg.shared_prefix
        kv.append((torch.cat([prefix_k, torch.randn(extra, h, d, generator=g)]),
                   torch.cat([prefix_v, torch.randn(extra, h, d, generator=g)])))
    cache = PagedKVCache(cfg.num_blocks, bs, h, d)
    mgr = cache.mgr
    sharing = cfg.shared_prefix > 0 and cfg.share
    base = cfg.shared_prefix if sharing else 0
    if sharing:  # a hidden sequence (id −1) holds the shared prefix; requests fork from it
        mgr.add(-1)
        for t in range(cfg.shared_prefix):
            cache.append(-1, prefix_k[t], prefix_v[t])
    waiting, running, done = deque(range(cfg.requests)), [], set()
    filled = np.zeros(cfg.requests, dtype=np.int64)
    series: dict[str, list[int]] = {k: [] for k in ("tokens", "paged", "contig", "contig_tok", "running")}
    snap, best, err, step, preempted = None, -1, 0.0, 0, 0
    qg = torch.Generator().manual_seed(cfg.seed + 1)

    def preempt(victim: int) -> None:
        nonlocal preempted
        running.remove(victim)
        mgr.free_seq(victim)
        waiting.appendleft(victim)
        preempted += 1

    while len(done) < cfg.requests:
        if step > 100_000:  # pragma: no cover - guards against a scheduling bug
            raise RuntimeError("simulation did not finish")
        while waiting and arrival[waiting[0]] <= step:  # admit while the (re)computed prompt fits
            r = waiting[0]
            target = max(int(prompt[r]), int(filled[r]))
            if math.ceil((target + 1) / bs) - base // bs > len(mgr.free):
                break
            waiting.popleft()
            mgr.fork(-1, r) if sharing else mgr.add(r)
            for t in range(base, target):
                cache.append(r, kv[r][0][t], kv[r][1][t])
            filled[r] = target
            running.append(r)
        for r in list(running):  # one decode token per running request
            while r in running and filled[r] < total[r]:
                try:
                    cache.append(r, kv[r][0][filled[r]], kv[r][1][filled[r]])
                    filled[r] += 1
                    break
                except OutOfBlocks:
                    preempt(running[-1])
        if running:  # attention through the block tables vs contiguous attention over the same K/V
            bt, lens = cache.block_table(running)
            q = torch.randn(len(running), h * 2, d, generator=qg)  # GQA: 2 query heads per KV head
            o = paged_attention(q, cache.k, cache.v, bt, lens)
            for i, r in enumerate(running):
                n = int(filled[r])
                kr = kv[r][0][:n].permute(1, 0, 2).repeat_interleave(2, dim=0)  # (H, n, D)
                vr = kv[r][1][:n].permute(1, 0, 2).repeat_interleave(2, dim=0)
                w = torch.softmax(torch.einsum("hd,hnd->hn", q[i], kr) / math.sqrt(d), dim=-1)
                err = max(err, float((o[i] - torch.einsum("hn,hnd->hd", w, vr)).abs().max()))
        used = mgr.used_blocks * bs
        series["tokens"].append(mgr.stored_tokens())
        series["paged"].append(used)
        series["contig"].append(len(running) * cfg.max_len)
        series["contig_tok"].append(int(sum(filled[r] for r in running)))
        series["running"].append(len(running))
        if (cfg.step < 0 and used > best) or step == cfg.step or (cfg.step >= 0 and snap is None):
            best = used
            owners = {b: [s for s, t in mgr.tables.items() if b in t] for b in range(cfg.num_blocks)}
            owner = np.full(cfg.num_blocks, -1, dtype=np.int64)
            for b, seqs in owners.items():
                if len(seqs) > 1 or (seqs and seqs[0] < 0):
                    owner[b] = -2
                elif seqs:
                    owner[b] = seqs[0]
            refs = mgr.refcount.copy()
            snap = (step, owner, mgr.fill(), refs,
                    tuple(tuple(mgr.tables[r]) if r in running else () for r in range(cfg.requests)),
                    np.array([filled[r] if r in running else 0 for r in range(cfg.requests)]),
                    int(np.maximum(refs - 2, 0).sum()) if sharing else 0)
        for r in list(running):  # finished requests return their blocks
            if filled[r] >= total[r]:
                running.remove(r)
                mgr.free_seq(r)
                done.add(r)
        step += 1
    tokens, paged = np.array(series["tokens"]), np.array(series["paged"])
    contig, ctok = np.array(series["contig"]), np.array(series["contig_tok"])
    busy = contig > 0
    paged_waste = 100.0 * float((paged[busy] - tokens[busy]).sum() / max(1, paged[busy].sum()))
    contig_waste = 100.0 * float((contig[busy] - ctok[busy]).sum() / max(1, contig[busy].sum()))
    s_step, owner, fill, refs, tables, lens, saved = snap
    return ServeResult(
        prompt_lens=prompt, output_lens=out, arrival=arrival, steps=len(tokens), tokens=tokens, paged_alloc=paged,
        contig_alloc=contig, contig_tokens=ctok, running=np.array(series["running"]),
        contig_fit=(cfg.num_blocks * bs) // cfg.max_len, snap_step=s_step, block_owner=owner, block_fill=fill,
        block_refs=refs, tables=tables, lengths=lens, paged_waste_pct=paged_waste, contig_waste_pct=contig_waste,
        peak_paged_slots=int(paged.max()), peak_contig_slots=int(contig.max()), shared_saved_blocks=saved,
        cow_copies=mgr.copies, preemptions=preempted, attn_max_err=err, block_size=bs,
        num_blocks=cfg.num_blocks, max_len=cfg.max_len)


def claim_13_check(res: ServeResult) -> ClaimCheck:
    """Kwon et al.: existing systems waste 60–80% of KV memory; paging wastes under 4%."""
    measured = (f"{len(res.prompt_lens)} requests, block {res.block_size}: contiguous max-length ({res.max_len}) "
                f"reservation wastes {res.contig_waste_pct:.0f}% of reserved slots, paging "
                f"{res.paged_waste_pct:.1f}% (time-averaged); paged attention equals contiguous within "
                f"{res.attn_max_err:.1e}" + (f"; prefix sharing saved {res.shared_saved_blocks} blocks at step "
                                              f"{res.snap_step}" if res.shared_saved_blocks else ""))
    return judge_13(res.paged_waste_pct, res.contig_waste_pct, measured=measured,
                    provenance="computed live (block-manager simulation of these requests; no timing)")
