"""Measuring honestly: the layer every technique and lab may use, and that imports none of them.

``timer`` (median and spread of timed calls), ``memory`` (budgets, CUDA and CPU peak memory, the
profiler's tensor bytes), ``flops`` (FLOP and byte formulas), ``threads`` (the one torch-threads
context), ``baseline`` (the one eager attention that timings compare against).
"""
