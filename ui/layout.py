"""Small building blocks every page uses: header with citations, metric rows, claim checks."""
from __future__ import annotations

from typing import Iterable, Sequence

import streamlit as st

from viz_core.claims import ClaimCheck, Verdict

_VERDICT_ICON = {Verdict.HOLDS: "✅", Verdict.PARTLY: "🟡", Verdict.NOT_HERE: "❌", Verdict.NOT_MEASURED: "⏸️"}


def header(title: str, intro: str, papers: Sequence[str] = ()) -> None:
    st.title(title)
    st.markdown(intro)
    if papers:
        st.caption("Papers: " + " · ".join(papers))


def metrics(items: Iterable[tuple[str, str] | tuple[str, str, str]], columns: int | None = None) -> None:
    """A row of st.metric: (label, value[, help])."""
    items = list(items)
    cols = st.columns(columns or max(1, len(items)))
    for i, item in enumerate(items):
        label, value, *rest = item
        cols[i % len(cols)].metric(label, value, help=rest[0] if rest else None)


def claim_checks(checks: Iterable[ClaimCheck], title: str = "Claims, checked here") -> None:
    """Each claim as a claim (with source), next to what this machine measured, and the verdict."""
    checks = list(checks)
    if not checks:
        return
    st.subheader(title)
    for c in checks:
        with st.container(border=True):
            st.markdown(f"**Claim #{c.claim.id}** — {c.claim.text}  \n"
                        f"<small>Source: {c.claim.source}</small>", unsafe_allow_html=True)
            label = "Measured here" if c.provenance.startswith("measured live") else "Value"
            st.markdown(f"**{label}:** {c.measured}  \n"
                        f"**Verdict:** {_VERDICT_ICON[c.verdict]} {c.verdict.value} — {c.why}")
            if c.provenance:
                st.caption(f"Provenance: {c.provenance}")


PROVENANCE_KINDS = ("measured live", "recorded", "computed", "cited")


def provenance_text(kind: str, *, device: str = "", threads: int | None = None, dtype: str = "",
                    when: str = "", file: str = "", hardware: str = "", formula: str = "", paper: str = "") -> str:
    """One provenance line for a figure or number (the rule: "measured here" only for live measurements).

    measured live: device, threads, dtype, when · recorded: date, hardware, file · computed: formula · cited: paper.
    """
    if kind not in PROVENANCE_KINDS:
        raise ValueError(f"provenance kind must be one of {PROVENANCE_KINDS}, got {kind!r}")
    if kind == "measured live":
        parts = [device, f"{threads} thread(s)" if threads else "", dtype, when]
        return "Measured here, live: " + ", ".join(p for p in parts if p)
    if kind == "recorded":
        return "Recorded: " + ", ".join(p for p in (when, hardware, f"`{file}`" if file else "") if p)
    if kind == "computed":
        return "Computed" + (f" from {formula}" if formula else " from a formula")
    return "Cited" + (f": {paper}" if paper else "")


def provenance(kind: str, **kw) -> None:
    """Draw the provenance line under a figure (see ``provenance_text``)."""
    st.caption("ⓘ " + provenance_text(kind, **kw))


def figure(fig, key: str | None = None, provenance: str | None = None) -> None:
    """Draw a plotly figure full-width (one place to change how figures are shown), with its provenance line
    (``provenance_text(...)``: measured live / recorded / computed / cited) under it."""
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})
    if provenance:
        st.caption("ⓘ " + provenance)


def ago(ts: float) -> str:
    """'measured 3 s ago' / '2 min ago' / '1.5 h ago' for a time.time() stamp."""
    import time

    d = max(0.0, time.time() - ts)
    return f"{d:.0f} s ago" if d < 120 else f"{d / 60:.0f} min ago" if d < 7200 else f"{d / 3600:.1f} h ago"
