"""Text that can be stored and shown safely: what every text field of every contract accepts.

Every string in a contract is normalised to Unicode NFC (so "é" typed two ways is one name; never NFKC,
which changes people's names) and refuses control characters: NUL (which PostgreSQL text cannot hold:
one NUL once froze the read models) and every other C0/C1 control and DEL. Line breaks (and tabs) are
refused too, except in fields meant to hold them, marked `Paragraphs`. A field marked `RawText` (a CSV
file's text) is only normalised: whoever reads it checks its parts (the roll import rejects such a row).
"""

from __future__ import annotations

import functools
import re
import typing
import unicodedata
from typing import Annotated, Any


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


LINE_BREAKS_ALLOWED = _Marker("line breaks allowed")
CONTROLS_ALLOWED = _Marker("control characters allowed")

Paragraphs = Annotated[str, LINE_BREAKS_ALLOWED]  # free text in a person's words: may hold line breaks
RawText = Annotated[str, CONTROLS_ALLOWED]  # a file's text, checked part by part by whoever reads it

_BREAKS = {"\n", "\r", "\t"}
# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators; the second without the
# tab, line feed and carriage return. One regular expression each: checked in C, not character by character.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


# Every character no field may hold (C0 and C1 controls, DEL, the Unicode line and paragraph separators),
# and the same without the line breaks and tab that `Paragraphs` may hold: searched in C, not char by char.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def control_character(text: str, line_breaks: bool) -> str | None:
    """The first character that may not be stored in such a field, or None."""
    found = (_CONTROLS_BUT_BREAKS if line_breaks else _CONTROLS).search(text)
    return None if found is None else found.group()


def problem_with(text: str, line_breaks: bool) -> str | None:
    found = control_character(text, line_breaks)
    if found is None:
        return None
    what = "a line break" if found in _BREAKS else f"a control character (U+{ord(found):04X})"
    return f"contains {what}, which cannot be stored here: remove it"


@functools.cache
def rules_for(model: type, field_name: str) -> tuple[bool, bool, bool]:
    """(line breaks allowed, control characters allowed, left to a nested model) for one field, from the
    markers wherever they are in its type (`Paragraphs | None` included). A field holding contracts models
    is left to them: each checks its own fields."""
    field = getattr(model, "model_fields", {}).get(field_name)
    if field is None:
        return False, False, False
    found: set[int] = {id(m) for m in field.metadata}
    nested = False

    def walk(annotation: Any) -> None:
        nonlocal nested
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            nested = True
        for meta in getattr(annotation, "__metadata__", ()):
            found.add(id(meta))
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(field.annotation)
    return id(LINE_BREAKS_ALLOWED) in found, id(CONTROLS_ALLOWED) in found, nested


def clean(value: Any, line_breaks: bool, controls: bool) -> Any:
    """NFC-normalise every string in `value` (nested lists and dicts too) and refuse control characters."""
    if isinstance(value, str):
        if not value.isascii():
            value = unicodedata.normalize("NFC", value)
        if not controls and (problem := problem_with(value, line_breaks)):
            raise ValueError(problem)
        return value
    if isinstance(value, list):
        return [clean(v, line_breaks, controls) for v in value]
    if isinstance(value, dict):
        return {clean(k, False, controls): clean(v, line_breaks, controls) for k, v in value.items()}
    return value
