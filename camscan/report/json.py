"""JSON report, ``schema_version`` 1 (a contract: add fields, never rename or remove them)."""

from __future__ import annotations

import json

from camscan.models import ScanResult

SCHEMA_VERSION = 1


def _ts(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_dict(result: ScanResult, note: str = "") -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
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
        },
        "devices": [d.as_dict() for d in result.devices],
        "skips": [s.as_dict() for s in result.skips],
        "coverage": [c.as_dict() for c in result.coverage],
        "notes": list(result.notes),
        "legal_note": note,
    }


def render(result: ScanResult, note: str = "") -> str:
    # ensure_ascii keeps the document valid 7-bit JSON whatever bytes a device sent (control characters and
    # odd code points become \\u escapes); sort_keys=False keeps the documented field order.
    return json.dumps(as_dict(result, note), indent=2, ensure_ascii=True) + "\n"
