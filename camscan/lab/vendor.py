"""Vendor protocols of the fake devices: Hikvision SADP, Dahua DHIP discovery, and a minimal RTSP.

Pure codecs over bytes and a :class:`~camscan.lab.device.Device`; the sockets live in
``server.py``. Facts: /work/shared/reference/vendor-protocols.md §1-2, fingerprints.md §1-2,
captures/sadp, captures/dhip, captures/*/rtsp-*.txt. Reply contents come from the profile's
``[sadp]``, ``[dhip]`` and ``[rtsp]`` tables, whose string values may use device templates.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from camscan.lab.device import Device
from camscan.lab.onvif_service import make_nonce
from camscan.lab.soap import XmlRejected, child, parse_xml, text_of

SADP_PORT = 37020
SADP_GROUP = "239.255.255.250"
DHIP_PORT = 37810
DHIP_GROUP = "239.255.255.251"
RTSP_PORT = 554
MAX_SADP_BYTES = 8 * 1024
MAX_DHIP_BODY = 16 * 1024
DHIP_MAGIC = b"DHIP"
# SADP inquiry types a scanner may send; everything else (update, activate, reset) is a write.
SADP_INQUIRY_TYPES = ("inquiry", "inquiry_v32")


def _fill_value(dev: Device, value: Any, extra: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return dev.fill(value, **extra)
    if isinstance(value, dict):
        return {k: _fill_value(dev, v, extra) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_value(dev, v, extra) for v in value]
    return value


# --- SADP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SadpProbe:
    """A parsed SADP request."""

    uuid: str
    types: str

    @property
    def is_inquiry(self) -> bool:
        """True for the read-only discovery inquiry."""
        return self.types in SADP_INQUIRY_TYPES


def parse_sadp(data: bytes) -> SadpProbe | str:
    """Parse an SADP XML request; a string says why it was ignored."""
    try:
        root = parse_xml(data, MAX_SADP_BYTES)
    except XmlRejected as exc:
        return str(exc)
    if root.tag != "Probe":
        return f"not an SADP Probe: {root.tag!r}"
    return SadpProbe(uuid=text_of(child(root, "Uuid")), types=text_of(child(root, "Types")))


def render_sadp_match(dev: Device, probe: SadpProbe) -> bytes:
    """The ProbeMatch reply: the profile's ``[sadp] fields`` in order, tab-indented as captured."""
    table = dev["sadp"]
    extra = {"probe_uuid": probe.uuid, "probe_types": probe.types}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<ProbeMatch>"]
    for name, value in table.get("fields", {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(_fill_value(dev, value, extra))
        lines.append(f"\t<{name}>{escape(text)}</{name}>")
    lines.append("</ProbeMatch>")
    sep = "\r\n" if table.get("crlf") else "\n"
    return (sep.join(lines) + sep).encode()


# --- DHIP ----------------------------------------------------------------------------------------


def dhip_pack(body: bytes, session: int = 0, request_id: int = 0) -> bytes:
    """Prefix ``body`` with the 32-byte DHIP header (little-endian fields, vendor-protocols.md §2)."""
    return struct.pack("<I4sIIIIII", 32, DHIP_MAGIC, session, request_id, len(body), 0, len(body), 0) + body


def parse_dhip(data: bytes) -> dict[str, Any] | str:
    """The JSON body of a DHIP datagram, or a string saying why it was ignored."""
    if len(data) < 32:
        return "shorter than the DHIP header"
    header_len, magic, _sess, _rid, body_len = struct.unpack_from("<I4sIII", data)
    if magic != DHIP_MAGIC or header_len != 32:
        return "no DHIP magic"
    if body_len > MAX_DHIP_BODY or body_len > len(data) - 32:
        return f"body length {body_len} does not fit the datagram"
    body = data[32 : 32 + body_len].rstrip(b"\x00\n ")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"body is not JSON: {exc}"
    if not isinstance(doc, dict):
        return "body is not a JSON object"
    return doc


def render_dhip_reply(dev: Device) -> bytes:
    """A ``client.notifyDevInfo`` reply built from ``[dhip] device_info``."""
    table = dev["dhip"]
    info = _fill_value(dev, table.get("device_info", {}), {})
    doc = {"mac": dev.mac, "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    body = json.dumps(doc, separators=(",", ":")).encode()
    if table.get("trailer", True):
        body += b"\n\x00"  # seen in the wild: tools strip a trailing "\n\0"
    return dhip_pack(body)


# --- RTSP ----------------------------------------------------------------------------------------


@dataclass
class RtspRequest:
    """One RTSP request (header names lower-cased)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def parse_rtsp_head(head: bytes) -> RtspRequest | str:
    """Parse an RTSP/1.0 request head (without body)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        return "undecodable"
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "RTSP/1.0":
        return "bad RTSP request line"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return RtspRequest(parts[0], parts[1], headers)


def _rtsp_digest_ok(dev: Device, req: RtspRequest, realm: str) -> tuple[bool, str]:
    auth = req.headers.get("authorization", "")
    if not auth:
        return False, ""
    scheme, _, rest = auth.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, pw = base64.b64decode(rest.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, ""
        return (user == dev["username"] and pw == dev["password"]), user
    from camscan.lab.onvif_service import parse_digest_header  # noqa: PLC0415 - avoid a cycle at import

    params = parse_digest_header(auth) or {}
    user = params.get("username", "")

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"{user}:{realm}:{dev['password']}")
    ha2 = md5(f"{req.method}:{params.get('uri', '')}")
    expected = md5(f"{ha1}:{params.get('nonce', '')}:{ha2}")
    ok = (
        user == dev["username"]
        and params.get("realm") == realm
        and hmac.compare_digest(expected, params.get("response", ""))
    )
    return ok, user


def rtsp_response(dev: Device, req: RtspRequest) -> tuple[bytes, dict[str, Any]]:
    """Answer OPTIONS (200 + Public), DESCRIBE (401 challenge, or a stub SDP with credentials)."""
    table = dev["rtsp"]
    cseq_name = table.get("cseq_header", "CSeq")
    cseq = req.headers.get("cseq", "0") if not table.get("cseq_zero") else "0"
    realm = dev.fill(table.get("realm", "")) or dev["manufacturer"]
    lines: list[str]
    fields: dict[str, Any] = {
        "op": req.method,
        "path": req.url,
        "credentialed": "authorization" in req.headers,
    }
    server = [f"Server: {dev.fill(table['server'])}"] if table.get("server") else []
    date = [
        f"Date: {dt.datetime.now(dt.UTC).strftime(table.get('date_format', '%a, %d %b %Y %H:%M:%S GMT'))}"
    ]
    if req.method == "OPTIONS":
        public = table.get(
            "public", "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER"
        )
        lines = ["RTSP/1.0 200 OK", *server, f"{cseq_name}: {cseq}", f"Public: {public}", *date]
    elif req.method == "DESCRIBE":
        ok, user = _rtsp_digest_ok(dev, req, realm)
        fields.update(username=user, auth_ok=ok if fields["credentialed"] else None)
        if ok:
            sdp = f"v=0\r\no=- 0 0 IN IP4 {dev.ip}\r\ns=Media Presentation\r\nt=0 0\r\n"
            lines = [
                "RTSP/1.0 200 OK",
                *server,
                f"{cseq_name}: {cseq}",
                "Content-Type: application/sdp",
                f"Content-Base: {req.url}/",
                f"Content-Length: {len(sdp)}",
                *date,
            ]
            return ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode(), fields
        challenges = []
        schemes = table.get("auth", ["digest"])
        for scheme in schemes:
            if scheme == "digest":
                challenges.append(f'WWW-Authenticate: Digest realm="{realm}", nonce="{make_nonce(dev)[:32]}"')
            elif scheme == "basic":
                challenges.append(
                    f'WWW-Authenticate: Basic realm="{dev.fill(table.get("basic_realm", realm))}"'
                )
        lines = ["RTSP/1.0 401 Unauthorized", *server, f"{cseq_name}: {cseq}", *challenges, *date]
    else:
        lines = ["RTSP/1.0 455 Method Not Valid in This State", *server, f"{cseq_name}: {cseq}", *date]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), fields
