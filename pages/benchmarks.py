"""Measure on this machine: run a suite live, place every point on the roofline, compare two machines.

section: Measuring
title: Benchmarks
icon: 📊
order: 10
"""
import streamlit as st

from ui import cached, params
from ui.bench_live import downloads, live_panel, roofs_panel
from ui.errors import guard
from ui.layout import figure, header, provenance_text, table
from ui.state import settings
from viz_core.cli import live as lab
from viz_core.device import resolve_device
from viz_core.errors import InputError
from viz_core.labs import benchmarks as results
from viz_core.plots.bench import compare_chart, roofline_figure, roofline_points, run_chart

header("Benchmarks",
       "Every number here is measured by the lab's suites (`python -m viz_core bench <suite>`): warm-up, "
       "device synchronisation, repeats, the median. Run a sweep live on this server, load a recorded run "
       "(`assets/bench/`), or upload one from another machine, and see how close each point came to what "
       "the hardware allows: the **roofline**, `max(FLOPs / compute roof, bytes / memory roof)`.",
       papers=["Williams, Waterman & Patterson 2009 (Roofline)", "Dao et al. 2022 (FlashAttention)"])

s = settings()
device = resolve_device(s.device).type
threads = s.threads if device == "cpu" else 1
st.subheader(f"Roofs of this {device.upper()}")
roofs = roofs_panel(device, threads)
runs = cached.data(results.list_runs, ttl=60)()
formulas = cached.data(results.with_formulas, max_entries=16)
AXES = {"attention": ("n", "time_ms", "label"), "flash": ("n", "time_ms", "method"),
        "rope": ("N", "time_s", "layout"), "decode": ("gamma", "median_s", "method"),
        "ssm": ("n", "median_ms", "method")}

live, recorded, compare, roof_tab = st.tabs(["Run live", "Recorded runs", "Compare machines", "Roofline"])
with live:
    c1, c2, c3, c4 = st.columns(4)
    suite = params.selectbox(c1, "Suite", list(lab.VARIANTS), key="live_suite")
    variants = params.multiselect(c2, "Variants", lab.VARIANTS[suite], default=list(lab.VARIANTS[suite][:2]),
                              key=f"live_variants_{suite}")
    dtype = params.selectbox(c3, "dtype", ["float32", "bfloat16"], key="live_dtype")
    repeats = params.number_input(c4, "Repeats", min_value=1, max_value=20, value=3, key="live_repeats")
    if suite == "decode":
        d1, d2 = st.columns(2)
        extra = dict(new_tokens=int(params.number_input(d1, "New tokens", min_value=1, max_value=1024, value=32,
                                                        key="live_tokens")),
                     gamma=int(params.number_input(d2, "γ (speculative)", min_value=1, max_value=16, value=3,
                                                   key="live_gamma")))
        ns, heads, head_dim = (1,), 4, 64
    else:
        d1, d2, d3, d4 = st.columns(4)
        ns = tuple(params.multiselect(d1, "N (sequence length)", [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                                  default=[128, 256, 512], key="live_ns"))
        heads = int(params.number_input(d2, "Heads", min_value=1, max_value=64, value=4, key="live_heads"))
        head_dim = int(params.selectbox(d3, "Head dim", [16, 32, 64, 128], index=2, key="live_head_dim"))
        extra = dict(max_seconds=float(params.number_input(d4, "Time limit per point (s)", min_value=1.0,
                                                           max_value=600.0, value=30.0, key="live_limit")))
    with guard():
        cfg = lab.LiveConfig(suite=suite, ns=ns, variants=tuple(variants), heads=heads, head_dim=head_dim,
                             dtype=dtype, device=device, threads=threads, repeats=int(repeats), **extra)
        x, y, group = AXES[suite]
        live_panel(cfg, roofs, x=x, y=y, group=group)

with recorded:
    if not runs:
        st.info("No recorded runs: run `python -m viz_core bench attention` and reload.")
    else:
        run = runs[params.selectbox("Run", range(len(runs)), format_func=lambda i: runs[i].label, key="bench_run")]
        if run.note:
            st.info(run.note)
        rows = formulas(run)
        _, roof_src = results.roofs_for_run(run)
        st.caption(f"File `{run.path}` · `python -m viz_core {run.argv}` · % of roof against: {roof_src}")
        nums, cats = results.numeric_columns(tuple(rows)), results.category_columns(tuple(rows))
        c1, c2, c3 = st.columns(3)
        x = params.selectbox(c1, "x axis", nums, index=nums.index("n") if "n" in nums else 0, key="bench_x")
        y_default = next((c for c in ("time_ms", "time_s", "median_s", "tokens_per_s") if c in nums), nums[-1])
        y = params.selectbox(c2, "y axis", nums, index=nums.index(y_default), key="bench_y")
        g_opts = ["(none)"] + cats
        g_default = next((c for c in ("label", "method", "layout") if c in cats), "(none)")
        group = params.selectbox(c3, "one line per", g_opts, index=g_opts.index(g_default), key="bench_group")
        figure(run_chart(rows, x, y, None if group == "(none)" else group, title=f"{run.suite} on {run.hardware}"),
               key="bench_chart",
               provenance=provenance_text("recorded", when=run.started, hardware=run.hardware, file=run.path))
        st.dataframe(rows, width="stretch", hide_index=True)  # CSV and JSON below, in the CLI's schema
        downloads(run.meta, rows, run.path.rsplit("/", 1)[-1].removesuffix(".json"), key="rec")

with compare:
    up = st.file_uploader("Upload a run (JSON written by `python -m viz_core bench`, at most 2 MiB)", type=["json"],
                          key="bench_upload")
    choices = {r.label: r for r in runs}
    if st.session_state.get("live_rows") and st.session_state.get("live_meta"):
        with guard(stop=False):
            live_run = results.parse_run(results.run_to_json(st.session_state["live_meta"], st.session_state["live_rows"]),
                                         source="live run (this session)")
            choices["live run (this session)"] = live_run
    if up is not None:
        try:
            choices[f"uploaded: {up.name}"] = results.parse_run(up.getvalue(), source=up.name)
        except InputError as e:
            st.error(f"Upload refused: {e}")
    names = list(choices)
    c1, c2 = st.columns(2)
    a = choices[params.selectbox(c1, "Run A", names, key="cmp_a")] if names else None
    same = [i for i, n in enumerate(names) if a is not None and choices[n].suite == a.suite and choices[n] is not a]
    b = choices[params.selectbox(c2, "Run B", names, index=same[0] if same else 0, key="cmp_b")] if names else None
    if a is not None and b is not None:
        with guard(stop=False):
            pairs = results.compare(a, b)
            if pairs:
                figure(compare_chart(pairs, a.label, b.label), key="cmp_chart",
                       provenance=f"Runs as labelled: A = {a.label}; B = {b.label} (recorded, uploaded or live)")
                table(pairs, name="bench_comparison", key="cmp_table")
            else:
                st.info("No points match: pick two runs of the same suite with the same sizes.")

with roof_tab:
    if roofs is None:
        st.info("Measure the roofs first (button above).")
    else:
        pts = [p for r in runs if r.device == device for p in roofline_points(formulas(r), r.suite, r.path)]
        pts += roofline_points(st.session_state.get("live_rows") or [], "live", "live run")
        figure(roofline_figure(roofs, pts, roofs_label=f"{roofs.threads} thread(s)"), key="roofline",
               provenance=f"Roofs measured live on {device} ({roofs.threads} thread(s)); points from the recorded runs "
                          "(time measured, FLOPs and bytes by formula)")
        st.caption("Points: intensity = FLOPs ÷ bytes moved (both by formula, `bytes_formula` in each row); height = "
                   "FLOPs ÷ measured time. Decoding with a KV cache reads every weight for a few FLOPs per byte: "
                   "left of the ridge, memory-bound. Prefill attention is right of it, compute-bound. Arrows: "
                   "eager attention → fused/tiled at the same N (same FLOPs, fewer bytes: it moves right).")
