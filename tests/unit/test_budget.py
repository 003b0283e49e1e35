"""The per-request memory budget and the hostile images it guards against (issue #12).

Peaks are measured in fresh subprocesses (peak RSS, Linux VmHWM), not asserted from the estimates alone.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from viz_core.errors import BudgetError, InputError
from viz_core.measure import budget
from viz_core.vision import images

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_budget_default_and_setting(monkeypatch):
    monkeypatch.delenv(budget.ENV_MEMORY, raising=False)
    assert budget.request_budget_bytes() == 256 * 2**20
    monkeypatch.setenv(budget.ENV_MEMORY, "64")
    assert budget.request_budget_bytes() == 64 * 2**20
    for junk in ("", "abc", "-5", "nan", "inf", "0"):
        monkeypatch.setenv(budget.ENV_MEMORY, junk)
        assert budget.request_budget_bytes() == 256 * 2**20  # a broken setting falls back to the default


def test_check_memory_says_what_fits(monkeypatch):
    monkeypatch.delenv(budget.ENV_MEMORY, raising=False)
    budget.check_memory(100 * 2**20, what="x")
    with pytest.raises(BudgetError) as e:
        budget.check_memory(300 * 2**20, what="The thing", fits="a smaller thing")
    msg = str(e.value)
    assert "300.0 MiB" in msg and "256.0 MiB" in msg and "What fits: a smaller thing" in msg
    assert budget.ENV_MEMORY in msg
    assert e.value.required_bytes == 300 * 2**20 and e.value.budget_bytes == 256 * 2**20


def test_check_seconds():
    budget.check_seconds(10, what="x", limit_s=60)
    with pytest.raises(BudgetError, match="about 90 s.*60 s.*What fits: fewer"):
        budget.check_seconds(90, what="The run", fits="fewer steps", limit_s=60)


def test_bench_check_budget_uses_the_request_budget_on_cpu(monkeypatch):
    from viz_core.measure.memory import check_budget

    monkeypatch.setenv(budget.ENV_MEMORY, "32")
    check_budget(16 * 2**20, what="small")
    with pytest.raises(BudgetError, match="32.0 MiB"):
        check_budget(64 * 2**20, what="big")


def test_square_resize_crops_in_source_coordinates_first():
    # A wide image: the result must equal resizing the centre square alone (float64 reference of the crop).
    rng = np.random.default_rng(0)
    px = rng.integers(0, 255, (40, 200, 3), dtype=np.uint8)
    out = images.square_resize(px, 40)
    assert out.shape == (40, 40, 3)
    np.testing.assert_array_equal(out, px[:, 80:120])  # same size: the crop itself, untouched
    up = images.square_resize(px, 80)
    ref = np.asarray(Image.fromarray(px[:, 80:120]).resize((80, 80), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(up, ref)


def test_square_resize_budget_is_small_for_any_aspect():
    # cropping first: the peak depends on the short side and the output, never on the long side
    assert images.square_resize_peak_bytes(2048, 1, 1024) == images.square_resize_peak_bytes(9, 1, 1024)
    assert images.square_resize_peak_bytes(2048, 1, 1024) < 20 * 2**20


def test_extreme_aspect_ratio_is_refused_with_the_limit_stated():
    data = _png(Image.new("RGB", (20000, 8), (30, 90, 200)))
    with pytest.raises(InputError, match=r"20000×8.*2,500:1.*up to 8:1"):
        images.decode_image(data)
    images.decode_image(_png(Image.new("RGB", (800, 100))))  # 8:1 is accepted


def test_bomb_message_cites_the_labs_own_limit():
    from tests.fuzz.harness import _bomb_png

    for w in (60_000, 9_000):  # above Pillow's 179 MP bomb limit, and between the lab's 40 MP and Pillow's
        with pytest.raises(InputError) as e:
            images.decode_image(_bomb_png(w, w))
        assert "40 megapixels" in str(e.value) and "179" not in str(e.value)


def test_float_tiff_with_inf_and_nan_is_rescaled_on_its_finite_values():
    a = np.linspace(0.0, 1.0, 64 * 48, dtype=np.float32).reshape(48, 64)
    a[0, :5] = np.inf
    a[1, :3] = -np.inf
    a[2, :2] = np.nan
    loaded = images.decode_image(_png(Image.fromarray(a), "TIFF"))
    warning = [n for n in loaded.notes if n.startswith("Warning:")]
    assert warning and "10 of the 3,072" in warning[0] and "+inf: 5" in warning[0] and "NaN: 2" in warning[0]
    g = loaded.pixels[..., 0].astype(np.float64)
    finite = np.isfinite(a)
    lo, hi = a[finite].min(), a[finite].max()
    ref = np.rint((a.astype(np.float64) - lo) / (hi - lo) * 255)  # float64 reference on the finite pixels
    assert np.abs(g[finite] - ref[finite]).max() <= 1
    assert (g[0, :5] == 255).all() and (g[1, :3] == 0).all() and (g[2, :2] == 0).all()
    assert g.std() > 10  # not an all-black image


def test_float_tiff_with_no_finite_value_is_refused():
    with pytest.raises(InputError, match="infinite or NaN"):
        images.decode_image(_png(Image.fromarray(np.full((16, 16), np.nan, np.float32)), "TIFF"))


def test_16_bit_png_is_rescaled_in_float32_against_a_float64_reference():
    a = (np.arange(40 * 30, dtype=np.uint32) * 53 % 65536).astype(np.uint16).reshape(40, 30)
    loaded = images.decode_image(_png(Image.fromarray(a)))
    ref = np.rint((a.astype(np.float64) - a.min()) / (a.max() - a.min()) * 255)
    assert np.abs(loaded.pixels[..., 0].astype(np.float64) - ref).max() <= 1


def test_large_rgba_is_refused_before_decoding_when_over_budget(monkeypatch):
    monkeypatch.setenv(budget.ENV_MEMORY, "16")
    data = _png(Image.new("RGBA", (2000, 1500), (1, 2, 3, 4)))
    with pytest.raises(BudgetError, match=r"RGBA images up to about \d"):
        images.decode_image(data)


def _fresh_peak(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line. Adds the process's peak RSS (MiB)."""
    prog = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, %r)
        def hwm():
            for line in open('/proc/self/status'):
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
        def rss():
            for line in open('/proc/self/status'):
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
        """ % str(ROOT)) + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_strip_at_image_size_1024_stays_under_300_mib_peak_rss():
    """Issue #12: a 2 KB 20000×8 PNG at image size 1024 peaked at ~8.6 GB. Now refused, at a small peak."""
    r = _fresh_peak("""
        import io
        from PIL import Image
        from viz_core.errors import InputError
        from viz_core.labs import vit_patching as patching  # imports torch, as the page does
        buf = io.BytesIO(); Image.new('RGB', (20000, 8), (30, 90, 200)).save(buf, format='PNG')
        before = rss()
        try:
            patching.run(buf.getvalue(), patching.PatchConfig(image_size=1024, patch_size=16))
            outcome = 'handled'
        except InputError as e:
            outcome = str(e)
        print(json.dumps({'outcome': outcome, 'peak_mib': hwm(), 'growth_mib': hwm() - before}))
    """)
    assert "aspect ratio" in r["outcome"]
    assert r["peak_mib"] < 300, r


def test_16_bit_6000x6000_png_decodes_well_under_the_budget():
    """Issue #12: a 6000×6000 16-bit PNG peaked at 1.2 GB (float64 temporaries). Now shrunk in 16 bits first."""
    r = _fresh_peak("""
        import io
        import numpy as np
        from PIL import Image
        a = (np.arange(36_000_000, dtype=np.uint32) % 65536).astype(np.uint16).reshape(6000, 6000)
        buf = io.BytesIO(); Image.fromarray(a).save(buf, format='PNG'); data = buf.getvalue(); del a
        from viz_core.vision import images
        open('/proc/self/clear_refs', 'w').write('5')
        before = rss()
        loaded = images.decode_image(data)
        print(json.dumps({'shape': list(loaded.pixels.shape), 'growth_mib': hwm() - before}))
    """)
    assert r["shape"] == [2048, 2048, 3]
    assert r["growth_mib"] < budget.DEFAULT_MIB, r


def test_cosine_row_matches_a_float64_reference():
    import torch

    from viz_core.vision import embedding

    x = torch.randn(50, 12, generator=torch.Generator().manual_seed(0))
    ref = x.double().numpy()
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(embedding.cosine_row(x, 7).numpy(), ref @ ref[7], atol=1e-6)


def test_patch_embedding_at_4096_tokens_stays_inside_the_budget():
    """The page's largest setting (1024-pixel image, 16-pixel patches, width 768) grew RSS by ~390 MiB
    when it built three 4096×4096 float64 matrices; now one 400×400 map and two rows."""
    r = _fresh_peak("""
        import torch
        torch.set_num_threads(1)
        from viz_core.labs import patch_embedding as embedding
        embedding.run('chelsea', embedding.EmbedConfig(image_size=64, patch_size=16))  # imports, warm-up
        open('/proc/self/clear_refs', 'w').write('5')
        before = rss()
        r = embedding.run('chelsea', embedding.EmbedConfig(image_size=1024, patch_size=16, d_model=768))
        print(json.dumps({'cosine': list(r.cosine.shape), 'growth_mib': hwm() - before}))
    """)
    assert r["cosine"] == [400, 400]
    assert r["growth_mib"] < budget.DEFAULT_MIB, r
