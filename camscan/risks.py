"""Known-exploited firmware: which CISA KEV vulnerabilities a device's maker, model and firmware fall under.

The facts are data (``camscan/data/risks.toml``, one entry per CVE, one range per product family as the
vendor advisory names it, each citing its advisory and the date it was read). This module loads and
validates that file and matches devices against it:

* ``exact``: the model is in a family the advisory lists and the firmware is inside that family's
  verified range;
* ``possible``: only one of the two could be checked (no model reported, no parseable firmware, a build
  between the last affected one and the first fixed one the advisory names), or the range could not be
  verified in the advisory;
* nothing: the firmware is outside the range (a patched build), the model belongs to no listed family,
  or neither model nor firmware could be checked.

Risks are information next to the verdict: they never change it, nor the exit code (unless the user asks
for ``--fail-on kev``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from camscan.errors import DataError
from camscan.models import Device, Risk

RISKS_FILE = Path(__file__).resolve().parent / "data" / "risks.toml"
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Firmware:
    """A firmware string reduced to what ranges compare: the version numbers and the build date."""

    version: tuple[int, ...] | None
    built: date | None


@dataclass(frozen=True)
class Range:
    family: str
    models: tuple[re.Pattern[str], ...] = ()
    first: Firmware | None = None
    last: Firmware | None = None
    first_text: str = ""
    last_text: str = ""
    fixed: Firmware | None = None
    fixed_text: str = ""
    built_before: date | None = None
    verified: bool = False
    note: str = ""

    def has_model(self, model: str) -> bool:
        return any(p.match(model) for p in self.models)


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    maker: str
    title: str
    kev_date_added: str
    advisory: str
    advisory_url: str
    read: str
    ranges: tuple[Range, ...]
    vendor_advisory_url: str = ""
    source_note: str = ""
    kev_note: str = ""


# --------------------------------------------------------------------------------------- firmware strings
_BUILD6 = re.compile(r"build\s*:?\s*(\d{2})(\d{2})(\d{2})(?!\d)", re.I)  # Hikvision "build 190701"
_BUILD8 = re.compile(r"build\s*(?:date)?\s*:?\s*(20\d{2})-?(\d{2})-?(\d{2})(?!\d)", re.I)  # "Build Date: 2021-01-28"
_ISO_DATE = re.compile(r"(?<!\d)(20\d{2})[-./](\d{1,2})[-./](\d{1,2})(?!\d)")
_TAIL = re.compile(r"\.R\.(?:(20\d{2})|(\d{2}))(\d{2})(\d{2})(?!\d)")  # Dahua package tail ".R.210108"
_VERSION = re.compile(r"(?<![\d.])V?(\d{1,4}(?:\.\d{1,8}){1,5})", re.I)


def _date(y: str, m: str, d: str) -> date | None:
    year = int(y) if len(y) == 4 else 2000 + int(y)
    try:
        return date(year, int(m), int(d))
    except ValueError:
        return None


def parse_firmware(text: str | None) -> Firmware:
    """Version numbers and build date of a camera firmware string (Hikvision ``V5.5.800 build 210628``,
    Dahua ``2.800.0000000.25.R, Build Date: 2021-01-28`` or ``V2.620.0000002.0.R.170830``); either part is
    None when the string does not carry it. Never raises."""
    if not text:
        return Firmware(None, None)
    text = text[:200]
    built = None
    for pattern in (_BUILD8, _BUILD6, _ISO_DATE):
        m = pattern.search(text)
        if m:
            built = _date(*m.groups())
            if built:
                break
    if built is None:
        m = _TAIL.search(text)
        if m:
            built = _date(m.group(1) or m.group(2), m.group(3), m.group(4))
    version = None
    m = _VERSION.search(text)
    if m:
        version = tuple(int(p) for p in m.group(1).split("."))
    return Firmware(version, built)


# ------------------------------------------------------------------------------------------------ loading
def _fw_bound(text: object, where: str) -> Firmware:
    fw = parse_firmware(str(text))
    if fw.version is None:
        raise DataError(f"{where}: firmware bound {text!r} needs a version (V5.4.0 build 160530, or V4.30.210)")
    return fw


def _span_key(fw: Firmware, dated: bool) -> tuple:
    """What a bound compares on: (version, build date) for dated spans, the version alone otherwise."""
    return (fw.version, fw.built) if dated else (fw.version,)


def _range(raw: object, where: str) -> Range:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: must be a table")
    unknown = set(raw) - {"family", "models", "first", "last", "fixed", "built_before", "verified", "note"}
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("family"), str) or not raw["family"]:
        raise DataError(f"{where}: needs a family name")
    if not isinstance(raw.get("verified"), bool):
        raise DataError(f"{where}: needs verified = true|false (was the range read in the advisory?)")
    models = raw.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise DataError(f"{where}: models must be a list of regular expressions")
    try:
        patterns = tuple(re.compile(m, re.I) for m in models)
    except re.error as exc:
        raise DataError(f"{where}: bad model pattern: {exc}") from None
    has_span = "first" in raw or "last" in raw
    if has_span == ("built_before" in raw):
        raise DataError(f"{where}: give either first and last firmware, or built_before, not both")
    first = last = fixed = None
    before = None
    if "fixed" in raw and not has_span:
        raise DataError(f"{where}: fixed goes with first and last")
    if has_span:
        if "first" not in raw or "last" not in raw:
            raise DataError(f"{where}: first and last go together")
        first, last = _fw_bound(raw["first"], where), _fw_bound(raw["last"], where)
        dated = first.built is not None
        if dated != (last.built is not None):
            raise DataError(f"{where}: first and last must both carry a build date (V5.4.0 build 160530) "
                            f"or both be versions alone (V4.30.210)")
        if _span_key(last, dated) < _span_key(first, dated):
            raise DataError(f"{where}: last firmware is before first")
        if "fixed" in raw:
            fixed = _fw_bound(raw["fixed"], where)
            if (fixed.built is not None) != dated:
                raise DataError(f"{where}: fixed must be written like first and last (with or without a build date)")
            if _span_key(fixed, dated) <= _span_key(last, dated):
                raise DataError(f"{where}: fixed firmware must come after last")
    else:
        value = raw["built_before"]
        text = value.isoformat() if isinstance(value, date) else str(value)
        if not _ISO.fullmatch(text):
            raise DataError(f"{where}: built_before must be YYYY-MM-DD")
        before = date.fromisoformat(text)
    return Range(family=raw["family"], models=patterns, first=first, last=last,
                 first_text=str(raw.get("first", "")), last_text=str(raw.get("last", "")), fixed=fixed,
                 fixed_text=str(raw.get("fixed", "")), built_before=before,
                 verified=raw["verified"], note=str(raw.get("note", "")))


def _iso(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    text = value.isoformat() if isinstance(value, date) else str(value or "")
    if not _ISO.fullmatch(text):
        raise DataError(f"{where}: {key} must be a date YYYY-MM-DD")
    return text


def _vulnerability(raw: object, where: str) -> Vulnerability:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: must be a table")
    for key in ("cve", "maker", "title", "advisory", "advisory_url"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise DataError(f"{where}: needs {key}")
    if not _CVE.fullmatch(raw["cve"]):
        raise DataError(f"{where}: {raw['cve']!r} is not a CVE id")
    if not raw["advisory_url"].startswith(("https://", "http://")):
        raise DataError(f"{where}: advisory_url must be a URL")
    ranges = raw.get("range")
    if not isinstance(ranges, list) or not ranges:
        raise DataError(f"{where}: needs at least one [[vulnerability.range]]")
    return Vulnerability(
        cve=raw["cve"], maker=raw["maker"], title=raw["title"],
        kev_date_added=_iso(raw, "kev_date_added", where), advisory=raw["advisory"],
        advisory_url=raw["advisory_url"], read=_iso(raw, "read", where),
        ranges=tuple(_range(r, f"{where} range #{i + 1}") for i, r in enumerate(ranges)),
        vendor_advisory_url=str(raw.get("vendor_advisory_url", "")), source_note=str(raw.get("source_note", "")),
        kev_note=str(raw.get("kev_note", "")))


def load_risks(path: Path = RISKS_FILE) -> tuple[Vulnerability, ...]:
    """Every entry of a risks file, validated (a bad file is a :class:`DataError`: exit 3)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read risks file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"risks file {path} is not valid TOML: {exc}") from None
    raw = data.get("vulnerability")
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: defines no [[vulnerability]]")
    out = tuple(_vulnerability(v, f"{path}: vulnerability #{i + 1}") for i, v in enumerate(raw))
    seen: set[tuple[str, str]] = set()
    for v in out:
        if (v.cve, v.maker.casefold()) in seen:
            raise DataError(f"{path}: {v.cve} for {v.maker} is defined twice")
        seen.add((v.cve, v.maker.casefold()))
    return out


@lru_cache(maxsize=1)
def default_risks() -> tuple[Vulnerability, ...]:
    return load_risks()


# ----------------------------------------------------------------------------------------------- matching
_IN, _OUT, _UNKNOWN, _GAP = "in", "out", "unknown", "gap"


def _firmware_state(r: Range, fw: Firmware) -> str:
    """in / out of the range, unknown (nothing comparable), or gap: after the last affected build the
    advisory names and before its first fixed one (the advisory says nothing of those builds)."""
    if r.built_before is not None:
        if fw.built is None:
            return _UNKNOWN
        return _IN if fw.built < r.built_before else _OUT
    assert r.first is not None and r.last is not None
    if fw.version is None:
        return _UNKNOWN
    dated = r.first.built is not None  # else a span of versions alone: the build date plays no part
    if not dated or fw.built is not None:
        key, hi = _span_key(fw, dated), _span_key(r.last, dated)
        if _span_key(r.first, dated) <= key <= hi:
            return _IN
        if r.fixed is not None and hi < key < _span_key(r.fixed, dated):
            return _GAP
        return _OUT
    # a version without a build date against a dated span: decided only strictly inside or outside
    lo, hi = r.first.version, r.last.version
    top = r.fixed.version if r.fixed is not None else hi
    assert lo is not None and hi is not None and top is not None
    if fw.version < lo or fw.version > top:
        return _OUT
    if lo < fw.version < hi:
        return _IN
    return _UNKNOWN


def _bounds(r: Range) -> str:
    if r.built_before is not None:
        return f"built before {r.built_before.isoformat()}"
    text = f"from {r.first_text} to {r.last_text}"
    return text + (f"; fixed in {r.fixed_text}" if r.fixed_text else "")


def _assess(v: Vulnerability, r: Range, model: str | None, firmware: str | None, fw: Firmware) -> Risk | None:
    model_ok = bool(model) and bool(r.models) and r.has_model(model or "")
    state = _firmware_state(r, fw)
    if state == _OUT:
        return None  # a patched (or older, unaffected) build
    if not model_ok and state != _IN:
        return None  # nothing could be checked (or only that the build is not a fixed one)
    parts = []
    if model_ok:
        parts.append(f"model {model} falls under: {r.family}")
    elif model and not r.models:
        parts.append(f"model {model} is in no series the advisory lists; checked against {r.family}")
    elif not model:
        parts.append(f"no model reported (the {r.family} cannot be checked)")
    if state == _IN:
        parts.append(f"firmware {firmware} is in the affected range ({_bounds(r)})")
    elif state == _GAP:
        parts.append(f"firmware {firmware} is after the last affected build and before the first fixed one the "
                     f"advisory names ({_bounds(r)})")
    elif firmware:
        parts.append(f"firmware {firmware!r} has no comparable version/build date (affected: {_bounds(r)})")
    else:
        parts.append(f"no firmware reported (affected: {_bounds(r)})")
    exact = model_ok and state == _IN and r.verified
    if not r.verified:
        parts.append("range not verified in the advisory" + (f": {r.note}" if r.note else ""))
    return Risk(cve=v.cve, kev_date_added=v.kev_date_added, advisory=v.advisory, advisory_url=v.advisory_url,
                match="exact" if exact else "possible", why="; ".join(parts), title=v.title)


def match_device(device: Device, vulns: Sequence[Vulnerability] | None = None) -> tuple[Risk, ...]:
    """The KEV risks of one device (at most one per CVE: the strongest match)."""
    if not device.manufacturer:
        return ()
    vulns = default_risks() if vulns is None else vulns
    maker = device.manufacturer.casefold()
    model = (device.model or "").strip().upper() or None
    fw = parse_firmware(device.firmware)
    out: list[Risk] = []
    for v in vulns:
        if v.maker.casefold() != maker:
            continue
        families = [r for r in v.ranges if r.models]
        if model is not None:
            mine = [r for r in families if r.has_model(model)]
            # a model in a listed family is judged by that family's range alone (so a patched build of a
            # listed series is not caught by the span for unlisted models); other models by the ranges
            # that name no models
            candidates = mine or [r for r in v.ranges if not r.models]
        else:
            candidates = list(v.ranges)
        found = [x for x in (_assess(v, r, model, device.firmware, fw) for r in candidates) if x]
        if found:
            out.append(min(found, key=lambda x: x.match != "exact"))
    return tuple(out)


def with_risks(devices: Iterable[Device], vulns: Sequence[Vulnerability] | None = None) -> tuple[Device, ...]:
    """Each device with its ``risks`` set (the verdict is left as it is)."""
    return tuple(dataclasses.replace(d, risks=match_device(d, vulns)) for d in devices)
