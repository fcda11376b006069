"""Identification: declarative rules over collected evidence -> Device (manufacturer, brand, model...).

Rules live in ``camscan/data/rules/*.toml`` and are validated when loaded; no vendor string is in code.
A rule matches one kind of evidence (a ``source:field`` glob such as ``onvif.GetDeviceInformation:manufacturer``
or ``*:model``) against a regular expression and asserts a manufacturer with a strength:

* ``firmware``: the maker's firmware platform shows (a vendor discovery protocol, its web/RTSP server, API,
  certificate or firmware version pattern). Whatever the label says, this is who built the software stack.
* ``identity``: the device names the maker itself (e.g. ONVIF Manufacturer "HIKVISION").
* ``medium``: a distinctive trait shared by few makers (message shape, a vendor service port).
* ``hint``: weak alone (an OUI, a model-number pattern, an OEM brand name).

Independent sources combine into a confidence (1 - product of (1 - weight)), counting each evidence source
family (wsd, onvif, http, rtsp, sadp, dhip, oui, tls) once per maker, so one talkative protocol cannot
outvote the others. The matches that decided it stay on the Device.

A rule's optional ``class`` (camera, recorder, encoder, network, radio) says what kind of device its evidence
shows; the Device's ``device_class`` comes from the strongest such rule of the identified maker. A rule with a
``class`` and no ``manufacturer`` only classifies (it names no maker and adds nothing to any confidence).

A rule may also need a shape of the whole reply: ``also`` lists {evidence, pattern} conditions some other
evidence of the host must meet, ``absent`` ones none may meet (e.g. a generic ``Server: webserver`` counts
only with the page prologue of the same firmware; upper-case header names only without a Server header).
"""

from __future__ import annotations

import fnmatch
import re
import threading
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from camscan.errors import DataError
from camscan.models import Device, Evidence, Host, RuleMatch, RuleStrength

RULES_DIR = Path(__file__).resolve().parent / "data" / "rules"
WEIGHTS = {RuleStrength.FIRMWARE: 0.9, RuleStrength.IDENTITY: 0.8, RuleStrength.MEDIUM: 0.5,
           RuleStrength.HINT: 0.3}
STRONG = (RuleStrength.FIRMWARE, RuleStrength.IDENTITY)
# What kind of device a rule says it is (its ``class`` key); a device none of whose rules says is "unknown".
DEVICE_CLASSES = ("camera", "recorder", "encoder", "network", "radio", "unknown")
_RULE_KEYS = {"id", "evidence", "pattern", "strength", "manufacturer", "note", "source", "model", "family",
              "case_sensitive", "warning", "class", "also", "absent"}

# Which evidence answers "what does the device call itself / what model / which firmware", best first.
# These are protocol field names, not vendor strings.
BRAND_FIELDS = ("onvif.GetDeviceInformation:manufacturer", "dhip:vendor", "onvif.GetScopes:scope.manufacturer",
                "wsd:scope.manufacturer")
MODEL_FIELDS = ("onvif.GetDeviceInformation:model", "sadp:model", "dhip:model", "http.isapi:model",
                "wsd:scope.hardware", "onvif.GetScopes:scope.hardware", "wsd:scope.model")
FIRMWARE_FIELDS = ("onvif.GetDeviceInformation:firmware", "sadp:firmware", "dhip:firmware")
SERIAL_FIELDS = ("onvif.GetDeviceInformation:serial", "sadp:serial", "dhip:serial")
HOSTNAME_FIELDS = ("onvif.GetHostname:hostname",)


@dataclass(frozen=True)
class Rule:
    id: str
    evidence: tuple[str, ...]
    pattern: re.Pattern[str]
    strength: RuleStrength
    manufacturer: str
    note: str
    source: str
    model: str | None = None  # template using the pattern's groups, e.g. "\\1"
    family: str | None = None
    warning: str | None = None  # an audit warning rule: asserts no maker, adds this text to the device
    device_class: str | None = None  # camera | recorder | encoder | network | radio (the rule's ``class``)
    # Conditions on the host's other evidence: each ``also`` (selectors, pattern) must match some evidence,
    # no ``absent`` one may (a shape such as "this Server value with that page prologue").
    also: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = ()
    absent: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = ()

    def matches(self, ev: Evidence) -> re.Match[str] | None:
        if not _selects(self.evidence, f"{ev.source}:{ev.field}"):
            return None
        return self.pattern.search(ev.value)

    def context_holds(self, evidence: Sequence[Evidence]) -> bool:
        """Whether the ``also``/``absent`` conditions hold over all of a host's evidence."""
        def seen(sels: tuple[str, ...], rx: re.Pattern[str]) -> bool:
            return any(_selects(sels, f"{e.source}:{e.field}") and rx.search(e.value) for e in evidence)
        return all(seen(*c) for c in self.also) and not any(seen(*c) for c in self.absent)


def ports_read(rules: Sequence[Rule], ports: Iterable[int]) -> frozenset[int]:
    """The ports among ``ports`` whose ``tcp:open`` evidence some rule reads: its pattern matches it, or one of
    its ``also``/``absent`` conditions does (the port check must ask these on every host)."""
    out = set()
    for port in ports:
        ev = Evidence("tcp", "open", str(port))
        for rule in rules:
            if rule.matches(ev) or any(_selects(sels, "tcp:open") and rx.search(ev.value)
                                       for sels, rx in (*rule.also, *rule.absent)):
                out.add(port)
                break
    return frozenset(out)


@lru_cache(maxsize=8192)
def _selects(selectors: tuple[str, ...], key: str) -> bool:
    """Whether a ``source:field`` key matches one of a rule's globs. Cached: a scan checks a few dozen distinct
    keys against every rule for every host."""
    return any(fnmatch.fnmatchcase(key, sel) for sel in selectors)


def _rule(raw: dict, where: str) -> Rule:
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise DataError(f"{where}: unknown key(s) {sorted(unknown)}")
    # A warning rule asserts no maker; a rule with a class and no manufacturer only says what kind of device.
    classifier = "class" in raw and "manufacturer" not in raw
    required = ("id", "evidence", "pattern", "source") + (
        () if "warning" in raw else ("strength",) if classifier else ("strength", "manufacturer"))
    for key in required:
        if key not in raw:
            raise DataError(f"{where}: rule {raw.get('id', '?')!r} lacks {key!r}")
    if "warning" in raw or classifier:
        raw = {"strength": "hint", "manufacturer": "", **raw}
    if raw.get("class", "camera") not in DEVICE_CLASSES:
        raise DataError(f"{where}: rule {raw['id']!r} class must be one of {', '.join(DEVICE_CLASSES)}")
    if raw["strength"] not in WEIGHTS:
        raise DataError(f"{where}: rule {raw['id']!r} strength must be one of {sorted(map(str, WEIGHTS))}")
    flags = 0 if raw.get("case_sensitive") else re.IGNORECASE
    sels, pattern = _condition(raw, where, flags)
    conditions = {}
    for key in ("also", "absent"):
        items = raw.get(key, [])
        if not isinstance(items, list) or not all(isinstance(c, dict) and set(c) <= {"evidence", "pattern"}
                                                  for c in items):
            raise DataError(f"{where}: rule {raw['id']!r} {key} must be a list of {{evidence, pattern}} tables")
        conditions[key] = tuple(_condition({"id": raw["id"], "pattern": ".", **c}, f"{where} {key}", flags)
                                for c in items)
    return Rule(id=raw["id"], evidence=sels, pattern=pattern, strength=RuleStrength(raw["strength"]),
                manufacturer=raw["manufacturer"], note=raw.get("note", ""), source=raw["source"],
                model=raw.get("model"), family=raw.get("family"), warning=raw.get("warning"),
                device_class=raw.get("class"), also=conditions["also"], absent=conditions["absent"])


def _condition(raw: dict, where: str, flags: int) -> tuple[tuple[str, ...], re.Pattern[str]]:
    """A rule's (or one of its also/absent conditions') evidence selectors and compiled pattern."""
    sels = raw.get("evidence")
    sels = (sels,) if isinstance(sels, str) else tuple(sels or ())
    if not sels or not all(isinstance(s, str) and ":" in s for s in sels):
        raise DataError(f"{where}: rule {raw['id']!r} evidence must be 'source:field' selector(s)")
    try:
        return sels, re.compile(raw["pattern"], flags)
    except (re.error, TypeError) as exc:
        raise DataError(f"{where}: rule {raw['id']!r} has a bad pattern: {exc}") from None


def load_rules(paths: Iterable[Path] | None = None) -> tuple[Rule, ...]:
    """Load and validate rule files (default: every ``data/rules/*.toml``). DataError on any problem."""
    files = sorted(paths) if paths is not None else sorted(RULES_DIR.glob("*.toml"))
    if not files:
        raise DataError(f"no fingerprint rules found in {RULES_DIR}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for path in files:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DataError(f"cannot read rules {path}: {exc}") from None
        for i, raw in enumerate(data.get("rule", [])):
            r = _rule(raw, f"{Path(path).name} rule #{i + 1}")
            if r.id in seen:
                raise DataError(f"{Path(path).name}: duplicate rule id {r.id!r}")
            seen.add(r.id)
            rules.append(r)
    return tuple(rules)


@lru_cache(maxsize=1)
def default_rules() -> tuple[Rule, ...]:
    return load_rules()


def _first(evidence: Sequence[Evidence], selectors: Sequence[str]) -> str | None:
    for sel in selectors:
        src, fld = sel.split(":", 1)
        for e in evidence:
            if e.source == src and e.field == fld and e.value.strip():
                return e.value.strip()
    return None


def match_rules(evidence: Sequence[Evidence], rules: Sequence[Rule]) -> list[tuple[Rule, RuleMatch, re.Match]]:
    # Evidence grouped by its source:field key, and each key looked up once per host in an index of which rules'
    # evidence globs select it (cached across hosts), rather than every rule's globs tried on every key; the
    # first match in evidence order still wins.
    positions: dict[str, list[int]] = {}
    for i, ev in enumerate(evidence):
        positions.setdefault(f"{ev.source}:{ev.field}", []).append(i)
    index = _RuleIndex.of(rules)
    picks: dict[tuple[str, ...], list[int]] = {}
    for key, idx in positions.items():
        for sels in index.selecting(key):
            picks.setdefault(sels, []).extend(idx)
    found = []
    for rule in rules:
        picked = picks.get(rule.evidence)
        if not picked:
            continue
        if len(picked) > 1:
            picked.sort()
        for i in picked:
            ev = evidence[i]
            m = rule.pattern.search(ev.value)
            if m and (not (rule.also or rule.absent) or rule.context_holds(evidence)):
                found.append((rule, RuleMatch(rule.id, rule.manufacturer, rule.strength, ev, rule.note), m))
                break  # one match per rule is enough evidence of that rule
    return found


class _RuleIndex:
    """For one rule set: the distinct evidence-glob tuples of its rules, and per ``source:field`` key the ones
    that select it (remembered for at most :attr:`MAX_KEYS` keys: field names partly come from device data)."""

    MAX_KEYS = 4096
    _cache: dict[int, tuple[Sequence[Rule], _RuleIndex]] = {}
    _lock = threading.Lock()

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.selectors = tuple(dict.fromkeys(r.evidence for r in rules))
        self.keys: dict[str, tuple[tuple[str, ...], ...]] = {}

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> _RuleIndex:
        """The index of ``rules``: remembered for a tuple (the rule sets camscan loads), built afresh for any
        other sequence (a list may change between calls)."""
        if not isinstance(rules, tuple):
            return cls(rules)
        hit = cls._cache.get(id(rules))
        if hit is not None and hit[0] is rules:
            return hit[1]
        index = cls(rules)
        with cls._lock:
            if len(cls._cache) >= 16:
                cls._cache.clear()
            cls._cache[id(rules)] = (rules, index)  # holds the rules: their id is not reused while cached
        return index

    def selecting(self, key: str) -> tuple[tuple[str, ...], ...]:
        got = self.keys.get(key)
        if got is None:
            got = tuple(sels for sels in self.selectors if any(fnmatch.fnmatchcase(key, s) for s in sels))
            if len(self.keys) < self.MAX_KEYS:
                self.keys[key] = got
        return got


def scores(matches: Sequence[RuleMatch]) -> dict[str, float]:
    """Confidence per manufacturer, each evidence source family counted once (its strongest match)."""
    best: dict[tuple[str, str], float] = {}
    for m in matches:
        fam = m.evidence.source.split(".", 1)[0]
        key = (m.manufacturer, fam)
        best[key] = max(best.get(key, 0.0), WEIGHTS[m.strength])
    out: dict[str, float] = {}
    for (maker, _fam), w in best.items():
        out[maker] = 1 - (1 - out.get(maker, 0.0)) * (1 - w)
    return out


def _device_class(found: Sequence[tuple[Rule, RuleMatch, re.Match]], manufacturer: str | None) -> str:
    """The class the strongest classifying rule of the identified maker gives (ties: the first in rule order),
    else the strongest of any other rule (a maker's or a maker-less classifier); "unknown" when no matched rule
    has a ``class``."""
    order = {s: i for i, s in enumerate(WEIGHTS)}
    classed = [r for r, _m, _rx in found if r.device_class]
    own = [r for r in classed if r.manufacturer == manufacturer]
    pick = sorted(own or classed, key=lambda r: order[r.strength])
    return pick[0].device_class if pick else "unknown"


def identify(host: Host, rules: Sequence[Rule] | None = None) -> Device:
    """Turn what was observed about a host into a Device (no verdict yet: that is policy's job)."""
    rules = default_rules() if rules is None else rules
    ev = host.evidence
    hits = match_rules(ev, rules)
    warnings = tuple(dict.fromkeys(r.warning for r, _m, _rx in hits if r.warning))
    found = [h for h in hits if not h[0].warning]
    matches = tuple(m for r, m, _ in found if r.manufacturer)
    sc = scores(matches)
    manufacturer = None
    confidence = 0.0
    if sc:
        # Ties go to the maker with firmware/identity evidence.
        def rank(maker: str) -> tuple[float, bool]:
            return sc[maker], any(m.manufacturer == maker and m.strength in STRONG for m in matches)
        manufacturer = max(sc, key=rank)
        confidence = sc[manufacturer]
    brand = _first(ev, BRAND_FIELDS)
    if manufacturer is None and brand:
        manufacturer = brand  # nothing identified it: say what it reports, with no confidence
    model = _first(ev, MODEL_FIELDS)
    if model is None:
        for rule, _m, rx in found:
            if rule.model and rule.manufacturer and rule.manufacturer == manufacturer:
                model = rx.expand(rule.model)
                break
    return Device(
        ip=host.ip,
        device_class=_device_class(found, manufacturer),
        mac=host.mac,
        manufacturer=manufacturer,
        brand=brand,
        model=model,
        firmware=_first(ev, FIRMWARE_FIELDS),
        serial=_first(ev, SERIAL_FIELDS),
        hardware_id=_first(ev, ("onvif.GetDeviceInformation:hardware_id",)),
        hostname=_first(ev, HOSTNAME_FIELDS),
        endpoint=host.endpoint,
        xaddrs=host.xaddrs,
        seen_by=host.seen_by,
        evidence=ev,
        matches=matches,
        confidence=confidence,
        warnings=warnings,
    )
