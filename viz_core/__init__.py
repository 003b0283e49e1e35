"""viz_core: runs every technique of Transformer Efficiency Lab in PyTorch and returns plain results.

Never imports streamlit. Public functions take a frozen config dataclass and return a small dataclass of
numpy arrays and numbers; figures are built by pure functions in ``viz_core.plots``.
"""
