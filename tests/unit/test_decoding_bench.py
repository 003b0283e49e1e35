"""The `decode` benchmark suite runs end to end (tiny sizes) and its greedy paths agree."""
import argparse

from viz_core.bench.suites import decode


def test_decode_suite_smoke():
    p = argparse.ArgumentParser()
    decode.add_arguments(p)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(["--new-tokens", "12", "--gammas", "2,3", "--repeats", "1"])
    rows = decode.run(args, lambda msg: None)
    methods = [r["method"] for r in rows]
    assert methods[:2] == ["uncached (recompute)", "KV cache"] and methods.count("speculative") == 2
    assert rows[0]["kv_rows_per_layer"] == sum(rows[0]["prompt_tokens"] + i for i in range(12))
    assert rows[1]["kv_rows_per_layer"] == rows[1]["prompt_tokens"] + 11
    assert all(r["same_as_target_greedy"] for r in rows[2:])
    assert all(r["tokens_per_s"] > 0 for r in rows)
