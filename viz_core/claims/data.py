"""Quantitative claims from popular teaching material, stated in the lab's own words with their source.

A page shows a claim with ``ClaimCheck``: what this device measured or computed, and a verdict.
The verdict is decided by the claim's judge (``viz_core.claims.judges``) from the value, never typed in by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Claim:
    id: int
    text: str  # the claim, paraphrased
    source: str  # where it comes from / the condition it holds under


class Verdict(str, Enum):
    HOLDS = "holds"
    PARTLY = "holds partly"
    NOT_HERE = "does not hold here"
    NOT_MEASURED = "not measured here"


@dataclass(frozen=True)
class ClaimCheck:
    claim: Claim
    measured: str  # what the lab measured/computed, with units and device
    verdict: Verdict
    why: str  # one line on why
    value: float | None = None  # the number the judge compared with the claimed range (units in ``measured``)
    provenance: str = ""  # "computed (formula)", "measured live (...)", "recorded (file, date, hardware)", ...


CLAIMS: dict[int, Claim] = {c.id: c for c in (
    Claim(1, "One fp32 score matrix for one head needs 1 MB at 512 tokens, 16 MB at 2048, 256 MB at 8192 "
             "and 4 GB at 32768 tokens.", "Arithmetic: N² entries × 4 bytes"),
    Claim(2, "Attention 'FLOPs' grow from 0.26 M at 512 tokens to about 1 B at 32768.",
          "These numbers are N² score entries; forward FLOPs are 4·N²·d per head"),
    Claim(3, "GPT-3 at 2048 tokens: 4 M scores per head, ≈1.5 GB per layer over 96 heads, ≈144 GB over 96 layers.",
          "fp32, if every layer's scores were kept at once"),
    Claim(4, "FlashAttention is exact, 2–4× faster and uses 5–20× less memory than standard attention.",
          "Dao et al. 2022; the FlashAttention repo reports 10× memory saving at 2K and 20× at 4K"),
    Claim(5, "FlashAttention-2 is 5–7× faster than standard attention.",
          "Against standard PyTorch attention; the FA2 paper (Dao 2023) reports up to 3–10×"),
    Claim(6, "Linear attention is 10–50× faster at n=4096, needs O(1) memory in its recurrent form, and loses "
             "only 1–2% accuracy.", "Katharopoulos et al. 2020, Transformers are RNNs"),
    Claim(7, "Local attention with window 128 at n=2048 is 16× faster.", "Arithmetic: N / window"),
    Claim(8, "At n=4096, sparse (local) attention is 8–16× faster, Performer 5–10×, Linformer 4–8×.",
          "Compare Long Range Arena (Tay et al. 2020), Table 2 at 4K: Performer 5.7×, Linformer 5.5×, "
          "local 5.3×, BigBird 1.1×"),
    Claim(9, "Generating 100 tokens costs 5,050 K/V computations without a cache and 100 with one: 50× faster.",
          "Counts K/V projections; the real speed-up depends on the model and prompt"),
    Claim(10, "KV cache bytes = 2 × layers × sequence length × d_model × bytes per value.",
          "Per sequence, multi-head attention; GQA/MQA divide by heads / kv_heads"),
    Claim(11, "With multi-query attention, 8 heads share one K and one V, so the KV cache is 8× smaller.",
          "Shazeer 2019, Fast Transformer Decoding: One Write-Head is All You Need"),
    Claim(12, "Speculative decoding gives 2–3× with no quality loss; with 4 of 5 drafts accepted, each target "
              "pass yields 4 tokens.", "Leviathan et al. 2023; Chen et al. 2023"),
    Claim(13, "PagedAttention removes fragmentation, batches efficiently and shares memory between requests.",
          "Kwon et al. 2023: existing systems waste 60–80% of KV memory, paging under 4%"),
    Claim(14, "ViT on 224×224 with 16×16 patches sees 196 tokens instead of 50,176 pixels: 100× fewer elements.",
          "Arithmetic"),
    Claim(15, "A 512×512 image makes 1024 patches and ≈1 M attention entries, against ≈38 K at 224×224.",
          "Arithmetic, 16×16 patches"),
    Claim(16, "RoPE works for any length, and q·k depends only on the distance between positions.",
          "Su et al. 2021; 'any length' does not hold beyond the training context without scaling"),
    Claim(17, "Dropping half the attention layers of Llama-2-70B gives a 40–50% speed-up for ~3% quality loss.",
          "He et al. 2024, What Matters in Transformers? Not All Attention Is Needed"),
    Claim(18, "PyramidDrop cuts LLaVA-NeXT training time by 40% and inference FLOPs by 55%.", "Xing et al. 2024"),
    Claim(19, "BitNet b1.58 runs up to 6× faster on x86 CPUs and 5× on ARM, losslessly.",
          "bitnet.cpp (Microsoft, 2024)"),
    Claim(20, "Full attention over 1000 patches is 1,000,000 comparisons; efficient attention needs 10,000: "
              "10× faster with the same quality.", "The ratio is 100×, and 'same quality' depends on the method"),
    Claim(21, "State-space models (Mamba) handle unlimited length, are an alternative to attention, give about 5× "
              "the generation throughput of a same-size Transformer and scale linearly in length.",
          "Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces"),
    Claim(22, "Lookup tables replace multiplications for ternary weights: sums per activation group are "
              "precomputed once and each packed weight group indexes them.",
          "bitnet.cpp TL kernels (Microsoft, 2024); T-MAC (Wei et al. 2024)"),
)}
