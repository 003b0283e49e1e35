"""viz_core: runs every technique of Transformer Efficiency Lab in PyTorch and returns plain results.

Never imports streamlit. Layers (top down, each imports only those below; `.importlinter` declares them):
``cli`` | ``plots`` > ``labs`` (one module per page: Config -> run() -> Result of numpy arrays and numbers)
> the techniques (``train``; ``compression`` | ``decoding``; ``sampling``; ``models``; ``attention`` |
``rope`` | ``vision`` | ``tokenizer``) > ``measure`` | ``claims`` > ``device`` > ``errors``.
"""
