"""The session-level guard against values that only a crafted client can send.

The browser's controls only send values they offer, but anyone can speak Streamlit's websocket protocol.
Streamlit decodes widget values *before* the script runs (``SessionState.on_script_will_rerun`` calls the
widgets' ``deserialize``), so a page or app.py cannot catch what goes wrong there. Left alone:

- NaN or ±inf in an integer ``number_input``: ``int(nan)`` raises inside Streamlit and the session's
  every rerun ends in a traceback;
- a file name the uploader does not accept (``.svg``): Streamlit raises "Invalid file extension";
- an option a ``selectbox``/``radio``/``multiselect`` does not offer: Streamlit passes the raw string on
  to the page, which never expected it.

``install()`` wraps those ``deserialize`` methods once per process: such a value is replaced by the
widget's default (an unknown upload by "no file") and a note is recorded for this script run; app.py
shows the notes with ``show_notes()``. Everything else is left to Streamlit. The lab creates no widget
with ``accept_new_options``, so an unknown selectbox value is never legitimate here.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Callable

_installed = False
_local = threading.local()  # one script run = one ScriptRunner thread (decode + script run)


def _note(text: str) -> None:
    notes = getattr(_local, "notes", None)
    if notes is None:
        notes = _local.notes = []
    if text not in notes:
        notes.append(text)


def take_notes() -> list[str]:
    """The notes recorded in this script run so far (and forget them)."""
    notes = getattr(_local, "notes", None) or []
    _local.notes = []
    return notes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _guard_number(orig: Callable) -> Callable:
    def deserialize(self, ui_value):
        if ui_value is not None and isinstance(ui_value, float) and not math.isfinite(ui_value):
            _note(f"a number field received {_short(ui_value)}")
            return orig(self, None)
        try:
            return orig(self, ui_value)
        except (ValueError, OverflowError, TypeError):
            _note(f"a number field received {_short(ui_value)}")
            return orig(self, None)
    return deserialize


def _guard_choice(orig: Callable) -> Callable:
    def deserialize(self, ui_value):
        if ui_value is not None and ui_value not in self.formatted_option_to_option_index:
            _note(f"a choice received {_short(ui_value)}, which it does not offer")
            return orig(self, None)
        return orig(self, ui_value)
    return deserialize


def _guard_multi(orig: Callable) -> Callable:
    def deserialize(self, ui_value):
        if ui_value is not None:
            known = [v for v in ui_value if v in self.formatted_options]
            if len(known) != len(ui_value):
                _note(f"a multiple choice received {_short([v for v in ui_value if v not in known])}, "
                      "which it does not offer")
                ui_value = known
        return orig(self, ui_value)
    return deserialize


def _guard_upload(orig: Callable) -> Callable:
    def deserialize(self, ui_value):
        try:
            return orig(self, ui_value)
        except Exception as e:  # StreamlitAPIException: "Invalid file extension"
            if "extension" not in str(e).lower():
                raise
            allowed = ", ".join(t.lstrip(".") for t in (self.allowed_types or []))
            _note(f"the uploader received a file type it does not accept (it takes {allowed})")
            return [] if self.accept_multiple_files in (True, "directory") else None
    return deserialize


def install() -> None:
    """Wrap Streamlit's widget decoding once per process (idempotent)."""
    global _installed
    if _installed:
        return
    from streamlit.elements.widgets import file_uploader, multiselect, number_input, radio, selectbox

    for cls, guard in ((number_input.NumberInputSerde, _guard_number), (selectbox.SelectboxSerde, _guard_choice),
                       (radio.RadioSerde, _guard_choice), (multiselect.MultiSelectSerde, _guard_multi),
                       (file_uploader.FileUploaderSerde, _guard_upload)):
        if not getattr(cls.deserialize, "_lab_guarded", False):
            wrapped = guard(cls.deserialize)
            wrapped._lab_guarded = True  # type: ignore[attr-defined]
            cls.deserialize = wrapped
    _installed = True


def message(notes: list[str]) -> str:
    return ("**A control sent a value it does not offer, so the page used its default instead:** "
            + "; ".join(notes) + ". Only a modified client can send such values; the controls on this page "
            "only offer values the lab can use.")
