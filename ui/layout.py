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
            st.markdown(f"**Measured here:** {c.measured}  \n"
                        f"**Verdict:** {_VERDICT_ICON[c.verdict]} {c.verdict.value} — {c.why}")


def figure(fig, key: str | None = None) -> None:
    """Draw a plotly figure full-width (one place to change how figures are shown)."""
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def notes(items: Iterable[str]) -> None:
    """What loading an input changed: a warning when the note says so ("Warning: …"), else an info box."""
    for note in items:
        if note.startswith("Warning:"):
            st.warning(note.removeprefix("Warning:").strip(), icon="⚠️")
        else:
            st.info(note)
