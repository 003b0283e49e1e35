"""The Benchmarks page's live parts: the roofs panel, a live sweep streamed into its chart, downloads."""
from __future__ import annotations

import time

import streamlit as st

from ui.layout import figure
from ui.measure_queue import provenance, queued, shared
from viz_core.cli import live as lab
from viz_core.labs import benchmarks as results
from viz_core.plots.bench import run_chart


def roofs_panel(device: str, threads: int):
    """This device's roofs: shared measured ones if this server has them, else recorded / spec sheet."""
    roofs, record = shared(("roofs", device, threads), lambda: lab.measure_roofs_now(device),
                           label="roofs", device=device, threads=threads, again_label="Measure roofs now",
                           run_now=False)
    source = None
    if roofs is None:
        roofs, source = results.default_roofs(device, threads)
    if roofs is None:
        st.info(source)
        return None
    c = st.columns(4)
    for i, dt in enumerate(("float32", "bfloat16")):
        if dt in roofs.compute_flops:
            c[i].metric(f"compute roof {dt}", f"{roofs.compute_flops[dt] / 1e9:,.1f} GFLOP/s",
                        help=roofs.compute_source.get(dt))
    c[2].metric("memory roof", f"{roofs.bandwidth_bytes_per_s / 1e9:.1f} GB/s",
                help=f"{roofs.bandwidth_source}: copy {roofs.copy_bytes_per_s / 1e9:.1f}, "
                     f"triad {roofs.triad_bytes_per_s / 1e9:.1f} GB/s")
    c[3].metric("ridge (fp32)", f"{roofs.ridge('float32'):.1f} FLOP/B",
                help="intensity where the memory roof meets the compute roof")
    if record is not None:
        provenance(record, "Roofs ")
    else:
        st.caption(f"Roofs: {source}; {roofs.name}, {roofs.threads or ''} thread(s).")
    return roofs


def live_panel(cfg: lab.LiveConfig, roofs, *, x: str = "n", y: str = "time_ms", group: str = "variant") -> None:
    """Run button; rows stream into the chart; Stop keeps the rows so far. Results live in session_state."""
    ss = st.session_state
    points = lab.plan(cfg, roofs)
    st.caption(f"{len(points)} point(s) planned; estimated {sum(p.est_seconds for p in points):.1f} s in all, "
               f"{sum(p.skip is not None for p in points)} to be skipped (memory budget or time limit).")
    if any(str(k).startswith("live_q") and str(k).endswith("_cancel") and ss[k] for k in list(ss.keys())):
        # a Cancel button shown while queued was pressed
        st.info("You left the queue: nothing was measured.")
    go_, stop_ = st.columns([1, 1])
    if go_.button("▶ Run live", key="live_run", type="primary"):
        ss["live_rows"], ss["live_done"], ss["live_cfg"] = [], False, cfg
        stop_slot = stop_.empty()
        stop_slot.button("■ Stop", key="live_stop", help="Stops the sweep; the rows measured so far stay.")
        bar, chart, started, t0 = st.progress(0.0, text="starting"), st.empty(), time.strftime("%Y-%m-%dT%H:%M:%S"), time.perf_counter()
        status = st.empty()

        def timed(label):
            return queued(label, device=cfg.device, threads=cfg.threads, key=f"live_q {label}")

        for i, row in enumerate(lab.live_sweep(cfg, roofs, timed=timed, progress=lambda m: status.caption(m))):
            ss["live_rows"].append(row)
            bar.progress(min(1.0, len(ss["live_rows"]) / max(1, len(points))),
                         text=f"{len(ss['live_rows'])} row(s)")
            with chart:
                figure(run_chart(ss["live_rows"], x, y, group, title="live run (growing)"), key=f"live_chart_{i}")
        ss["live_done"] = True
        stop_slot.empty()
        ss["live_meta"] = lab.live_meta(cfg, roofs, started, time.perf_counter() - t0)
        bar.empty()
        chart.empty()
        status.empty()
    rows = ss.get("live_rows")
    if not rows:
        return
    if not ss.get("live_done"):
        st.warning(f"Stopped: {len(rows)} row(s) measured before the stop are shown.")
        ss["live_meta"] = lab.live_meta(ss.get("live_cfg", cfg), roofs, "", 0.0)
    c = ss["live_cfg"]
    hot = sum(bool(r.get("contended")) for r in rows)
    if hot:
        st.warning(f"⚠️ {hot} of {len(rows)} row(s) were measured while other processes competed for this machine "
                   "(column `contended`): those times are probably slower than the hardware allows.")
    figure(run_chart(rows, x, y, group, title=f"live {c.suite} run on this server ({c.threads} thread(s))"),
           key="live_chart")
    with st.expander("live rows", expanded=False):
        st.dataframe(rows, hide_index=True)
    downloads(ss["live_meta"], rows, f"{c.suite}-live", key="live")


def downloads(meta: dict, rows, stem: str, key: str) -> None:
    a, b = st.columns(2)
    a.download_button("⬇ CSV", results.rows_to_csv(rows), f"{stem}.csv", "text/csv", key=f"{key}_csv")
    b.download_button("⬇ JSON", results.run_to_json(meta, rows), f"{stem}.json", "application/json", key=f"{key}_json")
