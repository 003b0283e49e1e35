"""Architecture rule 1: viz_core never imports streamlit; pages/, ui/ and app.py never import torch.
Also: every page declares a valid header, and pages stay thin."""
import ast
from pathlib import Path

import pytest

from ui import registry

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _py("viz_core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_viz_core_never_imports_streamlit(path):
    assert "streamlit" not in _imports(path)


@pytest.mark.parametrize("path", _py("pages") + _py("ui") + [ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_and_ui_never_import_torch(path):
    assert "torch" not in _imports(path)


def test_boundary_checker_catches_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\nfrom streamlit import cache_data\n")
    assert {"torch", "streamlit"} <= _imports(bad)


def test_every_page_has_a_valid_header():
    pages = registry.discover_pages()
    assert len(pages) >= 3
    assert sum(p.default for p in pages) == 1
    assert len({p.url_path for p in pages}) == len(pages)


@pytest.mark.parametrize("path", _py("pages"), ids=lambda p: p.name)
def test_pages_are_thin(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"{path.name} has {n} lines; move logic into viz_core or ui"
