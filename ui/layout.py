"""Small building blocks every page uses: header with citations, metric rows, claim checks."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import streamlit as st

from viz_core.claims import ClaimCheck, Verdict
from viz_core.plots import theme

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
    (``provenance_text(...)``: measured live / recorded / computed / cited) under it.

    In presentation mode every font is raised to the projector minimum (``theme.enlarge``); Plotly's own
    toolbar keeps its "download as PNG" button.
    """
    theme.enlarge(fig)
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}})
    if provenance:
        st.caption("ⓘ " + provenance)


def ago(ts: float) -> str:
    """'3 s ago' / '2 min ago' / '1.5 h ago' for a time.time() stamp."""
    import time

    d = max(0.0, time.time() - ts)
    return f"{d:.0f} s ago" if d < 120 else f"{d / 60:.0f} min ago" if d < 7200 else f"{d / 3600:.1f} h ago"


def table(data, *, name: str = "table", key: str | None = None, caption: str | None = None, **kwargs) -> None:
    """A result table with its CSV download; collapsed behind an expander in presentation mode."""
    from ui import export

    def draw() -> None:
        st.dataframe(data, hide_index=kwargs.pop("hide_index", True), key=key, **kwargs)
        export.csv_button(data, name=name, key=f"csv_{key or name}")
        if caption:
            st.caption(caption)

    if presenting():
        with st.expander(f"Table: {name.replace('_', ' ')}"):
            draw()
    else:
        draw()


# ------------------------------------------------------------------ presentation mode
_PRESENT_CSS = """<style>
html { font-size: 20px; }                                   /* every rem-sized text x1.25: never smaller */
h1 { font-size: 2.6rem !important; }
[data-testid="stMainBlockContainer"] { padding: 1.6rem 1.6rem 3rem 1.6rem !important; max-width: 100% !important; }
[data-testid="stSidebarHeader"] { height: 1.2rem !important; min-height: 0 !important; padding: 0.4rem !important; }
[data-testid="stSidebarUserContent"] { padding-top: 0 !important; }
[data-testid="stMetricValue"] { font-size: 1.9rem !important; }
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"],
[data-testid="stMetricValue"] *, [data-testid="stWidgetLabel"], [data-testid="stWidgetLabel"] p,
[data-testid="stCheckbox"] label p, [data-testid="stCheckbox"] [data-testid="stMarkdownContainer"] {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  height: auto !important; }                                 /* labels and values wrap instead of "Tiles comp…" */
[data-testid="stMetricValue"] > div { overflow-wrap: break-word; line-height: 1.15; }
[data-testid="stSidebar"] { font-size: 0.85rem; }
[data-testid="stCaptionContainer"] { font-size: 0.9rem; }
</style>"""


def presentation_css() -> None:
    st.markdown(_PRESENT_CSS, unsafe_allow_html=True)


def presenting() -> bool:
    return bool(st.session_state.get("presentation", False))


def lesson_nav(current) -> None:
    """Previous / Next buttons through the lesson (ui.registry.LESSON)."""
    from ui import params, registry

    stem = current.path.rsplit("/", 1)[-1].removesuffix(".py")
    prev, nxt = registry.lesson_neighbours(stem)
    if prev is None and nxt is None:
        return
    order = [p.path for p in registry.lesson()]
    where = f"Lesson {order.index(current.path) + 1} of {len(order)}" if current.path in order else "The lesson"
    st.divider()
    c1, c2, c3 = st.columns([2, 1, 2], vertical_alignment="center")
    if prev is not None and c1.button(f"← Previous: {prev.title}", key="lesson_prev", width="stretch"):
        st.switch_page(prev.path, query_params=params.shared())
    c2.markdown(f"<div style='text-align:center'>{where}</div>", unsafe_allow_html=True)
    label = f"Next: {nxt.title} →" if nxt is not None else ""
    if nxt is not None and c3.button(label if stem in [o.rsplit('/', 1)[-1][:-3] for o in order]
                                     else f"Start the lesson: {nxt.title} →", key="lesson_next", type="primary",
                                     width="stretch"):
        st.switch_page(nxt.path, query_params=params.shared())


def process_rss_mib() -> float:
    """Resident memory of this server process now (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def notes(items: Iterable[str]) -> None:
    """What loading an input changed: a warning when the note says so ("Warning: …"), else an info box."""
    for note in items:
        if note.startswith("Warning:"):
            st.warning(note.removeprefix("Warning:").strip(), icon="⚠️")
        else:
            st.info(note)
