"""Core value types passed between pipeline stages.

Everything here is a frozen dataclass: stages build new values instead of mutating shared ones, which keeps
the concurrent probe workers honest. Every conclusion camscan reports points back to :class:`Evidence`.
Closed sets of words (verdicts, rule strengths, coverage status, change kinds) are StrEnums: they compare and
serialise as their plain strings, and a value built from a string outside the set raises ``ValueError``.
Turning these values into JSON types and back is :mod:`camscan.serialize`'s job, not theirs.
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


class RuleStrength(StrEnum):
    """How much a fingerprint rule's match says about who made a device (``fingerprint.WEIGHTS``)."""

    FIRMWARE = "firmware"  # a firmware build string only that maker's firmware carries
    IDENTITY = "identity"  # the device's own statement of its maker (ONVIF, SADP, DHIP)
    MEDIUM = "medium"  # a distinctive trait
    HINT = "hint"  # a weak hint (an OUI, a relabel's brand)


class CoverageStatus(StrEnum):
    """Whether a discovery method ran over a subnet."""

    DONE = "done"
    PARTIAL = "partial"  # started, cut short (deadline, rate, limits): the note says why
    SKIPPED = "skipped"  # not run: the note says why


class ChangeKind(StrEnum):
    """What changed for one device between two stored scans."""

    NEW = "new"
    GONE = "gone"
    IP = "ip"
    FIRMWARE = "firmware"
    VERDICT = "verdict"
    MANUFACTURER = "manufacturer"
    MODEL = "model"  # a camera behind a recorder only: the recorder now reports another model in that slot


def _coerce(obj: object, name: str, kind: type[StrEnum]) -> None:
    """Store a frozen dataclass field given as a plain string as its enum member (ValueError if not one)."""
    value = getattr(obj, name)
    if type(value) is not kind:
        object.__setattr__(obj, name, kind(value))


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



@dataclass(frozen=True)
class Skip:
    """An expected failure, reported instead of raised: which host, which stage, why."""

    ip: str | None
    stage: str
    reason: str



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
    strength: RuleStrength
    evidence: Evidence
    note: str = ""

    def __post_init__(self) -> None:
        _coerce(self, "strength", RuleStrength)



@dataclass(frozen=True)
class ListCitation:
    """One regulatory list an entity is on, as the policy data cites it."""

    list_id: str
    name: str
    date: str
    citation: str
    url: str = ""
    scope: str = ""



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

    def __post_init__(self) -> None:
        _coerce(self, "verdict", Verdict)


@dataclass(frozen=True)
class Risk:
    """A known-exploited vulnerability (CISA KEV) the device's maker, model and firmware fall under."""

    cve: str
    kev_date_added: str
    advisory: str
    advisory_url: str
    match: str  # "exact" (model family and firmware in the advisory's range) | "possible" (only part checked)
    why: str  # the evidence: which family, which firmware, what could not be checked
    title: str = ""


@dataclass(frozen=True)
class Via:
    """How camscan learned of a camera it never contacted: the recorder that lists it, and where."""

    recorder_ip: str
    recorder_key: str
    channel: str
    address: str | None  # the camera's address on the recorder's own network, as the recorder reports it
    protocol: str  # how the recorder reaches it, as reported ("HIKVISION", "ONVIF", "Private"...)
    source: str = ""  # which recorder interface listed it ("isapi", "dahua.RemoteDevice", "onvif.media")


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
    site: str | None = None  # the site it was seen on, in a report covering several sites (else None)
    risks: tuple[Risk, ...] = ()  # known-exploited vulnerabilities (information: never changes the verdict)
    via: Via | None = None  # set for a camera seen only behind a recorder (never contacted)

    def __post_init__(self) -> None:
        _coerce(self, "verdict", Verdict)

    @property
    def manufacturer_basis(self) -> str | None:
        """The strongest kind of evidence behind ``manufacturer``: ``firmware``, ``identity``, ``medium`` or
        ``hint`` (a maker the device only reports about itself, with no rule to back it, counts as a hint);
        None without a manufacturer. Reports show a ``hint`` as a hint, not as the maker."""
        if not self.manufacturer:
            return None
        found = {m.strength for m in self.matches if m.manufacturer == self.manufacturer}
        return next((str(s) for s in RuleStrength if s in found), str(RuleStrength.HINT))

    @property
    def key(self) -> str:
        """Stable identity across scans: MAC, else serial, else endpoint id (a camera behind a recorder:
        ``via:<recorder key>/<channel>``), else IP."""
        if self.mac:
            return f"mac:{self.mac}"
        if self.serial:
            return f"serial:{self.serial}"
        if self.via is not None:
            return f"via:{self.via.recorder_key}/{self.via.channel}"
        if self.endpoint:
            return f"endpoint:{self.endpoint}"
        return f"ip:{self.ip}"



@dataclass(frozen=True)
class Coverage:
    """What one method tried on one subnet and what answered, so 'nothing found' differs from 'not looked'."""

    subnet: str
    method: str
    status: CoverageStatus
    tried: int = 0
    answered: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        _coerce(self, "status", CoverageStatus)



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
    credential_scope: tuple[ipaddress.IPv4Network, ...] = ()  # [credentials] scope: narrower still, when given
    credential_ports: tuple[int, ...] = (80, 443, 2020, 8000, 8080, 8899)  # [credentials] ports (transport.py)
    timeout: float = 3.0  # per network call, seconds
    deadline: float = 120.0  # whole scan, seconds
    wsd_wait: float = 0.0  # extra WS-Discovery collection time for slow sites, seconds
    rate: float = 1000.0  # directed probes per second
    workers: int = 32  # concurrent device probes (waiting on them; one computes at a time: scheduler.CpuGate)
    max_reply_bytes: int = 1 << 20  # cap on any device reply body
    max_hosts: int = 16384  # hosts per scan: more (a spoofed flood of sources) are counted, not probed


@dataclass(frozen=True)
class SiteSummary:
    """One site's line in a report covering several sites: its latest scan."""

    site: str
    scan_id: int | None
    started: datetime
    devices: int
    flagged: int
    # flagged since the site's previous scan (on its first scan: every flagged device); None without a diff
    new_flagged: int | None = None


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
    history: ScanHistory | None = None  # what the inventory knows beyond this scan (reports only, not JSON)
    site: str | None = None  # the site this scan is of, once stored (camscan scan --site)
    sites: tuple[SiteSummary, ...] = ()  # a report covering several sites: each one's latest scan, by name

    @property
    def flagged(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.verdict.flagged)


@dataclass(frozen=True)
class ScanSummary:
    """One stored scan in a report's trend chart."""

    scan_id: int
    started: str
    devices: int
    flagged: int


@dataclass(frozen=True)
class ScanHistory:
    """What the inventory adds to one scan's report: the stored scans up to it (oldest first, for the chart),
    each device's first and last sighting, and the last stored record of each device gone since the previous
    scan (so a "gone" row keeps its MAC, model and firmware)."""

    scans: tuple[ScanSummary, ...] = ()
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (first_seen, last_seen), UTC
    last_known: dict[str, dict] = field(default_factory=dict)  # gone key -> its last stored record
    site: str | None = None  # the site the scan belongs to (camscan scan --site)


@dataclass(frozen=True)
class Change:
    """One difference between the previous scan and this one, for one device."""

    kind: ChangeKind
    key: str
    ip: str | None
    before: str | None = None
    after: str | None = None
    device: str = ""  # a short label: manufacturer/brand + model

    def __post_init__(self) -> None:
        _coerce(self, "kind", ChangeKind)



@dataclass(frozen=True)
class Diff:
    """What changed since the previous stored scan (``previous_scan`` None: there was none)."""

    previous_scan: int | None
    previous_started: str | None
    changes: tuple[Change, ...] = ()
    new_flagged: tuple[str, ...] = ()  # keys of devices flagged now and not flagged (or absent) before

    def of_kind(self, kind: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == kind)


# ------------------------------------------------------------------------------------------ stage results
@dataclass
class ProbeResult:
    """What one prober learnt of one host (:class:`camscan.probe.interface.Prober`): evidence, skips, and the
    MAC the device reported about itself, if any."""

    evidence: list[Evidence] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    mac: str | None = None
    # The device said nothing before a timeout and no credentials went out: one more try may be worth it (the
    # scheduler asks an identity probe once more when the scan has time left)
    again: bool = False

    def absorb(self, other: ProbeResult) -> None:
        """Add ``other``'s findings to this one (several probers of one host)."""
        self.evidence += other.evidence
        self.skips += other.skips
        self.mac = self.mac or other.mac


@dataclass
class DiscoveryResult:
    """What a discovery source found (:class:`camscan.discover.interface.DiscoverySource`): hosts by address,
    open camera ports by address, coverage and skips, the methods that ran, the interfaces it used, and
    whether the sweeps were cut short to leave the deadline's end for the probes."""

    hosts: dict[str, Host] = field(default_factory=dict)
    open_ports: dict[str, list[int]] = field(default_factory=dict)
    coverage: list[Coverage] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    interfaces: tuple[str, ...] = ()
    cut_short: bool = False
    # hosts heard from outside the scanned subnets (no targets given): listed, never probed (issue 12)
    report_only: dict[str, Host] = field(default_factory=dict)
    # Rows reported from what discovery heard with each MAC, never probed, each with why: several devices
    # answering at one address (factory defaults), a row per MAC (camscan.sharedaddr, issue 15).
    unprobed: list[tuple[Host, str]] = field(default_factory=list)
