"""All training in the lab: one shared loop (``loop.py``) and what it trains — the tiny GPT (``gpt.py``), the
tiny ViT (``vit.py``), the ternary QAT fine-tune (``qat.py``) and the tiny Mamba (``mamba.py``). ``python -m viz_core.train {gpt,vit,qat,mamba} ...``
Models in ``viz_core.models`` never import this package."""
