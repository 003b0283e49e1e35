"""Serve several requests from a paged KV cache: blocks, block tables, fragmentation, prefix sharing.

section: Generating
title: PagedAttention
icon: 🧱
order: 30
"""
import streamlit as st

from ui import cached
from ui.errors import guard
from ui.layout import claim_checks, figure, header, metrics
from viz_core.labs import paged
from viz_core.plots import decoding as plots

PROV = ("Computed live: the block manager serves this request stream step by step and counts slots (no timing; "
        "paged attention checked equal to contiguous)")
simulate = cached.data(paged.simulate)

header("PagedAttention: a KV cache in fixed-size blocks",
       "A server that reserves one contiguous buffer of the **maximum length** for every request wastes "
       "whatever the request does not use — and it does not know in advance how long the answer will be. "
       "PagedAttention cuts the cache into small **blocks** handed out from a free list as tokens arrive; "
       "a per-request **block table** maps logical positions to physical blocks, like virtual memory pages. "
       "Below, a stream of requests is served one decode step at a time, for real: K/V vectors are written "
       "into blocks and attention reads them back through the block tables.",
       ["Kwon et al. 2023, Efficient Memory Management for LLM Serving with PagedAttention (vLLM)"])

c1, c2, c3, c4 = st.columns(4)
block = c1.select_slider("Block size (tokens)", [4, 8, 16, 32, 64], value=16, key="pg_block")
n_req = c2.slider("Requests", 2, 12, 6, key="pg_requests")
max_len = c3.select_slider("Contiguous reservation (max_len)", [128, 256, 512, 1024], value=256, key="pg_maxlen")
pool = c4.select_slider("KV pool (token slots)", [512, 768, 1024, 1536, 2048], value=768, key="pg_pool",
                        help="Both servers get this many token slots; paging cuts them into blocks.")
c1, c2, c3 = st.columns(3)
prefix = c1.select_slider("Shared prompt prefix (tokens)", [0, 16, 40, 64, 100], value=0, key="pg_prefix",
                          help="A system prompt every request starts with. Requests then all arrive at once.")
share = c2.toggle("Share the prefix (copy-on-write)", value=True, key="pg_share", disabled=prefix == 0)
seed = c3.number_input("Request-stream seed", 0, 999, 0, key="pg_seed")

base = dict(block_size=int(block), num_blocks=int(pool) // int(block), max_len=int(max_len), requests=int(n_req),
            shared_prefix=int(prefix), share=bool(share), seed=int(seed))
with guard():
    res = simulate(paged.ServeConfig(**base))
    step = st.slider("Show the blocks at step", 0, res.steps - 1, int(res.snap_step), key="pg_step",
                     help="Starts at the step of peak paged memory.")
    snap = simulate(paged.ServeConfig(**base, step=int(step))) if step != res.snap_step else res

metrics([
    ("Waste, contiguous", f"{res.contig_waste_pct:.0f}%", "reserved but unused slots, averaged over busy steps"),
    ("Waste, paged", f"{res.paged_waste_pct:.1f}%", "unused slots in partly filled last blocks"),
    ("Peak slots, contiguous", f"{res.peak_contig_slots:,}", "what max-length reservation needs for the same "
                                                             "requests in flight"),
    ("Peak slots, paged", f"{res.peak_paged_slots:,}"),
    ("Paged vs contiguous attention", f"{res.attn_max_err:.1e}", "max |difference| over every running request "
                                                                  "at every step (fp32)"),
])

figure(plots.block_map(snap), key="pg_blocks", provenance=PROV)
st.caption("Each square is one physical block of the pool. Blocks of one request are scattered over the pool "
           "— the block table, not adjacency, says where its tokens are. A grey block is shared by several "
           "requests (reference count > 1); when a request writes into a shared, partly filled block it gets "
           "its own copy first (copy-on-write).")

live = [i for i, t in enumerate(snap.tables) if t]
if live:
    st.markdown(f"**Block tables at step {snap.snap_step}** (logical block j → physical block):")
    st.dataframe({
        "request": [f"request {i}" for i in live],
        "tokens": [int(snap.lengths[i]) for i in live],
        "blocks": [len(snap.tables[i]) for i in live],
        "block table": [" → ".join(str(b) for b in snap.tables[i]) for i in live],
        "unused slots in last block": [len(snap.tables[i]) * res.block_size - int(snap.lengths[i]) for i in live],
    }, hide_index=True)

figure(plots.memory_timeline(res), key="pg_timeline", provenance=PROV)
st.markdown(
    f"**Requests**: prompts {', '.join(str(int(p)) for p in res.prompt_lens)} tokens; answers "
    f"{', '.join(str(int(o)) for o in res.output_lens)} tokens. A contiguous pool of {res.num_blocks} × "
    f"{res.block_size} = {res.num_blocks * res.block_size:,} slots holds only **{res.contig_fit}** max-length "
    f"requests at once; the paged pool ran up to **{int(res.running.max())}** at once"
    + (f" ({res.preemptions} pre-emption(s) when it ran dry: the latest request's blocks were freed and its "
       "tokens recomputed later, as vLLM does)" if res.preemptions else "") + ".")

if prefix:
    with guard(stop=False):
        other = simulate(paged.ServeConfig(**{**base, "share": not share}))
        with_s, without = (res, other) if share else (other, res)
        saved = without.peak_paged_slots - with_s.peak_paged_slots
        st.subheader("Prefix sharing")
        metrics([
            ("Peak slots, prefix shared", f"{with_s.peak_paged_slots:,}"),
            ("Peak slots, prefix copied", f"{without.peak_paged_slots:,}"),
            ("Saved by sharing", f"{saved:,} slots ({saved / max(1, without.peak_paged_slots):.0%})"),
            ("Copy-on-write copies", f"{with_s.cow_copies}", "partly filled shared blocks copied on first write"),
        ])

claim_checks([paged.claim_13_check(res)])
st.caption("K/V vectors here are random (2 KV heads, 4 query heads, head_dim 16): the block manager and the "
           "paged attention do not depend on what the vectors mean, and the check above compares paged "
           "attention with ordinary attention over the same vectors at every step.")
