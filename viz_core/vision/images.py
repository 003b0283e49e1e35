"""Loading images safely: bundled samples or uploaded bytes -> RGB uint8 array, with clear messages.

Handles what users upload: corrupt or non-image files, tiny images, huge images (refused or decoded at a
reduced scale before they fill memory), RGBA (composited on white), greyscale, palette, 16-bit and float
images (rescaled to 8 bits), CMYK, and EXIF rotation. Every conversion is reported in ``notes``.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from viz_core.errors import InputError

IMAGES_DIR = Path(__file__).resolve().parents[2] / "assets" / "images"
MIN_SIDE = 8  # pixels; below this there is nothing to patch
MAX_DECODE_PIXELS = 40_000_000  # ~120 MB as RGB; larger non-JPEG images are refused before decoding
MAX_FILE_BYTES = 50 * 1024 * 1024
WORKING_MAX_SIDE = 2048  # images are reduced to this before any processing


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) uint8
    original_size: tuple[int, int]  # (W, H) as stored in the file
    original_mode: str  # PIL mode of the file, e.g. "RGBA", "I;16"
    notes: tuple[str, ...] = field(default_factory=tuple)


def sample_names() -> list[str]:
    return sorted(p.stem for p in IMAGES_DIR.glob("*.png"))


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        notes.append(f"{mode} (high bit depth) image rescaled from [{lo:g}, {hi:g}] to 8 bits.")
        return Image.fromarray(np.nan_to_num(scaled).round().astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("Transparent image composited on a white background.")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "1" or mode == "L":
        notes.append("Greyscale image copied into three RGB channels.")
        return img.convert("RGB")
    if mode != "RGB":
        notes.append(f"{mode} image converted to RGB.")
        return img.convert("RGB")
    return img


def decode_image(data: bytes) -> LoadedImage:
    """Bytes of a PNG/JPEG/WebP/... file -> LoadedImage, or InputError with a plain reason."""
    if not data:
        raise InputError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"The file is {len(data) / 2**20:.0f} MB; the lab accepts images up to "
                         f"{MAX_FILE_BYTES // 2**20} MB.")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies below
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if img.format == "JPEG" and w * h > MAX_DECODE_PIXELS // 4:
                img.draft("RGB", (WORKING_MAX_SIDE, WORKING_MAX_SIDE))  # decode at 1/2…1/8 scale
                notes.append(f"Large JPEG ({w}×{h}) decoded at reduced scale {img.size[0]}×{img.size[1]}.")
            elif w * h > MAX_DECODE_PIXELS:
                raise InputError(f"The image is {w}×{h} = {w * h / 1e6:.0f} megapixels; decoding it would need "
                                 f"about {w * h * 3 / 2**20:.0f} MB. Please upload an image under "
                                 f"{MAX_DECODE_PIXELS / 1e6:.0f} megapixels.")
            original_mode = img.mode
            img.load()
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError("The image is far too large to decode safely (over "
                         f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels). Please upload a smaller one.") from e
    except UnidentifiedImageError as e:
        raise InputError(f"This file is not an image the lab can read ({type(e).__name__}). "
                         "Upload a PNG, JPEG or WebP.") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"The image file is damaged or truncated and cannot be decoded ({e}).") from e
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is only {w}×{h} pixels; it needs at least {MIN_SIDE} pixels on each side.")
    if getattr(img, "n_frames", 1) > 1:
        notes.append("Animated image: the first frame is used.")
    img = ImageOps.exif_transpose(img) or img
    img = _to_rgb(img, notes)
    if max(img.size) > WORKING_MAX_SIDE:
        scale = WORKING_MAX_SIDE / max(img.size)
        new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        notes.append(f"Reduced from {img.width}×{img.height} to {new[0]}×{new[1]} before processing.")
        img = img.resize(new, Image.Resampling.LANCZOS)
    return LoadedImage(np.asarray(img, dtype=np.uint8).copy(), (w, h), original_mode, tuple(notes))


def load_sample(name: str) -> LoadedImage:
    path = IMAGES_DIR / f"{name}.png"
    if not path.is_file():
        raise InputError(f"No bundled sample image called {name!r}; choose one of {', '.join(sample_names())}.")
    return decode_image(path.read_bytes())


def load(source: str | bytes) -> LoadedImage:
    """A sample name (str) or the bytes of an uploaded file."""
    return load_sample(source) if isinstance(source, str) else decode_image(source)


def square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` and centre-crop to size×size (the usual ViT preprocessing)."""
    img = Image.fromarray(pixels)
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    left = (img.width - size) // 2
    top = (img.height - size) // 2
    return np.array(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
