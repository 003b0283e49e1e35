"""The import map (.importlinter) holds: layers only import downwards and viz_core's packages form no cycle.

Runs import-linter's `lint-imports` on the tree as it is, and once on a copy with an upward import planted,
to show the contract catches a break."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    return subprocess.run(cmd + ["--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": str(Path(sys.executable).parent)})


def test_the_import_map_holds():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_an_upward_import_breaks_it(tmp_path):
    for name in ("viz_core", "ui", "pages"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    with (tmp_path / "viz_core" / "rope.py").open("a", encoding="utf-8") as fh:
        fh.write("\nfrom viz_core.labs import attention_lab  # an upward import: a technique using a page runner\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "viz_core.rope -> viz_core.labs.attention_lab" in res.stdout
