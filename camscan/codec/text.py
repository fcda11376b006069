"""Turning device-supplied text into evidence values: :func:`strip_controls`.

(Output formats *escape* what they show instead: :func:`camscan.report.text.escape`.)

A device chooses every byte of its reply. Values end up in terminal tables, HTML, CSV and the inventory,
so each one is capped in length and stripped of control characters (a crafted model name must not be
able to move a terminal's cursor or forge a CSV line).
"""

from __future__ import annotations

MAX_VALUE = 256  # characters kept of one evidence value

# C0 controls, DEL and C1 controls; tab/newline/CR become spaces so multi-line values stay readable.
_CONTROL = {c: None for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({0x09: " ", 0x0A: " ", 0x0D: " "})


def strip_controls(value: object, limit: int = MAX_VALUE, collapse: bool = True) -> str:
    """``value`` as a single-line string without control characters, whitespace-trimmed, at most ``limit``
    characters (an ellipsis marks a cut). ``None`` becomes ''; bools become ``true``/``false``.

    ``collapse`` also folds every run of whitespace (including no-break spaces) into one space; pass False
    where the exact characters are evidence (a certificate Name written with U+00A0 no-break spaces)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    # Cut before cleaning so a megabyte of junk costs no more than a few times the limit.
    text = str(value)[: limit * 4].translate(_CONTROL)
    text = " ".join(text.split()) if collapse else text.strip(" ")
    if len(text) > limit:
        return text[: max(0, limit - 1)] + "…"
    return text
