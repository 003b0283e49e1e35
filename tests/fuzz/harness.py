"""Hostile inputs for every page, run through app.py under AppTest, with each case's outcome and peak RSS.

A *case* is one script run of one page with one or more widget values injected into the widget state that
the browser would send: every widget at its min and max, out of range, NaN/±inf, empty, 100,000-character,
control-character, emoji and right-to-left text, options no widget offers, and seeded random combinations;
plus hostile uploads on the pages that take an image. Values are injected as raw ``WidgetState`` protos,
so a case can send what only a crafted websocket client could (AppTest's own ``set_value`` refuses them).

For every case we record the outcome and the process's memory:

- ``ok`` (page drew, no message), ``message`` (an error/warning/info box explained a refusal),
  ``exception`` (a traceback: always a failure), ``no-marker`` (app.py's done-marker missing: a failure);
- ``rss_growth_mib``: peak RSS during the case minus RSS before it (Linux ``VmHWM`` reset through
  ``/proc/self/clear_refs`` before each case) — compared with the per-request budget;
- ``hwm_mib``: the process's peak RSS so far (torch, Streamlit and the cached models included).

Used by ``tests/fuzz/test_fuzz.py`` (a CI-sized subset) and ``scripts/fuzz.py`` (the full run).
"""
from __future__ import annotations

import functools
import io
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from PIL import Image
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.app.helpers import ROOT, done_marker, route_through_app
from viz_core.measure import budget

route_through_app()

# Widgets the fuzz does not press: they fetch a ~93 MB model from PyPI (a shared, cached resource, not a
# per-request allocation) — exercised by the page's own tests.
SKIP_LABELS = ("Fetch and load SmolLM2", "← Previous", "Next:")  # + lesson navigation (it leaves the page)
KINDS = ("slider", "select_slider", "number_input", "selectbox", "radio", "multiselect", "text_input",
         "text_area", "toggle", "checkbox", "button")
UNKNOWN = "🙃 not-an-option"
TEXTS = {
    "empty": "",
    "100k chars": ("To be, or not to be: that is the question. " * 2400)[:100_000],
    "control chars": "a\x00b\x01c\x1b[31mred\x1b[0m\r\n\t\x7f\u200b\ufeff end",
    "emoji": "😀🧪👩‍👩‍👧‍👦🏳️‍🌈 🇺🇳 x̸̢̛ ",
    "right-to-left": "مرحبا بالعالم שלום עולם \u202edlrow olleh\u202c",
    "whitespace": "   \n\n\t  ",
}


# ------------------------------------------------------------------------------------------------ memory
def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def hwm_mib() -> float:
    return _status_kib("VmHWM") / 1024


def reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ uploads
def _png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _bomb_png(w: int, h: int) -> bytes:
    """A valid PNG header claiming w×h pixels (8-bit RGB), with almost no data: a decompression bomb."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


@functools.lru_cache(maxsize=1)
def uploads() -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, MIME type): every hostile upload of the issue."""
    rng = np.random.default_rng(0)
    good = _png(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    float_img = rng.random((96, 128)).astype(np.float32)
    float_img[:4, :] = np.inf
    float_img[4:6, :10] = -np.inf
    float_img[10:20, 10:20] = np.nan
    all_bad = np.full((32, 32), np.nan, dtype=np.float32)
    frames = [Image.new("RGB", (48, 48), c) for c in ("red", "green", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    grey16 = (np.linspace(0, 65535, 6000 * 1000).reshape(1000, 6000) % 65536).astype(np.uint16)
    return {
        "zero bytes": ("empty.png", b"", "image/png"),
        "random bytes": ("noise.png", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "image/png"),
        "truncated PNG": ("cut.png", good[: len(good) // 2], "image/png"),
        "text named .png": ("notes.png", b"This is a text file, not a picture.\n" * 40, "image/png"),
        "1x1": ("dot.png", _png(Image.new("RGB", (1, 1), "white")), "image/png"),
        "decompression bomb": ("bomb.png", _bomb_png(60_000, 60_000), "image/png"),
        "bomb under Pillow's limit": ("bomb2.png", _bomb_png(9_000, 9_000), "image/png"),
        "20000x8 strip": ("strip.png", _png(Image.new("RGB", (20000, 8), (30, 90, 200))), "image/png"),
        "16-bit grey 6000x1000": ("grey16.png", _png(Image.fromarray(grey16)), "image/png"),
        "16-bit grey 3000x3000": ("grey16sq.png",
                                  _png(Image.fromarray((np.arange(9_000_000) % 65536).astype(np.uint16)
                                                       .reshape(3000, 3000))), "image/png"),
        "CMYK": ("cmyk.jpg", _png(Image.new("CMYK", (80, 60), (10, 200, 30, 5)), "JPEG"), "image/jpeg"),
        "animated GIF": ("anim.gif", gif.getvalue(), "image/gif"),
        "float TIFF with inf/NaN": ("float.tif", _png(Image.fromarray(float_img), "TIFF"), "image/tiff"),
        "float TIFF all NaN": ("nan.tif", _png(Image.fromarray(all_bad), "TIFF"), "image/tiff"),
        "RGBA": ("alpha.png", _png(Image.new("RGBA", (64, 48), (255, 0, 0, 0))), "image/png"),
        "SVG (unknown extension)": ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        "good PNG": ("good.png", good, "image/png"),
    }


# ------------------------------------------------------------------------------------------------ cases
@dataclass
class Case:
    page: str  # "pages/x.py"
    kind: str  # "single" | "crafted" | "upload" | "random"
    description: str
    values: list[tuple[str, str, int, Any]]  # (widget kind, label, nth with that label, value)
    upload: str | None = None  # key of uploads()


@dataclass
class Record:
    page: str
    kind: str
    description: str
    outcome: str  # ok | message | exception | no-marker | harness-error
    seconds: float
    rss_growth_mib: float
    hwm_mib: float
    detail: str = ""
    messages: list[str] = field(default_factory=list)


def _label(node) -> str:
    return str(getattr(node, "label", "") or getattr(node, "key", "") or "")


def widgets(at: AppTest) -> list[tuple[str, str, int, Any]]:
    """(kind, label, nth, node) for every widget the page (and the sidebar) drew."""
    out = []
    for kind in KINDS:
        seen: dict[str, int] = {}
        for node in at.get(kind):
            label = _label(node)
            if any(label.startswith(s) for s in SKIP_LABELS):
                continue
            nth = seen.get(label, 0)
            seen[label] = nth + 1
            out.append((kind, label, nth, node))
    return out


def find(at: AppTest, kind: str, label: str, nth: int):
    hits = [n for n in at.get(kind) if _label(n) == label]
    return hits[nth] if nth < len(hits) else None


def _options(node) -> list[str]:
    return [str(o) for o in getattr(node, "options", [])]


def values_for(kind: str, node) -> list[tuple[str, Any]]:
    """(description, value) pairs for one widget: its extremes and hostile values."""
    if kind == "slider":
        lo, hi, step = node.min, node.max, node.step or 1
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            return [("min", lo), ("max", hi), ("below min", lo - step), ("above max", hi + step),
                    ("NaN", math.nan), ("inf", math.inf)]
        return []
    if kind == "number_input":
        lo = node.min if node.proto.has_min else -1e6
        hi = node.max if node.proto.has_max else 1e6
        return [("min", lo), ("max", hi), ("below min", lo - 1), ("above max", hi + 1), ("NaN", math.nan),
                ("+inf", math.inf), ("-inf", -math.inf), ("1e308", 1e308), ("half", lo + 0.5)]
    if kind in ("select_slider", "selectbox", "radio"):
        opts = _options(node)
        picks = opts if len(opts) <= 8 else [opts[0], opts[len(opts) // 2], opts[-1]]
        return [(f"option {o!r}", o) for o in picks] + [("unknown option", UNKNOWN)]
    if kind == "multiselect":
        opts = _options(node)
        return [("none", []), ("all", opts), ("first", opts[:1]), ("unknown option", [UNKNOWN])]
    if kind in ("text_input", "text_area"):
        return list(TEXTS.items())
    if kind in ("toggle", "checkbox"):
        return [("on", True), ("off", False)]
    if kind == "button":
        return [("click", True)]
    return []


def default_value(kind: str, node) -> Any:
    """The widget's value when the page opened, in the form ``inject`` sends (used to undo a case on a reused
    session). Widgets bound to the URL (ui.params) get their value from the session, not ``proto.default``."""
    proto = node.proto
    try:
        if kind in ("text_input", "text_area", "number_input", "toggle", "checkbox") and node.value is not None:
            return node.value
        if kind == "slider" and isinstance(node.value, (int, float)):
            return node.value
        if kind in ("selectbox", "radio") and getattr(node, "index", None) is not None:
            return node.options[node.index]
        if kind == "slider":
            return list(proto.default)[0]
        if kind == "number_input":
            return proto.default if proto.has_default else None
        if kind in ("selectbox", "radio"):
            return proto.options[int(proto.default)] if proto.HasField("default") else None
        if kind == "select_slider":
            return proto.options[int(list(proto.default)[0])]
        if kind == "multiselect":
            return [proto.options[int(i)] for i in proto.default]
        if kind in ("text_input", "text_area"):
            return proto.default
        if kind in ("toggle", "checkbox"):
            return bool(proto.default)
    except Exception:  # noqa: BLE001 - a proto without a default: the group is not undone
        return None
    return None


def random_value(kind: str, node, rng: random.Random) -> Any:
    """A value the real browser could send (inside the widget's range or options)."""
    if kind == "slider":
        lo, hi, step = node.min, node.max, node.step or 1
        if isinstance(lo, int) and isinstance(hi, int) and isinstance(step, int):
            return lo + step * rng.randrange((hi - lo) // step + 1)
        return rng.choice([lo, hi, lo + (hi - lo) * rng.random()])
    if kind == "number_input":
        lo = node.min if node.proto.has_min else -1000
        hi = node.max if node.proto.has_max else 1000
        v = rng.choice([lo, hi, lo + (hi - lo) * rng.random() ** 4])
        return int(v) if node.proto.data_type == node.proto.INT else float(v)
    if kind in ("select_slider", "selectbox", "radio"):
        return rng.choice(_options(node))
    if kind == "multiselect":
        opts = _options(node)
        return rng.sample(opts, rng.randint(0, len(opts)))
    if kind in ("text_input", "text_area"):
        return rng.choice(list(TEXTS.values()) + ["ROMEO: But soft", "x"])
    if kind in ("toggle", "checkbox"):
        return rng.random() < 0.5
    if kind == "button":
        return rng.random() < 0.3
    return None


def _state(kind: str, node, value: Any) -> WidgetState:
    ws = WidgetState()
    ws.id = node.id
    if kind in ("slider",):
        ws.double_array_value.data[:] = [float(value)]
    elif kind == "number_input":
        ws.double_value = float(value)
    elif kind in ("selectbox", "radio"):
        ws.string_value = str(value)
    elif kind == "select_slider":
        ws.string_array_value.data[:] = [str(value)]
    elif kind == "multiselect":
        ws.string_array_value.data[:] = [str(v) for v in value]
    elif kind in ("text_input", "text_area"):
        ws.string_value = str(value)
    elif kind in ("toggle", "checkbox"):
        ws.bool_value = bool(value)
    elif kind == "button":
        ws.trigger_value = bool(value)
    return ws


def inject(kind: str, node, value: Any) -> None:
    """Send ``value`` for ``node`` on the next run, as a raw widget state (no client-side checks)."""
    state = _state(kind, node, value)
    base = type(node)
    node.__class__ = type(f"Injected{base.__name__}", (base,), {"_widget_state": property(lambda self: state)})


# ------------------------------------------------------------------------------------------------ running
def open_app(page: str, timeout: float) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if not page.endswith("home.py"):
        at.switch_page(page).run()
    return at


def _messages(at: AppTest) -> list[str]:
    out = []
    for kind in ("error", "warning"):
        out += [f"{kind}: {str(e.value)[:300]}" for e in at.get(kind)]
    return out


def _apply(at: AppTest, case: Case) -> str:
    """Inject the case's values; returns a note on widgets that were not there (not an error)."""
    missing = []
    if case.upload is not None:
        radio = find(at, "radio", "Image", 0)
        if radio is not None and "Upload" in _options(radio) and not at.get("file_uploader"):
            inject("radio", radio, "Upload")
            at.run()
        up = at.get("file_uploader")
        if not up:
            return "no uploader"
        up[0].set_value(uploads()[case.upload])
    for kind, label, nth, value in case.values:
        node = find(at, kind, label, nth)
        if node is None:
            missing.append(label)
            continue
        inject(kind, node, value)
    return f"not shown: {', '.join(missing)}" if missing else ""


def run_case(at: AppTest, case: Case) -> Record:
    note = _apply(at, case)
    rss0 = rss_mib()
    reset_hwm()
    t0 = time.perf_counter()
    outcome, detail = "ok", note
    try:
        at.run()
        if at.exception:
            outcome, detail = "exception", " | ".join(str(e.value)[:500] for e in at.exception)
        elif any("unexpected problem" in str(e.value) for e in at.error):  # app.py's never_traceback caught a bug
            outcome, detail = "exception", " | ".join(str(e.value)[:500] for e in at.error)
        elif not done_marker(at):
            outcome, detail = "no-marker", "app.py's done-marker was not drawn"
        elif _messages(at):
            outcome = "message"
    except Exception as e:  # AppTest itself failed (a timeout, a script that never finished)
        outcome, detail = "harness-error", f"{type(e).__name__}: {str(e)[:500]}"
    seconds = time.perf_counter() - t0
    msgs = _messages(at) if outcome not in ("harness-error",) else []
    return Record(case.page, case.kind, case.description, outcome, round(seconds, 3),
                  round(hwm_mib() - rss0, 1), round(hwm_mib(), 1), detail, msgs)


def single_cases(page: str, at: AppTest, crafted_only: bool = False) -> list[list[Case]]:
    """One group per widget, one case per value. The first case of each group also puts the previous
    group's widget back to its default, so the groups can share one session."""
    groups = []
    previous = None
    for kind, label, nth, node in widgets(at):
        group = []
        for desc, value in values_for(kind, node):
            crafted = desc in ("unknown option", "NaN", "+inf", "-inf", "inf", "1e308", "half", "below min",
                               "above max")
            if crafted_only and not crafted:
                continue
            shown = repr(value) if not isinstance(value, str) or len(value) < 40 else f"<{desc}>"
            group.append(Case(page, "crafted" if crafted else "single", f"{kind} {label!r}#{nth} = {desc} ({shown[:60]})",
                              [(kind, label, nth, value)]))
        if group:
            if previous is not None:
                group[0].values = [previous] + group[0].values
            groups.append(group)
            default = default_value(kind, node)
            previous = (kind, label, nth, default) if default is not None and kind != "button" else None
    return groups


def random_cases(page: str, at: AppTest, n: int, seed: int) -> list[Case]:
    rng = random.Random(f"{page}:{seed}")
    ws = widgets(at)
    cases = []
    for i in range(n):
        chosen = [w for w in ws if rng.random() < 0.6] or ws[:1]
        vals = [(k, lab, nth, random_value(k, node, rng)) for k, lab, nth, node in chosen]
        vals = [v for v in vals if v[3] is not None]
        cases.append(Case(page, "random", f"random combination #{i} (seed {seed}): {len(vals)} widgets", vals))
    return cases


def upload_cases(page: str, names: Iterable[str] | None = None) -> list[Case]:
    return [Case(page, "upload", f"upload: {name}", [], upload=name) for name in (names or uploads())]


def run_group(page: str, cases: list[Case], timeout: float, fresh_each: bool = False) -> Iterator[Record]:
    """Run ``cases`` on one app session (or a fresh one per case), yielding a record per case."""
    at = None
    for case in cases:
        if at is None or fresh_each:
            try:
                at = open_app(page, timeout)
            except Exception as e:
                yield Record(page, case.kind, case.description, "harness-error", 0.0, 0.0, round(hwm_mib(), 1),
                             f"could not open the page: {type(e).__name__}: {e}")
                at = None
                continue
        yield run_case(at, case)


def budget_mib() -> float:
    return budget.request_budget_bytes() / 2**20


def failures(records: list[Record], limit_mib: float | None = None) -> list[Record]:
    limit = budget_mib() if limit_mib is None else limit_mib
    return [r for r in records if r.outcome in ("exception", "no-marker", "harness-error")
            or r.rss_growth_mib > limit]


def write_jsonl(records: list[Record], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def summary(records: list[Record]) -> dict:
    by = {}
    for r in records:
        by[r.outcome] = by.get(r.outcome, 0) + 1
    worst = max(records, key=lambda r: r.rss_growth_mib, default=None)
    slowest = max(records, key=lambda r: r.seconds, default=None)
    return {"cases": len(records), "outcomes": by,
            "largest_rss_growth_mib": worst.rss_growth_mib if worst else 0.0,
            "largest_rss_growth_case": f"{worst.page}: {worst.description}" if worst else "",
            "peak_rss_mib": max((r.hwm_mib for r in records), default=0.0),
            "slowest_s": slowest.seconds if slowest else 0.0,
            "slowest_case": f"{slowest.page}: {slowest.description}" if slowest else "",
            "budget_mib": budget_mib()}
