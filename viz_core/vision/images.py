"""Loading images safely: bundled samples or uploaded bytes -> RGB uint8 array, with clear messages.

Handles what users upload: corrupt or non-image files, tiny images, huge images (refused or decoded at a
reduced scale before they fill memory), extreme aspect ratios (refused: the lab centre-crops a square),
RGBA (composited on white), greyscale, palette, 16-bit and float images (rescaled to 8 bits, with inf/NaN
pixels counted and reported), CMYK, animated images (first frame) and EXIF rotation. Every conversion
is reported in ``notes``.

Memory: one server serves a class, so the decode's peak is estimated from the header *before* any pixel
is decoded (``decode_peak_bytes``) and checked against the per-request budget
(``viz_core.measure.budget``). The pipeline shrinks in the file's own mode (8-bit, 16-bit or float32
pixels, never float64) before converting to RGB, and ``square_resize`` crops in source coordinates before
it resizes, so no step is ever larger than the decoded file or the requested square.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from viz_core.errors import BudgetError, InputError
from viz_core.measure import budget

IMAGES_DIR = Path(__file__).resolve().parents[2] / "assets" / "images"
MIN_SIDE = 8  # pixels; below this there is nothing to patch
MAX_DECODE_PIXELS = 40_000_000  # the lab's own limit: larger non-JPEG images are refused before decoding
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ASPECT = 8.0  # longest side / shortest side; the lab centre-crops a square, so a strip would be all crop
WORKING_MAX_SIDE = 2048  # images are reduced to this before any conversion or processing
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) uint8
    original_size: tuple[int, int]  # (W, H) as stored in the file
    original_mode: str  # PIL mode of the file, e.g. "RGBA", "I;16"
    notes: tuple[str, ...] = field(default_factory=tuple)


def sample_names() -> list[str]:
    return sorted(p.stem for p in IMAGES_DIR.glob("*.png"))


def _pillow_bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel in Pillow's own storage (3- and 4-band images are stored in 32-bit pixels)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def working_size(w: int, h: int) -> tuple[int, int]:
    """(W, H) after reduction to at most ``WORKING_MAX_SIDE`` on the long side."""
    if max(w, h) <= WORKING_MAX_SIDE:
        return w, h
    scale = WORKING_MAX_SIDE / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode_peak_bytes(w: int, h: int, mode: str) -> int:
    """Estimated peak bytes to decode a (w, h) image of PIL ``mode`` and bring it to RGB uint8.

    decoded pixels in Pillow's storage + a full-size conversion where the mode cannot be resized as it is
    (palette, 1-bit) + the resize's intermediate (reduced width × full height) + the working image in a few
    copies (resized, converted, float32 rescale for high bit depth, the final numpy array).
    """
    bpp = _pillow_bytes_per_pixel(mode)
    raw = w * h * bpp
    # palette/1-bit are converted at full size; RGBA/LA are premultiplied at full size by Pillow's resize
    full_convert = w * h * 4 if mode in ("P", "PA", "1", "RGBA", "LA") or mode not in _RESIZABLE else 0
    ww, wh = working_size(w, h)
    inter = ww * h * max(bpp, 4) if (ww, wh) != (w, h) else 0
    small = ww * wh * (4 * 3 + (8 if mode in HIGH_BIT_MODES else 0))
    return int(raw + full_convert + inter + small)


_RESIZABLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def _rescale_high_bit(img: Image.Image, notes: list[str], reduced: bool = False) -> Image.Image:
    """16-bit / int32 / float32 greyscale -> 8-bit RGB, in float32, with inf/NaN counted and reported."""
    mode = img.mode
    arr = np.asarray(img)
    arr = arr.astype(np.float32, copy=False) if arr.dtype != np.float32 else arr.copy()  # (H, W) float32
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    if n_bad == arr.size:
        raise InputError(f"Every pixel of this {mode} image is infinite or NaN (not a number), so there is "
                         "nothing to show. Save the image with finite values.")
    lo = float(arr[finite].min())
    hi = float(arr[finite].max())
    if n_bad:
        n_pos = int(np.count_nonzero(arr == np.inf))
        n_neg = int(np.count_nonzero(arr == -np.inf))
        n_nan = n_bad - n_pos - n_neg
        arr[arr == np.inf] = hi
        arr[~np.isfinite(arr)] = lo  # −inf and NaN
        where = f" after box reduction to {arr.shape[1]}×{arr.shape[0]}" if reduced else ""
        notes.append(f"Warning: {n_bad:,} of the {arr.size:,} pixel values{where} are not finite "
                     f"(+inf: {n_pos:,}, −inf: {n_neg:,}, NaN: {n_nan:,}). They are drawn as the brightest "
                     "finite value (+inf) and the darkest (−inf, NaN); only the finite values set the scale.")
    if hi > lo:
        arr -= lo
        arr *= np.float32(255.0 / (hi - lo))
    else:
        arr[:] = 0.0
    notes.append(f"{mode} (high bit depth) image rescaled from [{lo:g}, {hi:g}] to 8 bits.")
    return Image.fromarray(np.rint(arr).clip(0, 255).astype(np.uint8), "L").convert("RGB")


def _to_rgb(img: Image.Image, notes: list[str], reduced: bool = False) -> Image.Image:
    mode = img.mode
    if mode in HIGH_BIT_MODES:
        return _rescale_high_bit(img, notes, reduced)
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


def _shrink(img: Image.Image, notes: list[str]) -> Image.Image:
    """Reduce to ``WORKING_MAX_SIDE`` in the file's own mode (before any conversion)."""
    if max(img.size) <= WORKING_MAX_SIDE:
        return img
    if img.mode not in _RESIZABLE:  # palette, 1-bit, YCbCr…: no resampling in that mode
        img = img.convert("RGBA" if img.mode in ("PA",) or "transparency" in img.info else
                          ("L" if img.mode == "1" else "RGB"))
    new = working_size(*img.size)
    # Box averaging for 16-bit and float pixels: no ringing, and an inf/NaN stays inside its own box.
    method = Image.Resampling.BOX if img.mode in HIGH_BIT_MODES else Image.Resampling.LANCZOS
    notes.append(f"Reduced from {img.width}×{img.height} to {new[0]}×{new[1]} before processing.")
    return img.resize(new, method, reducing_gap=None if method == Image.Resampling.BOX else 3.0)


def _check_header(w: int, h: int, mode: str, fmt: str | None) -> None:
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is only {w}×{h} pixels; it needs at least {MIN_SIDE} pixels on each side.")
    aspect = max(w, h) / min(w, h)
    if aspect > MAX_ASPECT:
        raise InputError(f"The image is {w}×{h} pixels, an aspect ratio of {aspect:,.0f}:1. The lab centre-crops "
                         f"a square from every image, so it accepts aspect ratios up to {MAX_ASPECT:g}:1; crop "
                         "the image to a squarer region and upload that.")
    if fmt == "JPEG":
        return  # decoded at reduced scale (draft) below
    if w * h > MAX_DECODE_PIXELS:
        raise InputError(f"The image is {w}×{h} = {w * h / 1e6:.0f} megapixels; this lab decodes images up to "
                         f"{MAX_DECODE_PIXELS / 1e6:.0f} megapixels. Please upload a smaller image.")
    need = decode_peak_bytes(w, h, mode)
    per_px = need / (w * h)
    fit_mp = max(0.0, budget.request_budget_bytes() / per_px / 1e6)
    budget.check_memory(need, what=f"Decoding this {w}×{h} {mode} image",
                        fits=f"{mode} images up to about {fit_mp:.0f} megapixels")


def decode_image(data: bytes) -> LoadedImage:
    """Bytes of a PNG/JPEG/WebP/... file -> LoadedImage, or InputError / BudgetError with a plain reason."""
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
            original_mode = img.mode
            _check_header(w, h, img.mode, img.format)
            if img.format == "JPEG" and max(w, h) > WORKING_MAX_SIDE:
                img.draft("RGB", (WORKING_MAX_SIDE, WORKING_MAX_SIDE))  # decode at 1/2…1/8 scale
                notes.append(f"Large JPEG ({w}×{h}) decoded at reduced scale {img.size[0]}×{img.size[1]}.")
                dw, dh = img.size
                budget.check_memory(decode_peak_bytes(dw, dh, img.mode), what=f"Decoding this {w}×{h} JPEG",
                                    fits="a JPEG with fewer pixels")
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if getattr(img, "n_frames", 1) > 1:
                notes.append("Animated image: the first frame is used.")
            img.load()
            decoded_size = img.size
            img = _shrink(img, notes)
    except (InputError, BudgetError):
        raise
    except Image.DecompressionBombError as e:
        raise InputError(f"The image's header declares a size far beyond this lab's limit of "
                         f"{MAX_DECODE_PIXELS / 1e6:.0f} megapixels (it looks like a decompression bomb), so it "
                         "was not decoded. Please upload a smaller image.") from e
    except UnidentifiedImageError as e:
        raise InputError(f"This file is not an image the lab can read ({type(e).__name__}). "
                         "Upload a PNG, JPEG or WebP.") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise InputError(f"The image file is damaged or truncated and cannot be decoded ({e}).") from e
    except MemoryError as e:  # the estimate above should make this unreachable
        raise BudgetError(f"Decoding this {w}×{h} image ran out of memory.") from e
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
        notes.append("Rotated upright as its EXIF orientation asks.")
    img = _to_rgb(img, notes, reduced=img.size != decoded_size and img.size != decoded_size[::-1])
    return LoadedImage(np.asarray(img, dtype=np.uint8).copy(), (w, h), original_mode, tuple(notes))


def load_sample(name: str) -> LoadedImage:
    path = IMAGES_DIR / f"{name}.png"
    if not isinstance(name, str) or not path.is_file():
        raise InputError(f"No bundled sample image called {name!r}; choose one of {', '.join(sample_names())}.")
    return decode_image(path.read_bytes())


def load(source: str | bytes) -> LoadedImage:
    """A sample name (str) or the bytes of an uploaded file."""
    return load_sample(source) if isinstance(source, str) else decode_image(bytes(source))


def square_resize_peak_bytes(w: int, h: int, size: int) -> int:
    """Peak bytes of ``square_resize``: the source crop and the size×size result (RGB in 32-bit pixels)."""
    s = min(w, h)
    return int(s * s * 4 + size * max(s, size) * 4 + size * size * 4 * 2)


def square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop the largest square (in source coordinates), then resize it to size×size.

    Cropping first means the work is bounded by the source square and the output, whatever the aspect
    ratio (resizing first would scale a 2048×1 strip up to 2,097,152×1024 before cropping).
    """
    h, w = pixels.shape[:2]
    if size < 1 or min(w, h) < 1:
        raise InputError(f"Cannot resize a {w}×{h} image to {size}×{size}.")
    budget.check_memory(square_resize_peak_bytes(w, h, size), what=f"Resizing to {size}×{size}",
                        fits="a smaller image size")
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = Image.fromarray(np.ascontiguousarray(pixels[top:top + s, left:left + s]))
    if s != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.array(img, dtype=np.uint8)
