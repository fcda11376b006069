"""Making untrusted device strings safe for a terminal."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts terminal escape sequences), DEL, and bidi overrides that can reorder text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, limit: int = 200) -> str:
    """Printable form of a device string: control characters shown as \\xNN, long values shortened."""
    if value is None:
        return ""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."
