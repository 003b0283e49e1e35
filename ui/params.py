"""Deep links: widgets bound to ``st.query_params``, so the URL follows the controls and a URL restores a view.

Each helper takes exactly the arguments of the Streamlit widget of the same name, optionally preceded by
the container to draw in (a column, the sidebar, ``st``), and optionally ``url_name=`` (the name in the URL):

    head_dim = params.number_input(c1, "Head dimension d", min_value=1, max_value=256, value=16, key="rope_d")
    mode = params.radio("Mode", ["a", "b"], horizontal=True)

The URL name is the widget's ``key`` (or a slug of its label). On the first draw of a widget in a session, a
value from the URL is parsed against *that* widget's own range/options: a malformed or hostile value (text in
a number, NaN, out of range, 10,000 characters, an unknown option) falls back to the default or is clamped,
and a visible note says so (``notes()``; app.py shows them). It never raises. After the draw the widget's
value is written back to the URL (removed again when it equals the default, so links stay short).
"""
from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

MAX_TEXT = 2000  # characters taken from a URL for a text widget without its own max_chars
MAX_RAW = 200  # characters of a hostile value quoted back in a note
_NOTES = "_params_notes"
_OWNED = "_params_names"  # URL names written by widgets in this run (others are dropped)


def slug(label: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower()
    return s[:40] or "value"


def notes() -> list[str]:
    """Notes about URL values that were rejected or clamped in this run (and clears them); each is also shown
    as a warning beside its control when it happens."""
    return st.session_state.pop(_NOTES, [])


def _note(text: str) -> None:
    st.session_state.setdefault(_NOTES, []).append(text)


def _quote(raw: str) -> str:
    raw = raw if len(raw) <= 40 else raw[:40] + f"… ({len(raw):,} characters)"
    return repr(raw)


# ---------------------------------------------------------------- encoding values as URL text
def encode(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(encode(v) for v in value)
    return str(value)


def _parse_bool(raw: str) -> bool | None:
    low = raw.strip().lower()
    return True if low in {"1", "true", "yes", "on"} else False if low in {"0", "false", "no", "off"} else None


def _parse_number(raw: str, kind: type) -> float | int | None:
    """A finite number, or +-inf for a number too large to hold (clamped later); None when it is not one."""
    if len(raw) > 1000:
        return None
    try:
        x = float(raw.strip())
    except ValueError:
        return None
    if math.isnan(x):
        return None
    if math.isinf(x) or (kind is int and abs(x) >= 2**62):
        return math.copysign(math.inf, x)
    return int(round(x)) if kind is int else x


def _clamp(x, lo, hi):
    if lo is not None and x < lo:
        return lo, True
    if hi is not None and x > hi:
        return hi, True
    return x, False


def _match_option(raw: str, options: list, fmt: Callable | None) -> tuple[bool, Any]:
    for opt in options:
        if encode(opt) == raw:
            return True, opt
    for opt in options:  # also accept what the reader sees (format_func), case-insensitively
        try:
            shown = str(fmt(opt)) if fmt else str(opt)
        except Exception:  # noqa: BLE001 - a format_func that fails on an option is not the URL's fault
            continue
        if shown.lower() == raw.lower():
            return True, opt
    return False, None


# ---------------------------------------------------------------- one widget
def _split(kind: str, args: tuple, kwargs: dict) -> tuple[Any, inspect.BoundArguments]:
    where = st
    if args and not isinstance(args[0], str):
        where, args = args[0], args[1:]
    sig = inspect.signature(getattr(DeltaGenerator, kind))
    bound = sig.bind(None, *args, **kwargs)  # None stands for `self`
    return where, bound


def _widget(kind: str, args: tuple, kwargs: dict):
    url_name = kwargs.pop("url_name", None)
    where, bound = _split(kind, args, kwargs)
    a = bound.arguments
    label = a["label"]
    name = url_name or a.get("key") or slug(label)
    key = a.get("key") or f"url_{slug(label)}"
    a["key"] = key
    spec = _SPECS[kind]
    default = spec.default(a)
    state = st.session_state
    if key not in state:
        raw = st.query_params.get(name)
        if raw is not None:
            try:
                value, problem = spec.parse(raw, a, default)
            except Exception as e:  # noqa: BLE001 - never let a URL break a page
                value, problem = default, f"could not be read ({type(e).__name__})"
            if problem:
                note = f"Link value {name}={_quote(raw)} for “{label}” {problem}; using {encode(value) or '(empty)'}."
                _note(note)
                (where if where is not st else st).warning(note, icon="🔗")  # beside the control it concerns
            if value != default:
                state[key] = value
    if key in state:
        fixed = spec.repair(state[key], a, default)
        if fixed != state[key]:
            state[key] = fixed
        spec.drop_default(a)  # the value comes from session state (no "set twice" warning)
    value = getattr(where, kind)(*bound.args[1:], **bound.kwargs)
    _write(name, value, default)
    return value


def _write(name: str, value: Any, default: Any) -> None:
    st.session_state.setdefault(_OWNED, set()).add(name)
    text = encode(value)
    try:
        if value == default or len(text) > MAX_TEXT:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != text:
            st.query_params[name] = text
    except Exception:  # noqa: BLE001 - the URL is a convenience; the page must still draw
        pass


def begin_run() -> None:
    """Called by app.py before a page runs."""
    st.session_state[_OWNED] = set()


def drop_stale(keep: set[str] = frozenset()) -> None:
    """After the page: remove URL names no widget of this page owns (e.g. left over from another page)."""
    owned = st.session_state.get(_OWNED, set()) | set(keep)
    for name in list(st.query_params.keys()):
        if name not in owned:
            del st.query_params[name]


class _Spec:
    def default(self, a):  # the widget's own default value
        return a.get("value")

    def parse(self, raw, a, default):  # -> (value, problem or "")
        raise NotImplementedError

    def repair(self, value, a, default):  # make a stored value valid for this draw (ranges can move)
        return value

    def drop_default(self, a):
        a.pop("value", None)


class _Number(_Spec):
    def kind(self, a, default):
        vals = [a.get("value"), a.get("min_value"), a.get("max_value"), a.get("step")]
        return float if any(isinstance(v, float) for v in vals) else int

    def default(self, a):
        v = a.get("value", "min")
        if v in (None, "min"):
            lo = a.get("min_value")
            return lo if lo is not None else 0
        return v

    def parse(self, raw, a, default):
        if not isinstance(default, (int, float)) or isinstance(default, bool):
            return default, "is not supported for this control"
        x = _parse_number(raw, self.kind(a, default))
        if x is None:
            return default, "is not a number"
        x2, clamped = _clamp(x, a.get("min_value"), a.get("max_value"))
        if isinstance(x2, float) and math.isinf(x2):
            return default, "is too large"
        return x2, ("is out of range and was clamped" if clamped else "")

    def repair(self, value, a, default):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return value
        return _clamp(value, a.get("min_value"), a.get("max_value"))[0]


class _Slider(_Number):
    def default(self, a):
        v = a.get("value")
        return a.get("min_value") if v is None else v

    def parse(self, raw, a, default):
        if isinstance(default, (list, tuple)):
            return default, "is not supported for a range slider"
        return super().parse(raw, a, default)


class _Options(_Spec):
    index_arg = "index"

    def default(self, a):
        opts = list(a["options"])
        i = a.get("index", 0)
        return opts[i] if opts and i is not None and 0 <= i < len(opts) else None

    def parse(self, raw, a, default):
        ok, v = _match_option(raw, list(a["options"]), a.get("format_func"))
        return (v, "") if ok else (default, "is not one of the options")

    def repair(self, value, a, default):
        return value if value in list(a["options"]) else default

    def drop_default(self, a):
        a.pop("index", None)


class _SelectSlider(_Options):
    def default(self, a):
        v = a.get("value")
        opts = list(a["options"])
        return opts[0] if v is None and opts else v

    def drop_default(self, a):
        a.pop("value", None)


class _Multi(_Options):
    def default(self, a):
        d = a.get("default")
        return [] if d is None else list(d) if isinstance(d, (list, tuple)) else [d]

    def parse(self, raw, a, default):
        if raw == "":
            return [], ""
        out, bad = [], 0
        for part in raw.split(",")[:100]:
            ok, v = _match_option(part, list(a["options"]), a.get("format_func"))
            if ok and v not in out:
                out.append(v)
            bad += not ok
        return out, (f"had {bad} unknown option(s), dropped" if bad else "")

    def repair(self, value, a, default):
        opts = list(a["options"])
        return [v for v in value if v in opts] if isinstance(value, list) else default

    def drop_default(self, a):
        a.pop("default", None)


class _Bool(_Spec):
    def default(self, a):
        return bool(a.get("value", False))

    def parse(self, raw, a, default):
        b = _parse_bool(raw)
        return (default, "is not on/off (use 1 or 0)") if b is None else (b, "")


class _Text(_Spec):
    def default(self, a):
        return a.get("value") or ""

    def parse(self, raw, a, default):
        limit = a.get("max_chars") or MAX_TEXT
        if len(raw) > limit:
            return raw[:limit], f"is longer than {limit:,} characters and was cut"
        return raw, ""


_SPECS: dict[str, _Spec] = {
    "slider": _Slider(), "number_input": _Number(), "selectbox": _Options(), "radio": _Options(),
    "select_slider": _SelectSlider(), "multiselect": _Multi(), "toggle": _Bool(), "checkbox": _Bool(),
    "text_input": _Text(), "text_area": _Text(),
}


def slider(*args, **kwargs):
    return _widget("slider", args, kwargs)


def number_input(*args, **kwargs):
    return _widget("number_input", args, kwargs)


def selectbox(*args, **kwargs):
    return _widget("selectbox", args, kwargs)


def radio(*args, **kwargs):
    return _widget("radio", args, kwargs)


def select_slider(*args, **kwargs):
    return _widget("select_slider", args, kwargs)


def multiselect(*args, **kwargs):
    return _widget("multiselect", args, kwargs)


def toggle(*args, **kwargs):
    return _widget("toggle", args, kwargs)


def checkbox(*args, **kwargs):
    return _widget("checkbox", args, kwargs)


def text_input(*args, **kwargs):
    return _widget("text_input", args, kwargs)


def text_area(*args, **kwargs):
    return _widget("text_area", args, kwargs)


# Short aliases named in the issue (slider, number, select, radio, toggle, text).
number = number_input
select = selectbox
text = text_input


SHARED = ("present", "device", "dtype", "seed")  # the sidebar's URL names, carried from page to page


def shared() -> dict[str, str]:
    """The sidebar's settings as they stand in the URL, for links and page switches (which start a new URL)."""
    try:
        return {k: st.query_params[k] for k in SHARED if k in st.query_params}
    except Exception:  # noqa: BLE001
        return {}


def view_link(page_url_path: str) -> str:
    """The absolute URL of the current view (page + its query string)."""
    from urllib.parse import urlencode, urlsplit

    base = ""
    try:
        u = urlsplit(st.context.url or "")
        if u.scheme and u.netloc:
            base = f"{u.scheme}://{u.netloc}"
    except Exception:  # noqa: BLE001
        base = ""
    query = urlencode({k: st.query_params.get(k) for k in st.query_params.keys()})
    return f"{base}/{page_url_path}" + (f"?{query}" if query else "")
