"""Turn requirements.txt (written for Streamlit Community Cloud) into the file installed on this machine.

requirements.txt pins torch to PyTorch's CPU-only wheel by direct URL, one line per Python version, so that
Community Cloud (uv, or pip as a fallback) downloads the ~200 MB CPU build instead of PyPI's ~3 GB CUDA build,
without searching that index for any other package. That index cannot be reached from these machines, and a
GPU box wants PyPI's CUDA build, so the local scripts install the same pins with ``torch==<version>`` instead.
Nested ``-r`` files are inlined. Usage: python scripts/local_requirements.py requirements-dev.txt > out.txt
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

URL_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*@\s*(?P<url>\S+/(?P=name)-(?P<ver>[0-9][^-%+]*)(?:%2B|\+)[^-]+-\S+\.whl)"
                      r"\s*(?:;\s*(?P<marker>.*))?$")


def local_lines(path: Path, seen: set[Path] | None = None) -> list[str]:
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    out: list[str] = []
    pinned: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += local_lines(path.parent / line.split(None, 1)[1], seen)
            continue
        if line.startswith(("--extra-index-url", "--index-url", "-i ")):
            continue  # an index only Community Cloud can reach
        m = URL_LINE.match(line)
        if m:
            name = m["name"]
            if name not in pinned:
                out.append(f"{name}=={m['ver']}")
                pinned.add(name)
            continue
        name = re.split(r"[=<>!~; \[]", line, 1)[0]
        if name in pinned:
            continue  # the fallback line for other platforms of a package already pinned above
        out.append(line)
    return out


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "requirements.txt")
    sys.stdout.write("\n".join(local_lines(src)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
