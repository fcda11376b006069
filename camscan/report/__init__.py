"""Report formats. Each format module exposes ``render(result, note="") -> str``; :func:`render` picks one.

Device strings are untrusted: every format escapes or neutralises them for its own medium (see ``text.py``).
Every format leads with what changed since the previous scan (``ScanResult.diff``) and with devices newly
flagged (``common.py`` fixes that order for all of them).

    table  terminal table (tabulate); control characters shown as escapes
    json   schema_version 1 contract (additive only) plus ``diff`` and ``scan_id`` (``camscan.serialize``)
    csv    one row per device for spreadsheets; formula-like cells neutralised
    html   one self-contained page (inline CSS, hashed inline JS, strict CSP); every device string escaped
    cyclonedx  CycloneDX 1.6 JSON, each device a component of type ``device`` (for asset/CMDB/SBOM tools)
"""

from __future__ import annotations

from enum import StrEnum
from importlib import import_module
from types import ModuleType

from camscan.models import ScanResult

NOTE = ("These lists restrict procurement, federal funding, equipment authorisation and exports for certain "
        "uses; they are not a ban on owning or operating a camera. Not legal advice.")


class OutputFormat(StrEnum):
    """The report formats, usable as an argparse ``type=``/``choices=``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    CYCLONEDX = "cyclonedx"

    def module(self) -> ModuleType:
        """The module implementing this format (it has ``render(result, note="") -> str``)."""
        return import_module(f"camscan.report.{_MODULES[self]}")


_MODULES = {OutputFormat.TABLE: "table", OutputFormat.JSON: "json", OutputFormat.CSV: "csv",
            OutputFormat.HTML: "html", OutputFormat.CYCLONEDX: "cyclonedx"}


def render(result: ScanResult, fmt: OutputFormat, note: str = NOTE) -> str:
    """The report for ``result`` in format ``fmt``, with the legal ``note``."""
    return fmt.module().render(result, note=note)
