"""Real models that run offline: a tiny GPT and a tiny ViT trained here (``viz_core.train``), and SmolLM2-135M run
by our own Llama implementation (``llama.py`` + ``smollm.py``). Checkpoints live in ``assets/models/``."""
from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "assets" / "models"
