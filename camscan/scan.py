"""The Scanner: discover -> probe -> fingerprint -> policy, under one deadline and one scope.

It never prints, reads argv or exits: it takes :class:`ScanOptions` and returns a :class:`ScanResult`.

Plan of a scan:

1. ARP sweep of the attached subnets in scope (root only; otherwise a stated skip), in its own thread:
   MACs for every host on the segment, and live hosts, each handed on the moment it answers so directed
   probes go only where something answers.
2. Meanwhile, one UDP collection window for WS-Discovery, Hikvision SADP and Dahua DHIP: multicast and
   broadcast on each attached subnet at once, directed unicast to the live attached hosts as ARP finds
   them and to every address of routed targets. The ONVIF identity probe of a host starts the moment its
   first reply with an XAddr arrives. The window closes when the protocols' reply delay has passed since
   the last probe and the ARP sweep is over.
3. Meanwhile too, a rate-limited TCP check of camera ports on the live hosts as ARP finds them (and on
   routed targets); after the window, on hosts only discovery found. Then HTTP(S), RTSP and TLS evidence,
   and the ONVIF device service on the ONVIF-capable ports of hosts that never answered WS-Discovery.
4. Every host with camera evidence becomes a Device (fingerprint), with a verdict (policy) and its
   known-exploited firmware risks (camscan/data/risks.toml).
5. With credentials, each recorder in scope lists the cameras behind it (camscan.recorders): each becomes a
   row of its own, never contacted, judged the same way.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from camscan import fingerprint, net, oui, risks, sharedaddr
from camscan.discover.arp import ArpSweep, arp_evidence
from camscan.discover.dhip import DhipProtocol
from camscan.discover.feed import Feed
from camscan.discover.sadp import SadpProtocol
from camscan.discover.sweep import PortSweep, port_evidence
from camscan.discover.udp import UdpDiscovery
from camscan.discover.wsd import WsdProtocol, device_service_url
from camscan.discover.wsd6 import Wsd6Discovery, merge_ipv6
from camscan.models import Coverage, Device, Evidence, Host, Interface, ScanOptions, ScanResult, Skip
from camscan.policy import Policy, load_policy
from camscan.probe.gate import GATE
from camscan.probe.http import HttpProbe, http_services
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe, ProbeResult
from camscan.probe.rtsp import RtspProbe
from camscan.probe.tls import TlsProbe
from camscan.recorders.collect import RecorderInventory, merge_rows
from camscan.sharedaddr import SharedAddresses
from camscan.transport import CredentialPolicy, Transport

log = logging.getLogger(__name__)

# Ports on which devices serve the ONVIF device service (ONVIF Core 5.1.1 fixes the path, not the port):
# 80 most, 8000/8080 some NVRs, 8899 Xiongmai-class boards, 2020 TP-Link Tapo.
ONVIF_PORTS = (80, 8080, 8000, 8899, 2020)
RTSP_PORTS = (554,)
TLS_PORTS = (443, 8443)
# Evidence items kept per device: an honest device gives a few dozen; one 1 MB GetScopes gave 18,000.
MAX_EVIDENCE = 512
# Sources whose answer means "this host is a camera-class device" even when no rule names its maker.
CAMERA_SOURCES = ("wsd", "sadp", "dhip", "onvif", "rtsp")


class Scanner:
    """Runs one scan. Construct with options (and optionally rules/policy for tests), then :meth:`run`."""

    def __init__(self, options: ScanOptions, rules: tuple[fingerprint.Rule, ...] | None = None,
                 policy: Policy | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.rules = rules if rules is not None else fingerprint.default_rules()
        self.policy = policy if policy is not None else load_policy()
        self.risks = risks.default_risks()  # known-exploited firmware (information next to the verdict)
        self.progress = progress or (lambda _message: None)
        # Every socket of the scan, with the CPU gate and the one place credentials are attached.
        self.transport = Transport(gate=GATE, credentials=CredentialPolicy(
            options.credentials, options.scope, ports=options.credential_ports, narrower=options.credential_scope))

    # ----------------------------------------------------------------------------------------- planning
    def _multicast_interfaces(self) -> list[Interface]:
        """Interfaces whose subnets the scan covers (all selected ones when no targets are given)."""
        if not self.options.targets:
            return list(self.options.interfaces)
        return [i for i in self.options.interfaces
                if any(n.overlaps(t) for n in i.networks for t in self.options.targets)]

    def _accept(self, ip: str) -> bool:
        if self._report_only(ip):
            return False  # never probed, whatever the targets
        if not self.options.targets:
            return True
        return net.in_scope(ip, self.options.targets)

    def _report_only(self, ip: str) -> bool:
        """An IPv4 address outside every scanned subnet (the interfaces' networks and the targets): a
        misaddressed device heard on the link. Such a device is reported from what it said, never probed."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.version != 4:
            return False
        nets = [n for i in self.options.interfaces for n in i.networks] + list(self.options.targets)
        return bool(nets) and not any(addr in n for n in nets if n.version == 4)

    def _split_targets(self, mcast: list[Interface]) -> tuple[list, list]:
        """(attached target networks, routed target networks)."""
        attached_nets = [n for i in mcast for n in i.networks]
        attached, routed = [], []
        for t in self.options.targets:
            (attached if any(t.overlaps(a) for a in attached_nets) else routed).append(t)
        return attached, routed

    @staticmethod
    def _routed_coverage(routed) -> list[Coverage]:
        return [Coverage(str(t), "multicast", "skipped",
                         note="not directly attached: multicast and ARP cannot cross routers; directed "
                              "unicast probes and the port check only") for t in routed]

    # -------------------------------------------------------------------------------------------- run
    def run(self) -> ScanResult:
        opts = self.options
        started = datetime.now(UTC)
        self._t0 = time.monotonic()
        deadline = self._t0 + opts.deadline
        self._deadline = deadline  # the probes stop at it too (a worker thread outliving it delays exit)
        # The sweeps (ARP, the UDP window, the port check) stop early enough to leave the probes time to
        # identify what they found: a /16 swept up to the deadline would report hosts without identities.
        sweep_until = deadline - sweep_reserve(opts.deadline, opts.timeout)
        mcast = self._multicast_interfaces()
        attached, routed = self._split_targets(mcast)
        skips: list[Skip] = []
        coverage: list[Coverage] = self._routed_coverage(routed)
        methods: list[str] = []
        pool = ThreadPoolExecutor(max_workers=max(1, opts.workers), thread_name_prefix="camscan-probe")
        factory: Future[OnvifClientFactory] = pool.submit(OnvifClientFactory)  # WSDL parse overlaps discovery
        shared = SharedAddresses()  # addresses several devices answer at (factory defaults): never probed
        jobs = self._jobs = _ProbeJobs(self, pool, factory, shared)
        stages = ThreadPoolExecutor(max_workers=3, thread_name_prefix="camscan-stage")
        feeds: list[Feed] = []
        stop = threading.Event()  # ends the sweeps' threads when the scan fails or is interrupted
        arp_seen: dict[str, str] = {}  # what the ARP sweep handed over, in case its thread misses the deadline
        shared_rows: list[tuple[Host, list[str]]] = []
        outside_rows: list[tuple[Host, list[str]]] = []
        try:
            # 1. ARP (attached subnets in scope) in its own thread: each answer goes at once to the UDP
            #    window's directed probes and to the camera-port check, which run meanwhile.
            routed_hosts = [str(ip) for ip in net.hosts(routed)]
            arp_job: Future | None = None
            if mcast and (attached or not opts.targets):
                udp_feed, sweep_feed = Feed(), Feed(routed_hosts)
                feeds += [udp_feed, sweep_feed]

                def on_reply(ip: str, mac: str) -> None:
                    if self._accept(ip):
                        shared.heard(ip, mac, "arp")
                        arp_seen[ip] = mac
                        udp_feed.put((ip,))
                        sweep_feed.put((ip,))

                def arp() -> tuple[dict[str, str] | None, list[Coverage], list[Skip]]:
                    try:
                        found = self._arp(mcast, attached, sweep_until, on_reply, stop,
                                          on_conflict=lambda ip, mac: shared.heard(ip, mac, "arp"))
                        if found[0] is None:  # no ARP here: directed probes go to every target address
                            udp_feed.put(str(ip) for ip in net.hosts(attached))
                        self._mark(f"ARP sweep done: {len(found[0] or {})} host(s) answered")
                        return found
                    finally:
                        udp_feed.close()
                        sweep_feed.close()

                self._mark("ARP sweep and discovery...")
                arp_job = stages.submit(arp)
                unicast = list(net.hosts(routed))
                sweeper = PortSweep(opts, stop=stop, transport=self.transport)
                early_sweep = stages.submit(sweeper.run, [], sweep_until, sweep_feed, jobs.ports_known)
            else:  # nothing attached to sweep: directed probes to every target address
                udp_feed = None
                unicast = list(net.hosts(opts.targets))
                self._mark("discovering devices...")
                sweeper = PortSweep(opts, stop=stop, transport=self.transport)
                early_sweep = (stages.submit(sweeper.run, routed_hosts, sweep_until, None, jobs.ports_known)
                               if routed_hosts else None)
            # 2. UDP discovery (WS-Discovery, SADP, DHIP): multicast plus directed unicast
            v6 = stages.submit(Wsd6Discovery(opts, mcast, self.transport).run, sweep_until) if mcast else None
            udp = UdpDiscovery(opts, mcast, unicast, self._accept,
                               [WsdProtocol(opts), SadpProtocol(), DhipProtocol()],
                               on_host=jobs.discovered, on_update=jobs.discovered, feed=udp_feed,
                               transport=self.transport)
            udp.on_mac = shared.heard
            udp.report_only = self._report_only
            hosts, udp_cov, udp_skips = udp.run(sweep_until)
            for ip, host in udp.outside.items():  # misaddressed devices: a row each (per MAC), no probes
                macs = list(udp.per_mac.get(ip, {}))
                outside_rows += ([(h, macs) for h in sharedaddr.rows(ip, macs, udp.per_mac[ip], set())]
                                 if len(macs) > 1 else [(host, [])])
            self._mark(f"discovery window closed: {len(hosts)} host(s) answered")
            cut_short = time.monotonic() >= sweep_until
            live: dict[str, str] | None = None
            if arp_job is not None:
                try:
                    live, arp_cov, arp_skips = arp_job.result(timeout=max(0.0, sweep_until - time.monotonic()) + 1.0)
                except FutureTimeout:  # its thread is late: what it handed over still counts
                    live = dict(arp_seen) or None
                    arp_cov, arp_skips = [], [Skip(None, "arp", "scan deadline reached during the ARP sweep")]
                coverage += arp_cov
                skips += arp_skips
                if arp_cov and any(c.status != "skipped" for c in arp_cov):
                    methods.append("arp")
            coverage += udp_cov
            skips += udp_skips
            methods += sorted({c.method for c in udp_cov if c.status != "skipped"})
            if v6 is not None:
                try:  # its window closes with the IPv4 one; the grace covers a busy machine
                    hosts6, cov6, skips6 = v6.result(timeout=max(0.0, sweep_until - time.monotonic()) + 1.0)
                except FutureTimeout:
                    hosts6, cov6, skips6 = {}, [], [Skip(None, "wsd6", "scan deadline reached during IPv6 "
                                                                       "WS-Discovery")]
                if opts.targets:  # IPv6-only hosts have no address inside IPv4 targets: merge, never add
                    hosts6 = {k: h for k, h in hosts6.items() if h.endpoint in
                              {x.endpoint for x in hosts.values() if x.endpoint}}
                hosts = merge_ipv6(hosts, hosts6)
                coverage += cov6
                skips += skips6
                if any(c.status == "done" for c in cov6):
                    methods.append("wsd6-multicast")
            for ip, mac in (live or {}).items():
                if self._accept(ip):
                    found = hosts.get(ip, Host(ip=ip))
                    hosts[ip] = found.add(seen_by="arp", evidence=arp_evidence(mac), mac=mac)
            # 3. camera ports, then HTTP/RTSP/TLS and ONVIF on open ports of hosts WS-Discovery missed
            self._mark(f"{len(hosts)} host(s) answered; checking camera ports...")
            open_ports, sweep_cov, sweep_skips = {}, [], []
            if early_sweep is not None:
                try:
                    open_ports, sweep_cov, sweep_skips = early_sweep.result(
                        timeout=max(0.0, sweep_until - time.monotonic()) + 1.0)
                except FutureTimeout:
                    sweep_skips = [Skip(None, "sweep", "scan deadline reached during the camera-port check")]
            swept = set(routed_hosts) | set(live or {}) | set(arp_seen)
            late = [ip for ip in hosts if ":" not in ip and ip not in swept and not shared.is_shared(ip)]
            if late:
                more, more_cov, more_skips = PortSweep(opts, transport=self.transport).run(late, sweep_until)
                open_ports.update(more)
                sweep_cov = _merge_coverage(sweep_cov + more_cov)
                sweep_skips += more_skips
            coverage += sweep_cov
            skips += sweep_skips
            methods.append("tcp")
            for ip, ports in open_ports.items():
                hosts[ip] = hosts.get(ip, Host(ip=ip)).add(seen_by="tcp", evidence=port_evidence(ports))
            # Several devices at one address: a row per MAC from what discovery heard with it, and no probes
            shared_rows = []
            for ip, macs in shared.shared().items():
                hosts.pop(ip, None)
                open_ports.pop(ip, None)
                shared_rows += [(h, macs) for h in sharedaddr.rows(ip, macs, udp.per_mac.get(ip, {}),
                                                                    shared.heard_by(ip, "arp"))]
            self._mark("reading identities...")
            jobs.finish(hosts, open_ports)
            methods += ["onvif", "http", "rtsp", "tls"]
            results = jobs.collect(deadline, skips)
            self._mark("identities read")
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            stages.shutdown(wait=False, cancel_futures=True)
            for f in feeds:
                f.close()
        hosts = self._merge(hosts, results, skips)
        devices, others = [], []
        # A host whose camera-protocol reply was refused (a DTD, an entity bomb, an oversized datagram) is
        # listed with its skip: leaving it out would make a hostile device look like an absent one.
        refused = {s.ip for s in skips if s.ip and s.stage.split(".", 1)[0] in CAMERA_SOURCES}
        for h in sorted(hosts.values(), key=lambda h: _ip_order(h.ip)):
            device = self._judge(fingerprint.identify(h, self.rules))
            if device.matches or any(s in CAMERA_SOURCES for s in h.seen_by) or h.ip in refused:
                devices.append(device)
            else:
                others.append(h.ip)
        keyed = oui.with_evidence({f"{h.ip} {h.mac}": h for h, _macs in shared_rows})
        for (h, macs), row in zip(shared_rows, keyed.values(), strict=True):
            device = self._judge(fingerprint.identify(row, self.rules))
            devices.append(dataclasses.replace(device, warnings=(*device.warnings,
                                                                 sharedaddr.warning(h.ip, h.mac, macs))))
        keyed = oui.with_evidence({f"{h.ip} {h.mac}": h for h, _macs in outside_rows})
        for (h, macs), row in zip(outside_rows, keyed.values(), strict=True):
            device = self._judge(fingerprint.identify(row, self.rules))
            why = (sharedaddr.warning(h.ip, h.mac, macs),) if macs else ()
            devices.append(dataclasses.replace(device, warnings=(*device.warnings, sharedaddr.outside_note(h.ip),
                                                                 *why)))
        devices.sort(key=lambda d: _ip_order(d.ip))  # the shared-address and report-only rows among the others
        shared_ips = {h.ip for h, _macs in shared_rows}
        skips = [s for s in skips if s.ip not in shared_ips]  # each row's warning says what happened there
        notes = []
        if cut_short:
            notes.append(f"discovery stopped {opts.deadline - sweep_reserve(opts.deadline, opts.timeout):g} s into the "
                         f"scan to leave the rest of the {opts.deadline:g} s deadline for identifying the hosts "
                         "found; the skips say which sweeps were cut short (a larger --deadline completes them)")
        if others:
            shown = ", ".join(others[:20]) + (f" and {len(others) - 20} more" if len(others) > 20 else "")
            notes.append(f"{len(others)} other host(s) answered but showed no camera evidence (not listed): {shown}")
        # 5. cameras behind recorders: each recorder's channel list (credentials, scope: as every credentialed
        #    call), each camera a row of its own, judged by the same rules and policy
        unprobed = {h.ip for h, _macs in shared_rows + outside_rows}  # their rows are all they get
        recorded, recorder_skips = RecorderInventory(self.transport, opts.timeout, deadline, self._judge,
                                                     self.rules).run([d for d in devices if d.ip not in unprobed])
        if recorder_skips or recorded:
            methods.append("recorder")
        devices = merge_rows(devices, recorded)
        skips += recorder_skips
        skips = [s for s in skips if s.ip is None or s.ip in {d.ip for d in devices}]
        return ScanResult(
            started=started,
            finished=datetime.now(UTC),
            targets=tuple(str(t) for t in opts.targets) or tuple(str(n) for i in opts.interfaces
                                                                 for n in i.networks),
            interfaces=tuple(i.name for i in mcast),
            methods=tuple(dict.fromkeys(methods)),
            devices=tuple(devices),
            skips=tuple(sorted(skips, key=_skip_order)),
            coverage=tuple(coverage),
            notes=tuple(notes),
        )

    def status(self) -> tuple[int, int, float]:
        """(hosts discovered, hosts whose probes have all finished, seconds left to the deadline) of a running
        scan, for a progress display (safe to call from another thread at any time)."""
        jobs: _ProbeJobs | None = getattr(self, "_jobs", None)
        deadline = getattr(self, "_deadline", None)
        left = max(0.0, deadline - time.monotonic()) if deadline is not None else self.options.deadline
        if jobs is None:
            return 0, 0, left
        return (*jobs.counts(), left)

    # ------------------------------------------------------------------------------------------ stages
    def _judge(self, device: Device) -> Device:
        """The verdict (policy) and, next to it, the known-exploited firmware risks of an identified device."""
        device = self.policy.evaluate(device)
        return dataclasses.replace(device, risks=risks.match_device(device, self.risks))

    def _mark(self, message: str) -> None:
        """A stage boundary: logged with the time since the scan started (``-v``), and shown as progress."""
        log.info("%6.2f s  %s", time.monotonic() - self._t0, message)
        self.progress(message)

    def _arp(self, mcast: list[Interface], attached, deadline: float,
             on_reply: Callable[[str, str], None] | None = None, stop: threading.Event | None = None,
             on_conflict: Callable[[str, str], None] | None = None
             ) -> tuple[dict[str, str] | None, list[Coverage], list[Skip]]:
        """{ip: mac} of live hosts (None when ARP could not run), coverage, skips; ``on_reply`` sees each
        host as it answers."""
        if not mcast:
            return None, [], []
        if self.options.targets and not attached:
            return None, [], []
        live: dict[str, str] = {}
        coverage: list[Coverage] = []
        skips: list[Skip] = []
        ran = False
        for iface in mcast:
            found, cov, sk = ArpSweep(self.options, iface, attached, on_reply=on_reply, on_conflict=on_conflict,
                                     stop=stop, transport=self.transport).run(deadline)
            live.update(found)
            coverage += cov
            skips += sk
            ran = ran or any(c.status != "skipped" for c in cov)
        return (live if ran else None), coverage, skips

    def _onvif(self, factory: Future[OnvifClientFactory], ip: str, url: str) -> ProbeResult:
        opts = self.options
        with GATE.waiting():  # the WSDL parse, started with the scan, may still be running
            parsed = factory.result()
        probe = OnvifProbe(parsed, timeout=opts.timeout, max_bytes=opts.max_reply_bytes,
                           deadline=self._deadline, transport=self.transport)
        return probe.probe(ip, url)

    def _evidence(self, ip: str, services: list[tuple[str, int]], ports: list[int]) -> ProbeResult:
        """HTTP(S) evidence from ``services``, RTSP and TLS evidence from the open ``ports``."""
        opts = self.options
        out = ProbeResult()
        if services:
            res = HttpProbe(opts.timeout, opts.max_reply_bytes, deadline=self._deadline,
                            transport=self.transport).probe(ip, services)
            out.evidence += res.evidence
            out.skips += res.skips
        with GATE.waiting():  # a few bytes each: waiting on the device is all they do
            for port in RTSP_PORTS:
                if port in ports:
                    ev, sk = RtspProbe(opts.timeout, transport=self.transport).probe(ip, port)
                    out.evidence += ev
                    out.skips += sk
            for port in TLS_PORTS:
                if port in ports:
                    ev, sk = TlsProbe(opts.timeout, transport=self.transport).probe(ip, port)
                    out.evidence += ev
                    out.skips += sk
        return out

    def _onvif_on_ports(self, factory: Future[OnvifClientFactory], ip: str, ports: list[int]) -> ProbeResult:
        """ONVIF on the open ONVIF-capable ports of a host discovery gave no device-service address."""
        for port in (p for p in ONVIF_PORTS if p in ports):
            result = self._onvif(factory, ip, f"http://{ip}:{port}/onvif/device_service")
            if any(e.source.startswith("onvif.") and e.field != "error" for e in result.evidence):
                return result  # one device service is the device's identity
        return ProbeResult()

    def _merge(self, hosts: dict[str, Host], result_sets: Iterable[dict[str, ProbeResult]],
               skips: list[Skip]) -> dict[str, Host]:
        """Probe results folded into their hosts (their skips into ``skips``), MACs settled, OUI evidence added."""
        neighbours = net.neighbour_macs()
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


def sweep_reserve(deadline: float, timeout: float) -> float:
    """Seconds at the end of a scan's ``deadline`` kept for probing what the sweeps found: two wall-clock
    caps of a call plus a margin (14 s at the defaults), at most a quarter of the deadline."""
    return min(0.25 * deadline, 4 * timeout + 2)


class _ProbeJobs:
    """The per-host probe jobs of one scan, each started as soon as what it needs is known.

    * ONVIF identity: on a host's first discovery reply with a device-service XAddr (the UDP window).
    * HTTP/RTSP/TLS evidence: once the host's camera-port check is done and discovery has heard from it
      (its advertised web ports are then known), while the window and the sweep go on; hosts discovery
      never heard from wait for the window to close. A web port the host advertised only after its job
      started gets a job of its own then.
    * ONVIF on open ports: after the window, for hosts that gave no device-service address; never earlier,
      or a device whose WS-Discovery reply came late would be asked twice (and a wrong password tried
      twice).

    Discovery calls :meth:`discovered` (main thread), the sweep :meth:`ports_known` (its thread); the scan
    calls :meth:`finish` once both are over and :meth:`collect` for the results.
    """

    def __init__(self, scanner: Scanner, pool: ThreadPoolExecutor, factory: Future[OnvifClientFactory],
                 shared: SharedAddresses | None = None) -> None:
        self.scanner = scanner
        self.shared = shared or SharedAddresses()  # addresses several devices answer at get no probe
        self.pool = pool
        self.factory = factory
        self.lock = threading.Lock()
        self.onvif: dict[str, Future[ProbeResult]] = {}
        self.evidence: list[tuple[str, Future[ProbeResult]]] = []
        self.asked: dict[str, set[tuple[str, int]]] = {}  # web services an evidence job covers, per host
        self.seen: dict[str, Host] = {}
        self.ports: dict[str, list[int]] = {}
        self.skips: list[Skip] = []

    def discovered(self, host: Host) -> None:
        with self.lock:
            self.seen[host.ip] = host
            if self.shared.is_shared(host.ip):
                return
            if host.ip not in self.onvif and host.xaddrs:
                # with credentials to give, the https XAddr of a device offering both (issue 12)
                url = device_service_url(host.xaddrs, host.ip,
                                         prefer_https=self.scanner.options.credentials is not None)
                if url is None:
                    self.skips.append(Skip(host.ip, "onvif", "no usable device-service XAddr in the discovery "
                                                             "reply"))
                else:
                    self.onvif[host.ip] = self.pool.submit(GATE.run, self.scanner._onvif, self.factory, host.ip,
                                                           url)
            self._early(host.ip)

    def counts(self) -> tuple[int, int]:
        """(hosts discovered, hosts with probe jobs that have all finished)."""
        with self.lock:
            jobs = [*self.onvif.items(), *self.evidence]
            found = len(self.seen.keys() | self.ports.keys())
        pending = {ip for ip, fut in jobs if not fut.done()}
        return found, len({ip for ip, _fut in jobs} - pending)

    def ports_known(self, ip: str, ports: list[int]) -> None:
        with self.lock:
            self.ports[ip] = ports
            self._early(ip)

    def _early(self, ip: str) -> None:
        if ip not in self.asked and ip in self.ports and ip in self.seen:
            self._submit(ip, self.seen[ip], self.ports[ip])

    def _submit(self, ip: str, host: Host, ports: list[int]) -> None:
        if self.shared.is_shared(ip):
            return  # a TCP answer from a shared address could come from any of its devices
        services = http_services(host, ports)
        self.asked[ip] = set(services)
        self.evidence.append((ip, self.pool.submit(GATE.run, self.scanner._evidence, ip, services, ports)))

    def finish(self, hosts: dict[str, Host], open_ports: dict[str, list[int]]) -> None:
        """Start what is still missing for every host of the scan (IPv6-only rows get no probes)."""
        with self.lock:
            log.debug("%d evidence job(s) started during discovery, %d ONVIF identities", len(self.evidence),
                      len(self.onvif))
            for ip, host in hosts.items():
                if ":" in ip:
                    continue
                ports = open_ports.get(ip, [])
                if ip not in self.asked:
                    self._submit(ip, host, ports)
                else:
                    extra = [s for s in http_services(host, ports) if s not in self.asked[ip]]
                    if extra:
                        self.asked[ip].update(extra)
                        self.evidence.append((ip, self.pool.submit(GATE.run, self.scanner._evidence, ip, extra,
                                                                   [])))
                if ip not in self.onvif and any(p in ports for p in ONVIF_PORTS):
                    self.evidence.append((ip, self.pool.submit(GATE.run, self.scanner._onvif_on_ports,
                                                               self.factory, ip, ports)))

    def collect(self, deadline: float, skips: list[Skip]) -> list[dict[str, ProbeResult]]:
        """Every job's result, waited for until ``deadline``; one dict per job family (a host may have several
        evidence jobs: their results are combined). Jobs that fail or run out of time become skips."""
        with self.lock:
            skips += self.skips
            onvif_jobs = list(self.onvif.items())
            evidence_jobs = list(self.evidence)
        onvif: dict[str, ProbeResult] = {}
        for ip, fut in onvif_jobs:
            got = _result(ip, fut, deadline, skips, "onvif")
            if got is not None:
                onvif[ip] = got
        evidence: dict[str, ProbeResult] = {}
        for ip, fut in evidence_jobs:
            got = _result(ip, fut, deadline, skips, "probe")
            if got is not None:
                into = evidence.setdefault(ip, ProbeResult())
                into.evidence += got.evidence
                into.skips += got.skips
                into.mac = into.mac or got.mac
        return [onvif, evidence]


def _result(ip: str, fut: Future[ProbeResult], deadline: float, skips: list[Skip], stage: str
            ) -> ProbeResult | None:
    try:
        return fut.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        skips.append(Skip(ip, stage, "scan deadline reached before the device answered"))
    except Exception as exc:  # noqa: BLE001 - last-resort guard: one device must not end the scan
        log.debug("%s probe of %s crashed", stage, ip, exc_info=True)
        skips.append(Skip(ip, stage, f"internal error while probing: {type(exc).__name__}: {exc}"))
    return None


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


def _merge_coverage(rows: list[Coverage]) -> list[Coverage]:
    """One row per (subnet, method): two passes of the same method over a subnet add up."""
    merged: dict[tuple[str, str], Coverage] = {}
    for c in rows:
        old = merged.get((c.subnet, c.method))
        merged[(c.subnet, c.method)] = c if old is None else Coverage(
            c.subnet, c.method, old.status if old.status == c.status else "partial", old.tried + c.tried,
            old.answered + c.answered, old.note or c.note)
    return list(merged.values())


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
