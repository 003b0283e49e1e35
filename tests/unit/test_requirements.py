"""requirements.txt serves Community Cloud (CPU torch by URL) and, rewritten, this machine (torch==VERSION)."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import local_requirements  # noqa: E402


def _lines(name: str) -> list[str]:
    return [ln.strip() for ln in (ROOT / name).read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def test_torch_urls_are_cpu_wheels_of_one_version_matching_their_python():
    urls = [ln for ln in _lines("requirements.txt") if ln.startswith("torch @")]
    assert len(urls) >= 2
    fallback = [ln for ln in _lines("requirements.txt") if ln.startswith("torch==")]
    assert len(fallback) == 1
    version = fallback[0].split("==")[1].split(";")[0].strip()
    for ln in urls:
        m = re.search(r"/torch-([0-9.]+)%2Bcpu-cp3(\d+)-cp3\2-manylinux_2_28_x86_64\.whl ; "
                      r'python_version == "3\.(\d+)"', ln)
        assert m, ln
        assert m.group(1) == version, ln
        assert m.group(2) == m.group(3), f"wheel tag and marker disagree: {ln}"
        assert ln.startswith("torch @ https://download.pytorch.org/whl/cpu/"), ln
    assert not any(ln.startswith(("--extra-index-url", "--index-url")) for ln in _lines("requirements.txt")), \
        "an extra index would make uv take other packages from PyTorch's index"


def test_local_file_has_the_same_pins_with_plain_torch(tmp_path):
    local = local_requirements.local_lines(ROOT / "requirements.txt")
    assert sum(ln.startswith("torch") for ln in local) == 1
    assert "torch==" + _lines("requirements.txt")[-1 - len(_lines("requirements.txt")) + 4].split("==")[1].split()[0] \
        in local or any(re.fullmatch(r"torch==[0-9.]+", ln) for ln in local)
    others = [ln for ln in _lines("requirements.txt") if not ln.startswith("torch")]
    assert [ln for ln in local if not ln.startswith("torch")] == others
    assert all("@" not in ln for ln in local)


def test_nested_requirement_files_are_inlined(tmp_path):
    (tmp_path / "base.txt").write_text(
        "torch @ https://download.pytorch.org/whl/cpu/torch-9.9.1%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"
        ' ; python_version == "3.11"\ntorch==9.9.1 ; sys_platform != "linux"\nnumpy==1.0\n')
    (tmp_path / "dev.txt").write_text("-r base.txt\npytest==1.2  # why\n")
    assert local_requirements.local_lines(tmp_path / "dev.txt") == ["torch==9.9.1", "numpy==1.0", "pytest==1.2"]
