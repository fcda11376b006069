"""JSON report, ``schema_version`` 1: the document :func:`camscan.serialize.report_dict` builds (its docstring
describes the contract), written as text: 7-bit ASCII, two-space indent, the documented key order, streamed a
device at a time. :func:`loads` reads it back (:func:`camscan.serialize.report_from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from types import GeneratorType
from typing import Any, TextIO

from camscan.models import ScanResult
from camscan.serialize import report_document, report_from_dict, to_dict

# ensure_ascii keeps the document valid 7-bit JSON whatever bytes a device sent (control characters and odd code
# points become \\u escapes); sort_keys=False keeps the documented field order. The same settings as
# json.dumps(doc, indent=2, ensure_ascii=True), which is what the report was before it was streamed.
_ENCODER = json.JSONEncoder(indent=2, ensure_ascii=True)


def render(result: ScanResult, note: str = "") -> str:
    """The JSON report: 7-bit ASCII, two-space indent, documented key order, newline at the end."""
    return "".join(iterencode(result, note))


def write(result: ScanResult, out: TextIO, note: str = "") -> None:
    """Write the text of :func:`render` to ``out`` piece by piece, never holding the whole document.

    A 1,000-device report is about 15 MB of text; as one dict plus one string (the indenting encoder is pure
    Python) it cost about 100 MB of peak memory. Written a device at a time it costs one device's dict.
    """
    for chunk in iterencode(result, note):
        out.write(chunk)


def iterencode(result: ScanResult, note: str = "") -> Iterator[str]:
    """The text of the report in pieces (a device's dict is built only when its turn comes), byte-identical to
    ``json.dumps(report_dict(result, note), indent=2, ensure_ascii=True) + "\\n"``.

    Each top-level value, and each element of a top-level list, is encoded on its own and indented to its depth
    by prefixing the lines after the first: with ``ensure_ascii`` every newline in the encoder's output is one
    it put between items (a newline inside a string is the escape ``\\n``), so this is exact.
    """
    doc = report_document(result, note, (to_dict(d) for d in result.devices))
    sep = "{\n  "
    for key, value in doc.items():
        yield f"{sep}{_ENCODER.encode(key)}: "
        sep = ",\n  "
        if isinstance(value, list | GeneratorType):
            yield from _array(value, "\n  ")
        else:
            yield _ENCODER.encode(value).replace("\n", "\n  ")
    yield "\n}\n"


def _array(items: Iterable[Any], newline: str) -> Iterator[str]:
    """A JSON array at the depth whose line start is ``newline``, one element at a time."""
    inner = newline + "  "
    empty = True
    for item in items:
        yield ("[" if empty else ",") + inner + _ENCODER.encode(item).replace("\n", inner)
        empty = False
    yield "[]" if empty else newline + "]"


# ------------------------------------------------------------------------------------------------ reading

def loads(text: str) -> ScanResult:
    """Parse a JSON report written by :func:`render`. Raises ``ValueError`` on anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a camscan JSON report: {exc}") from None
    return report_from_dict(data)
