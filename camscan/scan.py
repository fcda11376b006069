"""The Scanner: discover -> probe -> fingerprint -> policy, under one deadline and one scope.

It never prints, reads argv or exits: it takes :class:`ScanOptions` and returns a :class:`ScanResult`.

A scan is a reading of the pipeline:

1. a discovery source (:class:`camscan.discover.interface.DiscoverySource`; on the network
   :class:`camscan.discover.live.LiveDiscovery`) finds hosts and their open camera ports, handing each to
2. the scheduler (:class:`camscan.scheduler.Scheduler`), which starts the probe plan's probers
   (:class:`camscan.probe.plan.ProbePlan`: ONVIF identity, web, RTSP, TLS) on a host as soon as what they
   need is known, all over one transport (:class:`camscan.transport.Transport`: sockets, the CPU gate and
   the credential seam);
3. every host with camera evidence becomes a Device (fingerprint), with a verdict (policy) and its
   known-exploited firmware risks (camscan/data/risks.toml);
4. with credentials, each recorder in scope lists the cameras behind it (camscan.recorders): each becomes a
   row of its own, never contacted, judged the same way.

The stages are injectable: ``camscan replay`` runs the same pipeline over recorded device folders
(:mod:`camscan.replay`), and the unit tests run it with fake stages.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from camscan import fingerprint, net, oui, risks
from camscan.discover.interface import DiscoverySource
from camscan.discover.live import LiveDiscovery
from camscan.discover.sweep import CAMERA_PORTS
from camscan.models import (
    Device,
    DiscoveryResult,
    Evidence,
    Host,
    Interface,
    ProbeResult,
    ScanOptions,
    ScanResult,
    Skip,
)
from camscan.policy import Policy, load_policy
from camscan.probe.onvif import OnvifClientFactory
from camscan.probe.plan import RTSP_PORTS, TLS_PORTS, ProbePlan, live_plan
from camscan.recorders.collect import RecorderInventory, merge_rows
from camscan.scheduler import CpuGate, Scheduler
from camscan.transport import CredentialPolicy, Transport

log = logging.getLogger(__name__)

# Evidence items kept per device: an honest device gives a few dozen; one 1 MB GetScopes gave 18,000.
MAX_EVIDENCE = 512
# Sources whose answer means "this host is a camera-class device" even when no rule names its maker.
CAMERA_SOURCES = ("wsd", "sadp", "dhip", "onvif", "rtsp")

PlanFactory = Callable[[Scheduler, Transport, float], ProbePlan]


def _live_plan(scanner: Scanner) -> PlanFactory:
    def build(scheduler: Scheduler, transport: Transport, deadline: float) -> ProbePlan:
        factory = scheduler.start(OnvifClientFactory)  # the WSDL parse overlaps discovery
        return live_plan(scanner.options, transport, deadline, factory.result)
    return build


class Scanner:
    """Runs one scan. Construct with options (and optionally rules/policy for tests), then :meth:`run`.

    ``discovery``, ``plan`` (a function of the scheduler, the transport and the deadline giving the
    :class:`ProbePlan`), ``transport`` and ``clock`` replace the live stages (replay, tests); by default a
    scan discovers and probes on the network. ``wrap`` wraps the transport (recording); ``list_all`` reports
    every host, camera evidence or not (a replay of folders the user chose).
    """

    def __init__(self, options: ScanOptions, rules: tuple[fingerprint.Rule, ...] | None = None,
                 policy: Policy | None = None, progress: Callable[[str], None] | None = None, *,
                 discovery: DiscoverySource | None = None, plan: PlanFactory | None = None,
                 transport: Transport | None = None, clock: Callable[[], float] = time.monotonic,
                 neighbours: Callable[[], dict[str, str]] = net.neighbour_macs, list_all: bool = False,
                 wrap: Callable[[Transport], Transport] | None = None) -> None:
        self.options = options
        self.rules = rules if rules is not None else fingerprint.default_rules()
        self.policy = policy if policy is not None else load_policy()
        self.risks = risks.default_risks()  # known-exploited firmware (information next to the verdict)
        self.progress = progress or (lambda _message: None)
        self.clock = clock
        self.neighbours = neighbours  # the kernel's neighbour table (MACs of hosts no protocol gave one for)
        self.list_all = list_all  # every host is a device, camera evidence or not (a replay of chosen folders)
        # The scheduler's CPU gate, which the transport gives up while a probe waits on a device.
        self.gate = CpuGate(1)
        # Every socket of the scan, with the CPU gate and the one place credentials are attached.
        self.transport = transport or Transport(gate=self.gate, credentials=CredentialPolicy(
            options.credentials, options.scope, ports=options.credential_ports, narrower=options.credential_scope))
        if wrap is not None:  # e.g. camscan.replay.RecordingTransport (scan --record)
            self.transport = wrap(self.transport)
        self.discovery = discovery or LiveDiscovery(options, self.transport, self._mark,
                                                    keep_ports=evidence_ports(self.rules))
        self.plan = plan or _live_plan(self)

    def run(self) -> ScanResult:
        opts = self.options
        started = datetime.now(UTC)
        self._t0 = self.clock()
        deadline = self._t0 + opts.deadline
        # The sweeps stop early enough to leave the probes time to identify what they found: a /16 swept up
        # to the deadline would report hosts without identities.
        sweep_until = deadline - sweep_reserve(opts.deadline, opts.timeout)
        self._deadline = deadline
        scheduler = self._scheduler = Scheduler(opts.workers, self.gate, self.clock)
        skips: list[Skip] = []
        try:
            plan = self.plan(scheduler, self.transport, deadline)
            scheduler.use(plan)
            found = self.discovery.run(sweep_until, scheduler)
            skips += found.skips
            if len(found.hosts) > opts.max_hosts:  # one cap per scan, whatever the sources found together
                kept = sorted(found.hosts, key=_ip_order)[:opts.max_hosts]
                skips.append(Skip(None, "scan", f"{len(found.hosts) - opts.max_hosts} host(s) beyond the cap of "
                                                f"{opts.max_hosts} per scan left out (--max-hosts)"))
                found = dataclasses.replace(found, hosts={ip: found.hosts[ip] for ip in kept})
            self._mark("reading identities...")
            scheduler.finish(found.hosts, found.open_ports)
            results = scheduler.collect(deadline, skips)
            self._mark("identities read")
        finally:
            scheduler.close()
        # report-only rows (heard from outside the scanned subnets) join after the probes: never probed
        hosts = self._merge({**found.report_only, **found.hosts}, results, skips)
        return self._result(started, found, hosts, skips, plan.methods)

    def status(self) -> tuple[int, int, float]:
        """(hosts discovered, hosts whose probes have all finished, seconds left to the deadline) of a running
        scan, for a progress display (safe to call from another thread at any time)."""
        scheduler: Scheduler | None = getattr(self, "_scheduler", None)
        deadline = getattr(self, "_deadline", None)
        left = max(0.0, deadline - self.clock()) if deadline is not None else self.options.deadline
        if scheduler is None:
            return 0, 0, left
        return (*scheduler.counts(), left)

    # ------------------------------------------------------------------------------------------ stages
    def _mark(self, message: str) -> None:
        """A stage boundary: logged with the time since the scan started (``-v``), and shown as progress."""
        log.info("%6.2f s  %s", self.clock() - getattr(self, "_t0", self.clock()), message)
        self.progress(message)

    def _judge(self, device: Device) -> Device:
        """The verdict (policy) and, next to it, the known-exploited firmware risks of an identified device."""
        device = self.policy.evaluate(device)
        return dataclasses.replace(device, risks=risks.match_device(device, self.risks))

    def _result(self, started: datetime, found: DiscoveryResult, hosts: dict[str, Host], skips: list[Skip],
                probe_methods: list[str]) -> ScanResult:
        """Fingerprint and policy for every host; the hosts without camera evidence become a note."""
        opts = self.options
        devices, others = [], []
        # A host whose camera-protocol reply was refused (a DTD, an entity bomb, an oversized datagram) is
        # listed with its skip: leaving it out would make a hostile device look like an absent one.
        refused = {s.ip for s in skips if s.ip and s.stage.split(".", 1)[0] in CAMERA_SOURCES}
        for h in sorted(hosts.values(), key=lambda h: _ip_order(h.ip)):
            device = self._judge(fingerprint.identify(h, self.rules))
            if self.list_all or device.matches or any(s in CAMERA_SOURCES for s in h.seen_by) or h.ip in refused:
                devices.append(device)
            else:
                others.append(h.ip)
        # several devices at one address, devices outside every scanned subnet: rows from what discovery heard
        keyed = oui.with_evidence({f"{h.ip} {h.mac}": h for h, _why in found.unprobed})
        for (_h, why), row in zip(found.unprobed, keyed.values(), strict=True):
            device = self._judge(fingerprint.identify(row, self.rules))
            devices.append(dataclasses.replace(device, warnings=(*device.warnings, why)))
        devices.sort(key=lambda d: _ip_order(d.ip))
        # their rows are all they get (no recorder inventory): shared-address and report-only hosts
        unprobed = {h.ip for h, _why in found.unprobed} | set(found.report_only)
        notes = []
        if found.cut_short:
            notes.append(f"discovery stopped {opts.deadline - sweep_reserve(opts.deadline, opts.timeout):g} s into the "
                         f"scan to leave the rest of the {opts.deadline:g} s deadline for identifying the hosts "
                         "found; the skips say which sweeps were cut short (a larger --deadline completes them)")
        if others:
            shown = ", ".join(others[:20]) + (f" and {len(others) - 20} more" if len(others) > 20 else "")
            notes.append(f"{len(others)} other host(s) answered but showed no camera evidence (not listed): {shown}")
        # 5. cameras behind recorders: each recorder's channel list (credentials, scope: as every credentialed
        #    call), each camera a row of its own, judged by the same rules and policy
        recorded, recorder_skips = RecorderInventory(self.transport, opts.timeout, self._deadline, self._judge,
                                                     self.rules).run([d for d in devices if d.ip not in unprobed])
        if recorder_skips or recorded:
            probe_methods = [*probe_methods, "recorder"]
        devices = merge_rows(devices, recorded)
        skips += recorder_skips
        skips = [s for s in skips if s.ip is None or s.ip in {d.ip for d in devices}]
        return ScanResult(
            started=started,
            finished=datetime.now(UTC),
            targets=tuple(str(t) for t in opts.targets) or tuple(str(n) for i in opts.interfaces
                                                                 for n in i.networks),
            interfaces=found.interfaces,
            methods=tuple(dict.fromkeys(found.methods + probe_methods)),
            devices=tuple(devices),
            skips=tuple(sorted(skips, key=_skip_order)),
            coverage=tuple(found.coverage),
            notes=tuple(notes),
        )

    def _merge(self, hosts: dict[str, Host], result_sets: Iterable[dict[str, ProbeResult]],
               skips: list[Skip]) -> dict[str, Host]:
        """Probe results folded into their hosts (their skips into ``skips``), MACs settled, OUI evidence added."""
        neighbours = self.neighbours()
        result_sets = tuple(result_sets)
        merged: dict[str, Host] = {}
        for ip, host in hosts.items():
            mac = host.mac
            found = [r for r in (results.get(ip) for results in result_sets) if r is not None]
            if found:  # one merge per host: each re-hashes all of its evidence
                evidence = tuple(e for r in found for e in r.evidence)
                host = host.merged(Host(ip=ip, seen_by=tuple(_seen_by(evidence)), evidence=evidence))
                for r in found:
                    skips.extend(r.skips)
                    mac = mac or r.mac
            kept, cut = cap_evidence(host.evidence)
            if cut:
                host = Host(ip=host.ip, mac=host.mac, seen_by=host.seen_by, evidence=kept, xaddrs=host.xaddrs,
                            endpoint=host.endpoint)
                skips.append(Skip(ip, "evidence", f"{sum(cut.values())} evidence item(s) left out (at most "
                                                  f"{MAX_EVIDENCE} per device): " + ", ".join(
                                                      f"{n} of {source}" for source, n in sorted(cut.items()))))
            l2 = neighbours.get(ip)
            if l2 and not mac:
                host = host.add(evidence=(Evidence("arp.kernel", "mac", l2),))
                mac = l2
            mac = mac or _reported_mac(host)
            merged[ip] = Host(ip=host.ip, mac=mac, seen_by=host.seen_by,
                              evidence=host.evidence, xaddrs=host.xaddrs, endpoint=host.endpoint)
        return oui.with_evidence(merged)  # one pass over the registry for every MAC seen


# The web port asked on every host: a device whose ONVIF service has a port of its own often serves its web UI
# (Server header, title, realm: evidence rules read) on 80 all the same (Xiongmai-class boards: ONVIF on 8899).
WEB_PORT = 80


def evidence_ports(rules: Iterable[fingerprint.Rule]) -> frozenset[int]:
    """The camera ports the port check asks on every host, even one WS-Discovery already identified: those whose
    ``tcp:open`` evidence a rule reads (Dahua's 37777, Xiongmai's 34567), those the RTSP and TLS probes use, and
    the usual web port."""
    return (fingerprint.ports_read(tuple(rules), CAMERA_PORTS) | frozenset(RTSP_PORTS) | frozenset(TLS_PORTS)
            | {WEB_PORT})


def cap_evidence(evidence: tuple[Evidence, ...], limit: int = MAX_EVIDENCE
                 ) -> tuple[tuple[Evidence, ...], dict[str, int]]:
    """At most ``limit`` pieces of evidence, in their order, and how many were left out per source. The most
    numerous sources give up items first (their last ones), so a device flooding one answer (a 1 MB GetScopes)
    cannot push out what its other answers say."""
    if len(evidence) <= limit:
        return evidence, {}
    counts: dict[str, int] = {}
    for e in evidence:
        counts[e.source] = counts.get(e.source, 0) + 1
    # the largest per-source share that fits: water-filling over the sources' counts
    share, left, ordered = 0, limit, sorted(counts.values())
    for i, n in enumerate(ordered):
        even = left // (len(ordered) - i)
        if n > even:
            share = even
            break
        left -= n
    else:
        share = max(ordered)
    taken: dict[str, int] = {}
    kept = []
    for e in evidence:
        if taken.get(e.source, 0) < share:
            taken[e.source] = taken.get(e.source, 0) + 1
            kept.append(e)
    cut = {src: n - taken.get(src, 0) for src, n in counts.items() if n > taken.get(src, 0)}
    return tuple(kept), cut


# The default deadline: never under DEFAULT_DEADLINE, and for a large target enough for its sweeps to run
# SLOW_SWEEP times slower than --rate asks, plus the identification reserve (see default_deadline).
DEFAULT_DEADLINE = 120.0
SLOW_SWEEP = 5.0


def sweep_seconds(targets: Iterable, interfaces: Iterable[Interface], rate: float,
                  camera_ports: int = len(CAMERA_PORTS)) -> float:
    """Seconds the sweeps of ``targets`` take at ``rate`` packets per second: one ARP request per address of an
    attached subnet (the port check follows the ARP answers), one connect per camera port and address of a
    routed one. With no targets, the attached subnets of ``interfaces``."""
    attached_nets = [n for i in interfaces for n in i.networks]
    packets = 0
    for t in (targets or attached_nets):
        addresses = t.num_addresses - 2 if t.version == 4 and t.prefixlen < 31 else t.num_addresses
        attached = any(t.version == a.version and t.overlaps(a) for a in attached_nets)
        packets += addresses if attached else addresses * camera_ports
    return packets / max(rate, 1e-9)


def default_deadline(targets: Iterable, interfaces: Iterable[Interface], rate: float, timeout: float) -> float:
    """The scan's deadline when none is given: ``max(120, 5 x sweep + (4 x timeout + 2))`` seconds, where
    ``sweep`` is :func:`sweep_seconds` at ``rate`` (a /16 at 1000/s: 65.5 s, so 341.7 s) and the last term the
    identification reserve of :func:`sweep_reserve`. The factor 5 leaves the sweep room to run slower than its
    rate (a busy host; a segment whose kernel copies each broadcast to many receivers) without cutting it short.
    The deadline bounds the scan; a scan ends as soon as its work is done."""
    sweep = sweep_seconds(targets, interfaces, rate)
    return max(DEFAULT_DEADLINE, SLOW_SWEEP * sweep + 4 * timeout + 2)


def sweep_reserve(deadline: float, timeout: float) -> float:
    """Seconds at the end of a scan's ``deadline`` kept for probing what the sweeps found: two wall-clock
    caps of a call plus a margin (14 s at the defaults), at most a quarter of the deadline."""
    return min(0.25 * deadline, 4 * timeout + 2)


def _seen_by(evidence: Iterable[Evidence]) -> list[str]:
    out = []
    for e in evidence:
        if e.field == "error":
            continue
        name = e.source.split(".", 1)[0]
        if name in ("onvif", "http", "rtsp", "tls") and name not in out:
            out.append(name)
    return out


def _reported_mac(host: Host) -> str | None:
    """A MAC the device reported about itself (SADP, DHIP), used when no layer-2 answer gave one."""
    for source in ("sadp", "dhip"):
        for v in host.values(source, "mac"):
            mac = net.normalise_mac(v)
            if mac:
                return mac
    return None


def _ip_order(ip: str) -> tuple[int, int, str]:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
        return (addr.version, int(addr), ip)
    except ValueError:
        return (9, 0, ip)


def _skip_order(s: Skip) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(s.ip)), s.stage) if s.ip else (1, 0, s.stage)
    except ValueError:
        return (1, 0, s.stage)
