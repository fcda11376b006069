"""WS-Discovery (2005/04, SOAP-over-UDP) as ONVIF devices speak it: a pure codec, then the source.

Codec: :func:`build_probe` and :func:`parse_message` (never raises on device bytes; returns a reason).
Source: :class:`WsdProtocol` plugs the codec into :class:`camscan.discover.udp.UdpDiscovery`, which sends
multicast Probes on every selected interface and directed unicast Probes to target addresses and collects
ProbeMatches until the reply window has passed since the last probe (not a fixed sleep), concurrently with
the other UDP discovery protocols. :class:`WsDiscovery` runs WS-Discovery alone.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from camscan.codec import xmlsafe
from camscan.codec.datagram import MAX_DATAGRAM, Parsed
from camscan.codec.scopes import split_scope
from camscan.discover.udp import MAX_EXTENSION, REPEAT_GAP, UdpDiscovery
from camscan.models import Coverage, Evidence, Host, Interface, ScanOptions, Skip

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
# WS-Discovery 2005/04 and SOAP-over-UDP (2004 draft, appendix I): a device waits a random time up to
# APP_MAX_DELAY before its ProbeMatch. Collection ends this long after the last probe copy, plus a margin.
APP_MAX_DELAY = 0.5
WINDOW_MARGIN = 0.25
# Real ProbeMatches are 1-3 KB (the largest capture, a Hikvision reply, is 3.2 KB). Ten times that leaves room
# for any honest scope list and bounds what one datagram (up to 64 KB over IPv4) costs to parse and keep.
MAX_MESSAGE = 32 << 10
# Types, Scopes or XAddrs kept per match: a camera lists a dozen; thousands only bloat the report.
MAX_ITEMS = 64
# REPEAT_GAP (SOAP-over-UDP: a repeat keeps its MessageID, 50-250 ms later), MAX_EXTENSION and MAX_DATAGRAM
# live in camscan.discover.udp, shared by every UDP discovery protocol; re-exported here for callers.
__all__ = ["APP_MAX_DELAY", "MAX_DATAGRAM", "MAX_EXTENSION", "MAX_MESSAGE", "REPEAT_GAP", "WINDOW_MARGIN",
           "WSD_GROUP", "WSD_PORT", "PROBE_TYPES", "WsdMatch", "WsdProtocol", "WsDiscovery", "build_probe",
           "device_service_url", "match_evidence", "normalise_endpoint", "parse_message"]

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_D = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_D2009 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_A2005 = "http://www.w3.org/2005/08/addressing"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
_ENVELOPES = {NS_SOAP12: "soap1.2", NS_SOAP11: "soap1.1"}
# The message ids of a datagram (what WsdProtocol.repeat_key leaves out): the MessageID and RelatesTo start tags
# with their values, the AppSequence element. Bounded lengths: a crafted datagram cannot make the pattern scan
# far. It starts at a "<": about 4 microseconds for a 2 KB ProbeMatch (a look-behind at every byte took 40).
_MESSAGE_IDS = re.compile(rb"<(?!/)[\w.:-]{0,64}(?:MessageID|RelatesTo)\b[^>]{0,512}>[^<]{0,256}(?=</)"
                          rb"|<[\w.-]{0,64}:?AppSequence\b[^>]{0,512}>")
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
    if len(data) > MAX_MESSAGE:
        return [], f"datagram of {len(data)} bytes is too large (limit {MAX_MESSAGE} for WS-Discovery)"
    try:
        root = xmlsafe.parse(data, limit=MAX_MESSAGE)
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
        types=tuple(fields.get("Types", "").split()[:MAX_ITEMS]),
        scopes=tuple(dict.fromkeys(fields.get("Scopes", "").split()))[:MAX_ITEMS],
        xaddrs=tuple(dict.fromkeys(fields.get("XAddrs", "").split()))[:MAX_ITEMS],
        metadata_version=fields.get("MetadataVersion", "").strip() or None,
        message_id=message_id,
        relates_to=relates_to,
        soap=soap,
        namespaces=namespaces,
    )


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


def device_service_url(xaddrs: Iterable[str], ip: str, prefer_https: bool = False) -> str | None:
    """The device-service URL to use for a host: an XAddr naming the replying address itself, else the
    first usable XAddr with its host replaced by the replying address. Never another host (a reply may
    name any address; following it would let a device steer the scanner, and its credentials, elsewhere).
    Of an http and an https XAddr, http is taken, unless ``prefer_https`` (the probe may log in: a password
    then crosses the network encrypted, and a Digest answer cannot be read off the wire).
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
    first = "https" if prefer_https else "http"
    candidates.sort(key=lambda c: c[0].scheme != first)
    for parts, host, _port in candidates:
        if host == ip:
            return urlunsplit(parts)
    for parts, _host, port in candidates:
        netloc = f"{ip}:{port}" if port else ip
        return urlunsplit((parts.scheme, netloc, parts.path or "/onvif/device_service", "", ""))
    return None


class WsdProtocol:
    """WS-Discovery as a :class:`~camscan.discover.udp.UdpProtocol`: typed and untyped Probes to
    239.255.255.250:3702, ProbeMatches parsed by :func:`parse_message`."""

    name = "wsd"
    reply_delay = APP_MAX_DELAY

    def __init__(self, options: ScanOptions, port: int = WSD_PORT) -> None:
        self.port = port
        extra = max(0.0, options.wsd_wait)  # the user's explicit extra collection time for slow sites
        self.reply_window = APP_MAX_DELAY + WINDOW_MARGIN + extra
        # WS-Discovery 2005/04 section 5.3: the random APP_MAX_DELAY applies to multicast Probes; a unicast
        # Probe is answered at once, so the window after the last unicast probe is the margin only.
        self.unicast_window = WINDOW_MARGIN + extra

    def destinations(self, address: ipaddress.IPv4Interface) -> list[str]:
        """The WS-Discovery multicast group (the same on every link)."""
        return [WSD_GROUP]

    def probes(self) -> list[bytes]:
        """One Probe per entry of :data:`PROBE_TYPES`, each with a fresh MessageID."""
        return [build_probe(f"urn:uuid:{uuid.uuid4()}", t) for t in PROBE_TYPES]

    @staticmethod
    def repeat_key(data: bytes) -> bytes:
        """The datagram without what differs between a device's answers to several probes and no evidence is
        made of: the MessageID and RelatesTo values and the AppSequence element (see :func:`match_evidence`)."""
        return _MESSAGE_IDS.sub(b"", data)

    def parse(self, data: bytes, ip: str) -> Parsed | str:
        """ProbeMatches (and Hellos) as evidence; a Bye-only message yields no evidence."""
        matches, reason = parse_message(data)
        if reason:
            return reason
        evidence: list[Evidence] = []
        xaddrs: list[str] = []
        endpoint = None
        for m in matches:
            if m.kind == "Bye":
                continue
            evidence.extend(match_evidence(m))
            xaddrs.extend(m.xaddrs)
            endpoint = endpoint or m.endpoint
        return Parsed(evidence=tuple(evidence), xaddrs=tuple(dict.fromkeys(xaddrs)), endpoint=endpoint)


class WsDiscovery:
    """WS-Discovery alone through :class:`~camscan.discover.udp.UdpDiscovery` (kept for existing callers;
    new code runs :class:`WsdProtocol` together with the SADP and DHIP protocols in one UdpDiscovery)."""

    name = "wsd"

    def __init__(self, options: ScanOptions, interfaces: Sequence[Interface],
                 unicast: Iterable[ipaddress.IPv4Address], accept: Callable[[str], bool],
                 on_host: Callable[[Host], None] | None = None) -> None:
        self.engine = UdpDiscovery(options, interfaces, unicast, accept, [WsdProtocol(options)], on_host)

    def run(self, deadline: float) -> tuple[dict[str, Host], list[Coverage], list[Skip]]:
        """Probe and collect until the reply window closes or ``deadline`` (monotonic) passes."""
        return self.engine.run(deadline)
