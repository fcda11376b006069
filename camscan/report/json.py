"""JSON report, ``schema_version`` 1 (a contract: add fields, never rename or remove them).

Top-level keys, in order: ``schema_version``, ``scan_id`` (the inventory's id, or null), ``scan``,
``summary``, ``diff`` (what changed since the previous stored scan, ``Diff.as_dict()``; null when there was
no inventory comparison), ``devices``, ``skips``, ``coverage``, ``notes``, ``legal_note``. ``diff`` comes
before ``devices`` so a reader meets the changes first. ``scan_id``, ``diff`` and ``summary.new_flagged``
were added to version 1 without changing any earlier field, as was each device's ``device_class`` (camera,
recorder, encoder, network, radio or unknown; read as unknown from documents that predate it).

:func:`from_dict` is the exact inverse of :func:`as_dict` (``as_dict(from_dict(d)) == d`` for any document
this module wrote), so ``camscan report`` can re-render a stored scan in any format without the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from types import GeneratorType
from typing import Any, TextIO

from camscan.models import (
    Change,
    Coverage,
    Device,
    Diff,
    Evidence,
    Finding,
    ListCitation,
    RuleMatch,
    ScanResult,
    Skip,
    Verdict,
)

SCHEMA_VERSION = 1
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _ts(dt: datetime) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime(_TS_FORMAT)


def as_dict(result: ScanResult, note: str = "") -> dict:
    """The schema_version 1 document for ``result`` (plain JSON types only)."""
    return _document(result, note, [d.as_dict() for d in result.devices])


def _document(result: ScanResult, note: str, devices: Iterable[dict]) -> dict:
    """The document with ``devices`` as given: a list for :func:`as_dict`, a generator for :func:`iterencode`,
    which writes the devices one at a time. One function, so both have the same keys in the same order."""
    diff = result.diff
    return {
        "schema_version": SCHEMA_VERSION,
        "scan_id": result.scan_id,
        "scan": {
            "start": _ts(result.started),
            "end": _ts(result.finished),
            "targets": list(result.targets),
            "interfaces": list(result.interfaces),
            "methods": list(result.methods),
        },
        "summary": {
            "devices": len(result.devices),
            "sanctioned": sum(1 for d in result.devices if d.verdict == "sanctioned"),
            "review": sum(1 for d in result.devices if d.verdict == "review"),
            "clear": sum(1 for d in result.devices if d.verdict == "clear"),
            "unknown": sum(1 for d in result.devices if d.verdict == "unknown"),
            "skips": len(result.skips),
            # devices flagged now and not before; null when there was no comparison with a previous scan
            "new_flagged": len(diff.new_flagged) if diff is not None else None,
        },
        "diff": diff.as_dict() if diff is not None else None,
        "devices": devices,
        "skips": [s.as_dict() for s in result.skips],
        "coverage": [c.as_dict() for c in result.coverage],
        "notes": list(result.notes),
        "legal_note": note,
    }


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
    ``json.dumps(as_dict(result, note), indent=2, ensure_ascii=True) + "\\n"``.

    Each top-level value, and each element of a top-level list, is encoded on its own and indented to its depth
    by prefixing the lines after the first: with ``ensure_ascii`` every newline in the encoder's output is one
    it put between items (a newline inside a string is the escape ``\\n``), so this is exact.
    """
    doc = _document(result, note, (d.as_dict() for d in result.devices))
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
    return from_dict(data)


def from_dict(d: dict) -> ScanResult:
    """The :class:`ScanResult` a schema_version 1 document describes: the exact inverse of :func:`as_dict`.

    Derived fields (``summary``, each device's ``key``) and the ``legal_note`` are not part of the result and
    are ignored. Unknown extra keys are ignored, so documents from later additive revisions still load.
    Raises ``ValueError`` (with the path of the offending field) when ``d`` is not such a document.
    """
    if not isinstance(d, dict):
        raise ValueError("not a camscan JSON report: the top level is not an object")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(f"unsupported camscan report schema_version {version!r} (expected {SCHEMA_VERSION})")
    try:
        scan = d["scan"]
        return ScanResult(
            started=_parse_ts(scan["start"]),
            finished=_parse_ts(scan["end"]),
            targets=_strs(scan["targets"]),
            interfaces=_strs(scan["interfaces"]),
            methods=_strs(scan["methods"]),
            devices=tuple(_device(x) for x in d["devices"]),
            skips=tuple(Skip(ip=_opt(x["ip"]), stage=_str(x["stage"]), reason=_str(x["reason"]))
                        for x in d["skips"]),
            coverage=tuple(_coverage(x) for x in d.get("coverage") or ()),
            notes=_strs(d.get("notes") or ()),
            diff=_diff(d["diff"]) if d.get("diff") is not None else None,
            scan_id=_opt_int(d.get("scan_id")),
        )
    except KeyError as exc:
        raise ValueError(f"camscan report lacks the field {exc.args[0]!r}") from None
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"camscan report has a field of the wrong type: {exc}") from None


def _parse_ts(text: Any) -> datetime:
    try:
        return datetime.strptime(_str(text), _TS_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad timestamp {text!r} in camscan report (expected {_TS_FORMAT})") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt(value: Any) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strs(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(_str(v) for v in values)


def _evidence(x: dict) -> Evidence:
    return Evidence(source=_str(x["source"]), field=_str(x["field"]), value=_str(x["value"]))


def _match(x: dict) -> RuleMatch:
    return RuleMatch(rule=_str(x["rule"]), manufacturer=_str(x["manufacturer"]), strength=_str(x["strength"]),
                     evidence=_evidence(x["evidence"]), note=_str(x.get("note") or ""))


def _citation(x: dict) -> ListCitation:
    return ListCitation(list_id=_str(x["list"]), name=_str(x["name"]), date=_str(x["date"]),
                        citation=_str(x["citation"]), url=_str(x.get("url") or ""),
                        scope=_str(x.get("scope") or ""))


def _finding(x: dict) -> Finding:
    return Finding(
        entity=_str(x["entity"]),
        entity_name=_str(x["entity_name"]),
        verdict=Verdict(x["verdict"]),
        summary=_str(x["summary"]),
        check=_opt(x.get("check")) or "",
        lists=tuple(_citation(c) for c in x["lists"]),
        evidence=tuple(_match(m) for m in x["evidence"]),
        context=tuple(_citation(c) for c in x.get("context") or ()),
    )


def _device(x: dict) -> Device:
    confidence = x["confidence"]
    if not isinstance(confidence, int | float) or isinstance(confidence, bool):
        raise TypeError(f"expected a number for confidence, got {type(confidence).__name__}")
    return Device(
        ip=_str(x["ip"]),
        mac=_opt(x["mac"]),
        manufacturer=_opt(x["manufacturer"]),
        brand=_opt(x["brand"]),
        model=_opt(x["model"]),
        firmware=_opt(x["firmware"]),
        serial=_opt(x["serial"]),
        hardware_id=_opt(x["hardware_id"]),
        hostname=_opt(x["hostname"]),
        endpoint=_opt(x["endpoint"]),
        xaddrs=_strs(x["xaddrs"]),
        seen_by=_strs(x["seen_by"]),
        evidence=tuple(_evidence(e) for e in x["evidence"]),
        matches=tuple(_match(m) for m in x["matches"]),
        confidence=float(confidence),
        verdict=Verdict(x["verdict"]),
        findings=tuple(_finding(f) for f in x["findings"]),
        warnings=_strs(x.get("warnings", [])),
        device_class=_str(x.get("device_class", "unknown")),
    )


def _coverage(x: dict) -> Coverage:
    return Coverage(subnet=_str(x["subnet"]), method=_str(x["method"]), status=_str(x["status"]),
                    tried=_opt_int(x["tried"]) or 0, answered=_opt_int(x["answered"]) or 0,
                    note=_opt(x.get("note")) or "")


def _change(c: dict) -> Change:
    return Change(kind=_str(c["kind"]), key=_str(c["key"]), ip=_opt(c["ip"]), before=_opt(c["before"]),
                  after=_opt(c["after"]), device=_str(c.get("device") or ""))


def _diff(x: dict) -> Diff:
    return Diff(
        previous_scan=_opt_int(x["previous_scan"]),
        previous_started=_opt(x["previous_started"]),
        new_flagged=_strs(x["new_flagged"]),
        changes=tuple(_change(c) for c in x["changes"]),
    )
