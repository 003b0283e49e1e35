"""Measuring honestly: timers, peak memory, FLOP formulas, and the benchmark CLI runner."""
