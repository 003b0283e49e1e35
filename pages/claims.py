"""Every claim the lab checks, in one table: value, computed verdict, why, where the value comes from.

section: Measuring
title: Claims
icon: ⚖️
order: 5
"""
from datetime import datetime, timezone

import streamlit as st

from ui import cached, longrun, params, state
from ui.errors import guard, stop
from ui.layout import header, metrics
from ui.measure_queue import measured, queued
from viz_core.labs import claims as lab

run_all = cached.data(lab.run)  # the slow rows' run, cached per configuration (its _progress is not in the key)

header("Claims, checked",
       "Popular material on efficient transformers makes the quantitative claims below. Each row shows the "
       "claim with its source and condition, the value this lab has for it, and a verdict that a **judge** "
       "computes from that value (holds, holds partly, does not hold here). The value is measured live on "
       "your device where that takes a few seconds, computed where the claim is arithmetic, and otherwise "
       "taken from a recorded benchmark run, named with its date and hardware.")

s = state.settings()
slow = params.toggle("Also run the slow rows (tiny-model runs; estimated, with progress and Stop)", key="claims_slow")
cfg = lab.Config(device=s.device, threads=s.threads, slow=slow, seed=s.seed)

with guard():
    if slow:  # tens of seconds on a busy CPU: estimate first, then progress and a Stop button (ui.longrun)
        with queued("Judging every claim, slow rows too", device=s.device, threads=s.threads, key="claims_slow_q"):
            res = longrun.run(run_all, cfg, estimate_s=lab.estimate_s(cfg), key="claims_slow_run",
                              what="Judging every claim with the slow tiny-model rows",
                              fits="the fast rows only (switch 'Also run the slow rows' off)")
    else:
        res = measured(lab.run, cfg, label="Judging every claim", device=s.device, threads=s.threads, key="claims",
                       button="▶ Judge every claim (live rows measured on this server)")
    if res is None:
        stop()
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(res.measured_at)).total_seconds()
    n = lab.counts(res)
    metrics([("Holds", str(n["holds"])), ("Holds partly", str(n["holds partly"])),
             ("Does not hold here", str(n["does not hold here"])), ("Not measured", str(n["not measured here"]))])
    st.caption(f"Live rows measured on {res.device.upper()} with {res.threads} thread(s) at {res.measured_at} "
               f"({age:.0f} s ago); recorded rows name their own run.")
    icon = {"holds": "✅", "holds partly": "🟡", "does not hold here": "❌", "not measured here": "⏸️"}
    table = {"#": [r.id for r in res.rows],
             "verdict": [f"{icon.get(r.verdict, '')} {r.verdict}" for r in res.rows],
             "claim": [r.claim for r in res.rows],
             "why": [r.why for r in res.rows],
             "value": [r.measured for r in res.rows],
             "provenance": [r.provenance for r in res.rows],
             "source / condition": [r.source for r in res.rows],
             "page": [f"/{r.page}" if r.page else "" for r in res.rows]}
    st.dataframe(table, hide_index=True, width="stretch", key="claims_table", height=35 * (len(res.rows) + 1) + 3,
                 column_config={"page": st.column_config.LinkColumn("teaching page", display_text=r"/(.*)"),
                                "claim": st.column_config.TextColumn(width="large"),
                                "why": st.column_config.TextColumn(width="large")})
    st.download_button("Download CSV", lab.to_csv(res), file_name=f"claims-{res.device}.csv", mime="text/csv",
                       key="claims_csv")
    st.caption("A verdict is never typed in: each claim has one judge (viz_core/claims/judges.py) that compares "
               "the value with the claim's stated range and a tolerance; every page and `python -m viz_core bench "
               "claims` use the same judges.")
