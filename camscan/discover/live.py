"""Discovery on the network: ARP, the UDP window (WS-Discovery, SADP, DHIP), IPv6 WS-Discovery and the
camera-port check, running at the same time under one deadline.

1. ARP sweep of the attached subnets in scope (root only; otherwise a stated skip), in its own thread:
   MACs for every host on the segment, and live hosts, each handed on the moment it answers so directed
   probes go only where something answers.
2. Meanwhile, one UDP collection window for WS-Discovery, Hikvision SADP and Dahua DHIP: multicast and
   broadcast on each attached subnet at once, directed unicast to the live attached hosts as ARP finds
   them and to every address of routed targets. Each host goes to the sink (the scheduler) on its first
   reply, so its ONVIF identity probe starts at once. The window closes when the protocols' reply delay has
   passed since the last probe and the ARP sweep is over.
3. Meanwhile too, a rate-limited TCP check of camera ports on the live hosts as ARP finds them (and on
   routed targets); after the window, on hosts only discovery found. Each host's open ports go to the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from camscan import net, sharedaddr
from camscan.discover.arp import ArpSweep, arp_evidence
from camscan.discover.dhip import DhipProtocol
from camscan.discover.feed import Feed
from camscan.discover.interface import DiscoverySink, DiscoverySource
from camscan.discover.sadp import SadpProtocol
from camscan.discover.sweep import PortSweep, port_evidence
from camscan.discover.udp import UdpDiscovery
from camscan.discover.wsd import APP_MAX_DELAY, REPEAT_GAP, WINDOW_MARGIN, WsdProtocol, device_service_url
from camscan.discover.wsd6 import Wsd6Discovery, merge_ipv6
from camscan.models import Coverage, DiscoveryResult, Host, Interface, ScanOptions, Skip
from camscan.sharedaddr import SharedAddresses
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)


# Rows for hosts heard by multicast from outside the scanned subnets (no targets given): report-only, never
# probed, never sent credentials (issue 12); replies from more such addresses are counted, not read.
MAX_OUTSIDE_ROWS = 64


class LiveDiscovery(DiscoverySource):
    """Every discovery method of a scan on the network (see the module docstring), through ``transport``.
    ``mark`` reports stage boundaries (progress)."""

    def __init__(self, options: ScanOptions, transport: Transport = DIRECT,
                 mark: Callable[[str], None] | None = None, keep_ports: Iterable[int] | None = None) -> None:
        self.options = options
        self.transport = transport
        self.mark = mark or (lambda _message: None)
        # With keep_ports (the ports whose answer is evidence of its own: rules read it, or the RTSP and TLS
        # probes use it), the port check leaves the other camera ports out on a host whose WS-Discovery reply
        # gave its ONVIF address (see _PortPlan); without, every port of every host is checked.
        self.keep_ports = None if keep_ports is None else frozenset(keep_ports)

    # ----------------------------------------------------------------------------------------- planning
    def multicast_interfaces(self) -> list[Interface]:
        """Interfaces whose subnets the scan covers (all selected ones when no targets are given)."""
        if not self.options.targets:
            return list(self.options.interfaces)
        return [i for i in self.options.interfaces
                if any(n.overlaps(t) for n in i.networks for t in self.options.targets)]

    def _accept(self, ip: str) -> bool:
        """Whether an answer from ``ip`` makes a host to probe: inside the targets, or with no targets inside the
        attached subnets (a reply from elsewhere, spoofed or not, is at most a report-only row)."""
        if not self.options.targets:
            return net.in_scope(ip, self.options.scope or [n for i in self.options.interfaces for n in i.networks])
        return net.in_scope(ip, self.options.targets)

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

    # ---------------------------------------------------------------------------------------------- run
    def run(self, deadline: float, sink: DiscoverySink) -> DiscoveryResult:
        opts = self.options
        shared = SharedAddresses()  # addresses several devices answer at (factory defaults): never probed
        sink = _Unshared(sink, shared)
        unprobed: list[tuple[Host, str]] = []
        sweep_until = deadline
        mcast = self.multicast_interfaces()
        attached, routed = self._split_targets(mcast)
        skips: list[Skip] = []
        coverage: list[Coverage] = self._routed_coverage(routed)
        methods: list[str] = []
        stages = ThreadPoolExecutor(max_workers=3, thread_name_prefix="camscan-stage")
        feeds: list[Feed] = []
        stop = threading.Event()  # ends the sweeps' threads when the scan fails or is interrupted
        arp_seen: dict[str, str] = {}  # what the ARP sweep handed over, in case its thread misses the deadline
        port_plan = _PortPlan(self.keep_ports)

        def heard(host: Host) -> None:  # a discovery reply: the port plan learns the ONVIF address first
            port_plan.heard(host)
            sink.discovered(host)
        try:
            # 1. ARP (attached subnets in scope) in its own thread: each answer goes at once to the UDP
            #    window's directed probes and to the camera-port check, which run meanwhile.
            routed_hosts = [str(ip) for ip in net.hosts(routed)]
            arp_job: Future | None = None
            if mcast and (attached or not opts.targets):
                udp_feed, sweep_feed = Feed(), Feed(routed_hosts)
                feeds += [udp_feed, sweep_feed]

                def on_reply(ip: str, mac: str) -> None:
                    if self._accept(ip) and (ip in arp_seen or len(arp_seen) < opts.max_hosts):
                        shared.heard(ip, mac, "arp")
                        port_plan.live(ip)
                        arp_seen[ip] = mac
                        udp_feed.put((ip,))
                        sweep_feed.put((ip,))

                def arp() -> tuple[dict[str, str] | None, list[Coverage], list[Skip]]:
                    try:
                        found = self._arp(mcast, attached, sweep_until, on_reply, stop,
                                          on_conflict=lambda ip, mac: shared.heard(ip, mac, "arp"))
                        if found[0] is None:  # no ARP here: directed probes go to every target address
                            udp_feed.put(str(ip) for ip in net.hosts(attached))
                        self.mark(f"ARP sweep done: {len(found[0] or {})} host(s) answered")
                        return found
                    finally:
                        udp_feed.close()
                        sweep_feed.close()

                self.mark("ARP sweep and discovery...")
                arp_job = stages.submit(arp)
                unicast = list(net.hosts(routed))
                sweeper = PortSweep(opts, stop=stop, transport=self.transport)
                early_sweep = stages.submit(sweeper.run, [], sweep_until, sweep_feed, sink.ports_known,
                                            port_plan.decide, port_plan.known)
            else:  # nothing attached to sweep: directed probes to every target address
                udp_feed = None
                unicast = list(net.hosts(opts.targets))
                self.mark("discovering devices...")
                sweeper = PortSweep(opts, stop=stop, transport=self.transport)
                early_sweep = (stages.submit(sweeper.run, routed_hosts, sweep_until, None, sink.ports_known,
                                             port_plan.decide, port_plan.known) if routed_hosts else None)
            # 2. UDP discovery (WS-Discovery, SADP, DHIP): multicast plus directed unicast
            v6 = (stages.submit(Wsd6Discovery(opts, mcast, self.transport, stop=stop).run, sweep_until)
                  if mcast else None)
            udp = UdpDiscovery(opts, mcast, unicast, self._accept,
                               [WsdProtocol(opts), SadpProtocol(), DhipProtocol()],
                               on_host=heard, on_update=heard, feed=udp_feed,
                               transport=self.transport, max_hosts=opts.max_hosts,
                               report_outside=0 if opts.targets else MAX_OUTSIDE_ROWS)
            udp.on_mac = shared.heard
            port_plan.window_opens()
            hosts, udp_cov, udp_skips = udp.run(sweep_until)
            self.mark(f"discovery window closed: {len(hosts)} host(s) answered")
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
            # 3. camera ports of hosts WS-Discovery and ARP found
            self.mark(f"{len(hosts)} host(s) answered; checking camera ports...")
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
                more, more_cov, more_skips = PortSweep(opts, transport=self.transport).run(
                    late, sweep_until, decide=port_plan.decide, retry=port_plan.known)
                open_ports.update(more)
                sweep_cov = merge_coverage(sweep_cov + more_cov)
                sweep_skips += more_skips
            coverage += sweep_cov
            skips += sweep_skips
            methods.append("tcp")
            for ip, ports in open_ports.items():
                hosts[ip] = hosts.get(ip, Host(ip=ip)).add(seen_by="tcp", evidence=port_evidence(ports))
            # Several devices at one address: a row per MAC from what discovery heard with it, and no probes
            for ip, macs in shared.shared().items():
                hosts.pop(ip, None)
                open_ports.pop(ip, None)
                skips = [s for s in skips if s.ip != ip]  # the rows' warnings say what happened there
                unprobed += [(h, sharedaddr.warning(ip, h.mac, macs))
                             for h in sharedaddr.rows(ip, macs, udp.per_mac.get(ip, {}), shared.heard_by(ip, "arp"))]
        finally:
            stop.set()
            stages.shutdown(wait=False, cancel_futures=True)
            for f in feeds:
                f.close()
        report_only = {ip: h for ip, h in udp.outside.items() if ip not in hosts}
        for ip in report_only:
            skips.append(Skip(ip, "scope", "answered multicast discovery from outside the scanned subnets: listed "
                                           "from its discovery reply only (never probed, never sent credentials)"))
        return DiscoveryResult(hosts=hosts, open_ports=open_ports, coverage=coverage, skips=skips,
                               methods=methods, interfaces=tuple(i.name for i in mcast), cut_short=cut_short,
                               report_only=report_only, unprobed=unprobed)

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


class _PortPlan:
    """Which camera ports the port check asks on a host (:meth:`decide`, the ``decide`` of
    :meth:`camscan.discover.sweep.PortSweep.run`).

    A host whose WS-Discovery reply gave a usable ONVIF device-service address is identified through it, and
    its ONVIF evidence comes from the port it advertised; checking the other ONVIF and alternative web ports
    (8000, 8080, 8899, 2020 when not advertised) adds nothing for it, and they are left out. The ports in
    ``keep`` are checked on every host: their answer is evidence of its own (a rule reads ``tcp:open`` for
    them, e.g. Dahua's 37777 and Xiongmai's 34567, which tell relabels apart; the RTSP and TLS probes need
    554, 443 and 8443; the web UI is usually on 80 whatever the ONVIF port), and so are the advertised ones.
    A live host that has not answered WS-Discovery yet has its other ports put off until its reply is due (the
    multicast reply delay, or a margin after ARP found it); if none came, every port is checked. With ``keep``
    None, every port of every host is."""

    SETTLE = 2 * WINDOW_MARGIN  # after a host's reply is due: its unicast probe and answer on a busy machine

    def __init__(self, keep: frozenset[int] | None) -> None:
        self.keep = keep
        self.advertised: dict[str, frozenset[int]] = {}  # identified hosts: the ports of their XAddrs
        self.replied: set[str] = set()  # hosts a discovery protocol heard from
        self.found: dict[str, float] = {}  # live hosts: when ARP found them
        self.replies_due = 0.0  # when the multicast Probes' replies are in

    def window_opens(self) -> None:
        self.replies_due = time.monotonic() + REPEAT_GAP + APP_MAX_DELAY

    def live(self, ip: str) -> None:
        self.found.setdefault(ip, time.monotonic())

    def known(self, ip: str) -> bool:
        """Whether ``ip`` is known to be there (it answered ARP or a discovery protocol)."""
        return ip in self.found or ip in self.replied

    def heard(self, host: Host) -> None:
        self.replied.add(host.ip)
        if self.keep is None or host.ip in self.advertised or not host.xaddrs:
            return
        if device_service_url(host.xaddrs, host.ip) is not None:
            self.advertised[host.ip] = frozenset(advertised_ports(host.xaddrs))

    def decide(self, ip: str, port: int, again: bool) -> bool | float:
        if self.keep is None or port in self.keep:
            return True
        ports = self.advertised.get(ip)
        if ports is not None:
            return port in ports
        if not again and ip in self.found:
            due = max(self.replies_due, self.found[ip]) + self.SETTLE
            if time.monotonic() < due:
                return due
        return True


def advertised_ports(xaddrs: Iterable[str]) -> set[int]:
    """The TCP ports of http(s) XAddrs (80 and 443 where none is written)."""
    out = set()
    for x in xaddrs:
        try:
            parts = urlsplit(x)
            port = parts.port
        except ValueError:
            continue
        if parts.scheme in ("http", "https"):
            out.add(port or (443 if parts.scheme == "https" else 80))
    return out


class _Unshared(DiscoverySink):
    """The scheduler, told nothing about an address several devices answer at: a TCP answer from it could come
    from any of them, so no probe may start there (camscan.sharedaddr)."""

    def __init__(self, sink: DiscoverySink, shared: SharedAddresses) -> None:
        self.sink = sink
        self.shared = shared

    def discovered(self, host: Host) -> None:
        if not self.shared.is_shared(host.ip):
            self.sink.discovered(host)

    def ports_known(self, ip: str, ports) -> None:
        if not self.shared.is_shared(ip):
            self.sink.ports_known(ip, ports)


def merge_coverage(rows: list[Coverage]) -> list[Coverage]:
    """One row per (subnet, method): two passes of the same method over a subnet add up."""
    merged: dict[tuple[str, str], Coverage] = {}
    for c in rows:
        old = merged.get((c.subnet, c.method))
        merged[(c.subnet, c.method)] = c if old is None else Coverage(
            c.subnet, c.method, old.status if old.status == c.status else "partial", old.tried + c.tried,
            old.answered + c.answered, old.note or c.note)
    return list(merged.values())
