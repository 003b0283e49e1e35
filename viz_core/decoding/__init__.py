"""Decoding: generation with and without a KV cache (``generate``), the cache-memory formula (``memory``),
MHA -> GQA/MQA conversion (``gqa_convert``), paged attention (``paged``) and speculative decoding
(``speculative``). The KV cache itself is ``viz_core.models.kv_cache``; the pages' runners are in
``viz_core.labs``."""
