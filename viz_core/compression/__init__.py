"""Compression: dropping redundant attention layers and tokens, and low-bit (ternary) weights."""
