"""WS-Discovery (2005/04, SOAP-over-UDP) as ONVIF devices speak it: a pure codec, then the source.

Codec: :func:`build_probe` and :func:`parse_message` (never raises on device bytes; returns a reason).
Source: :class:`WsDiscovery` sends multicast Probes on every selected interface and directed unicast Probes
to target addresses from one UDP socket, and collects ProbeMatches until the protocol's reply window has
passed since the last probe (not a fixed sleep).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from camscan import xmlsafe
from camscan.models import Coverage, Evidence, Host, Interface, ScanOptions, Skip

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
# WS-Discovery 2005/04 and SOAP-over-UDP (2004 draft, appendix I): a device waits a random time up to
# APP_MAX_DELAY before its ProbeMatch. Collection ends this long after the last probe copy, plus a margin.
APP_MAX_DELAY = 0.5
WINDOW_MARGIN = 0.25
# SOAP-over-UDP: a repeat uses the same MessageID after UDP_MIN_DELAY..UDP_MAX_DELAY (50-250 ms); one
# repeat recovers a lost multicast datagram without doubling the traffic of the whole sweep.
REPEAT_GAP = 0.12
# The hard stop when a flood keeps the socket busy: never collect longer than this past the last probe.
MAX_EXTENSION = 3.0
MAX_DATAGRAM = 65535
RCVBUF = 8 << 20

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_D = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_D2009 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_A2005 = "http://www.w3.org/2005/08/addressing"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
_ENVELOPES = {NS_SOAP12: "soap1.2", NS_SOAP11: "soap1.1"}
_DISCOVERY = {NS_D, NS_D2009}
_ADDRESSING = {NS_A, NS_A2005}

# Type matching is AND (WS-Discovery 2005/04 section 5.1), so each type is its own probe; some firmware
# answers only typed probes and some only untyped ones, hence all three.
PROBE_TYPES: tuple[str | None, ...] = ("dn:NetworkVideoTransmitter", "tds:Device", None)


def build_probe(message_id: str, types: str | None) -> bytes:
    """A Probe datagram. Every prefix is declared on the Envelope (some firmware insists on it)."""
    types_el = f"<d:Types>{types}</d:Types>" if types else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_A}" xmlns:d="{NS_D}" '
        f'xmlns:dn="{NS_DN}" xmlns:tds="{NS_TDS}">'
        "<s:Header>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        '<a:To s:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        f'<a:Action s:mustUnderstand="true">{NS_D}/Probe</a:Action>'
        "</s:Header>"
        f"<s:Body><d:Probe>{types_el}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


@dataclass(frozen=True)
class WsdMatch:
    """One ProbeMatch or Hello (or Bye) as the device sent it, fields split and stripped."""

    kind: str  # "ProbeMatch" | "Hello" | "Bye"
    endpoint: str | None
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: str | None
    message_id: str | None
    relates_to: str | None
    soap: str
    namespaces: tuple[str, ...]


def normalise_endpoint(text: str | None) -> str | None:
    """``uuid:X`` and ``urn:uuid:X`` (any case) -> ``urn:uuid:x``; other URIs stripped as they are."""
    if not text:
        return None
    t = "".join(text.split())
    low = t.lower()
    if low.startswith("urn:uuid:"):
        return "urn:uuid:" + low[9:]
    if low.startswith("uuid:"):
        return "urn:uuid:" + low[5:]
    return t or None


def parse_message(data: bytes) -> tuple[list[WsdMatch], str | None]:
    """Parse a WS-Discovery datagram. Returns (matches, None) or ([], reason); never raises."""
    if len(data) > MAX_DATAGRAM:
        return [], f"datagram of {len(data)} bytes is too large"
    try:
        root = xmlsafe.parse(data, limit=MAX_DATAGRAM)
    except xmlsafe.UnsafeXML as exc:
        return [], str(exc)
    env_ns = root.tag.split("}", 1)[0][1:] if isinstance(root.tag, str) and root.tag.startswith("{") else ""
    if xmlsafe.local(root.tag) != "Envelope" or env_ns not in _ENVELOPES:
        return [], "not a SOAP envelope"
    soap = _ENVELOPES[env_ns]
    namespaces = tuple(sorted({u for u in root.nsmap.values() if u}))
    header = body = None
    for child in root:
        name = xmlsafe.local(child.tag)
        if name == "Header":
            header = child
        elif name == "Body":
            body = child
    if body is None:
        return [], "SOAP envelope without a Body"
    message_id = relates_to = None
    if header is not None:
        for h in header:
            name = xmlsafe.local(h.tag)
            if name == "MessageID":
                message_id = xmlsafe.text(h) or None
            elif name == "RelatesTo":
                relates_to = xmlsafe.text(h) or None
    matches: list[WsdMatch] = []
    for el in body:
        name = xmlsafe.local(el.tag)
        if _ns(el) not in _DISCOVERY:
            continue
        if name == "ProbeMatches":
            items = [m for m in el if xmlsafe.local(m.tag) == "ProbeMatch"]
            kind = "ProbeMatch"
        elif name in ("Hello", "Bye"):
            items, kind = [el], name
        else:
            continue
        for item in items:
            matches.append(_match(item, kind, message_id, relates_to, soap, namespaces))
    if not matches:
        return [], "no ProbeMatch, Hello or Bye in the message"
    return matches, None


def _ns(el) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _match(item, kind, message_id, relates_to, soap, namespaces) -> WsdMatch:
    endpoint = None
    fields: dict[str, str] = {}
    for child in item:
        name = xmlsafe.local(child.tag)
        if name == "EndpointReference":
            for sub in child:
                if xmlsafe.local(sub.tag) == "Address":
                    endpoint = normalise_endpoint(xmlsafe.text(sub))
        elif name in ("Types", "Scopes", "XAddrs", "MetadataVersion"):
            fields[name] = child.text or ""
    return WsdMatch(
        kind=kind,
        endpoint=endpoint,
        types=tuple(fields.get("Types", "").split()),
        scopes=tuple(dict.fromkeys(fields.get("Scopes", "").split())),
        xaddrs=tuple(dict.fromkeys(fields.get("XAddrs", "").split())),
        metadata_version=fields.get("MetadataVersion", "").strip() or None,
        message_id=message_id,
        relates_to=relates_to,
        soap=soap,
        namespaces=namespaces,
    )


def split_scope(scope: str) -> tuple[str, str] | None:
    """``onvif://www.onvif.org/name/HIKVISION%20X`` -> (``name``, ``HIKVISION X``); None if not ONVIF-style."""
    prefix = "onvif://www.onvif.org/"
    if not scope.lower().startswith(prefix):
        return None
    rest = scope[len(prefix):]
    if "/" not in rest:
        return rest.lower(), ""
    cat, value = rest.split("/", 1)
    return cat.lower(), unquote(value, errors="replace").strip()


def match_evidence(m: WsdMatch) -> tuple[Evidence, ...]:
    """Everything in a match, as evidence (raw scopes kept for matching, decoded ones for reading)."""
    ev: list[Evidence] = [Evidence("wsd", "message", m.kind), Evidence("wsd", "soap", m.soap)]
    if m.endpoint:
        ev.append(Evidence("wsd", "endpoint", m.endpoint))
    if m.types:
        ev.append(Evidence("wsd", "types", " ".join(m.types)))
    for s in m.scopes:
        ev.append(Evidence("wsd", "scope", s))
        split = split_scope(s)
        if split and split[1]:
            ev.append(Evidence("wsd", f"scope.{split[0]}", split[1]))
    for x in m.xaddrs:
        ev.append(Evidence("wsd", "xaddr", x))
    for ns in m.namespaces:
        ev.append(Evidence("wsd", "namespace", ns))
    if m.metadata_version:
        ev.append(Evidence("wsd", "metadata_version", m.metadata_version))
    return tuple(ev)


def device_service_url(xaddrs: Iterable[str], ip: str) -> str | None:
    """The device-service URL to use for a host: an XAddr naming the replying address itself, else the
    first usable XAddr with its host replaced by the replying address. Never another host (a reply may
    name any address; following it would let a device steer the scanner, and its credentials, elsewhere).
    """
    candidates = []
    for x in xaddrs:
        try:
            parts = urlsplit(x)
            host = parts.hostname
            port = parts.port
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not host:
            continue
        candidates.append((parts, host, port))
    for parts, host, _port in sorted(candidates, key=lambda c: c[0].scheme != "http"):
        if host == ip:
            return urlunsplit(parts)
    for parts, _host, port in sorted(candidates, key=lambda c: c[0].scheme != "http"):
        netloc = f"{ip}:{port}" if port else ip
        return urlunsplit((parts.scheme, netloc, parts.path or "/onvif/device_service", "", ""))
    return None


class WsDiscovery:
    """Multicast + directed WS-Discovery from one UDP socket, reporting each new host as it answers."""

    name = "wsd"

    def __init__(self, options: ScanOptions, interfaces: Sequence[Interface],
                 unicast: Iterable[ipaddress.IPv4Address], accept: Callable[[str], bool],
                 on_host: Callable[[Host], None] | None = None) -> None:
        self.options = options
        self.interfaces = list(interfaces)
        self.unicast = list(unicast)
        self.accept = accept
        self.on_host = on_host
        self.hosts: dict[str, Host] = {}
        self.skips: list[Skip] = []
        self.rejected = 0  # datagrams that were not WS-Discovery
        self.ignored = 0  # replies from outside the targets
        self.received = 0

    def run(self, deadline: float) -> tuple[dict[str, Host], list[Coverage], list[Skip]]:
        """Probe and collect until the reply window closes or ``deadline`` (monotonic) passes."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            self._setup(sock)
            return self._loop(sock, deadline)
        finally:
            sock.close()

    def _setup(self, sock: socket.socket) -> None:
        # A burst of hundreds of ProbeMatches (each 1-3 KB) must fit while the loop drains: ask for a big
        # buffer, forcing past rmem_max when privileged (SO_RCVBUFFORCE needs CAP_NET_ADMIN).
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
                break
            except OSError:
                continue
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # the group is link-local in practice
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)

    def _schedule(self) -> list[tuple[float, str | None, str, bytes]]:
        """(time offset, interface address or None for unicast, destination, datagram) in send order."""
        plan: list[tuple[float, str | None, str, bytes]] = []
        for types in PROBE_TYPES:
            msg = build_probe(f"urn:uuid:{uuid.uuid4()}", types)
            for iface in self.interfaces:
                for addr in iface.addresses:
                    src = str(addr.ip)
                    plan.append((0.0, src, WSD_GROUP, msg))
                    plan.append((REPEAT_GAP, src, WSD_GROUP, msg))
        gap = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        t = 0.0
        for ip in self.unicast:
            for types in PROBE_TYPES:
                plan.append((t, None, str(ip), build_probe(f"urn:uuid:{uuid.uuid4()}", types)))
                t += gap
        plan.sort(key=lambda p: p[0])
        return plan

    def _loop(self, sock: socket.socket, deadline: float) -> tuple[dict[str, Host], list[Coverage], list[Skip]]:
        plan = self._schedule()
        start = time.monotonic()
        last_send = start
        sent = 0
        window_end = start + APP_MAX_DELAY + WINDOW_MARGIN + self.options.wsd_wait
        i = 0
        while True:
            now = time.monotonic()
            while i < len(plan) and start + plan[i][0] <= now:
                _, src, dst, msg = plan[i]
                i += 1
                if self._send(sock, src, dst, msg):
                    sent += 1
                    last_send = time.monotonic()
            if i >= len(plan):
                window_end = last_send + APP_MAX_DELAY + WINDOW_MARGIN + self.options.wsd_wait
            end = min(window_end, deadline)
            if i >= len(plan) and now >= end:
                break
            if now >= deadline:
                self.skips.append(Skip(None, "wsd", "scan deadline reached during WS-Discovery"))
                break
            next_send = start + plan[i][0] if i < len(plan) else end
            wait = max(0.0, min(next_send, end) - time.monotonic())
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                self._drain(sock)
        return self.hosts, self._coverage(sent), self.skips

    def _send(self, sock: socket.socket, src: str | None, dst: str, msg: bytes) -> bool:
        try:
            if src is not None:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
            sock.sendto(msg, (dst, WSD_PORT))
            return True
        except BlockingIOError:
            return False  # buffer full: the repeat or the next round covers it
        except OSError as exc:
            if exc.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPERM, errno.ECONNREFUSED):
                log.debug("wsd send to %s failed: %s", dst, exc)
            return False

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, (ip, _port) = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP port unreachable surfacing as ECONNREFUSED on the next recv
            self.received += 1
            self._handle(data, ip)

    def _handle(self, data: bytes, ip: str) -> None:
        matches, reason = parse_message(data)
        if reason:
            self.rejected += 1
            log.debug("wsd reply from %s ignored: %s", ip, reason)
            if ip not in self.hosts and self.accept(ip):
                self.skips.append(Skip(ip, "wsd", f"unparsable WS-Discovery reply: {reason}"))
            return
        if not self.accept(ip):
            self.ignored += 1
            return
        evidence: list[Evidence] = []
        xaddrs: list[str] = []
        endpoint = None
        for m in matches:
            if m.kind == "Bye":
                continue
            evidence.extend(match_evidence(m))
            xaddrs.extend(m.xaddrs)
            endpoint = endpoint or m.endpoint
        if not evidence:
            return
        host = Host(ip=ip, seen_by=("wsd",), evidence=tuple(evidence), xaddrs=tuple(xaddrs), endpoint=endpoint)
        known = self.hosts.get(ip)
        if known is None:
            self.hosts[ip] = host
            # drop the earlier "unparsable" skip if a later datagram from the host was fine
            self.skips = [s for s in self.skips if s.ip != ip]
            if self.on_host:
                self.on_host(host)
        else:
            self.hosts[ip] = known.merged(host)

    def _coverage(self, sent: int) -> list[Coverage]:
        cov = []
        for iface in self.interfaces:
            for addr in iface.addresses:
                answered = sum(1 for ip in self.hosts if ipaddress.ip_address(ip) in addr.network)
                cov.append(Coverage(str(addr.network), "wsd-multicast", "done", tried=1, answered=answered,
                                    note=f"via {iface.name}"))
        if self.unicast:
            cov.append(Coverage("targets", "wsd-unicast", "done", tried=len(self.unicast),
                                answered=sum(1 for ip in self.hosts if ipaddress.ip_address(ip) in
                                             set(self.unicast))))
        if self.ignored:
            cov.append(Coverage("outside targets", "wsd-multicast", "done", answered=self.ignored,
                                note="replies from addresses outside the targets were ignored"))
        return cov
