"""Page discovery: every ``pages/*.py`` declares where it goes in its module docstring.

    \"\"\"One line saying what the page teaches.

    section: Attention
    title: Attention variants
    icon: 🔍
    order: 10
    \"\"\"

app.py builds the ``st.navigation`` router from these headers (without importing the pages), the home
page links to them, and the tests iterate over them, so adding a page is adding one file.
Pure Python: no streamlit here, so tests can use it directly.
"""
from __future__ import annotations

import ast
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"
SECTIONS = ("Start", "Seeing", "Position", "Attention", "Generating", "Compressing", "Measuring")


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to the repo root, e.g. "pages/vit_patching.py"
    title: str
    section: str
    icon: str
    order: int
    summary: str  # first line of the docstring
    default: bool = False

    @property
    def url_path(self) -> str:
        return "" if self.default else Path(self.path).stem


def parse_header(path: Path) -> PageInfo:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    lines = doc.strip().splitlines()
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            if key.strip() in {"section", "title", "icon", "order", "default"}:
                fields[key.strip()] = value.strip()
    if "title" not in fields or "section" not in fields:
        raise ValueError(f"{path}: the docstring must declare 'title:' and 'section:'")
    if fields["section"] not in SECTIONS:
        raise ValueError(f"{path}: section {fields['section']!r} is not one of {SECTIONS}")
    return PageInfo(
        path=str(path.relative_to(ROOT)),
        title=fields["title"],
        section=fields["section"],
        icon=fields.get("icon", "📄"),
        order=int(fields.get("order", "100")),
        summary=lines[0] if lines else "",
        default=fields.get("default", "").lower() == "true",
    )


_LOCK = threading.Lock()
_CACHE: dict[tuple, list[PageInfo]] = {}


def discover_pages() -> list[PageInfo]:
    """All pages, sorted by section then order.

    Parsed once per set of files (name, mtime) and under a lock: every session's app.py run calls this, and
    CPython 3.11's ``ast.parse`` is not thread-safe (concurrent calls raise "SystemError: AST constructor
    recursion depth mismatch", seen in the 2-session load test).
    """
    files = sorted(p for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in files)
    with _LOCK:
        if stamp not in _CACHE:
            pages = [parse_header(p) for p in files]
            _CACHE.clear()
            _CACHE[stamp] = sorted(pages, key=lambda p: (SECTIONS.index(p.section), p.order, p.title))
        return list(_CACHE[stamp])


def by_section() -> dict[str, list[PageInfo]]:
    out: dict[str, list[PageInfo]] = {}
    for p in discover_pages():
        out.setdefault(p.section, []).append(p)
    return out


# The lesson: the order a class walks through the pages (presentation mode's Previous/Next buttons).
# Stems of pages/*.py; a stem whose file does not exist (yet) is skipped, so one list serves every branch.
LESSON = (
    "tokens_sampling",  # tokens and sampling
    "attention_lab",  # attention: Q/K/V, masks, heads, efficient variants
    "vit_patching",  # ViT patches
    "patch_embedding",
    "trained_vit",
    "rope",
    "rope_scaling",  # RoPE at long context
    "attention_scaling",
    "flash_attention",
    "kv_cache",  # KV cache, GQA/MQA
    "paged_attention",
    "speculative_decoding",
    "ssm",  # beyond attention: state-space models
    "drop_redundancy",  # compression
    "low_bit",
    "claims",  # every claim, judged in one table
    "benchmarks",
)
NOT_IN_LESSON = ("home",)


def lesson() -> list[PageInfo]:
    """The pages of the lesson that exist, in lesson order."""
    pages = {Path(p.path).stem: p for p in discover_pages()}
    return [pages[s] for s in LESSON if s in pages]


def lesson_neighbours(stem: str) -> tuple[PageInfo | None, PageInfo | None]:
    """(previous, next) of a page in the lesson; Home leads to the first page."""
    order = lesson()
    stems = [Path(p.path).stem for p in order]
    if stem not in stems:
        return None, (order[0] if order else None)
    i = stems.index(stem)
    return (order[i - 1] if i > 0 else None), (order[i + 1] if i + 1 < len(order) else None)
