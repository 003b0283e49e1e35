"""Serve several requests from a paged KV cache: blocks, block tables, fragmentation, prefix sharing.

section: Generating
title: PagedAttention
icon: 🧱
order: 30
"""
import streamlit as st

from ui import cached, params
from ui.errors import guard
from ui.layout import claim_checks, figure, header, metrics, table
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
block = params.select_slider(c1, "Block size (tokens)", [4, 8, 16, 32, 64], value=16, key="pg_block")
n_req = params.slider(c2, "Requests", 2, 12, 6, key="pg_requests")
max_len = params.select_slider(c3, "Contiguous reservation (max_len)", [128, 256, 512, 1024], value=256, key="pg_maxlen")
pool = params.select_slider(c4, "KV pool (token slots)", [512, 768, 1024, 1536, 2048], value=768, key="pg_pool",
                        help="Both servers get this many token slots; paging cuts them into blocks.")
c1, c2, c3 = st.columns(3)
prefix = params.select_slider(c1, "Shared prompt prefix (tokens)", [0, 16, 40, 64, 100], value=0, key="pg_prefix",
                          help="A system prompt every request starts with. Requests then all arrive at once.")
share = params.toggle(c2, "Share the prefix (copy-on-write)", value=True, key="pg_share", disabled=prefix == 0)
seed = params.number_input(c3, "Request-stream seed", 0, 999, 0, key="pg_seed")

base = dict(block_size=int(block), num_blocks=int(pool) // int(block), max_len=int(max_len), requests=int(n_req),
            shared_prefix=int(prefix), share=bool(share), seed=int(seed))
with guard():
    res = simulate(paged.ServeConfig(**base))

metrics([
    ("Waste, contiguous", f"{res.contig_waste_pct:.0f}%", "reserved but unused slots, averaged over busy steps"),
    ("Waste, paged", f"{res.paged_waste_pct:.1f}%", "unused slots in partly filled last blocks"),
    ("Contiguous needs", f"{res.peak_contig_slots:,} slots", "peak; max-length reservation for the same "
                                                                        "requests in flight"),
    ("Paged uses", f"{res.peak_paged_slots:,} slots", "peak"),
])
st.markdown(f"**Paged attention = ordinary attention:** the largest |difference| of their outputs over every running "
            f"request at every step is **{res.attn_max_err:.1e}** (fp32 rounding; outputs are unitless).")


@st.fragment
def blocks_section():
    """The block map at one step: moving its slider reruns only this section."""
    step = params.slider("Show the blocks at step", 0, res.steps - 1, int(res.snap_step), key="pg_step",
                     help="Starts at the step of peak paged memory.")
    with guard(stop=False):
        snap = simulate(paged.ServeConfig(**base, step=int(step))) if step != res.snap_step else res
        blocks_view(snap)


def blocks_view(snap):
    figure(plots.block_map(snap), key="pg_blocks", provenance=PROV)
    st.caption("Each square is one physical block of the pool. Blocks of one request are scattered over the pool "
               "— the block table, not adjacency, says where its tokens are. A grey block is shared by several "
               "requests (reference count > 1); when a request writes into a shared, partly filled block it gets "
               "its own copy first (copy-on-write).")

    live = [i for i, t in enumerate(snap.tables) if t]
    if live:
        st.markdown(f"**Block tables at step {snap.snap_step}** (logical block j → physical block):")
        table(name="page_table", data={
            "request": [f"request {i}" for i in live],
            "tokens": [int(snap.lengths[i]) for i in live],
            "blocks": [len(snap.tables[i]) for i in live],
            "block table": [" → ".join(str(b) for b in snap.tables[i]) for i in live],
            "unused slots in last block": [len(snap.tables[i]) * res.block_size - int(snap.lengths[i]) for i in live],
        }, hide_index=True)


blocks_section()
figure(plots.memory_timeline(res), key="pg_timeline", provenance=PROV)
cap = res.num_blocks * res.block_size
st.markdown(
    f"**Requests**: prompts {', '.join(str(int(p)) for p in res.prompt_lens)} tokens; answers "
    f"{', '.join(str(int(o)) for o in res.output_lens)} tokens. A contiguous pool of {res.num_blocks} × "
    f"{res.block_size} = {cap:,} slots fits only **{res.contig_fit}** max-length ({res.max_len}-token) requests at "
    f"once. The paged pool ran up to **{int(res.running.max())}** at once; reserving {res.max_len} slots for each "
    f"of those would take up to **{res.peak_contig_slots:,}** slots (the contiguous line), "
    + ("more than the pool has — so a contiguous server could not have run them together" if
       res.peak_contig_slots > cap else "which this pool could also hold")
    + (f". {res.preemptions} pre-emption(s) when the paged pool ran dry: the latest request's blocks were freed and "
       "its tokens recomputed later, as vLLM does" if res.preemptions else "") + ".")

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
