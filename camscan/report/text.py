"""Making untrusted device strings safe to show: in a terminal, a spreadsheet cell or an HTML page.

A camera chooses its own name, model and firmware strings, so a hostile or broken one can carry terminal
escape sequences (``ESC [``), NUL bytes, Unicode bidi overrides that make text read backwards (U+202E), line
separators or lone surrogates that cannot even be encoded as UTF-8. :func:`escape` shows every such code point
as a visible escape (``\\x1b``, ``\\u202e``) instead of passing it on (discovery *strips* such characters
from evidence values instead: :func:`camscan.codec.text.strip_controls`); each format then applies its own
escaping (HTML entities, CSV formula neutralising) on top.
"""

from __future__ import annotations

import unicodedata

# Unicode general categories never shown raw: Cc controls (C0, DEL, C1 incl. ESC/CSI), Cf format characters
# (bidi overrides and isolates, zero-width joiners, BOM), Cs lone surrogates (not encodable as UTF-8), Zl/Zp
# line and paragraph separators, Co private use and Cn unassigned/noncharacters (U+FFFE, U+FFFF).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"})


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _safe_char(ch: str) -> str:
    return _escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch


def escape(value: object, limit: int = 200) -> str:
    """Printable form of a device string: unsafe code points shown as ``\\xNN``/``\\uNNNN``, long values
    shortened to ``limit`` characters (ending in ``...``). ``None`` becomes the empty string."""
    if value is None:
        return ""
    text = str(value)
    if not (text.isascii() and text.isprintable()):
        text = "".join(_safe_char(ch) for ch in text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."

