"""KV-cache arithmetic: the formula, real model shapes, MQA/GQA division, and the claims' verdicts."""
import pytest

from viz_core.claims import Verdict
from viz_core.decoding import memory
from viz_core.labs import kv_cache as kv
from viz_core.models.kv_cache import KVCache
from viz_core.errors import InputError
from viz_core.models.gpt import GPTConfig


def test_known_sizes():
    s = memory.MODEL_SHAPES["Llama-2-7B"]
    # 2 × 32 layers × 32 heads × 128 × 4096 tokens × 2 bytes = exactly 2 GiB
    assert memory.kv_cache_bytes(s.layers, s.kv_heads, s.head_dim, 4096, 2) == 2 * 1024**3
    s = memory.MODEL_SHAPES["Llama-2-70B"]
    assert memory.kv_cache_bytes(s.layers, s.kv_heads, s.head_dim, 4096, 2) == 1.25 * 1024**3
    for s in memory.MODEL_SHAPES.values():  # MHA shapes satisfy heads × head_dim = d_model
        assert s.heads * s.head_dim == s.d_model  # Falcon-7B: 71 × 64 = 4544
        assert s.heads % s.kv_heads == 0


def test_calculator_divides_by_heads_over_kv_heads():
    r = kv.calculate(kv.CalculatorConfig(context=2048, batch=4, dtype="bfloat16",
                                                 models=("Llama-2-7B", "Llama-2-70B", "Falcon-7B")))
    assert list(r.division) == [1.0, 8.0, 71.0]
    assert r.bytes_actual[0] == 2 * 32 * 32 * 128 * 2048 * 4 * 2
    assert (r.bytes_if_mqa <= r.bytes_actual).all() and (r.bytes_actual <= r.bytes_if_mha).all()


def test_formula_matches_real_cache_tensors():
    cfg = GPTConfig(n_layer=3, n_head=4, n_kv_head=2, d_model=64)
    cache = KVCache.empty(cfg, batch=2, max_len=50)
    assert cache.nbytes == memory.kv_cache_bytes(3, 2, 16, 50, 4, batch=2)


def test_claims():
    c10 = kv.claim_10_check()
    assert c10.verdict is Verdict.PARTLY  # exact for MHA, wrong for GQA
    measured = kv.tiny_gpt_cache_bytes()  # the trained MHA / GQA / MQA checkpoints
    c11 = kv.claim_11_check(measured)
    assert c11.verdict is Verdict.HOLDS and c11.value == measured["tiny-gpt"][1] and "measured live" in c11.provenance
    # a "one K/V head" model that kept half its heads is not what the claim says: the verdict flips
    fake = dict(measured, **{"tiny-gpt-mqa": measured["tiny-gpt-gqa"][:2] + (1,)})
    assert kv.claim_11_check(fake).verdict is Verdict.PARTLY


def test_bad_input():
    with pytest.raises(InputError):
        kv.calculate(kv.CalculatorConfig(context=0))
    with pytest.raises(InputError):
        kv.calculate(kv.CalculatorConfig(models=("GPT-9",)))
    with pytest.raises(InputError):
        kv.calculate(kv.CalculatorConfig(dtype="float8e9"))
    with pytest.raises(InputError):
        memory.kv_cache_bytes(0, 1, 1, 1, 2)
