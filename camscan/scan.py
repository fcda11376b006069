"""The Scanner: discover -> probe -> fingerprint -> policy, under one deadline and one scope.

It never prints, reads argv or exits: it takes :class:`ScanOptions` and returns a :class:`ScanResult`.
Identity probing overlaps discovery: each host is handed to a worker the moment its first WS-Discovery
reply arrives, so a site's identities are mostly read by the time the discovery window closes.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from camscan import fingerprint, net, oui
from camscan.discover.wsd import WsDiscovery, device_service_url
from camscan.models import Coverage, Evidence, Host, Interface, ScanOptions, ScanResult, Skip
from camscan.policy import Policy, load_policy
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe, ProbeResult

log = logging.getLogger(__name__)


class Scanner:
    """Runs one scan. Construct with options (and optionally rules/policy for tests), then :meth:`run`."""

    def __init__(self, options: ScanOptions, rules: tuple[fingerprint.Rule, ...] | None = None,
                 policy: Policy | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.progress = progress or (lambda _message: None)
        self.rules = rules if rules is not None else fingerprint.default_rules()
        self.policy = policy if policy is not None else load_policy()

    # ----------------------------------------------------------------------------------------- planning
    def _multicast_interfaces(self) -> list[Interface]:
        """Interfaces whose subnets the scan covers (all selected ones when no targets are given)."""
        if not self.options.targets:
            return list(self.options.interfaces)
        return [i for i in self.options.interfaces
                if any(n.overlaps(t) for n in i.networks for t in self.options.targets)]

    def _accept(self, ip: str) -> bool:
        if not self.options.targets:
            return True
        return net.in_scope(ip, self.options.targets)

    def _routed_coverage(self, mcast: list[Interface]) -> list[Coverage]:
        attached = [n for i in mcast for n in i.networks]
        out = []
        for t in self.options.targets:
            if not any(t.overlaps(a) for a in attached):
                out.append(Coverage(str(t), "wsd-multicast", "skipped",
                                    note="not directly attached: multicast cannot cross routers; "
                                         "directed unicast probes only"))
        return out

    # -------------------------------------------------------------------------------------------- run
    def run(self) -> ScanResult:
        opts = self.options
        started = datetime.now(UTC)
        t0 = time.monotonic()
        deadline = t0 + opts.deadline
        mcast = self._multicast_interfaces()
        unicast = list(net.hosts(opts.targets))
        pool = ThreadPoolExecutor(max_workers=max(1, opts.workers), thread_name_prefix="camscan-probe")
        factory: Future[OnvifClientFactory] = pool.submit(OnvifClientFactory)  # WSDL parse overlaps discovery
        probes: dict[str, Future[ProbeResult]] = {}
        skips: list[Skip] = []

        def on_host(host: Host) -> None:
            url = device_service_url(host.xaddrs, host.ip)
            if url is None:
                skips.append(Skip(host.ip, "onvif", "no usable device-service XAddr in the discovery reply"))
                return
            probes[host.ip] = pool.submit(self._probe, factory, host.ip, url)

        self.progress("discovering devices...")
        try:
            wsd = WsDiscovery(opts, mcast, unicast, self._accept, on_host)
            hosts, coverage, wsd_skips = wsd.run(deadline)
            skips.extend(wsd_skips)
            coverage.extend(self._routed_coverage(mcast))
            self.progress(f"discovery done: {len(hosts)} device(s); reading identities...")
            results = self._collect(probes, deadline, skips)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        hosts = self._merge(hosts, results)
        devices = [self.policy.evaluate(fingerprint.identify(h, self.rules))
                   for h in sorted(hosts.values(), key=lambda h: ipaddress.ip_address(h.ip))]
        for r in results.values():
            skips.extend(r.skips)
        methods = ["wsd-multicast"] if mcast else []
        if unicast:
            methods.append("wsd-unicast")
        methods.append("onvif")
        return ScanResult(
            started=started,
            finished=datetime.now(UTC),
            targets=tuple(str(t) for t in opts.targets) or tuple(str(n) for i in opts.interfaces
                                                                 for n in i.networks),
            interfaces=tuple(i.name for i in mcast),
            methods=tuple(methods),
            devices=tuple(devices),
            skips=tuple(sorted(skips, key=_skip_order)),
            coverage=tuple(coverage),
        )

    def _probe(self, factory: Future[OnvifClientFactory], ip: str, url: str) -> ProbeResult:
        opts = self.options
        allowed = net.in_scope(ip, opts.scope)
        probe = OnvifProbe(factory.result(), timeout=opts.timeout, max_bytes=opts.max_reply_bytes)
        return probe.probe(ip, url, opts.credentials, credentials_allowed=allowed)

    def _collect(self, probes: dict[str, Future[ProbeResult]], deadline: float,
                 skips: list[Skip]) -> dict[str, ProbeResult]:
        results: dict[str, ProbeResult] = {}
        for ip, fut in list(probes.items()):
            try:
                results[ip] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                skips.append(Skip(ip, "onvif", "scan deadline reached before the device answered"))
            except Exception as exc:  # noqa: BLE001 - last-resort guard: one device must not end the scan
                log.debug("probe of %s crashed", ip, exc_info=True)
                skips.append(Skip(ip, "onvif", f"internal error while probing: {type(exc).__name__}: {exc}"))
        return results

    def _merge(self, hosts: dict[str, Host], results: dict[str, ProbeResult]) -> dict[str, Host]:
        neighbours = net.neighbour_macs()
        merged: dict[str, Host] = {}
        for ip, host in hosts.items():
            r = results.get(ip)
            if r is not None:
                host = host.add(seen_by="onvif" if any(e.source.startswith("onvif.") for e in r.evidence)
                                else None, evidence=tuple(r.evidence))
            l2 = neighbours.get(ip)
            if l2:
                host = host.add(evidence=(Evidence("arp.kernel", "mac", l2),))
            mac = l2 or (r.mac if r else None)
            host = Host(ip=host.ip, mac=mac, seen_by=host.seen_by, evidence=host.evidence + oui.evidence(mac),
                        xaddrs=host.xaddrs, endpoint=host.endpoint)
            merged[ip] = host
        return merged


def _skip_order(s: Skip) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(s.ip)), s.stage) if s.ip else (1, 0, s.stage)
    except ValueError:
        return (1, 0, s.stage)
