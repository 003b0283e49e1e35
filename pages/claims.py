"""Every claim the lab checks, in one table: value, computed verdict, why, where the value comes from.

section: Measuring
title: Claims
icon: ⚖️
order: 5
"""
from datetime import datetime, timezone

import streamlit as st

from ui import cached, params, state
from ui.errors import guard
from ui.layout import header, metrics
from viz_core.labs import claims as lab

run = cached.data(lab.run, max_entries=8)

header("Claims, checked",
       "Popular material on efficient transformers makes the quantitative claims below. Each row shows the "
       "claim with its source and condition, the value this lab has for it, and a verdict that a **judge** "
       "computes from that value (holds, holds partly, does not hold here). The value is measured live on "
       "your device where that takes a few seconds, computed where the claim is arithmetic, and otherwise "
       "taken from a recorded benchmark run, named with its date and hardware.")

s = state.settings()
if "claims_run" not in st.session_state:
    st.session_state["claims_run"] = 0
c1, c2 = st.columns(2)
slow = params.toggle(c1, "Also run the slow rows (tiny-model runs, ≈ 30 s on a 2-core CPU)", key="claims_slow")
if c2.button("Re-measure the live rows", key="claims_again"):
    st.session_state["claims_run"] += 1

with guard():
    with st.spinner("Judging every claim …"):
        res = run(lab.Config(device=s.device, threads=s.threads, slow=slow, seed=s.seed,
                             run_id=st.session_state["claims_run"]))
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
