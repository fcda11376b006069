"""Report formats. Each module exposes ``render(result, context) -> str``; :func:`render` picks one.

Device strings are untrusted: every format escapes or neutralises them for its own medium.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import import_module

from camscan.models import ScanResult

NOTE = ("These lists restrict procurement, federal funding, equipment authorisation and exports for certain "
        "uses; they are not a ban on owning or operating a camera. Not legal advice.")


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"

    def module(self):
        return import_module(f"camscan.report.{_MODULES[self]}")


_MODULES = {OutputFormat.TABLE: "table", OutputFormat.JSON: "json"}


def render(result: ScanResult, fmt: OutputFormat, note: str = NOTE) -> str:
    return fmt.module().render(result, note=note)
