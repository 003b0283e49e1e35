"""Beyond attention: a selective state-space model (Mamba) with a fixed-size state, trained here and measured
against the tiny GPT with its KV cache.

section: Attention
title: State-space models (Mamba)
icon: 🌀
order: 40
"""
import streamlit as st

from ui import cached, params, state
from ui.errors import guard
from ui.layout import claim_checks, figure, header, metrics, provenance_text as prov, table
from ui.measure_queue import is_shared, measured
from viz_core.errors import human_bytes
from viz_core.labs import ssm as lab
from viz_core.plots import ssm as plots

inspect, compare = cached.data(lab.inspect), cached.data(lab.compare)
long_context, recorded = cached.data(lab.long_context), cached.data(lab.recorded_decode)

header("State-space models (Mamba): a fixed-size state instead of a growing cache",
       "A **selective state-space model** reads a sequence like an RNN: each token updates a fixed-size state "
       "h ← exp(Δ·A)·h + Δ·x·Bᵀ and is read out as y = h·C. Δ, B and C depend on the token (*selection*): a large "
       "Δ lets the old state decay and writes this token in, a small Δ holds on. The same recurrence can be "
       "computed sequentially, as a parallel prefix scan, or chunk by chunk as matrix products (SSD). Below, a "
       "tiny Mamba trained here on the same Shakespeare bytes as the tiny GPT, with about the same parameters.",
       ["Gu & Dao 2023, Mamba", "Dao & Gu 2024, Transformers are SSMs (Mamba-2, SSD)",
        "Blelloch 1990, Prefix Sums and Their Applications", "Gu et al. 2022, S4"])
s = state.settings()
dev = {"device": s.device, "dtype": s.dtype}

st.subheader("The recurrence on your text")
c1, c2 = st.columns([3, 2])
text = params.text_area(c1, "Text (UTF-8 bytes; up to 2,048)", lab.InspectConfig.text, height=90, key="ssm_text")
layer = params.slider(c2, "Layer", 0, 6, 0, key="ssm_layer")
head = params.slider(c2, "Head", 0, 7, 0, key="ssm_head", help="8 heads of 32 channels; each head has one A and one Δ")
channel = params.slider(c2, "Channel in the head", 0, 31, 0, key="ssm_channel")
r = None
with guard(stop=False):
    r = inspect(lab.InspectConfig(text=text, layer=layer, head=head, channel=channel, **dev))
if r is not None:
    metrics([("Bytes", f"{len(r.labels):,}"), ("State, all layers", human_bytes(r.state_bytes),
              "conv (d_inner×3) + SSM (H×P×N) per layer, fp32: the same for any length"),
             ("Mean next-byte loss", f"{r.loss.mean():.2f} nats", "on your text, trained model"),
             ("Scans: max |Δlogit|", f"{r.scan_max_diff.max():.0e}",
              "the model run with each of the three scans against the sequential one")])
    here = "Computed live by the committed tiny Mamba (assets/models/tiny-mamba.pt) on your text"
    figure(plots.state_heatmap(r, head, channel, layer), key="ssm_state", provenance=here)
    figure(plots.delta_per_token(r, head, layer), key="ssm_delta", provenance=here)
    figure(plots.delta_heads(r, layer), key="ssm_delta_heads", provenance=here)
    st.caption(f"The state is recomputed here in float64 from the layer's Δ, B and x (the plain recurrence); it holds "
               f"N = {r.d_state} numbers per channel. exp(Δ·A) near 1: the byte barely changes the state; near 0: the "
               "state is overwritten.")

st.subheader("Three scans of one recurrence, and attention")
c1, c2 = st.columns([3, 1])
lengths = params.multiselect(c1, "Sequence lengths N", [64, 256, 1024, 2048, 4096, 8192], [64, 256, 1024, 4096],
                         key="ssm_lengths")
m = None
mcfg = lab.MixerConfig(lengths=tuple(lengths), device=s.device)
if (c2.button("Time the scans", key="ssm_time", help="≈10–30 s on one CPU thread") or st.session_state.get("ssm_m")
        or is_shared(lab.mixers, mcfg, device=s.device)):
    st.session_state["ssm_m"] = True
    with guard(stop=False):
        m = measured(lab.mixers, mcfg, label="Timing sequential, parallel and chunked scans and SDPA", device=s.device)
if m is not None:
    l, rr = st.columns(2)
    with l:
        figure(plots.scan_times(m), key="ssm_scan_t", provenance=prov("measured live", device=m.device, threads=m.threads))
    with rr:
        figure(plots.work_depth(m), key="ssm_wd", provenance=prov("computed", formula="the work and depth formulas below"))
    table(name="ssm_scan_times", data={"N": m.lengths, **{f"{n} (ms)": (m.time_s[i] * 1e3).round(3) for i, n in enumerate(m.names)},
                  **{f"{n} rel. error": m.max_diff[i] for i, n in enumerate(m.names[:3])}}, hide_index=True)
    cross = "; ".join(f"{k}: " + (f"faster than SDPA from N = {v:,}" if v else "slower than SDPA at every N measured")
                      for k, v in m.crossover.items())
    st.markdown(f"**Prefill crossover (measured):** {cross}. {m.dims}; {m.device}, {m.threads} thread(s).")
    st.caption("Work in multiply-adds with S = H·P·N numbers of state. Sequential: 3·S per token, depth N. "
               "Parallel (Blelloch): ≈ 4·S per token, depth 2·log₂N; the odd tokens' states are materialised, "
               "one cache-sized block of channels at a time. "
               "Chunked SSD: ≈ Q·(N + H + H·P) + 2·S per token as matrix products, depth N/Q + log₂Q (Q = 64). "
               "On one CPU thread depth buys nothing; memory traffic and matmul efficiency decide.")
else:
    c1.caption("Press the button to time the three scans and causal SDPA at each N (median of 3 after a warm-up).")

st.subheader("Decoding: Mamba's state stays fixed, the GPT's KV cache grows")
c1, c2 = st.columns([3, 1])
top = params.select_slider(c1, "Longest context (tokens)", [1024, 4096, 16384, 65536], 4096, key="ssm_ctx",
                       help="Contexts 64, 256, … up to this. The GPT runs beyond its trained 256 (RoPE allows it).")
ctxs = tuple(c for c in (64, 256, 1024, 4096, 16384, 65536) if c <= top)
need, sec = lab.estimate_decode(ctxs, s.device)
c1.caption(f"Estimated before the run: about {human_bytes(need)} and {sec:.0f} s of compute.")
dcfg = lab.DecodeConfig(contexts=ctxs, **dev)
live = c2.button("Measure decoding", key="ssm_dec") or st.session_state.get("ssm_d") or is_shared(lab.decode, dcfg, device=s.device)
d = lr = None
if live:
    st.session_state["ssm_d"] = True
    with guard(stop=False):
        d = measured(lab.decode, dcfg, label="Filling the state and the cache, timing single-token steps", device=s.device)
        lr = long_context(lab.LongConfig(**dev))
else:
    d = recorded()
    st.info("Showing the **recorded** CPU benchmark (`python -m viz_core bench ssm`); press the button to "
            "measure on this machine now." if d is not None else "Press the button to measure.")
if d is not None:
    dp = (prov("measured live", device=d.device, threads=d.threads) if live else
          prov("recorded", hardware=f"{d.device}, {d.threads} thread(s), shared 2-core machine", file="assets/bench/ssm-cpu.json"))
    l, rr = st.columns(2)
    with l:
        figure(plots.decode_latency(d), key="ssm_lat", provenance=dp)
    with rr:
        figure(plots.decode_memory(d), key="ssm_mem", provenance=dp + "; bytes from the state and cache tensors")
    metrics([("Mamba latency growth", f"×{d.mamba_s[-1] / d.mamba_s[0]:.2f}", f"{d.contexts[0]} → {d.contexts[-1]}"),
             ("GPT latency growth", f"×{d.gpt_s[-1] / d.gpt_s[0]:.2f}", f"{d.contexts[0]} → {d.contexts[-1]}"),
             ("State vs KV cache", f"{human_bytes(d.mamba_state_bytes[-1])} / "
                                             f"{human_bytes(d.gpt_cache_bytes[-1])}")])
    st.caption(f"{d.device}, {d.threads} thread(s); the two models alternate step by step so both see the same load. "
               "KV bytes = 2 × 4 layers × 4 heads × 32 × tokens × 4 B; the state does not depend on the context.")
if lr is not None:
    figure(plots.long_context(lr), key="ssm_long", provenance=prov("measured live", device=s.device) + " (losses)")
    st.caption("Held-out Shakespeare, next-byte loss per position. Both models were trained on 256-byte windows.")

st.subheader("The same prompt, continued by both models")
c1, c2, c3 = st.columns([3, 1, 1])
prompt = params.text_input(c1, "Prompt", lab.CompareConfig.prompt, key="ssm_prompt")
n_new = params.slider(c2, "New bytes", 16, 400, 80, step=16, key="ssm_new")
temp = params.select_slider(c3, "Temperature", [0.0, 0.5, 0.8, 1.0], 0.8, key="ssm_temp")
with guard(stop=False):
    cr = compare(lab.CompareConfig(prompt=prompt, new_tokens=n_new, temperature=float(temp), seed=s.seed, **dev))
    l, rr = st.columns(2)
    rec = lambda v: "not recorded" if v != v else f"{v:.3f}"  # noqa: E731 - NaN: no value in the checkpoint
    l.markdown(f"**tiny Mamba** — held-out {cr.mamba_val:.3f} nats/byte (recorded: {rec(cr.mamba_card_val)})")
    l.code(prompt + cr.mamba_text, language=None, wrap_lines=True)
    rr.markdown(f"**tiny GPT** — held-out {cr.gpt_val:.3f} nats/byte (recorded: {rec(cr.gpt_card_val)})")
    rr.code(prompt + cr.gpt_text, language=None, wrap_lines=True)
    st.caption(f"Held-out: {cr.windows} windows of 256 bytes from the last 10% of the corpus, measured now; "
               "recorded: 64 windows, from each model card. Same sampler (top-k 40) and seed for both.")

if d is not None:
    claim_checks([lab.claim_21(d, lr)], title="Claim #21, checked here")
st.caption("Bad input: an empty text or prompt is refused; more than 2,048 bytes (text) or 4,096 (prompt) is "
           "refused with its length; contexts whose estimated memory or time exceed this machine's budget are "
           "refused before anything runs.")
