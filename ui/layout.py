"""Small building blocks every page uses: header with citations, metric rows, claim checks."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import streamlit as st

from viz_core.claims import ClaimCheck, Verdict

_VERDICT_ICON = {Verdict.HOLDS: "✅", Verdict.PARTLY: "🟡", Verdict.NOT_HERE: "❌", Verdict.NOT_MEASURED: "⏸️"}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*_(\"“])")


def split_intro(intro: str, max_chars: int = 280) -> tuple[str, str]:
    """The opening (one or two sentences, at most ``max_chars`` unless one sentence is longer) and the rest."""
    parts = _SENTENCE_END.split(intro.strip())
    lead = parts[0]
    for k, p in enumerate(parts[1:], start=1):
        if k >= 2 or len(lead) + 1 + len(p) > max_chars:
            return lead, " ".join(parts[k:])
        lead += " " + p
    return lead, ""


def header(title: str, intro: str, papers: Sequence[str] = (), more: str = "") -> None:
    """Title, one or two sentences, then (folded) the longer explanation and the citations."""
    st.title(title)
    lead, rest = split_intro(intro)
    st.markdown(lead)
    rest = "\n\n".join(t for t in (rest, more) if t)
    if rest or papers:
        label = "More about this page" + (f" and its {len(papers)} paper{'s' if len(papers) > 1 else ''}"
                                          if papers else "")
        with st.expander(label):
            if rest:
                st.markdown(rest)
            if papers:
                st.markdown("**Papers**\n" + "\n".join(f"- {p}" for p in papers))


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
