"""The `decode` benchmark suite runs end to end (tiny sizes) and its greedy paths agree."""
import argparse

from viz_core.cli.suites import decode


def test_decode_suite_smoke():
    p = argparse.ArgumentParser()
    decode.add_arguments(p)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(["--new-tokens", "12", "--gammas", "2,3", "--repeats", "2", "--long-prompt-tokens", "30",
                          "--drafts", "tiny-gpt-draft"])
    rows = decode.run(args, lambda msg: None)
    fast = [r for r in rows if r.get("part") == "fast"]
    spec = [r for r in rows if r.get("part") == "fast-spec"]
    rows = [r for r in rows if r.get("part") not in ("fast", "fast-spec")]
    assert [r["gamma"] for r in spec] == [None, 1, 2, 3, 4]
    assert all(r["same_tokens_as_target_greedy"] for r in spec[1:])
    assert {(r["path"], r["cache"]) for r in fast} == {(p, c) for p in ("eager", "torch-unfused", "torch", "numba")
                                                       for c in ("cached", "uncached")}
    assert all(r["same_tokens_as_eager_cached"] for r in fast)
    assert all(r["cached_vs_uncached"] > 0 for r in fast if r["cache"] == "cached")
    key = [(r["prompt"], r["method"], r["gamma"], r.get("draft_runs_as")) for r in rows]
    assert key == [("short", "uncached (recompute)", None, None), ("short", "KV cache", None, None),
                   ("long", "uncached (recompute)", None, None), ("long", "KV cache", None, None),
                   ("short", "speculative", 2, "eager"), ("short", "speculative", 3, "eager"),
                   ("short", "speculative", 2, "compiled"), ("short", "speculative", 3, "compiled")]
    spec_rows = [r for r in rows if r["method"] == "speculative"]
    assert all(r["draft"] == "tiny-gpt-draft" and 0 <= r["acceptance"] <= 1 for r in spec_rows)
    for g in (2, 3):  # the draft's implementation never changes what is accepted
        eager, compiled = (next(r for r in spec_rows if r["gamma"] == g and r["draft_runs_as"] == h)
                           for h in ("eager", "compiled"))
        assert eager["acceptance"] == compiled["acceptance"] and eager["target_calls"] == compiled["target_calls"]
    p = rows[0]["prompt_tokens"]
    assert rows[0]["kv_rows_per_layer"] == sum(p + i for i in range(12))
    assert rows[1]["kv_rows_per_layer"] == p + 11
    assert rows[3]["prompt_tokens"] == 30
    assert all(r["same_as_target_greedy"] for r in rows if r["prompt"] == "short")
    assert all(r["tokens_per_s"] > 0 and r["repeats"] == 2 for r in rows)
    assert sum(bool(r.get("best_gamma")) for r in rows) == 2  # one per (draft, how it runs)
