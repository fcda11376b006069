"""Hikvision SADP (XML over UDP 37020): a pure codec, then the protocol object for UdpDiscovery.

The inquiry is the read-only query every SADP client sends: ``<Probe><Uuid>..</Uuid><Types>inquiry</Types>``
to 239.255.255.250:37020 (the SSDP group, another port) or to a device's address; devices answer with a
``<ProbeMatch>`` to the probe's source address and port. The other message types of the protocol change a
device (``update`` of the network settings, activation, password reset): :func:`build_inquiry` cannot
build them, and nothing in camscan sends them.

Reference: /work/shared/reference/vendor-protocols.md section 1 (UniversalScanner ``Hikvision.cs``,
hikvision-tooling ``internal/sadp``, hiktools).
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from camscan.codec import xmlsafe
from camscan.codec.datagram import MAX_DATAGRAM, Parsed
from camscan.codec.text import strip_controls
from camscan.models import Evidence
from camscan.net import normalise_mac

SADP_GROUP = "239.255.255.250"
SADP_PORT = 37020
# Read-only query types. "inquiry_v32" is what newer SADP clients send besides "inquiry"; every other type
# of the protocol writes to the device and is refused here.
INQUIRY_TYPES = ("inquiry", "inquiry_v32")
# SADP has no published timing; devices are observed to answer within tens of milliseconds. Use the
# WS-Discovery bound (APP_MAX_DELAY 0.5 s) so one window serves both protocols, plus the same margin.
REPLY_DELAY = 0.5
WINDOW_MARGIN = 0.25
MAX_FIELDS = 200  # a ProbeMatch has ~40 children; more is not a SADP reply


@dataclass(frozen=True)
class SadpReply:
    """A ProbeMatch, fields as the device sent them (text stripped and capped)."""

    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def activated(self) -> bool | None:
        """True only for the literal ``true`` (firmware writes ``flase``); None when the field is absent."""
        raw = self.fields.get("Activated")
        if raw is None:
            return None
        return raw.strip().lower() == "true"

    @property
    def mac(self) -> str | None:
        return normalise_mac(self.get("MAC"))


def build_inquiry(probe_uuid: str, types: str = "inquiry") -> bytes:
    """The SADP inquiry datagram. Only the read-only inquiry types can be built (ValueError otherwise)."""
    if types not in INQUIRY_TYPES:
        raise ValueError(f"SADP type {types!r} is not a read-only inquiry")
    uid = str(uuid.UUID(probe_uuid)).upper()  # normalises and refuses anything that is not a UUID
    return (f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{uid}</Uuid>'
            f"<Types>{types}</Types></Probe>").encode()


def parse_sadp(data: bytes) -> SadpReply | str:
    """Parse a SADP datagram into a :class:`SadpReply`, or return why it is not one. Never raises."""
    if len(data) > MAX_DATAGRAM:
        return f"datagram of {len(data)} bytes is too large"
    # Real firmware pads with NULs and whitespace, and CRLF/tab-indents the XML; lxml refuses anything before
    # the XML declaration, so trim both ends (and a UTF-8 BOM) first.
    body = data.strip(b"\x00 \t\r\n")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:].lstrip()
    if not body:
        return "empty datagram"
    try:
        root = xmlsafe.parse(body, limit=MAX_DATAGRAM)
    except xmlsafe.UnsafeXML as exc:
        return str(exc)
    name = xmlsafe.local(root.tag)
    if name == "Probe":
        return "a SADP inquiry, not a reply"
    if name != "ProbeMatch":
        return f"root element {strip_controls(name, 40)!r} is not ProbeMatch"
    fields: dict[str, str] = {}
    if len(root) > MAX_FIELDS:
        return "too many fields for a SADP reply"
    for child in root:
        key = xmlsafe.local(child.tag)
        if not key or len(child):  # comments, nested structures
            continue
        fields.setdefault(strip_controls(key, 64), strip_controls(child.text))
    if not any(fields.get(k) for k in ("DeviceSN", "MAC", "DeviceDescription", "IPv4Address")):
        return "ProbeMatch without device fields"
    return SadpReply(fields=fields)


# (SADP field, evidence field) copied verbatim when present and non-empty.
_PLAIN = (
    ("DeviceDescription", "model"),
    ("DeviceSN", "serial"),
    ("SoftwareVersion", "firmware"),
    ("DSPVersion", "dsp_version"),
    ("DeviceType", "device_type"),
    ("CommandPort", "command_port"),
    ("HttpPort", "http_port"),
    ("HttpsPort", "https_port"),
    ("RtspPort", "rtsp_port"),
    ("SDKOverTLSPort", "sdk_tls_port"),
    ("OEMInfo", "oem_info"),
    ("DetailOEMCode", "oem_code"),
    ("DiskNumber", "disks"),
)


def sadp_evidence(reply: SadpReply) -> tuple[Evidence, ...]:
    """Evidence (source ``sadp``) from a reply. ``activated`` is ``true``/``false`` (any value other than
    ``true`` is false, as firmware writes ``flase``); the raw value is kept as ``activated_raw`` when it
    differs. An absent Activated field (older firmware) yields no ``activated`` evidence: unknown, not false.
    """
    ev = [Evidence("sadp", "reply", "ProbeMatch")]
    for src, dst in _PLAIN:
        value = reply.get(src)
        if value:
            ev.append(Evidence("sadp", dst, value))
    mac = reply.mac
    if mac:
        ev.append(Evidence("sadp", "mac", mac))
    ipv4 = reply.get("IPv4Address")
    try:
        ev.append(Evidence("sadp", "ipv4", str(ipaddress.IPv4Address(ipv4))))
    except ValueError:
        pass  # missing or not an address: nothing to report
    activated = reply.activated
    if activated is not None:
        ev.append(Evidence("sadp", "activated", "true" if activated else "false"))
        raw = reply.get("Activated")
        if raw != ev[-1].value:
            ev.append(Evidence("sadp", "activated_raw", raw))
    analog, digital = reply.get("AnalogChannelNum"), reply.get("DigitalChannelNum")
    if analog or digital:
        ev.append(Evidence("sadp", "channels", f"analog={analog or '0'},digital={digital or '0'}"))
    return tuple(ev)


class SadpProtocol:
    """SADP as a :class:`~camscan.discover.udp.UdpProtocol` (multicast group plus directed unicast)."""

    name = "sadp"
    reply_delay = REPLY_DELAY
    reply_window = REPLY_DELAY + WINDOW_MARGIN
    unicast_window = WINDOW_MARGIN

    def __init__(self, port: int = SADP_PORT) -> None:
        self.port = port

    def destinations(self, address: ipaddress.IPv4Interface) -> list[str]:
        """The SADP multicast group on every link."""
        return [SADP_GROUP]

    def probes(self) -> list[bytes]:
        """One ``inquiry`` with a fresh upper-case Uuid (SADP clients pair replies by it)."""
        return [build_inquiry(str(uuid.uuid4()))]

    def parse(self, data: bytes, ip: str) -> Parsed | str:
        """A ProbeMatch as evidence; keyed by the datagram's source, the device's own IPv4 is evidence."""
        reply = parse_sadp(data)
        if isinstance(reply, str):
            return reply
        return Parsed(evidence=sadp_evidence(reply), mac=reply.mac)
