"""Dahua DHIP discovery (``DHDiscover.search`` on UDP 37810): a pure codec, then the protocol object.

A DHIP datagram is a 32-byte little-endian header followed by a JSON body::

    offset  0  u32  header length (32)        offset 16  u32  body length
    offset  4  4s   magic "DHIP"              offset 20  u32  0
    offset  8  u32  session id (0)            offset 24  u32  body length (repeated)
    offset 12  u32  request id                offset 28  u32  0

Devices ignore bare JSON; with the header they answer ``client.notifyDevInfo`` (model, serial, firmware,
vendor, MAC, ports) by unicast to the probe's source port. The search goes to 239.255.255.251:37810 and to
each interface's directed broadcast. Only the search is ever sent: the same framing carries
``global.login`` over TCP, which is a login attempt and has no place in a scanner.

Reference: /work/shared/reference/vendor-protocols.md section 2 (bashis' console ``DHDiscover``,
UniversalScanner ``Dahua2.cs``).
"""

from __future__ import annotations

import ipaddress
import json
import struct
from dataclasses import dataclass
from typing import Any

from camscan.codec.datagram import Parsed
from camscan.codec.text import strip_controls
from camscan.models import Evidence
from camscan.net import normalise_mac

DHIP_GROUP = "239.255.255.251"
DHIP_PORT = 37810
MAGIC = b"DHIP"
HEADER = struct.Struct("<I4sIIIIII")
HEADER_LEN = HEADER.size  # 32
MAX_BODY = 64 << 10  # a notifyDevInfo is ~1 KB; anything far larger is not a discovery reply
MAX_DEPTH = 16  # JSON nesting; deviceInfo is 3 levels deep
SEARCH = {"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}
# DHIP has no published timing; use the WS-Discovery bound so one window serves all three protocols.
REPLY_DELAY = 0.5
WINDOW_MARGIN = 0.25


@dataclass(frozen=True)
class DhipHeader:
    header_len: int
    session: int
    request_id: int
    body_len: int


def pack_dhip(body: bytes | dict, request_id: int = 0, session: int = 0) -> bytes:
    """Header + body. A dict body is encoded as compact JSON."""
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":")).encode()
    return HEADER.pack(HEADER_LEN, MAGIC, session, request_id, len(body), 0, len(body), 0) + body


def build_search() -> bytes:
    """The ``DHDiscover.search`` datagram. Request id 0, as every working client sends it."""
    return pack_dhip(SEARCH)


def unpack_dhip(data: bytes) -> tuple[DhipHeader, dict[str, Any]] | str:
    """Header and JSON object of a DHIP datagram, or why it is not one. Never raises.

    Tolerates what real firmware appends (a trailing ``\\n\\0``, NUL padding) and a body length that counts
    those bytes; refuses bodies over :data:`MAX_BODY`, nesting over :data:`MAX_DEPTH` and non-objects.
    """
    if len(data) < HEADER_LEN:
        return f"datagram of {len(data)} bytes is shorter than a DHIP header"
    header_len, magic, session, request_id, body_len, _r1, body_len2, _r2 = HEADER.unpack_from(data)
    if magic != MAGIC:
        return "no DHIP magic"
    if header_len != HEADER_LEN:
        return f"unexpected DHIP header length {header_len}"
    if body_len > MAX_BODY:
        return f"DHIP body of {body_len} bytes exceeds the {MAX_BODY}-byte limit"
    available = len(data) - HEADER_LEN
    # Some firmware counts a trailing "\n\0" it does not send; a shortfall beyond that is a truncation.
    if body_len > available + 2:
        return f"DHIP body truncated ({available} of {body_len} bytes)"
    if body_len2 not in (body_len, 0):
        return "DHIP body lengths disagree"
    text_bytes = data[HEADER_LEN:HEADER_LEN + body_len].strip(b"\x00 \t\r\n")
    if not text_bytes:
        return "empty DHIP body"
    text = text_bytes.decode("utf-8", errors="replace")
    depth = _json_depth(text)
    if depth > MAX_DEPTH:
        return f"JSON nested deeper than {MAX_DEPTH} levels"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"malformed JSON: {strip_controls(exc, 120)}"
    if not isinstance(obj, dict):
        return "DHIP body is not a JSON object"
    return DhipHeader(header_len, session, request_id, body_len), obj


def _json_depth(text: str) -> int:
    """Maximum bracket nesting outside strings (checked before json.loads, which recurses)."""
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return 0  # cannot be deeper than the limit: skip the character walk
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


@dataclass(frozen=True)
class DhipReply:
    """A ``client.notifyDevInfo``: the method, the top-level MAC and the deviceInfo object."""

    method: str
    mac: str | None
    info: dict[str, Any]


def parse_dhip(data: bytes) -> DhipReply | str:
    """A DHIP datagram as a :class:`DhipReply`, or why it is not a discovery reply. Never raises."""
    unpacked = unpack_dhip(data)
    if isinstance(unpacked, str):
        return unpacked
    _header, obj = unpacked
    method = obj.get("method")
    if method == "DHDiscover.search":
        return "a DHDiscover search, not a reply"
    params = obj.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        return "DHIP reply without params.deviceInfo"
    mac = normalise_mac(_scalar(obj.get("mac"))) or normalise_mac(_scalar(info.get("MAC")))
    return DhipReply(method=strip_controls(method, 64) if isinstance(method, str) else "", mac=mac, info=info)


def _scalar(value: Any) -> str:
    """A JSON scalar as evidence text ('' for objects, arrays and null)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return strip_controls(value)


# (deviceInfo key, evidence field) copied when present and non-empty.
_PLAIN = (
    ("DeviceType", "model"),
    ("SerialNo", "serial"),
    ("Version", "firmware"),
    ("DeviceClass", "device_class"),
    ("HttpPort", "http_port"),
    ("HttpsPort", "https_port"),
    ("Port", "port"),
    ("RemoteVideoInputChannels", "remote_channels"),
    ("VideoInputChannels", "video_channels"),
    ("MachineName", "machine_name"),
)


def dhip_evidence(reply: DhipReply) -> tuple[Evidence, ...]:
    """Evidence (source ``dhip``) from a reply. ``vendor`` is Vendor, else Manufacturer; a Manufacturer
    that differs from Vendor is kept as ``manufacturer`` too (OEM units fill them differently)."""
    info = reply.info
    ev = [Evidence("dhip", "reply", reply.method or "deviceInfo")]
    for src, dst in _PLAIN:
        value = _scalar(info.get(src))
        if value:
            ev.append(Evidence("dhip", dst, value))
    vendor, maker = _scalar(info.get("Vendor")), _scalar(info.get("Manufacturer"))
    if vendor or maker:
        ev.append(Evidence("dhip", "vendor", vendor or maker))
    if vendor and maker and maker != vendor:
        ev.append(Evidence("dhip", "manufacturer", maker))
    if reply.mac:
        ev.append(Evidence("dhip", "mac", reply.mac))
    v4 = info.get("IPv4Address")
    if isinstance(v4, dict):
        try:
            ev.append(Evidence("dhip", "ipv4", str(ipaddress.IPv4Address(_scalar(v4.get("IPAddress"))))))
        except ValueError:
            pass  # missing or not an address
    return tuple(ev)


class DhipProtocol:
    """DHIP as a :class:`~camscan.discover.udp.UdpProtocol`: multicast group, directed broadcast, unicast."""

    name = "dhip"
    reply_delay = REPLY_DELAY
    reply_window = REPLY_DELAY + WINDOW_MARGIN
    unicast_window = WINDOW_MARGIN

    def __init__(self, port: int = DHIP_PORT) -> None:
        self.port = port

    def destinations(self, address: ipaddress.IPv4Interface) -> list[str]:
        """The DHIP group, and the subnet's directed broadcast (none for /31 and /32)."""
        dests = [DHIP_GROUP]
        if address.network.prefixlen <= 30:
            dests.append(str(address.network.broadcast_address))
        return dests

    def probes(self) -> list[bytes]:
        """The search datagram (DHIP has no message id to refresh: request id 0 is what devices expect)."""
        return [build_search()]

    def parse(self, data: bytes, ip: str) -> Parsed | str:
        """A notifyDevInfo as evidence; keyed by the datagram's source, the device's own IPv4 is evidence."""
        reply = parse_dhip(data)
        if isinstance(reply, str):
            return reply
        return Parsed(evidence=dhip_evidence(reply), mac=reply.mac)
