"""PagedAttention's memory manager and attention through a block table (Kwon et al. 2023, "Efficient Memory
Management for Large Language Model Serving with PagedAttention", the vLLM paper).

Instead of reserving one contiguous max-length buffer per request, the KV cache is cut into fixed-size
*blocks* (``block_size`` tokens each) taken from a free list. Each sequence has a *block table* mapping its
logical blocks to physical ones, so memory grows one block at a time and at most one partly-filled block per
sequence is wasted (internal fragmentation < block_size tokens). Sequences that share a prefix (a common
system prompt, parallel samples of one prompt) share its physical blocks with reference counts; the first
write into a shared block copies it (copy-on-write).

``paged_attention`` reads K/V block by block through the table with an online softmax (never building a
contiguous copy), and is tested equal to contiguous attention. ``simulate`` serves a stream of requests
under both schemes and accounts for the memory each wastes.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from viz_core.errors import BudgetError, InputError


class OutOfBlocks(BudgetError):
    """The block pool is exhausted (a server would pre-empt a request)."""


class BlockManager:
    """Free list + reference counts + per-sequence block tables. Pure bookkeeping (no tensors)."""

    def __init__(self, num_blocks: int, block_size: int):
        if num_blocks < 1 or block_size < 1:
            raise InputError(f"Need at least one block of at least one token (got {num_blocks} × {block_size}).")
        self.num_blocks, self.block_size = int(num_blocks), int(block_size)
        self.free: deque[int] = deque(range(self.num_blocks))
        self.refcount = np.zeros(self.num_blocks, dtype=np.int64)
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}
        self.copies = 0  # copy-on-write events

    # -------------------------------------------------------------- allocation
    def _take(self) -> int:
        if not self.free:
            raise OutOfBlocks(f"All {self.num_blocks} KV blocks are in use.")
        b = self.free.popleft()
        self.refcount[b] = 1
        return b

    def _release(self, b: int) -> None:
        self.refcount[b] -= 1
        if self.refcount[b] == 0:
            self.free.append(b)

    def add(self, seq: int) -> None:
        if seq in self.tables:
            raise InputError(f"Sequence {seq} already exists.")
        self.tables[seq], self.lengths[seq] = [], 0

    def append_slot(self, seq: int) -> tuple[int, int, int | None]:
        """Reserve the slot for the next token of ``seq``: (physical block, offset, copied_from or None).

        A new block is taken when the last one is full; if the last block is shared (refcount > 1) it is
        copied first (copy-on-write) and the caller must copy its contents from ``copied_from``.
        """
        table, n = self.tables[seq], self.lengths[seq]
        off = n % self.block_size
        src = None
        if off == 0:
            table.append(self._take())
        elif self.refcount[table[-1]] > 1:
            src = table[-1]
            new = self._take()
            self._release(src)
            table[-1] = new
            self.copies += 1
        self.lengths[seq] = n + 1
        return table[-1], off, src

    def fork(self, parent: int, child: int) -> None:
        """``child`` starts as ``parent``'s exact prefix, sharing every physical block."""
        self.add(child)
        self.tables[child] = list(self.tables[parent])
        self.lengths[child] = self.lengths[parent]
        for b in self.tables[child]:
            self.refcount[b] += 1

    def free_seq(self, seq: int) -> None:
        for b in self.tables.pop(seq):
            self._release(b)
        self.lengths.pop(seq)

    # -------------------------------------------------------------- accounting
    @property
    def used_blocks(self) -> int:
        return self.num_blocks - len(self.free)

    def stored_tokens(self) -> int:
        """Distinct token slots holding data (a shared block's tokens count once)."""
        return int(self.fill().sum())

    def fill(self) -> np.ndarray:
        """(num_blocks,) tokens stored in each physical block."""
        filled = np.zeros(self.num_blocks, dtype=np.int64)
        for seq, table in self.tables.items():
            n = self.lengths[seq]
            for j, b in enumerate(table):
                filled[b] = max(filled[b], min(self.block_size, n - j * self.block_size))
        return filled


class PagedKVCache:
    """Physical K/V pages (num_blocks, H_kv, block_size, D) for one layer, addressed through a BlockManager."""

    def __init__(self, num_blocks: int, block_size: int, n_kv_head: int, head_dim: int, *,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.mgr = BlockManager(num_blocks, block_size)
        shape = (num_blocks, n_kv_head, block_size, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)

    def append(self, seq: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v (H_kv, D): the next token of ``seq``."""
        b, off, src = self.mgr.append_slot(seq)
        if src is not None:
            self.k[b].copy_(self.k[src])
            self.v[b].copy_(self.v[src])
        self.k[b, :, off] = k
        self.v[b, :, off] = v

    def block_table(self, seqs: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded block tables (B, max_blocks) long (−1 pad) and context lengths (B,) long."""
        tables = [self.mgr.tables[s] for s in seqs]
        width = max(1, max(len(t) for t in tables))
        bt = torch.full((len(seqs), width), -1, dtype=torch.long)
        for i, t in enumerate(tables):
            bt[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        lens = torch.tensor([self.mgr.lengths[s] for s in seqs], dtype=torch.long)
        return bt.to(self.k.device), lens.to(self.k.device)

    def gather(self, seq: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Contiguous copy (H_kv, n, D) of one sequence's K and V (for tests and comparison only)."""
        t, n = self.mgr.tables[seq], self.mgr.lengths[seq]
        idx = torch.tensor(t, dtype=torch.long, device=self.k.device)
        k = self.k[idx].permute(1, 0, 2, 3).reshape(self.k.shape[1], -1, self.k.shape[-1])[:, :n]
        v = self.v[idx].permute(1, 0, 2, 3).reshape(self.v.shape[1], -1, self.v.shape[-1])[:, :n]
        return k, v


def paged_attention(q: torch.Tensor, k_pages: torch.Tensor, v_pages: torch.Tensor, block_tables: torch.Tensor,
                    context_lens: torch.Tensor, *, scale: float | None = None) -> torch.Tensor:
    """Decode-step attention reading K/V through block tables, one block at a time (online softmax).

    q: (B, H, D) one query per sequence; k_pages, v_pages: (num_blocks, H_kv, block_size, D);
    block_tables: (B, max_blocks) long, −1 = unused; context_lens: (B,) tokens per sequence.
    H must be a multiple of H_kv (GQA/MQA). Returns (B, H, D).
    """
    bsz, h, d = q.shape
    h_kv, bs = k_pages.shape[1], k_pages.shape[2]
    if h % h_kv:
        raise InputError(f"Query heads ({h}) must be a multiple of KV heads ({h_kv}).")
    rep = h // h_kv
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    qf = q.float() * scale
    m = torch.full((bsz, h), float("-inf"), device=q.device)  # running max
    l = torch.zeros((bsz, h), device=q.device)  # running normaliser
    acc = torch.zeros((bsz, h, v_pages.shape[-1]), device=q.device)  # running Σ p·v
    pos = torch.arange(bs, device=q.device)
    for j in range(block_tables.shape[1]):
        blk = block_tables[:, j]  # (B,)
        valid_blk = blk >= 0
        kb = k_pages[blk.clamp(min=0)].float().repeat_interleave(rep, dim=1)  # (B, H, bs, D)
        vb = v_pages[blk.clamp(min=0)].float().repeat_interleave(rep, dim=1)
        s = torch.einsum("bhd,bhnd->bhn", qf, kb)  # (B, H, bs)
        valid = (j * bs + pos)[None, :] < context_lens[:, None]  # (B, bs)
        valid = valid & valid_blk[:, None]
        s = s.masked_fill(~valid[:, None, :], float("-inf"))
        m_new = torch.maximum(m, s.max(dim=-1).values)
        m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        p = torch.exp(s - m_safe[..., None])  # (B, H, bs)
        corr = torch.exp(torch.where(torch.isinf(m), torch.full_like(m, float("-inf")), m - m_safe))
        l = l * corr + p.sum(-1)
        acc = acc * corr[..., None] + torch.einsum("bhn,bhnd->bhd", p, vb)
        m = m_new
    out = acc / l.clamp(min=1e-30)[..., None]
    return out.to(q.dtype)
