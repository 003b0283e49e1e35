"""Ternary (BitNet b1.58) and int8 weights on the tiny GPT: storage, quality and matmul speed, measured.

section: Compressing
title: Low-bit weights
icon: 🧮
order: 20
"""
import streamlit as st

from ui import cached, params, state
from ui.errors import guard
from ui.layout import ago, claim_checks, figure, header, metrics, provenance_text
from ui.measure_queue import measured
from viz_core.device import cuda_available
from viz_core.errors import human_bytes
from viz_core.labs import low_bit as qz
from viz_core.labs import low_bit_kernels as kl
from viz_core.measure.budget import request_budget_bytes
from viz_core.plots import compression as plots

run_kernels = cached.data(kl.run)

header("Low-bit weights: int8 and ternary",
       "BitNet b1.58 stores every weight as −1, 0 or +1 times one scale per matrix (γ = mean |W|): about "
       "1.58 bits of information, packed here in 2 bits. A matrix product then needs only additions and "
       "subtractions. Below: what that does to the tiny GPT's quality, its storage, and what a matrix product "
       "costs with the kernels PyTorch has on this machine.",
       ["Ma et al. 2024, The Era of 1-bit LLMs (BitNet b1.58)", "Wang et al. 2023, BitNet",
        "Dettmers et al. 2022, LLM.int8()"])

c1, c2 = st.columns(2)
# The default fits a small CPU server (~100 MiB of operands); 7B-class layers need ~400 MiB and unlock on a GPU.
shapes = ["2048 × 2048 (1B-class)", "4096 × 4096 (7B-class)", "4096 × 11008 (7B MLP)", "128 × 512 (tiny GPT MLP)"]
on_gpu = state.settings().device != "cpu" and cuda_available()
dims = {"2048 × 2048 (1B-class)": (2048, 2048), "4096 × 4096 (7B-class)": (4096, 4096),
        "4096 × 11008 (7B MLP)": (4096, 11008), "128 × 512 (tiny GPT MLP)": (128, 512)}
if not on_gpu:  # on the CPU only the layers whose kernel timing fits one request's memory budget are offered
    shapes = [k for k in shapes if qz.kernel_peak_bytes(qz.QuantConfig(*dims[k], batch_tokens=256)) <=
              request_budget_bytes()]
shape = params.selectbox(c1, "Benchmark layer", shapes, index=1 if on_gpu else 0, key="lowbit_shape",
                         help="At 4096 × 4096 the fp32 weights are 64 MiB: the timing then reads from memory, "
                              "not cache, as a 7B model's decoding does.")
tokens = params.select_slider(c2, "Tokens per product", [1, 16, 256], value=1, key="lowbit_tokens",
                          help="1 = decoding one token (a matrix-vector product, bound by memory bandwidth).")
n_in, n_out = dims[shape]
with guard():
    qcfg = qz.QuantConfig(layer_in=n_in, layer_out=n_out, batch_tokens=tokens, windows=4,
                          device=state.settings().device)
    res, res_at = measured(qz.run, qcfg, device=state.settings().device,
                           label="Quantising the tiny GPT and timing the kernels", stamp=True,
                           button="▶ Quantise the tiny GPT, score it and time the kernels",
                           long=(qz.estimate_s(qcfg), "a smaller benchmark layer or fewer tokens per product"))

if res is not None:
    s = {n: i for i, n in enumerate(res.schemes)}
    items = [("fp32 loss", f"{res.val_loss[s['fp32']]:.3f}", "nats/byte on held-out text"),
             ("int8 loss", f"{res.val_loss[s['int8']]:.3f}"),
             ("ternary, post-training", f"{res.val_loss[s['ternary (post-training)']]:.3f}")]
    if "ternary (trained, STE)" in s:
        items.append(("ternary, trained", f"{res.val_loss[s['ternary (trained, STE)']]:.3f}",
                      "fine-tuned with ternary weights (straight-through estimator)"))
    items.append(("Ternary storage", f"{res.storage_bytes[0] / res.storage_bytes[s['ternary (post-training)']]:.1f}× less",
                  f"{human_bytes(res.storage_bytes[0])} → {human_bytes(res.storage_bytes[s['ternary (post-training)']])}"))
    metrics(items)
    figure(plots.quant_quality(res), key="quality", provenance=provenance_text("measured live", device=res.device, when=ago(res_at)) + " (held-out loss of the committed checkpoints; storage by formula)")
    figure(plots.weight_corners(res), key="corners", provenance="Computed from the committed tiny-GPT weights")
    if res.ternary_meta:
        m = res.ternary_meta
        st.caption(f"Trained ternary model: {m.get('steps')} steps of quantisation-aware fine-tuning from the fp32 "
                   f"tiny GPT (lr {m.get('lr')}, {m.get('train_wall_s')} s with {m.get('threads')} thread on the machine "
                   "named in its model card), "
                   "weights stored packed at 2 bits each in assets/models/tiny-gpt-ternary.pt; evaluated here with float "
                   "activations. " + qz.qat_sentence(res))
    else:
        st.info("The trained ternary checkpoint is missing; run `python -m viz_core.train qat`.")

    st.subheader("Does fewer bits mean faster here?")
    figure(plots.kernel_times(res, f"W {n_out}×{n_in}, {tokens} token(s)"), key="kernels",
           provenance=provenance_text("measured live", device=res.device, when=ago(res_at)) + " (median kernel times)")
    st.caption("Median of up to 7 timed calls (at most 0.5 s of them) after a warm-up, on " + res.device.upper() + ". Output error of each kernel vs fp32 "
               "(max, relative): " + ", ".join(f"{k}: {e:.1e}" for k, e in zip(res.kernels, res.kernel_max_err))
               + ". The ternary rows compute the ternarised matrix, a different model, hence their large error.")
    claim_checks([qz.bitnet_claim(res)])

st.subheader("Ternary kernels that beat fp32: time against bytes of weights read")
st.caption("At batch 1 (decoding) a product y = W x reads every weight once and does two operations per weight, "
           "so its time is set by the bytes of weights read. Compiled kernels (numba) read the ternary weights "
           "in int8 (8 bits), 2-bit packed, or as lookup-table indices (2 bits, groups of 4), each copy of the "
           "matrix used in turn so the weights come from memory, not cache.")
k1, k2 = st.columns(2)
kshape = params.selectbox(k1, "GEMV shape (out × in)", ["4096x4096", "11008x4096"], key="lowbit_kshape")
fits_live = kl.live_peak_bytes(kl.KernelConfig(source="live", shape=kshape)) <= request_budget_bytes()
live = params.toggle(k2, "Measure live here (a few seconds)", value=False, key="lowbit_live") if fits_live else False
if not fits_live:  # one kernel's copies of the matrix are more than one request may use on this server
    k2.caption(f"Live timing at {kshape} needs about {human_bytes(kl.live_peak_bytes(kl.KernelConfig(shape=kshape)))}"
               f", more than one request may use here ({human_bytes(request_budget_bytes())}): the recorded run "
               "is shown; `python -m viz_core bench lowbit` measures it on your own machine.")
with guard():
    kcfg = kl.KernelConfig(source="live" if live else "recorded", shape=kshape)
    kres = measured(kl.run, kcfg, label="Timing the ternary kernels") if live else run_kernels(kcfg)
    figure(plots.time_vs_bytes(kres), key="time_vs_bytes", provenance=kres.provenance)
    best = max((j for j, k in enumerate(kres.kernels) if k != "fp32"), key=lambda j: kres.speedup_best[j])
    st.caption(f"{kres.provenance}, {kres.threads} thread; filled: median of the timed calls (bars = IQR), open: "
               "the fastest call; × = speed-up vs fp32 (ratio of medians; best = ratio of fastest calls, the least "
               "disturbed on a shared CPU, where preemption stretches long calls most). Best ternary kernel: "
               f"{kl.LABELS[kres.kernels[best]]}, {kres.speedup[best]:.1f}× ({kres.speedup_best[best]:.1f}× best) fp32"
               + (f"; numba compile once per machine {kres.compile_s:.1f} s (cached on disk)" if kres.compile_s else "")
               + ". " + kl.lut_explanation(kres))
    gpt = kl.recorded_tiny_gpt()
    if gpt:
        st.caption("The QAT ternary tiny GPT end to end (recorded, greedy decoding with the KV cache, 1 thread): "
                   + "; ".join(f"{r['kernel']} {r['tokens_per_s']:.0f} tokens/s, loss {r['val_loss_nats_per_byte']:.3f}"
                               " nats/byte" for r in gpt)
                   + f". One block linear takes {gpt[0]['block_linear_us_kernel']:.0f} µs through the kernel vs "
                   f"{gpt[0]['block_linear_us_torch']:.0f} µs in torch: at width 128 per-call overhead dominates, "
                   "so the model's speed says nothing about the kernel; the 4096-wide products above do.")
    claim_checks([kl.lut_claim(kres)], title="Claim #22, checked here")
