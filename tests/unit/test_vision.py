"""Patching and patch embedding: shapes, exact reconstruction, conv == unfold+linear, and bad input."""
import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from viz_core.errors import InputError
from viz_core.labs import patch_embedding as embedding_lab, vit_patching as patching_lab
from viz_core.vision import embedding, images, patching


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_with_claimed_size(w: int, h: int) -> bytes:
    """A tiny valid PNG whose header claims w×h (a decompression bomb as uploads can be)."""
    data = bytearray(png_bytes(Image.new("RGB", (8, 8))))
    ihdr = 8 + 8  # signature + (length, type)
    data[ihdr:ihdr + 8] = struct.pack(">II", w, h)
    crc = zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize("p", [1, 2, 4, 7, 16])
def test_patchify_shapes_and_exact_reconstruction(p):
    h, w = 7 * 16, 7 * 16
    x = torch.randn(2, 3, h, w)
    t = patching.patchify(x, p)
    assert t.shape == (2, (h // p) * (w // p), 3 * p * p)
    assert torch.equal(patching.unpatchify(t, p, h, w), x)


def test_patch_order_is_row_major():
    x = torch.arange(4 * 4, dtype=torch.float32).reshape(1, 1, 4, 4).repeat(1, 3, 1, 1)
    t = patching.patchify(x, 2)  # 2×2 grid
    # token 1 is the top-right patch: its first pixel is x[0, 0, 0, 2]
    assert t[0, 1, 0] == x[0, 0, 0, 2]
    assert t[0, 2, 0] == x[0, 0, 2, 0]


def test_patchify_rejects_non_divisible():
    with pytest.raises(InputError):
        patching.patchify(torch.zeros(1, 3, 10, 10), 3)


def test_run_counts_and_costs():
    r = patching_lab.run("chelsea", patching_lab.PatchConfig(image_size=224, patch_size=16))
    assert r.n_tokens == 196 and r.grid == (14, 14) and r.n_pixels == 224 * 224
    assert r.reconstruction_max_error == 0.0
    assert r.patches.shape == (196, 16, 16, 3) and r.patches.dtype == np.uint8
    assert r.patch_cost.score_entries == 196**2
    assert r.patch_cost.score_bytes_fp32 == 196**2 * 4
    assert r.patch_cost.flops_per_layer == 4 * 196**2 * 768
    # the first patch is the image's top-left corner
    assert np.array_equal(r.patches[0], r.image[:16, :16])


def test_patch_size_that_does_not_divide_is_resized_with_a_note():
    r = patching_lab.run("coffee", patching_lab.PatchConfig(image_size=224, patch_size=14 * 2 + 4))  # 32 → 224 ok
    assert r.image_size == 224
    r = patching_lab.run("coffee", patching_lab.PatchConfig(image_size=100, patch_size=16))
    assert r.image_size % 16 == 0 and r.image_size == 96
    assert any("does not divide" in n for n in r.notes)
    with pytest.raises(InputError):
        patching.fit_size(32, 64)


def test_conv_equals_unfold_linear():
    conv = embedding.make_patch_embed(8, 32, seed=3)
    x = torch.randn(2, 3, 64, 48)
    a = embedding.embed_conv(conv, x)
    b = embedding.embed_unfold_linear(conv, x)
    assert a.shape == (2, (64 // 8) * (48 // 8), 32)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_embedding_run():
    r = embedding_lab.run("astronaut", embedding_lab.EmbedConfig(image_size=64, patch_size=8, d_model=32, pca_components=3))
    n = 64
    assert r.embeddings.shape == (n, 32) and r.cosine.shape == (n, n)
    assert r.conv_vs_linear_max_abs < 1e-4
    np.testing.assert_allclose(np.diag(r.cosine), 1.0, atol=1e-5)
    assert r.pca_coords.shape == (n, 3) and 0 < r.pca_explained.sum() <= 1.0 + 1e-6
    # 2D sinusoids: nearby positions are more similar; a random init table shows no such structure
    assert r.pos_neighbour_corr_sinusoidal > 0.5
    assert abs(r.pos_neighbour_corr_learned) < 0.5


def test_embedding_same_seed_same_result_other_seed_differs():
    cfg = embedding_lab.EmbedConfig(image_size=32, patch_size=8, d_model=16)
    a, b = embedding_lab.run("rocket", cfg), embedding_lab.run("rocket", cfg)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    c = embedding_lab.run("rocket", embedding_lab.EmbedConfig(image_size=32, patch_size=8, d_model=16, seed=1))
    assert not np.allclose(a.embeddings, c.embeddings)


def test_embedding_refuses_too_many_tokens():
    with pytest.raises(InputError, match="tokens"):
        embedding_lab.run("chelsea", embedding_lab.EmbedConfig(image_size=1024, patch_size=2))


def test_sinusoidal_2d_reduces_to_rows_and_columns():
    pe = embedding.sinusoidal_2d(3, 4, 16)
    assert pe.shape == (12, 16)
    # same row -> same first half; same column -> same second half
    assert torch.equal(pe[0, :8], pe[3, :8]) and torch.equal(pe[0, 8:], pe[4, 8:])


# ---- bad input ---------------------------------------------------------------------------------

def test_corrupt_and_non_image_files():
    good = png_bytes(Image.new("RGB", (32, 32), "red"))
    with pytest.raises(InputError, match="damaged|not an image"):
        images.decode_image(good[: len(good) // 2])
    with pytest.raises(InputError, match="not an image"):
        images.decode_image(b"%PDF-1.4 this is not a picture" * 10)
    with pytest.raises(InputError, match="empty"):
        images.decode_image(b"")


def test_tiny_image_is_refused():
    with pytest.raises(InputError, match="1×1"):
        images.decode_image(png_bytes(Image.new("RGB", (1, 1))))


def test_huge_png_is_refused_before_decoding():
    with pytest.raises(InputError, match="megapixels"):
        images.decode_image(png_with_claimed_size(12000, 12000))


def test_large_jpeg_is_decoded_at_reduced_scale():
    buf = io.BytesIO()
    Image.new("RGB", (6000, 4000), (10, 200, 30)).save(buf, format="JPEG", quality=50)
    loaded = images.decode_image(buf.getvalue())
    assert max(loaded.pixels.shape[:2]) <= images.WORKING_MAX_SIDE
    assert loaded.original_size == (6000, 4000)
    assert any("reduced scale" in n for n in loaded.notes)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "1", "I;16", "I", "F", "CMYK"])
def test_modes_become_rgb(mode):
    rng = np.random.default_rng(0)
    if mode in ("I;16", "I"):
        img = Image.fromarray(rng.integers(0, 65535, (40, 30)).astype(np.uint16 if mode == "I;16" else np.int32))
    elif mode == "F":
        img = Image.fromarray(rng.random((40, 30)).astype(np.float32))
    else:
        img = Image.new("RGB", (30, 40), (200, 100, 50)).convert(mode)
    fmt = "TIFF" if mode in ("I", "F", "CMYK") else "PNG"
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    loaded = images.decode_image(buf.getvalue())
    assert loaded.pixels.shape == (40, 30, 3) and loaded.pixels.dtype == np.uint8
    if mode == "I;16":
        assert loaded.pixels.max() == 255 and loaded.pixels.min() == 0  # rescaled, not clipped


def test_transparent_pixels_go_white():
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    loaded = images.decode_image(png_bytes(img))
    assert (loaded.pixels == 255).all()


def test_unknown_sample_name():
    with pytest.raises(InputError, match="sample"):
        images.load("no-such-photo")


def test_gigantic_png_header_is_refused():
    with pytest.raises(InputError, match="megapixels"):
        images.decode_image(png_with_claimed_size(60000, 60000))


def test_trained_vit_positions_are_real_and_structured():
    t = embedding_lab.trained_positions(0.5, 0.5)
    g = t.grid[0]
    assert t.sim.shape == (g * g,) and t.query == (g // 2) * g + g // 2
    assert t.sim[t.query] == pytest.approx(1.0, abs=1e-5)
    # training gives the table spatial structure: nearby positions are more alike than far ones
    assert t.neighbour_corr > 0.05
