"""Core value types passed between pipeline stages.

Everything here is a frozen dataclass: stages build new values instead of mutating shared ones, which keeps
the concurrent probe workers honest. Every conclusion camscan reports points back to :class:`Evidence`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    """What a device means for the audit."""

    SANCTIONED = "sanctioned"  # firmware-level evidence that a listed maker built it
    REVIEW = "review"  # weak or conflicting hints point at a listed maker: a person should check
    CLEAR = "clear"  # identified as a maker on no enabled list
    UNKNOWN = "unknown"  # not enough evidence to say

    @property
    def flagged(self) -> bool:
        return self in (Verdict.SANCTIONED, Verdict.REVIEW)


@dataclass(frozen=True)
class Credentials:
    """Username and password for ONVIF/HTTP. The password never appears in repr, logs or reports."""

    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:  # pragma: no cover - defensive
        return f"Credentials(username={self.username!r})"


@dataclass(frozen=True)
class Evidence:
    """One observed fact: where it came from (``source``), what it is (``field``) and its value."""

    source: str  # e.g. "wsd", "onvif.GetDeviceInformation", "http.header", "oui", "rtsp", "sadp", "dhip"
    field: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "field": self.field, "value": self.value}


@dataclass(frozen=True)
class Skip:
    """An expected failure, reported instead of raised: which host, which stage, why."""

    ip: str | None
    stage: str
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"ip": self.ip, "stage": self.stage, "reason": self.reason}


@dataclass(frozen=True)
class Host:
    """What discovery and probing learned about one address, before identification."""

    ip: str
    mac: str | None = None
    seen_by: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    xaddrs: tuple[str, ...] = ()
    endpoint: str | None = None  # WS-Discovery endpoint reference (normalised urn:uuid:...)

    def merged(self, other: Host) -> Host:
        """Union of two observations of the same host (order kept, duplicates dropped)."""
        return Host(
            ip=self.ip,
            mac=self.mac or other.mac,
            seen_by=_union(self.seen_by, other.seen_by),
            evidence=_union(self.evidence, other.evidence),
            xaddrs=_union(self.xaddrs, other.xaddrs),
            endpoint=self.endpoint or other.endpoint,
        )

    def add(self, *, seen_by: str | None = None, evidence: tuple[Evidence, ...] = (),
            mac: str | None = None) -> Host:
        return self.merged(Host(ip=self.ip, mac=mac, seen_by=(seen_by,) if seen_by else (), evidence=evidence))

    def values(self, source: str, fieldname: str) -> list[str]:
        """Every evidence value with this source and field, in the order observed."""
        return [e.value for e in self.evidence if e.source == source and e.field == fieldname]

    def first(self, source: str, fieldname: str) -> str | None:
        found = self.values(source, fieldname)
        return found[0] if found else None


def _union(a: tuple, b: tuple) -> tuple:
    if not b:  # nothing to add: no need to hash what is there (hosts carry a hundred pieces of evidence)
        return a
    seen = dict.fromkeys(a)
    seen.update(dict.fromkeys(b))
    return tuple(seen)


@dataclass(frozen=True)
class RuleMatch:
    """A fingerprint rule that matched, and the evidence it matched on."""

    rule: str
    manufacturer: str
    strength: str  # "firmware" | "identity" | "hint"
    evidence: Evidence
    note: str = ""

    def as_dict(self) -> dict:
        return {"rule": self.rule, "manufacturer": self.manufacturer, "strength": self.strength,
                "evidence": self.evidence.as_dict(), "note": self.note}


@dataclass(frozen=True)
class ListCitation:
    """One regulatory list an entity is on, as the policy data cites it."""

    list_id: str
    name: str
    date: str
    citation: str
    url: str = ""
    scope: str = ""

    def as_dict(self) -> dict:
        return {"list": self.list_id, "name": self.name, "date": self.date, "citation": self.citation,
                "url": self.url, "scope": self.scope}


@dataclass(frozen=True)
class Finding:
    """Why a device is flagged: the entity, the lists it is on, and the evidence."""

    entity: str  # policy entity id
    entity_name: str
    verdict: Verdict
    lists: tuple[ListCitation, ...]
    evidence: tuple[RuleMatch, ...]
    summary: str
    check: str = ""  # what a person should check (review verdicts)
    context: tuple[ListCitation, ...] = ()  # opt-in lists the site has not enabled, shown for context

    def as_dict(self) -> dict:
        return {
            "entity": self.entity,
            "entity_name": self.entity_name,
            "verdict": str(self.verdict),
            "summary": self.summary,
            "check": self.check or None,
            "lists": [c.as_dict() for c in self.lists],
            "evidence": [m.as_dict() for m in self.evidence],
            "context": [c.as_dict() for c in self.context],
        }


@dataclass(frozen=True)
class Device:
    """An identified device: who made it (``manufacturer``) apart from what it calls itself (``brand``)."""

    ip: str
    mac: str | None
    manufacturer: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None
    hostname: str | None
    endpoint: str | None
    xaddrs: tuple[str, ...]
    seen_by: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    matches: tuple[RuleMatch, ...] = ()
    confidence: float = 0.0
    verdict: Verdict = Verdict.UNKNOWN
    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()  # audit warnings apart from the verdict (e.g. a factory-default device)
    device_class: str = "unknown"  # camera | recorder | encoder | network | radio | unknown (from the rules)

    @property
    def key(self) -> str:
        """Stable identity across scans: MAC, else serial, else endpoint id, else IP."""
        if self.mac:
            return f"mac:{self.mac}"
        if self.serial:
            return f"serial:{self.serial}"
        if self.endpoint:
            return f"endpoint:{self.endpoint}"
        return f"ip:{self.ip}"

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "ip": self.ip,
            "mac": self.mac,
            "manufacturer": self.manufacturer,
            "brand": self.brand,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "hardware_id": self.hardware_id,
            "hostname": self.hostname,
            "endpoint": self.endpoint,
            "xaddrs": list(self.xaddrs),
            "verdict": str(self.verdict),
            "confidence": round(self.confidence, 2),
            "findings": [f.as_dict() for f in self.findings],
            "warnings": list(self.warnings),
            "device_class": self.device_class,
            "matches": [m.as_dict() for m in self.matches],
            "evidence": [e.as_dict() for e in self.evidence],
            "seen_by": list(self.seen_by),
        }


@dataclass(frozen=True)
class Coverage:
    """What one method tried on one subnet and what answered, so 'nothing found' differs from 'not looked'."""

    subnet: str
    method: str
    status: str  # "done" | "skipped" | "partial"
    tried: int = 0
    answered: int = 0
    note: str = ""

    def as_dict(self) -> dict:
        return {"subnet": self.subnet, "method": self.method, "status": self.status, "tried": self.tried,
                "answered": self.answered, "note": self.note or None}


@dataclass(frozen=True)
class Interface:
    """A local interface camscan may scan from."""

    name: str
    index: int
    addresses: tuple[ipaddress.IPv4Interface, ...]
    flags: int = 0

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        return tuple(a.network for a in self.addresses)


@dataclass(frozen=True)
class ScanOptions:
    """Everything a scan needs, built by the CLI (or a test) and passed explicitly."""

    targets: tuple[ipaddress.IPv4Network, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    scope: tuple[ipaddress.IPv4Network, ...] = ()  # where credentials may be sent
    credentials: Credentials | None = None
    timeout: float = 3.0  # per network call, seconds
    deadline: float = 120.0  # whole scan, seconds
    wsd_wait: float = 0.0  # extra WS-Discovery collection time for slow sites, seconds
    rate: float = 1000.0  # directed probes per second
    workers: int = 32  # concurrent device probes (waiting on them; one computes at a time: probe.gate)
    max_reply_bytes: int = 1 << 20  # cap on any device reply body


@dataclass(frozen=True)
class ScanResult:
    """The outcome of one scan, ready for policy, inventory and reports."""

    started: datetime
    finished: datetime
    targets: tuple[str, ...]
    interfaces: tuple[str, ...]
    methods: tuple[str, ...]
    devices: tuple[Device, ...]
    skips: tuple[Skip, ...]
    coverage: tuple[Coverage, ...] = ()
    notes: tuple[str, ...] = ()
    diff: Diff | None = None  # set by the inventory when a previous scan exists
    scan_id: int | None = None  # the inventory's id for this scan, once stored

    @property
    def flagged(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.verdict.flagged)


@dataclass(frozen=True)
class Change:
    """One difference between the previous scan and this one, for one device."""

    kind: str  # "new" | "gone" | "ip" | "firmware" | "verdict" | "manufacturer"
    key: str
    ip: str | None
    before: str | None = None
    after: str | None = None
    device: str = ""  # a short label: manufacturer/brand + model

    def as_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "ip": self.ip, "before": self.before, "after": self.after,
                "device": self.device}


@dataclass(frozen=True)
class Diff:
    """What changed since the previous stored scan (``previous_scan`` None: there was none)."""

    previous_scan: int | None
    previous_started: str | None
    changes: tuple[Change, ...] = ()
    new_flagged: tuple[str, ...] = ()  # keys of devices flagged now and not flagged (or absent) before

    def of_kind(self, kind: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == kind)

    def as_dict(self) -> dict:
        return {"previous_scan": self.previous_scan, "previous_started": self.previous_started,
                "new_flagged": list(self.new_flagged), "changes": [c.as_dict() for c in self.changes]}
