"""Downloads: every result table as CSV, every page's results as JSON with their provenance.

``ui.cached.data`` records each result a page asks for during a run (``record``); app.py then offers them all
as one JSON file (``page_json_button``) stamped with device, threads, dtype, library versions, the sidebar
settings, the page's URL parameters and a UTC timestamp. Serialisation is deferred to the click, so a page
that nobody downloads pays nothing. Charts keep Plotly's own "download as PNG" button (ui.layout.figure).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib.metadata
import json
import math
import platform
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

MAX_ARRAY = 200_000  # elements per array written out in full; larger ones are summarised
_RECORD = "_export_records"
LIBRARIES = ("torch", "numpy", "streamlit", "plotly", "altair", "pandas")


# ------------------------------------------------------------------ CSV
def to_frame(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        return pd.DataFrame({k: list(v) if not np.isscalar(v) else [v] for k, v in data.items()})
    return pd.DataFrame(list(data))


def csv_bytes(data) -> bytes:
    return to_frame(data).to_csv(index=False).encode("utf-8")


def csv_button(data, *, name: str, key: str) -> None:
    frame = to_frame(data)
    st.download_button("⬇ CSV", data=lambda: frame.to_csv(index=False).encode("utf-8"),
                       file_name=f"{name}.csv", mime="text/csv", key=key, on_click="ignore",
                       help="This table as a CSV file.")


# ------------------------------------------------------------------ JSON
def plain(x: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: dataclasses -> dicts, numpy -> lists (large arrays summarised), NaN -> null."""
    if depth > 12:
        return repr(x)[:200]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: plain(getattr(x, f.name), depth + 1) for f in dataclasses.fields(x)}
    if isinstance(x, enum.Enum):
        return x.value if isinstance(x.value, (str, int, float)) else x.name
    if isinstance(x, np.ndarray):
        if x.size > MAX_ARRAY or x.dtype == object and x.size > 10_000:
            flat = x.astype(float, copy=False) if np.issubdtype(x.dtype, np.number) else None
            return {"omitted": f"array with {x.size:,} elements", "shape": list(x.shape), "dtype": str(x.dtype),
                    **({"min": float(np.nanmin(flat)), "max": float(np.nanmax(flat))} if flat is not None else {})}
        return plain(x.tolist(), depth + 1)
    if isinstance(x, np.generic):
        return plain(x.item(), depth + 1)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    if isinstance(x, bytes):
        return {"omitted": f"{len(x):,} bytes (an uploaded file)"}
    if isinstance(x, dict):
        return {str(k): plain(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in x]
    if isinstance(x, pd.DataFrame):
        return plain(x.to_dict(orient="list"), depth + 1)
    return repr(x)[:500]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def begin_run() -> None:
    st.session_state[_RECORD] = []


def record(fn: Callable, args: tuple, kwargs: dict, result: Any) -> None:
    """Remember one cached call of this run (references only; nothing is copied or serialised here)."""
    try:
        st.session_state.setdefault(_RECORD, []).append((f"{fn.__module__}.{fn.__qualname__}", args, kwargs,
                                                         result))
    except Exception:  # noqa: BLE001 - outside a script run (tests calling labs directly)
        pass


def document(page: str, records: list, settings: dict, query: dict) -> dict:
    runs = []
    for name, args, kwargs, result in records:
        runs.append({"function": name, "inputs": plain(list(args)) + ([plain(kwargs)] if kwargs else []),
                     "result": plain(result)})
    return {
        "page": page,
        "exported_at_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "url_parameters": query,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "libraries": versions(),
        "results": runs,
        "provenance": "measured live / computed on this server by the functions named; timings carry their own "
                      "device, threads and dtype where the result records them",
    }


def page_json_button(page: str, settings: Any, key: str = "export_page_json") -> None:
    """One download with every result this page computed in this run."""
    records = list(st.session_state.get(_RECORD, []))
    if not records:
        return
    sets = plain(settings)
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}

    def build() -> bytes:
        return json.dumps(document(page, records, sets, query), indent=1, allow_nan=False).encode("utf-8")

    st.download_button("⬇ This page's results (JSON)", data=build, file_name=f"{page}-results.json",
                       mime="application/json", key=key, on_click="ignore",
                       help=f"{len(records)} result(s) with device, threads, dtype, library versions, settings "
                            "and a timestamp.")


def json_text(page: str, settings: Any) -> str:
    """The same document as a string (tests and scripts)."""
    records = list(st.session_state.get(_RECORD, []))
    return json.dumps(document(page, records, plain(settings), {}), indent=1, allow_nan=False)


