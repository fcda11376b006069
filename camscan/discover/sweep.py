"""TCP connect check of the ports cameras and recorders listen on, over target hosts.

A plain connect (no raw packets, no privileges): the handshake either completes (open), is refused
(closed) or times out (filtered or nobody there). Connections are non-blocking and multiplexed on one
selector, at most ``max_inflight`` at a time and at most ``options.rate`` new connects per second, each
with its own ``connect_timeout``; the whole sweep stops at the scan deadline. An open connection is closed
at once without sending a byte. Targets are given up front or handed over while the sweep runs through a
:class:`~camscan.discover.feed.Feed` (the ARP sweep's answers, one at a time).
"""

from __future__ import annotations

import errno
import heapq
import ipaddress
import logging
import resource
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from camscan.discover.feed import Feed
from camscan.models import Coverage, Evidence, ScanOptions, Skip
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)

# Ports that say "camera or recorder" (or serve its web UI), in the order they are tried on each host.
# Sources: /work/shared/reference/fingerprints.md and vendor-protocols.md.
CAMERA_PORTS: tuple[int, ...] = (
    80,     # HTTP web UI and ONVIF on most cameras
    443,    # HTTPS web UI
    554,    # RTSP (RFC 2326) streaming
    8000,   # Hikvision SDK / iVMS control port (also some NVR web UIs)
    8080,   # alternative HTTP web UI / ONVIF
    8899,   # ONVIF on many no-name (Xiongmai-class) cameras
    37777,  # Dahua private SDK ("DVRIP") port, advertised in DHDiscover replies
    34567,  # Xiongmai / XMeye "Sofia" DVR-IP control port
    2020,   # ONVIF on TP-Link Tapo / VIGI
    8443,   # HTTPS web UI of network equipment (Huawei/ZTE gateways, routers, ONTs) and of some recorders
)
# How long one connect may take. A LAN handshake takes milliseconds; a host that has not answered after a
# second is filtered or absent, and waiting longer only slows a sweep of mostly empty addresses.
CONNECT_TIMEOUT = 1.0
# Connects in flight at once. Absent hosts hold theirs for the whole CONNECT_TIMEOUT, so sustaining options.rate
# through an empty routed subnet needs rate x timeout of them (1,000 at the defaults); fewer, and the sweep
# crawls at max_inflight / timeout. This bounds sockets, not packets: the rate limit still paces the SYNs.
MAX_INFLIGHT = 1024
SEND_BURST = 0.02  # token-bucket depth of the connect rate limiter, seconds
MAX_PUT_OFF = 4096  # connects a decide callback may have put off at once; past it, ports are checked at once
# Errors that mean "nothing listens / nothing there" rather than a local problem.
_FEED = object()  # selector key data of the feed
_CLOSED = {errno.ECONNREFUSED, errno.ECONNRESET}
_ABSENT = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EHOSTDOWN}


# decide(ip, port, again) -> True (check), False (leave out) or a monotonic time to ask again (see PortSweep.run)
Decide = Callable[[str, int, bool], "bool | float"]


@dataclass
class _Pending:
    sock: socket.socket
    ip: str
    port: int
    started: float


def inflight_limit(requested: int = MAX_INFLIGHT) -> int:
    """Concurrent connects that fit the process's file-descriptor limit with room to spare; the soft limit is
    raised towards the hard one first when it is lower than that needs (as nmap does)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return min(requested, 64)
    want = 2 * (requested + 32)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, want)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (OSError, ValueError):
            pass
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft // 2 - 32))


class PortSweep:
    """Connect checks of ``ports`` on every target address (see the module docstring)."""

    name = "sweep"

    def __init__(self, options: ScanOptions, ports: Sequence[int] = CAMERA_PORTS,
                 connect_timeout: float | None = None, max_inflight: int = MAX_INFLIGHT, *,
                 stop: threading.Event | None = None, transport: Transport = DIRECT) -> None:
        self.options = options
        self.transport = transport  # opens the connects' sockets
        self.stop = stop  # set by the caller to end the sweep now (the scan failed or was interrupted)
        self.ports = tuple(dict.fromkeys(int(p) for p in ports if 0 < int(p) < 65536))
        self.connect_timeout = min(options.timeout, CONNECT_TIMEOUT) if connect_timeout is None \
            else connect_timeout
        self.max_inflight = inflight_limit(max_inflight)

    def run(self, targets: Iterable[ipaddress.IPv4Address | str], deadline: float, feed: Feed | None = None,
            on_host: Callable[[str, list[int]], None] | None = None, decide: Decide | None = None,
            retry: Callable[[str], bool] | None = None) -> tuple[dict[str, list[int]], list[Coverage], list[Skip]]:
        """{ip: sorted open ports} for the hosts with at least one open port, coverage and skips. With a
        ``feed``, hosts handed over while the sweep runs are checked too, and it ends only once the feed is
        closed. ``on_host(ip, open_ports)`` is called (in this thread) as soon as every port of a host has
        its answer, so the next stage can start on that host while the sweep goes on. ``decide(ip, port,
        again)``, asked just before each connect, may leave a port out (False: it adds nothing for this host)
        or put it off (a monotonic time to ask again, with ``again`` True then, when it must say True or
        False); without it every port is checked. A connect that timed out is tried once more, after the ports
        still queued, when ``retry(ip)`` says the host is known to be there (it answered ARP or discovery): a
        host busy for a moment keeps its ports."""
        hosts: list[str] = []
        skips: list[Skip] = []
        seen: set[str] = set()
        left: dict[str, int] = {}  # ports of a host still without an answer
        later: list[tuple[float, int, str, int]] = []  # put off by decide: a heap of (when, order, ip, port)
        put_off: set[tuple[str, int]] = set()
        retried: set[tuple[str, int]] = set()
        skipped = 0

        def resolved(ip: str) -> None:
            left[ip] -= 1
            if left[ip] == 0 and on_host is not None:
                try:
                    on_host(ip, sorted(opened.get(ip, [])))
                except Exception:  # noqa: BLE001 - the caller's bug must not end the sweep
                    log.exception("port-sweep on_host callback failed for %s", ip)

        def add(items: Iterable[ipaddress.IPv4Address | str]) -> list[str]:
            fresh = []
            for t in items:
                t = str(t)
                if t in seen:
                    continue
                seen.add(t)
                try:
                    fresh.append(str(ipaddress.IPv4Address(t)))
                except ValueError:
                    skips.append(Skip(t, "sweep", "not an IPv4 address"))
            hosts.extend(fresh)
            for ip in fresh:
                left[ip] = len(self.ports)
            return fresh

        queue = deque((ip, port) for ip in add(targets) for port in self.ports)
        total = len(queue)
        opened: dict[str, list[int]] = {}
        inflight: dict[int, _Pending] = {}
        sel = selectors.DefaultSelector()
        gap = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        next_start = time.monotonic()
        done = 0
        local_error: str | None = None
        feed_open = feed is not None
        if feed is not None:
            sel.register(feed, selectors.EVENT_READ, _FEED)
        try:
            while queue or inflight or feed_open or later:
                now = time.monotonic()
                if now >= deadline or (self.stop is not None and self.stop.is_set()):
                    break
                if next_start < now - SEND_BURST:
                    next_start = now - SEND_BURST
                due = []
                while later and later[0][0] <= now:  # due again: ahead of the queue (older hosts first)
                    due.append(heapq.heappop(later)[2:])
                queue.extendleft(reversed(due))
                while queue and len(inflight) < self.max_inflight and next_start <= now:
                    ip, port = queue.popleft()
                    if decide is not None:
                        verdict = decide(ip, port, (ip, port) in put_off)
                        if verdict is False:
                            skipped += 1
                            done += 1
                            resolved(ip)
                            continue
                        if verdict is not True and len(later) < MAX_PUT_OFF:
                            put_off.add((ip, port))
                            heapq.heappush(later, (float(verdict), len(put_off), ip, port))
                            continue
                        # True, or a port to put off when too many already are: checked now
                    next_start += gap
                    result = self._start(ip, port, now)
                    if isinstance(result, _Pending):
                        inflight[result.sock.fileno()] = result
                        sel.register(result.sock, selectors.EVENT_WRITE)
                    else:
                        done += 1
                        if result == "open":
                            opened.setdefault(ip, []).append(port)
                        elif result not in ("closed", "absent"):
                            local_error = result
                        resolved(ip)
                if not (queue or inflight or feed_open or later):
                    break  # the last ports were settled without a connect (left out, or answered at once)
                # the earliest timeout among pending connects, or the next start
                wake = deadline
                if inflight:  # in start order: the first is the oldest
                    wake = min(wake, next(iter(inflight.values())).started + self.connect_timeout)
                if queue and len(inflight) < self.max_inflight:
                    wake = min(wake, next_start)
                if later:
                    wake = min(wake, later[0][0])
                for key, _mask in sel.select(max(0.0, wake - time.monotonic())):
                    if key.data is _FEED:
                        assert feed is not None
                        fresh = add(feed.take())
                        queue.extend((ip, port) for ip in fresh for port in self.ports)
                        total += len(fresh) * len(self.ports)
                        if feed.done:
                            feed_open = False
                            sel.unregister(feed)
                        continue
                    pending = inflight.pop(key.fd)
                    sel.unregister(pending.sock)
                    err = pending.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    pending.sock.close()
                    done += 1
                    if err == 0:
                        opened.setdefault(pending.ip, []).append(pending.port)
                    resolved(pending.ip)
                now = time.monotonic()
                expired = []
                for fd, pending in inflight.items():
                    if now - pending.started < self.connect_timeout:
                        break  # in start order: the rest are younger
                    expired.append(fd)
                for fd in expired:
                    pending = inflight.pop(fd)
                    sel.unregister(pending.sock)
                    pending.sock.close()
                    pair = (pending.ip, pending.port)
                    if retry is not None and pair not in retried and retry(pending.ip):
                        retried.add(pair)
                        queue.append(pair)
                        total += 1
                        continue
                    done += 1
                    resolved(pending.ip)
        finally:
            for pending in inflight.values():
                pending.sock.close()
            sel.close()
        complete = not queue and not inflight and not feed_open and not later
        if not complete:
            skips.append(Skip(None, "sweep", f"scan deadline reached during the port sweep "
                                             f"({total - done} of {total} connects unfinished)"))
        if local_error:
            skips.append(Skip(None, "sweep", f"some connects failed locally: {local_error}"))
        for ports in opened.values():
            ports.sort()
        cov = self._coverage(hosts, opened, complete, total, done, skipped)
        return opened, cov, skips

    def _start(self, ip: str, port: int, now: float) -> _Pending | str:
        """A connect in progress, or its immediate outcome: ``open``, ``closed``, ``absent`` or an error."""
        try:
            sock = self.transport.tcp_socket()
        except OSError as exc:  # out of descriptors or buffers: a local problem, reported once
            return f"cannot open a socket: {exc}"
        try:
            err = sock.connect_ex((ip, port))
        except OSError as exc:  # e.g. a malformed address
            sock.close()
            return f"connect to {ip}:{port} failed: {exc}"
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            return _Pending(sock, ip, port, now)
        sock.close()
        if err == 0:
            return "open"
        if err in _CLOSED:
            return "closed"
        if err in _ABSENT:
            return "absent"
        return f"connect to {ip}:{port} failed: {errno.errorcode.get(err, err)}"

    def _coverage(self, hosts: list[str], opened: dict[str, list[int]], complete: bool, total: int,
                  done: int, skipped: int = 0) -> list[Coverage]:
        groups: dict[str, list[str]] = {}
        for ip in hosts:
            addr = ipaddress.ip_address(ip)
            net = next((str(t) for t in self.options.targets if addr in t), "targets")
            groups.setdefault(net, []).append(ip)
        note = f"ports {','.join(map(str, self.ports))}"
        if skipped:
            note += (f"; {skipped} of {total} left out on hosts whose WS-Discovery reply had given their ONVIF "
                     "address (only web and ONVIF ports other than the advertised one)")
        if not complete:
            note += f"; deadline reached after {done} of {total} connects"
        return [Coverage(net, "sweep", "done" if complete else "partial", tried=len(ips),
                         answered=sum(1 for ip in ips if ip in opened), note=note)
                for net, ips in groups.items()]


def sweep(options: ScanOptions, targets: Iterable[ipaddress.IPv4Address | str], deadline: float,
          ports: Sequence[int] = CAMERA_PORTS) -> dict[str, list[int]]:
    """{ip: open ports}: :class:`PortSweep` without the coverage and skips."""
    return PortSweep(options, ports).run(targets, deadline)[0]


def port_evidence(ports: Iterable[int]) -> tuple[Evidence, ...]:
    """``("tcp", "open", "<port>")`` per open port, for rules on vendor service ports (37777, 34567, 8000)."""
    return tuple(Evidence("tcp", "open", str(p)) for p in sorted(set(ports)))
