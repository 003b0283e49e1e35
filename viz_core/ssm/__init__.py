"""State-space models: the selective SSM of Mamba (Gu & Dao 2023) in the scalar-decay-per-head form of
Mamba-2 / SSD (Dao & Gu 2024), three scans of the same recurrence, and a tiny byte-level Mamba LM.

- ``selective.py``: input-dependent Δ, B, C and the zero-order-hold discretisation (Gu et al. 2022, S4);
- ``scan.py``: ``scan_sequential`` (the spec), ``scan_parallel`` (Blelloch 1990), ``scan_chunked`` (SSD),
  and the one-token ``step``;
- ``mamba.py``: the tiny Mamba language model with an explicit decoding state.
"""
