"""Generate with and without a KV cache: per-token latency, K/V projections counted, cache bytes, MQA/GQA.

section: Generating
title: KV cache
icon: 💾
order: 20
"""
import dataclasses

import streamlit as st

from ui import cached, params, progress, state
from ui.errors import guard
from ui.layout import ago, claim_checks, figure, header, metrics, provenance_text, table
from ui.measure_queue import measured
from viz_core.labs import kv_cache as kv, kv_cache_fast as fast_lab
from viz_core.measure.budget import check_seconds
from viz_core.plots import decoding as plots

cache_bytes = cached.data(kv.tiny_gpt_cache_bytes)
calc = cached.data(kv.calculate)
gqa_run = cached.data(kv.run_gqa)
gqa_options = cached.data(kv.gqa_variant_options)
gqa_estimate = cached.data(kv.estimate_gqa_s)

header("KV cache: generate without recomputing the past",
       "Each new token attends to the **keys and values** of every earlier one: without a cache the model recomputes "
       "them at every step, with one it computes them once. The tiny GPT writes the same text both ways, timed.",
       ["Pope et al. 2022, Efficiently Scaling Transformer Inference",
        "Shazeer 2019, Fast Transformer Decoding: One Write-Head is All You Need (MQA)",
        "Ainslie et al. 2023, GQA"])

s = state.settings()


@st.fragment
def decode_section():
    """Cached vs uncached generation; an error here (say, a prompt too long) leaves the other sections."""
    c1, c2, c3 = st.columns([3, 1.3, 1.3])
    prompt = params.text_input(c1, "Prompt", "ROMEO: But soft, what light", key="kv_prompt",
                           help="Any text: the tiny GPT reads UTF-8 bytes, so no character is unknown.")
    n_new = params.slider(c2, "New tokens", 8, 200, 64, step=8, key="kv_new")
    temp = params.select_slider(c3, "Temperature", [0.0, 0.5, 0.8, 1.0, 1.5], value=0.0, key="kv_temp",
                            help="0 = greedy. Sampling uses the same random draws in both runs.")
    with guard(stop=False):
        res, measured_at = measured(kv.run, kv.DecodeConfig(prompt=prompt, new_tokens=n_new, temperature=float(temp),
                                                            seed=s.seed, device=s.device, dtype=s.dtype),
                                    label="Generating both ways, timed", device=s.device, stamp=True,
                                    button="▶ Generate with and without the cache (timed)")
    if locals().get("res") is None:
        return

    if res.non_ascii_bytes:
        st.info(f"Your prompt has {res.non_ascii_bytes} non-ASCII byte(s): multi-byte characters become several "
                "byte tokens, which this model (trained on ASCII Shakespeare) rarely saw.")
    live = provenance_text("measured live", device=res.device, threads=res.threads, dtype=s.dtype,
                           when=ago(measured_at))
    metrics(kv.summary_metrics(res))
    st.markdown(f"**Continuation** ({res.new_tokens} tokens after a {res.prompt_tokens}-token prompt):")
    st.code(res.text_cached, language=None, wrap_lines=True)

    l, r = st.columns(2)
    with l: figure(plots.latency(res), key="kv_latency", provenance=live)  # noqa: E701
    with r: figure(plots.cumulative(res), key="kv_cumulative", provenance=live)  # noqa: E701
    st.caption(f"Each point: one step's wall-clock time (device synchronised), median of {res.repeats} runs, the two "
               "methods alternating step by step. The first cached step includes the prefill.")
    if params.radio("**Eager or fast decoding?**", fast_lab.MODES, horizontal=True, key="kv_fast_mode",
                help=fast_lab.SWITCH_HELP) == fast_lab.MODES[1]:
        with guard(stop=False):
            fr = measured(fast_lab.run, fast_lab.FastDecodeConfig(new_tokens=64), label="Timing the decode paths")
            figure(plots.fast_paths(fr), key="kv_fast", provenance=provenance_text("measured live", device=s.device, threads=fr.threads))
            st.markdown(fast_lab.overhead_explanation(fr))
    st.subheader("How many K/V vectors were computed")
    figure(plots.projections(res), key="kv_rows", provenance="Counted live by hooks on the K/V projections; " + live)
    st.markdown(kv.projection_sentence(res))
    with guard(stop=False):
        c9 = measured(kv.claim_9, "tiny-gpt", s.device, s.dtype, label="Timing claim #9", device=s.device)
        claim_checks([c9.check], title="Claim #9, made real")

    st.subheader("The cache grows by a fixed amount per token")
    figure(plots.cache_growth(res), key="kv_bytes",
           provenance="Measured live from the cache tensors (nbytes) and computed by the formula below")
    st.markdown(kv.cache_formula_sentence(res))


decode_section()


@st.fragment
def calculator_section():
    st.subheader("KV cache of real models")
    c1, c2, c3 = st.columns(3)
    ctx = params.select_slider(c1, "Context (tokens)", [512, 1024, 2048, 4096, 8192, 32768, 131072], value=4096, key="kv_ctx")
    batch = params.select_slider(c2, "Batch (sequences)", [1, 2, 4, 8, 16, 32, 64, 128], value=1, key="kv_batch")
    dt = params.selectbox(c3, "Cache dtype", list(kv.BYTES_PER_VALUE), index=1, key="kv_dtype")
    models = params.multiselect("Models", list(kv.MODEL_SHAPES), default=list(kv.CalculatorConfig().models), key="kv_models")
    with guard(stop=False):
        cr = calc(kv.CalculatorConfig(context=int(ctx), batch=int(batch), dtype=dt, models=tuple(models)))
    if "cr" not in locals():
        return
    figure(plots.calculator(cr), key="kv_calc", provenance=provenance_text(
        "computed", formula="2 × layers × kv_heads × head_dim × tokens × bytes, with the published shapes in the table"))
    table(name="kv_cache_models", data=kv.calculator_table(cr), hide_index=True,
          caption="GB = 10⁹ bytes. Shapes from each model's paper and published configuration (source column).")


calculator_section()


@st.fragment
def gqa_section():
    st.subheader("MQA and GQA on the tiny GPT")
    st.markdown("The tiny GPT's key/value heads are **mean-pooled** into fewer groups (Ainslie et al. 2023), "
                "optionally uptrained for a few steps, then scored on held-out Shakespeare it never trained on.")
    steps = params.select_slider("Uptrain every variant (AdamW steps, batch 8 × 128 tokens)", [0, 20, 50, 100], value=0,
                                 key="kv_uptrain", help="Ainslie et al. uptrain converted checkpoints briefly; every "
                                 "variant, the original too, gets the same steps, so the comparison stays fair.")
    with guard(stop=False):
        gcfg = kv.GQAConfig(device=s.device, dtype=s.dtype, uptrain_steps=int(steps))
        if steps:  # minutes on a CPU: one variant at a time, with progress, a stop button and partial results
            est = gqa_estimate(gcfg)  # one AdamW step and one held-out window, timed now
            check_seconds(est, what=f"Uptraining every variant {int(steps)} steps", fits="fewer uptraining steps")
            st.caption(f"Estimated before starting: about {est:.0f} s on this machine.")
            parts, _ = progress.sweep(
                "Uptraining and scoring each variant", gqa_options(gcfg),
                lambda k: gqa_run(dataclasses.replace(gcfg, kv_heads=(k,))), key="kv_gqa_sweep",
                describe=lambda k: f"{k} KV head(s): {steps} AdamW steps, then the held-out loss",
                draw_partial=lambda part: figure(plots.gqa(kv.merge_gqa(part)), provenance="Measuring live …"))
            if not parts:
                return
            g = kv.merge_gqa(parts)
        elif st.session_state.get("kv_gqa_on") or st.button("▶ Score the variants on held-out text", key="kv_gqa_go"):
            st.session_state["kv_gqa_on"] = True  # a few seconds of evaluation: only when asked for
            g = gqa_run(gcfg)
        else:
            return
        figure(plots.gqa(g), key="kv_gqa",
               provenance="Measured live: held-out loss and cache tensor bytes of the pooled models on " + s.device)
        table(name="gqa_variants", data=kv.gqa_table(g), hide_index=True)
        st.caption(f"Measured on {g.eval_tokens:,} held-out tokens (the last 10% of the corpus)"
                   + (f"; every variant uptrained {g.uptrain_steps} steps first." if g.uptrain_steps else
                      "; no uptraining (pooling alone)."))
        claim_checks([kv.claim_10_check(int(st.session_state.get("kv_ctx", 4096)), "float16"),
                      kv.claim_11_check(cache_bytes(s.device))])


gqa_section()
st.caption("An empty prompt, or more tokens than the trained context, is refused with a message (nothing is silently "
           "truncated); any character is accepted (UTF-8 bytes).")
