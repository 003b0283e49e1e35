"""Recorded benchmark runs (this CPU and a GPU) from `python -m viz_core bench`, as tables and charts.

section: Measuring
title: Benchmarks
icon: 📊
order: 10
"""
import streamlit as st

from ui import cached
from ui.layout import figure, header, metrics, provenance_text
from viz_core.labs import benchmarks as results
from viz_core.plots.bench import run_chart

header("Benchmarks",
       "Every number here was measured by the lab's benchmark CLI, `python -m viz_core bench <suite>`, "
       "which warms up, synchronises the device, repeats and reports the median (time) and the peak "
       "allocator or RSS growth (memory). Runs committed under `assets/bench/` were recorded on the machine "
       "named with each run; your own runs (written to `bench_results/`) appear here too.")

runs = cached.data(results.list_runs, ttl=60)()
if not runs:
    st.info("No benchmark results yet. Run for example `python -m viz_core bench attention` and reload.")
    st.stop()

run = runs[st.selectbox("Run", range(len(runs)), format_func=lambda i: runs[i].label, key="bench_run")]
metrics([("Suite", run.suite), ("Device", run.device.upper()), ("Hardware", run.hardware[:30], run.hardware),
         ("Rows", str(len(run.rows)))])
st.caption(f"File `{run.path}` · command `python -m viz_core {run.argv}`")

nums = results.numeric_columns(run.rows)
cats = results.category_columns(run.rows)
if nums:
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
    x = c1.selectbox("x axis", nums, index=nums.index("n") if "n" in nums else 0, key="bench_x")
    y_default = next((c for c in ("time_ms", "ms", "seconds", "tokens_per_s") if c in nums), nums[-1])
    y = c2.selectbox("y axis", nums, index=nums.index(y_default), key="bench_y")
    g_opts = ["(none)"] + cats
    g_default = next((c for c in ("method", "variant", "mode", "backend") if c in cats), "(none)")
    group = c3.selectbox("one line per", g_opts, index=g_opts.index(g_default), key="bench_group")
    log = c4.toggle("log-log axes", value=True, key="bench_log")
    figure(run_chart(run.rows, x, y, None if group == "(none)" else group, log_x=log, log_y=log,
                     title=f"{run.suite} on {run.hardware}"), key="bench_chart",
           provenance=provenance_text("recorded", when=run.started, hardware=run.hardware, file=run.path))
st.dataframe(list(run.rows), width="stretch", hide_index=True)
