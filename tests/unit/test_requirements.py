"""requirements.txt serves Community Cloud (CPU torch by URL) and, rewritten, this machine (torch==VERSION)."""
import re

import pytest
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
    torch = [ln for ln in local if ln.startswith("torch")]
    fallback = next(ln for ln in _lines("requirements.txt") if ln.startswith("torch=="))
    assert torch == [fallback.split(";")[0].strip()]  # the same version, no marker, no URL
    others = [ln for ln in _lines("requirements.txt") if not ln.startswith("torch")]
    assert [ln for ln in local if not ln.startswith("torch")] == others
    assert all("@" not in ln for ln in local)


def test_nested_requirement_files_are_inlined(tmp_path):
    (tmp_path / "base.txt").write_text(
        "torch @ https://download.pytorch.org/whl/cpu/torch-9.9.1%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"
        ' ; python_version == "3.11"\ntorch==9.9.1 ; sys_platform != "linux"\nnumpy==1.0\n')
    (tmp_path / "dev.txt").write_text("-r base.txt\npytest==1.2  # why\n")
    assert local_requirements.local_lines(tmp_path / "dev.txt") == ["torch==9.9.1", "numpy==1.0", "pytest==1.2"]


@pytest.mark.parametrize("py", ["3.11", "3.12", "3.13", "3.10"])
@pytest.mark.parametrize("system,machine", [("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")])
def test_exactly_one_torch_line_applies_on_each_platform(py, system, machine):
    from packaging.requirements import Requirement

    env = {"python_version": py, "python_full_version": py + ".0", "sys_platform": system,
           "platform_machine": machine, "platform_system": system.title(), "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    torch = [Requirement(ln) for ln in _lines("requirements.txt") if ln.startswith("torch")]
    active = [r for r in torch if r.marker is None or r.marker.evaluate(env)]
    assert len(active) == 1, (py, system, machine, [str(r) for r in active])
    cloud = system == "linux" and machine == "x86_64" and py != "3.10"
    assert (active[0].url is not None) == cloud  # Community Cloud's Linux x86-64 gets the CPU wheel by URL
    if cloud:
        assert f"cp3{py.split('.')[1]}" in active[0].url
