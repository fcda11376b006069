"""One select loop for every UDP discovery protocol (WS-Discovery, SADP, DHIP), in one collection window.

A protocol is a small codec object (:class:`UdpProtocol`): where to send, what to send, how long devices
may take to answer, and how to read a reply. :class:`UdpDiscovery` owns the sockets and the clock:

* one socket per protocol, bound to ``0.0.0.0:0`` (replies come back to the probe's source port), with a
  large receive buffer so a burst of hundreds of replies fits while the loop drains;
* link-wide probes first: each multicast group once per interface (``IP_MULTICAST_IF``, TTL 1, loop off)
  and each directed broadcast once per interface address, then one repeat of every copy;
* directed unicast probes to the target addresses (given up front, or handed over while the window runs
  through a :class:`~camscan.discover.feed.Feed` as the ARP sweep finds live hosts), rate-limited to
  ``options.rate`` datagrams per second across all protocols and interleaved with receiving. Addresses on
  a subnet that was just probed by multicast wait until the devices there had their reply delay to answer,
  and an address that already answered a protocol is not sent that protocol's unicast probe (no duplicate
  traffic on a busy site);
* the window closes a protocol's reply window after its last send (never a fixed sleep, and not while a
  feed is still open). Replies never extend it, each protocol's window is capped at :data:`MAX_EXTENSION`
  past its last send so a flood cannot hold it open, a burst is drained in bounded batches so sending
  keeps its schedule, and everything stops at the scan ``deadline``.

Hosts are keyed by the datagram's source address (what the device says about its own address is evidence,
nothing more). ``on_host`` sees a host on its first reply so identity probes can start while discovery is
still listening; ``on_update`` sees it again when another protocol answers from the same address.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import selectors
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from camscan.codec.datagram import MAX_DATAGRAM, Parsed
from camscan.discover.feed import Feed
from camscan.models import Coverage, Host, Interface, ScanOptions, Skip
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)

SNDBUF = 4 << 20
RCVBUF = 8 << 20
# SOAP-over-UDP (2004 draft, appendix I): a repeat goes UDP_MIN_DELAY..UDP_MAX_DELAY (50-250 ms) after the
# first copy. One repeat of each link-wide probe recovers a lost datagram without doubling a sweep.
REPEAT_GAP = 0.12
# The hard stop when a flood keeps the sockets busy: never collect longer than this past a protocol's
# last send (plus the user's explicit options.wsd_wait).
MAX_EXTENSION = 3.0
# Datagrams read from one socket before the loop looks at the clock and its send schedule again.
DRAIN_BATCH = 256
# Token-bucket depth of the unicast rate limiter: after a stall of the loop, at most this much time's worth
# of probes goes out at once (keeps the average at options.rate without bursts).
SEND_BURST = 0.02
# A protocol's "cannot parse" skips per scan: a spoofed garbage flood must not grow the report unbounded.
MAX_REASON_SKIPS = 64
# Datagrams read from one address per protocol and scan. An honest device sends a handful (one answer per
# probe, each repeated at most twice: SOAP-over-UDP UNICAST_UDP_REPEAT); past this the address is flooding
# and the rest of its datagrams are counted, not parsed, so it cannot buy CPU time with them.
MAX_PER_SOURCE = 64
MAX_MACS_PER_ADDRESS = 16  # devices kept apart at one address (factory defaults); more are not kept
_FEED = object()  # selector key data of the feed (sockets carry their protocol index)
# Addresses named in one "shares its endpoint id with" skip.
MAX_NAMED = 5


class UdpProtocol(Protocol):
    """The contract of one UDP discovery protocol, as :class:`UdpDiscovery` uses it.

    ``name`` is also the Host.seen_by value and the prefix of the Coverage methods (``<name>-multicast``,
    ``<name>-unicast``). ``port`` is the destination port. Devices answer a link-wide probe within
    ``reply_delay`` (a random delay, WS-Discovery APP_MAX_DELAY); the engine keeps listening
    ``reply_window`` after the last link-wide copy and ``unicast_window`` after the last unicast probe.
    ``probes()`` returns fresh datagrams (new message ids) on every call: link-wide and unicast probes get
    different ids, so a device's duplicate detection does not drop the unicast after it saw the multicast.
    ``parse`` never raises on device bytes: it returns :class:`Parsed`, or a reason string.
    """

    name: str
    port: int
    reply_delay: float
    reply_window: float
    unicast_window: float

    def destinations(self, address: ipaddress.IPv4Interface) -> list[str]:
        """Link-wide destinations (multicast groups, directed broadcast) for one interface address."""
        ...

    def probes(self) -> list[bytes]:
        """The probe datagrams, with fresh message ids."""
        ...

    def parse(self, data: bytes, ip: str) -> Parsed | str:
        """A reply from ``ip`` as evidence, or a reason it is not one."""
        ...


def repeat_key(proto: UdpProtocol, data: bytes) -> int:
    """What tells a reply apart from one already read from the same address: the protocol's ``repeat_key``
    (WS-Discovery: the datagram without its message ids, which no evidence is made of) or the bytes as they
    are, hashed (the process's keyed hash: a device cannot choose a collision)."""
    key = getattr(proto, "repeat_key", None)
    return hash(key(data) if key is not None else data)


@dataclass
class _Stats:
    """Per-protocol counters for coverage and skips."""

    link_sent: dict[str, int] = field(default_factory=dict)  # interface address -> datagrams sent
    link_errors: dict[str, str] = field(default_factory=dict)  # interface address -> last send error
    link_dests: dict[str, set[str]] = field(default_factory=dict)  # interface address -> destinations
    unicast_tried: set[str] = field(default_factory=set)  # addresses probed (or already answered)
    answered: set[str] = field(default_factory=set)
    rejected: int = 0  # datagrams that were not valid for the protocol
    ignored: int = 0  # replies from addresses the caller does not accept
    last_link: float | None = None  # monotonic time of the last link-wide send
    last_unicast: float | None = None
    reason_skips: dict[str, Skip] = field(default_factory=dict)
    per_source: dict[str, int] = field(default_factory=dict)  # datagrams received per accepted address
    said: dict[str, set[int]] = field(default_factory=dict)  # per address, the repeat keys of replies read
    repeats: int = 0  # replies that repeated one already read from their address (not parsed again)


class _Send(NamedTuple):
    """One planned datagram (a tuple: a /16 sweep plans ~330k of them, so it must be cheap to build)."""

    at: float  # offset from the start of the run
    proto: int
    src: str | None  # interface address for IP_MULTICAST_IF; None for broadcast/unicast
    dst: str
    msg: bytes
    link_key: str | None  # interface address a link-wide send counts for; None for unicast


class UdpDiscovery:
    """Runs several :class:`UdpProtocol` discoveries concurrently in one window (see the module docstring)."""

    def __init__(self, options: ScanOptions, interfaces: Sequence[Interface],
                 unicast: Iterable[ipaddress.IPv4Address], accept: Callable[[str], bool],
                 protocols: Sequence[UdpProtocol], on_host: Callable[[Host], None] | None = None,
                 on_update: Callable[[Host], None] | None = None, feed: Feed | None = None,
                 transport: Transport = DIRECT, max_hosts: int | None = None, report_outside: int = 0) -> None:
        self.options = options
        self.transport = transport  # opens the sockets
        self.interfaces = list(interfaces)
        self.unicast = list(dict.fromkeys(unicast))
        self.feed = feed  # more unicast targets while the window runs (the ARP sweep's answers)
        self.accept = accept
        self.protocols = list(protocols)
        self.on_host = on_host
        self.on_update = on_update
        self.hosts: dict[str, Host] = {}
        # What each MAC said, per address, for replies that carry one (SADP, DHIP): several factory-default
        # units answering from one address stay apart here (camscan.sharedaddr); on_mac(ip, mac, protocol).
        self.per_mac: dict[str, dict[str, Host]] = {}
        self.on_mac: Callable[[str, str, str], None] | None = None
        self.skips: list[Skip] = []
        self.received = 0
        self.max_hosts = max_hosts  # new addresses past it are counted, not read (a spoofed flood of sources)
        self.capped = 0
        # Up to ``report_outside`` addresses the caller does not accept, kept from their replies alone as
        # report-only rows (never handed to on_host: never probed); the rest counted.
        self.report_outside = report_outside
        self.outside: dict[str, Host] = {}
        self.outside_unread = 0
        self._stats = [_Stats() for _ in self.protocols]
        self._partial: set[str] = set()  # protocols the deadline cut short

    # ------------------------------------------------------------------------------------------ planning
    def _link_plan(self) -> list[_Send]:
        """Each multicast group once per interface, each broadcast once per address, then the repeats."""
        plan: list[_Send] = []
        for pi, proto in enumerate(self.protocols):
            msgs = proto.probes()
            for iface in self.interfaces:
                groups_done: set[str] = set()
                for addr in iface.addresses:
                    src = str(addr.ip)
                    stats = self._stats[pi]
                    stats.link_sent.setdefault(src, 0)
                    for dst in proto.destinations(addr):
                        stats.link_dests.setdefault(src, set()).add(dst)
                        if _is_multicast(dst):
                            # One copy per link: every address of the interface shares it.
                            if dst in groups_done:
                                continue
                            groups_done.add(dst)
                            for msg in msgs:
                                plan.append(_Send(0.0, pi, src, dst, msg, src))
                                plan.append(_Send(REPEAT_GAP, pi, src, dst, msg, src))
                        else:
                            for msg in msgs:
                                plan.append(_Send(0.0, pi, None, dst, msg, src))
                                plan.append(_Send(REPEAT_GAP, pi, None, dst, msg, src))
        plan.sort(key=lambda s: s.at)  # stable: first copies of everything, then the repeats
        return plan

    def _unicast_plan(self, targets: Sequence[ipaddress.IPv4Address]) -> list[_Send]:
        """Every target address x protocol x probe, in address order; attached addresses deferred."""
        attached = [a.network for i in self.interfaces for a in i.addresses]
        msgs = [p.probes() for p in self.protocols]
        # Devices on a subnet that was just probed link-wide have until both copies went out plus their
        # reply delay to answer; only then is a unicast probe to a silent address worth sending.
        defer = [REPEAT_GAP + p.reply_delay if attached else 0.0 for p in self.protocols]
        plan: list[_Send] = []
        for ip in targets:
            on_link = any(ip in n for n in attached)
            dst = str(ip)
            for pi, _proto in enumerate(self.protocols):
                at = defer[pi] if on_link else 0.0
                for msg in msgs[pi]:
                    plan.append(_Send(at, pi, None, dst, msg, None))
        plan.sort(key=lambda s: s.at)
        return plan

    # ---------------------------------------------------------------------------------------------- run
    def run(self, deadline: float) -> tuple[dict[str, Host], list[Coverage], list[Skip]]:
        """Probe and collect until every protocol's reply window closed or ``deadline`` (monotonic) passed."""
        socks: dict[int, socket.socket] = {}
        sel = selectors.DefaultSelector()
        try:
            for pi, proto in enumerate(self.protocols):
                try:
                    sock = self._open(any(not _is_multicast(d) for i in self.interfaces for a in i.addresses
                                          for d in proto.destinations(a)))
                except OSError as exc:
                    self.skips.append(Skip(None, proto.name, f"cannot open a UDP socket: {exc}"))
                    continue
                socks[pi] = sock
                sel.register(sock, selectors.EVENT_READ, pi)
            self._loop(socks, sel, deadline)
        finally:
            sel.close()
            for s in socks.values():
                s.close()
        for proto, stats in zip(self.protocols, self._stats, strict=True):
            self.skips.extend(stats.reason_skips.values())
            flooded = [(ip, n) for ip, n in stats.per_source.items() if n > MAX_PER_SOURCE]
            for ip, n in flooded[:MAX_REASON_SKIPS]:
                self.skips.append(Skip(ip, proto.name, f"flood: {n} {proto.name} datagrams from this address; "
                                                       f"only the first {MAX_PER_SOURCE} were read"))
        self.skips.extend(self._shared_endpoints())
        if self.capped:
            self.skips.append(Skip(None, "discovery", f"{self.capped} datagram(s) from addresses beyond the cap of "
                                                      f"{self.max_hosts} hosts per scan not read (--max-hosts)"))
        if self.outside_unread:
            self.skips.append(Skip(None, "discovery", f"{self.outside_unread} datagram(s) from more than "
                                                      f"{self.report_outside} addresses outside the scanned subnets "
                                                      "not read"))
        log.debug("UDP window: %d datagram(s) received (%d repeating an earlier reply), %d host(s), %d unicast "
                  "target(s)", self.received, sum(st.repeats for st in self._stats), len(self.hosts),
                  len(self.unicast))
        return self.hosts, self._coverage(socks), self.skips

    def _shared_endpoints(self) -> list[Skip]:
        """A skip for every address whose WS-Discovery endpoint id another address claims too: the id is
        meant to be unique per device (a cloned firmware image repeats it), so it identifies neither."""
        by_endpoint: dict[str, list[str]] = {}
        for ip, host in self.hosts.items():
            if host.endpoint:
                by_endpoint.setdefault(host.endpoint, []).append(ip)
        skips = []
        for endpoint, ips in by_endpoint.items():
            if len(ips) < 2:
                continue
            for ip in ips:
                others = [o for o in ips if o != ip]
                named = ", ".join(others[:MAX_NAMED]) + (f" and {len(others) - MAX_NAMED} more"
                                                          if len(others) > MAX_NAMED else "")
                skips.append(Skip(ip, "wsd", f"endpoint id {endpoint} is also claimed by {named}: it cannot "
                                             "tell these devices apart (they are kept apart by address and MAC)"))
        return skips

    def _open(self, broadcast: bool) -> socket.socket:
        sock = self.transport.udp_socket()
        try:
            size_buffers(sock)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # the groups are link-local here
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            if broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind(("0.0.0.0", 0))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _loop(self, socks: dict[int, socket.socket], sel: selectors.BaseSelector, deadline: float) -> None:
        link = [s for s in self._link_plan() if s.proto in socks]
        uni = [s for s in self._unicast_plan(self.unicast) if s.proto in socks]
        gap = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        cap = MAX_EXTENSION + max(0.0, self.options.wsd_wait)
        start = time.monotonic()
        li = ui = 0
        next_uni = start
        feed_open = self.feed is not None
        if self.feed is not None:
            sel.register(self.feed, selectors.EVENT_READ, _FEED)
            known = set(self.unicast)
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._deadline_skips(uni[ui:], len(uni))
                return
            # link-wide copies that are due (a handful: not rate-limited)
            while li < len(link) and start + link[li].at <= now:
                s = link[li]
                li += 1
                if self._send(socks[s.proto], s) == "ok":
                    self._stats[s.proto].last_link = time.monotonic()
            # unicast probes that are due, at options.rate on average
            if next_uni < now - SEND_BURST:
                next_uni = now - SEND_BURST
            sent_now = 0
            while ui < len(uni) and sent_now < DRAIN_BATCH:
                s = uni[ui]
                if start + s.at > now or next_uni > now:
                    break
                stats = self._stats[s.proto]
                if s.dst in stats.answered:  # it already answered this protocol (multicast, sibling probe)
                    ui += 1
                    continue
                result = self._send(socks[s.proto], s)
                if result == "blocked":  # send buffer full: retry this datagram in a moment
                    next_uni = now + 0.002
                    break
                ui += 1
                sent_now += 1
                stats.unicast_tried.add(s.dst)
                next_uni += gap
                if result == "ok":
                    stats.last_unicast = time.monotonic()
            if li >= len(link) and ui >= len(uni) and not feed_open:
                end = self._window_end(start, cap)
                if min(end, deadline) <= now:
                    return
                wake = min(end, deadline)
            else:
                wake = deadline
                if li < len(link):
                    wake = min(wake, start + link[li].at)
                if ui < len(uni):
                    wake = min(wake, max(start + uni[ui].at, next_uni))
            timeout = max(0.0, wake - time.monotonic())
            for key, _mask in sel.select(timeout):
                if key.data is _FEED:
                    assert self.feed is not None
                    fresh = []
                    for t in self.feed.take():
                        try:
                            ip = ipaddress.IPv4Address(t)
                        except ValueError:
                            continue
                        if ip not in known and self.accept(t):
                            known.add(ip)
                            fresh.append(ip)
                    self.unicast += fresh
                    # Appended in arrival order: each one is due at the same delay after the window opened.
                    uni += [s for s in self._unicast_plan(fresh) if s.proto in socks]
                    if self.feed.done:
                        feed_open = False
                        sel.unregister(self.feed)
                    continue
                self._drain(key.fileobj, key.data, min(wake, deadline))  # type: ignore[arg-type]

    def _window_end(self, start: float, cap: float) -> float:
        """When the last protocol's reply window closes (each window fixed by its last send, capped)."""
        end = start
        for pi, proto in enumerate(self.protocols):
            st = self._stats[pi]
            if st.last_link is not None:
                end = max(end, st.last_link + min(proto.reply_window, cap))
            if st.last_unicast is not None:
                end = max(end, st.last_unicast + min(proto.unicast_window, cap))
        return end

    def _send(self, sock: socket.socket, s: _Send) -> str:
        """``ok``, ``blocked`` (buffer full, retry) or ``failed``."""
        try:
            if s.src is not None:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(s.src))
            sock.sendto(s.msg, (s.dst, self.protocols[s.proto].port))
        except BlockingIOError:
            if s.link_key is not None:
                return "failed"  # a link-wide copy is not retried: its repeat covers it
            return "blocked"
        except OSError as exc:
            if exc.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPERM, errno.ECONNREFUSED,
                                 errno.EACCES):
                log.debug("%s send to %s failed: %s", self.protocols[s.proto].name, s.dst, exc)
            if s.link_key is not None:
                reason = f"send to {s.dst} failed: {exc.strerror or exc}"
                self._stats[s.proto].link_errors[s.link_key] = reason
            return "failed"
        if s.link_key is not None:
            self._stats[s.proto].link_sent[s.link_key] += 1
        return "ok"

    def _drain(self, sock: socket.socket, pi: int, until: float) -> None:
        for n in range(DRAIN_BATCH):
            if n and n % 32 == 0 and time.monotonic() >= until:
                return
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error of an earlier unicast probe surfacing on this socket
            self.received += 1
            self._handle(pi, data, addr[0])

    def _handle(self, pi: int, data: bytes, ip: str) -> None:
        proto, stats = self.protocols[pi], self._stats[pi]
        if not self.accept(ip):
            stats.ignored += 1
            if self.report_outside:
                self._outside(pi, data, ip)
            return
        if self.max_hosts is not None and ip not in self.hosts and ip not in stats.per_source and (
                len(self.hosts) >= self.max_hosts):
            self.capped += 1
            return
        seen = stats.per_source[ip] = stats.per_source.get(ip, 0) + 1
        if seen > MAX_PER_SOURCE:
            return  # a flood: counted for its skip, never parsed
        # A device answers each copy of each probe: the same reply again (a repeat, or a typed and an untyped
        # Probe answered alike) says nothing new, and parsing and merging it again is most of this loop's CPU.
        said = stats.said.setdefault(ip, set())
        key = repeat_key(proto, data)
        if key in said:
            stats.repeats += 1
            return
        said.add(key)
        result = proto.parse(data, ip)
        if isinstance(result, str):
            stats.rejected += 1
            log.debug("%s reply from %s ignored: %s", proto.name, ip, result)
            if (ip not in stats.answered and ip not in stats.reason_skips
                    and len(stats.reason_skips) < MAX_REASON_SKIPS):
                stats.reason_skips[ip] = Skip(ip, proto.name, f"unparsable {proto.name} reply: {result}")
            return
        if not result.evidence:
            return  # valid but says nothing (a WS-Discovery Bye)
        stats.answered.add(ip)
        self.transport.received(proto.name, ip, data)
        stats.reason_skips.pop(ip, None)  # a later good datagram from the host supersedes a bad one
        host = Host(ip=ip, mac=result.mac, seen_by=(proto.name,), evidence=result.evidence,
                    xaddrs=result.xaddrs, endpoint=result.endpoint)
        if result.mac:
            self._keep_per_mac(ip, result.mac, host)
            if self.on_mac:
                self.on_mac(ip, result.mac, proto.name)
        known = self.hosts.get(ip)
        if known is None:
            self.hosts[ip] = host
            if self.on_host:
                self.on_host(host)
            return
        merged = known.merged(host)
        self.hosts[ip] = merged
        if self.on_update and proto.name not in known.seen_by:
            self.on_update(merged)

    def _keep_per_mac(self, ip: str, mac: str, host: Host) -> None:
        """What one MAC said at an address, apart from the others there (at most MAX_MACS_PER_ADDRESS)."""
        macs = self.per_mac.setdefault(ip, {})
        if mac in macs:
            macs[mac] = macs[mac].merged(host)
        elif len(macs) < MAX_MACS_PER_ADDRESS:
            macs[mac] = host

    def _outside(self, pi: int, data: bytes, ip: str) -> None:
        """A reply from an address outside what the caller accepts: a report-only row while there is room."""
        proto, stats = self.protocols[pi], self._stats[pi]
        if ip not in self.outside and len(self.outside) >= self.report_outside:
            self.outside_unread += 1
            return
        key = f"outside:{ip}"
        seen = stats.per_source[key] = stats.per_source.get(key, 0) + 1
        if seen > MAX_PER_SOURCE:
            return
        result = proto.parse(data, ip)
        if isinstance(result, str) or not result.evidence:
            return
        host = Host(ip=ip, mac=result.mac, seen_by=(proto.name,), evidence=result.evidence,
                    xaddrs=result.xaddrs, endpoint=result.endpoint)
        self.outside[ip] = self.outside[ip].merged(host) if ip in self.outside else host

    # ------------------------------------------------------------------------------------------ results
    def _deadline_skips(self, pending: list[_Send], total: int) -> None:
        names = dict.fromkeys(self.protocols[s.proto].name for s in pending)
        for name in names or dict.fromkeys(p.name for p in self.protocols):
            left = sum(1 for s in pending if self.protocols[s.proto].name == name)
            detail = f" ({left} of {total} unicast probes unsent)" if left else ""
            self.skips.append(Skip(None, name, f"scan deadline reached during discovery{detail}"))
        self._partial = set(names) if names else {p.name for p in self.protocols}

    def _coverage(self, socks: dict[int, socket.socket]) -> list[Coverage]:
        cov: list[Coverage] = []
        partial = self._partial
        targets = list(self.options.targets)
        for pi, proto in enumerate(self.protocols):
            st = self._stats[pi]
            answered = [ipaddress.ip_address(ip) for ip in st.answered]
            for iface in self.interfaces:
                for addr in iface.addresses:
                    src = str(addr.ip)
                    dests = sorted(st.link_dests.get(src, ()))
                    if not dests:
                        continue
                    n = sum(1 for a in answered if a in addr.network)
                    if pi not in socks:
                        status, note = "skipped", "no socket"
                    elif st.link_sent.get(src):
                        status, note = "done", f"via {iface.name} to {', '.join(dests)}"
                    else:
                        status = "skipped"
                        note = f"via {iface.name}: {st.link_errors.get(src, 'nothing sent')}"
                    cov.append(Coverage(str(addr.network), f"{proto.name}-multicast", status, tried=1,
                                        answered=n, note=note))
            if self.unicast:
                groups: dict[str, list[ipaddress.IPv4Address]] = {}
                for ip in self.unicast:
                    net = next((str(t) for t in targets if ip in t), "targets")
                    groups.setdefault(net, []).append(ip)
                for net, ips in groups.items():
                    tried = sum(1 for ip in ips if str(ip) in st.unicast_tried or str(ip) in st.answered)
                    got = sum(1 for ip in ips if str(ip) in st.answered)
                    status = "partial" if proto.name in partial else ("done" if pi in socks else "skipped")
                    left = len(ips) - tried
                    note = f"{left} addresses not probed before the deadline" if left else ""
                    cov.append(Coverage(net, f"{proto.name}-unicast", status, tried=tried, answered=got,
                                        note=note))
            if st.ignored:
                cov.append(Coverage("outside targets", f"{proto.name}-multicast", "done", answered=st.ignored,
                                    note="replies from addresses outside the targets were ignored"))
        return cov


def size_buffers(sock: socket.socket) -> None:
    """Big socket buffers for a discovery socket, unless it has them already (one a privileged parent opened:
    asking again without CAP_NET_ADMIN would shrink it to the unprivileged maximum)."""
    # A burst of hundreds of replies (WS-Discovery ProbeMatches are 1-3 KB) must fit while the loop
    # drains: ask for a big buffer, forcing past rmem_max when privileged (needs CAP_NET_ADMIN).
    # Unicast probes to absent hosts on an attached subnet sit in the kernel's neighbour queue, charged
    # to this socket's send buffer, until ARP gives up (about 3 s): a default-sized buffer fills after
    # a few dozen and stalls the sweep. Room for a /24's worth of probes keeps it flowing.
    for force, plain, size in ((getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF, RCVBUF),
                               (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF, SNDBUF)):
        if sock.getsockopt(socket.SOL_SOCKET, plain) >= size:  # Linux reports twice what was set
            continue
        for opt in (force, plain):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
                break
            except OSError:
                continue


def preopen(count: int) -> None:
    """Open ``count`` discovery sockets now, while their buffer sizes can be forced (camscan.privsep)."""
    from camscan.transport import preopen_udp

    preopen_udp(count, size_buffers)


def _is_multicast(dst: str) -> bool:
    try:
        return ipaddress.IPv4Address(dst).is_multicast
    except ValueError:
        return False
