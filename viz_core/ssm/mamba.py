"""Tiny Mamba: a byte-level language model built from selective state-space blocks (Gu & Dao 2023, "Mamba:
Linear-Time Sequence Modeling with Selective State Spaces", Fig. 3), with the scalar-per-head decay of Mamba-2
(Dao & Gu 2024) so that the chunked SSD scan applies. No attention, no positions: order enters only through the
causal convolution and the recurrence.

Block (pre-norm residual):  u -> RMSNorm -> in_proj -> (x, z)
                            x -> causal depthwise conv1d (width K) -> SiLU -> selective SSM (+ D·x)
                            y · SiLU(z) -> out_proj -> + u

Decoding carries an explicit ``MambaState`` (never stored on the model): per layer the last K−1 conv inputs
(d_inner, K−1) and the SSM state (H, P, N). Its size is fixed: it does not grow with the context, unlike a
KV cache. Tokens are UTF-8 bytes (``viz_core.models.gpt.ByteTokenizer``, as the tiny GPT); this module only
sees ids (``models`` and ``ssm`` are sibling layers and do not import each other).

API
    cfg = MambaConfig(n_layer=7, d_model=128)
    model = TinyMamba(cfg)
    logits, state = model(idx)                            # idx (B, N) long -> (B, N, V); state after the last token
    logits, state = model(idx, state=state, scan="sequential")   # continue from a state; any of the 3 scans
    logits, state = model.step(idx_t, state)              # idx_t (B,) -> logits (B, V): O(1) per token
    model, cfg, meta = load_tiny_mamba()                  # assets/models/tiny-mamba.pt, eval mode
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from viz_core.errors import InputError
from viz_core.ssm.scan import SCANS, scan_chunked, step as ssm_step
from viz_core.ssm.selective import selective_inputs

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class MambaConfig:
    vocab_size: int = 256
    n_layer: int = 7
    d_model: int = 128
    expand: int = 2  # d_inner = expand · d_model
    head_dim: int = 32  # P: channels sharing one Δ and one A
    d_state: int = 32  # N
    d_conv: int = 4  # K
    max_seq_len: int = 256  # context trained on (the recurrence itself has no limit)
    tie_embeddings: bool = True
    norm_eps: float = 1e-5

    def __post_init__(self):
        if (self.expand * self.d_model) % self.head_dim:
            raise InputError(f"d_inner ({self.expand * self.d_model}) must be a multiple of head_dim "
                             f"({self.head_dim}).")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def n_heads(self) -> int:
        return self.d_inner // self.head_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MambaConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class MambaState:
    """The whole decoding state: fixed size, whatever the context length."""
    conv: torch.Tensor  # (L, B, d_inner, K−1): last K−1 inputs of each causal conv
    ssm: torch.Tensor  # (L, B, H, P, N): the recurrent state
    length: int = 0  # tokens consumed so far (for display; the model does not need it)

    @classmethod
    def empty(cls, cfg: MambaConfig, batch: int = 1, device="cpu", dtype=torch.float32) -> "MambaState":
        return cls(torch.zeros(cfg.n_layer, batch, cfg.d_inner, cfg.d_conv - 1, device=device, dtype=dtype),
                   torch.zeros(cfg.n_layer, batch, cfg.n_heads, cfg.head_dim, cfg.d_state, device=device,
                               dtype=dtype), 0)

    @property
    def nbytes(self) -> int:
        return self.conv.numel() * self.conv.element_size() + self.ssm.numel() * self.ssm.element_size()

    def clone(self) -> "MambaState":
        return MambaState(self.conv.clone(), self.ssm.clone(), self.length)


def state_bytes(cfg: MambaConfig, batch: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes of the decoding state: L·B·(d_inner·(K−1) + H·P·N)·bytes. Independent of the context length."""
    return cfg.n_layer * batch * (cfg.d_inner * (cfg.d_conv - 1) + cfg.n_heads * cfg.head_dim * cfg.d_state) \
        * bytes_per_value


class RMSNorm(nn.Module):
    """x / rms(x) · g (Zhang & Sennrich 2019)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.cfg = cfg
        di, h = cfg.d_inner, cfg.n_heads
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.in_proj = nn.Linear(cfg.d_model, 2 * di, bias=False)
        self.conv = nn.Conv1d(di, di, cfg.d_conv, groups=di, bias=True)  # depthwise; causal by left context
        self.x_proj = nn.Linear(di, h + 2 * cfg.d_state, bias=False)  # -> Δ (pre-softplus), B, C
        self.dt_bias = nn.Parameter(torch.zeros(h))
        self.A_log = nn.Parameter(torch.zeros(h))  # A = −exp(A_log) < 0
        self.D = nn.Parameter(torch.ones(h))  # skip y += D·x
        self.out_proj = nn.Linear(di, cfg.d_model, bias=False)

    def ssm_inputs(self, xc: torch.Tensor):
        """xc (B, L, d_inner) -> x (B, L, H, P), dt (B, L, H), A (H,), Bm, Cm (B, L, N)."""
        c = self.cfg
        dt, Bm, Cm = selective_inputs(xc, self.x_proj.weight, self.dt_bias, c.n_heads, c.d_state)
        return xc.unflatten(-1, (c.n_heads, c.head_dim)), dt, -torch.exp(self.A_log), Bm, Cm

    def forward(self, u, conv_state, ssm_state, scan: str = "chunked", chunk: int = 64):
        """u (B, L, d); conv_state (B, d_inner, K−1); ssm_state (B, H, P, N) or None (zeros).
        Returns (u + block(u) (B, L, d), new conv_state, new ssm_state, internals dict)."""
        x, z = self.in_proj(self.norm(u)).chunk(2, dim=-1)  # (B, L, d_inner) each
        xt = torch.cat([conv_state, x.transpose(1, 2)], dim=-1)  # (B, d_inner, K−1+L): left context
        xc = F.silu(self.conv(xt)).transpose(1, 2)  # (B, L, d_inner)
        xh, dt, A, Bm, Cm = self.ssm_inputs(xc)
        kw = {"chunk": chunk} if scan == "chunked" else {}
        y, h = SCANS[scan](xh, dt, A, Bm, Cm, ssm_state, **kw)  # (B, L, H, P), (B, H, P, N)
        y = (y + self.D[:, None] * xh).flatten(-2) * F.silu(z)  # (B, L, d_inner)
        new_conv = xt[..., xt.shape[-1] - (self.cfg.d_conv - 1):]
        return u + self.out_proj(y), new_conv, h, {"dt": dt, "B": Bm, "C": Cm, "x": xh}

    def step(self, u_t, conv_state, ssm_state):
        """One token: u_t (B, d) -> (B, d), with conv_state (B, d_inner, K−1), ssm_state (B, H, P, N)."""
        x, z = self.in_proj(self.norm(u_t)).chunk(2, dim=-1)  # (B, d_inner)
        window = torch.cat([conv_state, x[..., None]], dim=-1)  # (B, d_inner, K)
        xc = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)  # (B, d_inner)
        xh, dt, A, Bm, Cm = self.ssm_inputs(xc[:, None])  # length-1 sequence
        y, h = ssm_step(ssm_state, xh[:, 0], dt[:, 0], A, Bm[:, 0], Cm[:, 0])  # (B, H, P), (B, H, P, N)
        y = (y + self.D[:, None] * xh[:, 0]).flatten(-2) * F.silu(z)  # (B, d_inner)
        return u_t + self.out_proj(y), window[..., 1:], h


class TinyMamba(nn.Module):
    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(MambaBlock(cfg) for _ in range(cfg.n_layer))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self._init()

    def _init(self):
        """As in the Mamba reference: Δ = softplus(dt_bias) log-uniform in [0.001, 0.1]; A = −(1 … 16)
        spread over the heads; small normal weights; residual projections scaled by 1/√(2·layers)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
        h = self.cfg.n_heads
        for blk in self.blocks:
            dt = torch.exp(torch.rand(h) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
            with torch.no_grad():
                blk.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
                blk.A_log.copy_(torch.log(torch.linspace(1.0, 16.0, h)))
            nn.init.normal_(blk.out_proj.weight, std=0.02 / math.sqrt(2 * self.cfg.n_layer))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def empty_state(self, batch: int = 1) -> MambaState:
        p = self.tok_emb.weight
        return MambaState.empty(self.cfg, batch, p.device, p.dtype)

    def forward(self, idx: torch.Tensor, *, state: MambaState | None = None, scan: str = "chunked",
                chunk: int = 64, return_internals: bool = False, cache: MambaState | None = None):
        """idx (B, N) long -> (logits (B, N, V), state after the last token[, per-layer internals]).
        ``cache`` is an alias of ``state`` so that ``viz_core.sampling.generate(model, …, cache=state)`` works
        as for the GPT."""
        state = cache if state is None else state
        if idx.dim() != 2:
            raise InputError(f"Token ids must be shaped (batch, length); got {tuple(idx.shape)}.")
        if idx.shape[1] == 0:
            raise InputError("The prompt is empty: give at least one token.")
        if scan not in SCANS:
            raise InputError(f"Unknown scan {scan!r}; choose one of {sorted(SCANS)}.")
        state = self.empty_state(idx.shape[0]) if state is None else state
        if idx.shape[1] == 1 and not return_internals:  # one token: the O(1) step (same result, tested)
            logits, new = self.step(idx[:, 0], state)
            return logits[:, None], new
        x = self.tok_emb(idx)  # (B, N, d)
        convs, ssms, internals = [], [], []
        for i, blk in enumerate(self.blocks):
            x, c, h, inside = blk(x, state.conv[i], state.ssm[i], scan=scan, chunk=chunk)
            convs.append(c)
            ssms.append(h)
            internals.append(inside)
        logits = self.head(self.norm_f(x))  # (B, N, V)
        new = MambaState(torch.stack(convs), torch.stack(ssms), state.length + idx.shape[1])
        return (logits, new, internals) if return_internals else (logits, new)

    def step(self, idx_t: torch.Tensor, state: MambaState):
        """idx_t (B,) long -> (logits (B, V), new state). Cost independent of state.length."""
        x = self.tok_emb(idx_t)  # (B, d)
        convs, ssms = [], []
        for i, blk in enumerate(self.blocks):
            x, c, h = blk.step(x, state.conv[i], state.ssm[i])
            convs.append(c)
            ssms.append(h)
        return self.head(self.norm_f(x)), MambaState(torch.stack(convs), torch.stack(ssms), state.length + 1)


@torch.no_grad()
def greedy(model: TinyMamba, prompt: torch.Tensor, n_new: int, *, use_step: bool = True) -> torch.Tensor:
    """Greedy continuation of prompt (B, N): with ``use_step`` the prompt is scanned once and each new token
    costs one ``step``; otherwise the whole sequence is re-run for every token (the spec). -> (B, n_new)."""
    out = []
    if use_step:
        logits, state = model(prompt)
        nxt = logits[:, -1].argmax(-1)  # (B,)
        for _ in range(n_new):
            out.append(nxt)
            logits_t, state = model.step(nxt, state)
            nxt = logits_t.argmax(-1)
    else:
        seq = prompt
        for _ in range(n_new):
            nxt = model(seq, scan="sequential")[0][:, -1].argmax(-1)
            out.append(nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
    return torch.stack(out, 1)


# ---------------------------------------------------------------------------------------------- checkpoints
MODELS_DIR = Path(__file__).resolve().parents[2] / "assets" / "models"


def save_checkpoint(path: str | Path, model: TinyMamba, tokenizer: dict, *, meta: dict | None = None,
                    dtype: torch.dtype = torch.float16) -> Path:
    """Plain tensors (``torch.load(weights_only=True)``), weights stored in ``dtype`` (fp16 by default);
    ``tokenizer`` is the tokenizer's ``to_dict()``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu", dtype).clone() for k, v in model.state_dict().items()
          if not (model.cfg.tie_embeddings and k == "head.weight")}
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "tiny-mamba", "config": model.cfg.to_dict(),
                "tokenizer": dict(tokenizer), "meta": json.dumps(meta or {}), "state_dict": sd}, path)
    return path


def load_checkpoint(path: str | Path, device="cpu", dtype: torch.dtype = torch.float32):
    """-> (model in eval mode, requires_grad False; cfg; meta dict with the tokenizer's dict under "tokenizer")."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"No checkpoint at {path}; run `python -m viz_core.train.mamba` to make it.")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = MambaConfig.from_dict(ck["config"])
    model = TinyMamba(cfg)
    sd = {k: v.to(torch.float32) for k, v in ck["state_dict"].items()}
    if cfg.tie_embeddings:
        sd["head.weight"] = sd["tok_emb.weight"]
    model.load_state_dict(sd)
    model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    meta = json.loads(ck.get("meta", "{}"))
    meta["tokenizer"] = ck["tokenizer"]
    return model, cfg, meta


def load_tiny_mamba(name: str = "tiny-mamba", device="cpu", dtype: torch.dtype = torch.float32):
    """-> (model, cfg, meta) from assets/models/<name>.pt; a fresh model each call (callers cache it)."""
    return load_checkpoint(MODELS_DIR / f"{name}.pt", device, dtype)


__all__ = ["MambaConfig", "MambaState", "TinyMamba", "greedy", "load_tiny_mamba",
           "save_checkpoint", "load_checkpoint", "state_bytes", "scan_chunked"]
