"""Decoding: the KV cache (``kv_cache``) and, beside it, paged attention, generation and speculative decoding."""
