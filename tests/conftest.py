"""Shared test set-up: repo root on sys.path, deterministic single-threaded torch, an output folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUTPUT = ROOT / "test-output"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / ".cache" / "inductor"))


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    # Two cores shared with a browser and a server: one torch thread is faster and repeatable here.
    try:
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
