"""WS-Discovery over IPv6: Probes to the link-local group FF02::C on each selected interface.

The codec is the IPv4 one (:mod:`camscan.discover.wsd`); only the transport differs. FF02::C is link-local
scope, so each interface is probed on its own (IPV6_MULTICAST_IF) and replies come from link-local
addresses, which are only meaningful together with the interface they arrived on (``fe80::1%eth0``).

Devices that also answer over IPv4 are merged into their IPv4 row by endpoint reference (the stable
device id in every ProbeMatch), so a dual-stack camera is listed once. Hosts seen only over IPv6 become
rows of their own, keyed by the scoped address. Credentials are never sent to them: the scan scope is IPv4.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence

from camscan.discover.wsd import (
    APP_MAX_DELAY,
    MAX_DATAGRAM,
    PROBE_TYPES,
    REPEAT_GAP,
    WINDOW_MARGIN,
    WSD_PORT,
    WsdProtocol,
    build_probe,
    match_evidence,
    parse_message,
)
from camscan.models import Coverage, Evidence, Host, Interface, ScanOptions, Skip
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)

WSD_GROUP6 = "ff02::c"
MAX_EXTENSION = 3.0  # never collect longer than this past the last probe, whatever arrives
# The IPv4 engine's limits (camscan.discover.udp), for the same reasons: datagrams read from one socket before
# the loop looks at the clock again; datagrams parsed per source address (an honest device sends a handful);
# rows an IPv6 reply may make (IPv6-only hosts are report-only rows: never probed).
DRAIN_BATCH = 256
MAX_PER_SOURCE = 64
MAX_HOSTS6 = 1024
MAX_SOURCES6 = 4 * MAX_HOSTS6  # source addresses counted at all (spoofed ones are free to make)
MAX_FLOOD_SKIPS = 64


class Wsd6Discovery:
    """Multicast WS-Discovery on FF02::C, one socket per interface."""

    name = "wsd6"

    def __init__(self, options: ScanOptions, interfaces: Sequence[Interface], transport: Transport = DIRECT,
                 stop: threading.Event | None = None) -> None:
        self.options = options
        self.transport = transport  # opens the sockets
        self.interfaces = list(interfaces)
        self.stop = stop  # set by the caller to end the window now (the scan failed or was interrupted)
        self.per_source: dict[str, int] = {}  # datagrams received per source address
        self.said: dict[str, set[int]] = {}  # per source address, the repeat keys of the replies read
        self.unread = 0  # datagrams from addresses past MAX_HOSTS6 / MAX_SOURCES6, not read

    def run(self, deadline: float) -> tuple[dict[str, Host], list[Coverage], list[Skip]]:
        hosts: dict[str, Host] = {}
        skips: list[Skip] = []
        coverage: list[Coverage] = []
        socks: dict[socket.socket, Interface] = {}
        if not socket.has_ipv6:
            return hosts, [], [Skip(None, "wsd6", "this Python has no IPv6 support")]
        try:
            for iface in self.interfaces:
                try:
                    s = self.transport.udp_socket(socket.AF_INET6)
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, iface.index)
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                    s.bind(("::", 0, 0, 0))
                    s.setblocking(False)
                except OSError as exc:
                    skips.append(Skip(None, "wsd6", f"{iface.name}: cannot open an IPv6 socket: {exc.strerror}"))
                    continue
                socks[s] = iface
            self._loop(socks, hosts, skips, coverage, deadline)
        finally:
            for s in socks:
                s.close()
        return hosts, coverage, skips + self.limit_skips()

    def limit_skips(self) -> list[Skip]:
        """What the per-source and host limits left unread, as skips (at most MAX_FLOOD_SKIPS + 1)."""
        skips = []
        flooded = [(ip, n) for ip, n in self.per_source.items() if n > MAX_PER_SOURCE]
        for ip, n in flooded[:MAX_FLOOD_SKIPS]:
            skips.append(Skip(None, "wsd6", f"flood: {n} wsd6 datagrams from {ip}; only the first {MAX_PER_SOURCE} "
                                            "were read"))
        if self.unread:
            skips.append(Skip(None, "wsd6", f"{self.unread} datagram(s) from IPv6 addresses beyond the first "
                                            f"{MAX_HOSTS6} not read (a flood of sources)"))
        return skips

    def _loop(self, socks, hosts, skips, coverage, deadline) -> None:
        plan = []
        for types in PROBE_TYPES:
            msg = build_probe(f"urn:uuid:{uuid.uuid4()}", types)
            plan += [(0.0, msg), (REPEAT_GAP, msg)]
        sent: dict[socket.socket, int] = dict.fromkeys(socks, 0)
        start = time.monotonic()
        i = 0
        last = start
        while True:
            now = time.monotonic()
            if now >= deadline or (self.stop is not None and self.stop.is_set()):
                break
            while i < len(plan) and start + plan[i][0] <= now:
                for s, iface in socks.items():
                    try:
                        s.sendto(plan[i][1], (WSD_GROUP6, WSD_PORT, 0, iface.index))
                        sent[s] += 1
                    except OSError as exc:
                        log.debug("wsd6 send on %s failed: %s", iface.name, exc)
                i += 1
                last = time.monotonic()
            end = min(deadline, last + APP_MAX_DELAY + WINDOW_MARGIN + self.options.wsd_wait,
                      start + MAX_EXTENSION + plan[-1][0] + self.options.wsd_wait)
            if i >= len(plan) and now >= end:
                break
            wake = start + plan[i][0] if i < len(plan) else end
            ready, _, _ = select.select(list(socks), [], [], max(0.0, min(wake, end) - time.monotonic()))
            for s in ready:
                self._drain(s, socks[s], hosts, min(end, deadline))
        for s, iface in socks.items():
            answered = sum(1 for h in hosts if h.endswith(f"%{iface.name}"))
            if sent[s]:
                coverage.append(Coverage(f"{iface.name} link-local", "wsd6-multicast", "done", tried=1,
                                         answered=answered, note=f"via {iface.name} to {WSD_GROUP6}"))
            else:
                coverage.append(Coverage(f"{iface.name} link-local", "wsd6-multicast", "skipped",
                                         note="IPv6 is not usable on this interface"))
                skips.append(Skip(None, "wsd6", f"{iface.name}: IPv6 multicast probes could not be sent"))

    def _drain(self, s: socket.socket, iface: Interface, hosts: dict[str, Host], until: float) -> None:
        """At most DRAIN_BATCH datagrams, the clock looked at every 32: a flood cannot hold the loop (and with
        it the scan and its lock) past ``until``."""
        for n in range(DRAIN_BATCH):
            if n and n % 32 == 0 and time.monotonic() >= until:
                return
            try:
                data, addr = s.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            ip = addr[0].split("%", 1)[0]
            key = f"{ip}%{iface.name}" if ip.lower().startswith("fe80") else ip
            seen = self.per_source.get(key)
            if seen is None and len(self.per_source) >= MAX_SOURCES6:
                self.unread += 1
                continue
            seen = self.per_source[key] = (seen or 0) + 1
            if seen > MAX_PER_SOURCE:
                continue  # a flood: counted for its skip, never parsed
            if key not in hosts and len(hosts) >= MAX_HOSTS6:
                self.unread += 1
                continue
            said = self.said.setdefault(key, set())  # a reply repeating an earlier one: nothing new in it
            repeat = hash(WsdProtocol.repeat_key(data))
            if repeat in said:
                continue
            said.add(repeat)
            matches, reason = parse_message(data)
            if reason:
                continue
            ev: list[Evidence] = [Evidence("wsd6", "address", key)]
            xaddrs: list[str] = []
            endpoint = None
            for m in matches:
                if m.kind == "Bye":
                    continue
                ev.extend(match_evidence(m))  # the same WS-Discovery content: the same rules apply
                xaddrs.extend(m.xaddrs)
                endpoint = endpoint or m.endpoint
            host = Host(ip=key, seen_by=("wsd6",), evidence=tuple(ev), xaddrs=tuple(xaddrs), endpoint=endpoint)
            hosts[key] = hosts[key].merged(host) if key in hosts else host


def merge_ipv6(v4: dict[str, Host], v6: dict[str, Host]) -> dict[str, Host]:
    """IPv6-discovered hosts folded into their IPv4 rows by endpoint reference; the rest kept as their own.

    An IPv6-only host's IPv4 XAddrs are recorded as evidence but never followed (a device may name any
    address), so such a host is identified from its WS-Discovery reply alone.
    """
    by_endpoint = {h.endpoint: ip for ip, h in v4.items() if h.endpoint}
    # An endpoint id two devices claim (a cloned firmware image, or a device copying another's id) says
    # nothing about which IPv4 row an IPv6 reply belongs to: merging would put one device's evidence into
    # another's row. Such replies stay rows of their own.
    v4_claims = Counter(h.endpoint for h in v4.values() if h.endpoint)
    v6_claims = Counter(h.endpoint for h in v6.values() if h.endpoint)
    out = dict(v4)
    for key, host in v6.items():
        unique = host.endpoint and v4_claims[host.endpoint] == 1 and v6_claims[host.endpoint] == 1
        target = by_endpoint.get(host.endpoint) if unique else None
        if target is not None:
            out[target] = out[target].add(seen_by="wsd6", evidence=host.evidence)
        else:
            out[key] = host
    return out
