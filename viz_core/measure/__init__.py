"""Measuring honestly: the layer every technique and lab may use, and that imports none of them.

``timer`` (median and spread of timed calls), ``memory`` (budgets, CUDA and CPU peak memory, the
profiler's tensor bytes), ``flops`` (FLOP and byte formulas), ``threads`` (the one torch-threads
context), ``baseline`` (the one eager attention that timings compare against), ``roofline`` (measured
compute and memory roofs, a run's place and % of roof), ``queue`` (the server-wide measurement queue: one
timed run per device at a time, threads set inside, load recorded).
"""
