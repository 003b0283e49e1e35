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


def discover_pages() -> list[PageInfo]:
    """All pages, sorted by section then order."""
    pages = [parse_header(p) for p in sorted(PAGES_DIR.glob("*.py")) if not p.name.startswith("_")]
    return sorted(pages, key=lambda p: (SECTIONS.index(p.section), p.order, p.title))


def by_section() -> dict[str, list[PageInfo]]:
    out: dict[str, list[PageInfo]] = {}
    for p in discover_pages():
        out.setdefault(p.section, []).append(p)
    return out
