"""The certificate a device's TLS port presents: subject and issuer Names as evidence.

Cameras ship self-signed or vendor-CA certificates whose Names give the maker away (``O=HIKVISION``, a
"Dahua Device NVR CA" issuer). The certificate is fetched without verification (there is nothing to verify
it against) and read by a small DER parser here, so no X.509 library is needed and a malformed certificate
costs a reason string, never an exception. Nothing but the handshake is sent.

Codec: :func:`parse_certificate`, :func:`format_name` (pure, never raise). Transport:
:func:`fetch_certificate` (one :meth:`camscan.transport.Transport.connect`, a wall-clock cap on connect +
handshake).
Source: :class:`TlsProbe`.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

from camscan.codec.text import strip_controls
from camscan.models import Evidence, Skip
from camscan.transport import DIRECT, Budget, Transport, TransportError

MAX_CERT = 64 << 10  # one certificate; device certificates are 1-2 KB
MAX_RDNS = 64
MAX_VALUE = 256

# Attribute types (X.520 / RFC 4519 / PKCS#9) with their RFC 4514 short names.
_ATTRIBUTES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.42": "GN",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
}
# DER string types and their encodings (X.690 section 8.23; T61String read as Latin-1, as most tools do).
_STRINGS = {
    0x0C: "utf-8",       # UTF8String
    0x12: "ascii",       # NumericString
    0x13: "ascii",       # PrintableString
    0x14: "latin-1",     # T61String / TeletexString
    0x16: "ascii",       # IA5String
    0x1A: "ascii",       # VisibleString
    0x1C: "utf-32-be",   # UniversalString
    0x1E: "utf-16-be",   # BMPString
}
_RFC4514_SPECIAL = set(',+"\\<>;=')


class _Bad(ValueError):
    """Internal: the DER is malformed (turned into a reason string at the public boundary)."""


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``; _Bad if it does not fit."""
    if pos + 2 > end:
        raise _Bad("truncated element")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise _Bad("high tag numbers are not used in certificates")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise _Bad("indefinite length is not DER")
    else:
        n = first & 0x7F
        if n > 4 or pos + n > end:
            raise _Bad("bad length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > end:
        raise _Bad("element runs past its container")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int, limit: int = 4096):
    count = 0
    pos = start
    while pos < end:
        count += 1
        if count > limit:
            raise _Bad("too many elements")
        tag, cstart, cend = _tlv(buf, pos, end)
        yield tag, cstart, cend
        pos = cend


def _oid(raw: bytes) -> str:
    if not raw or len(raw) > 64:
        raise _Bad("bad OID")
    parts: list[int] = []
    value = 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    if raw[-1] & 0x80:
        raise _Bad("truncated OID")
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(p) for p in head + parts[1:])


def _escape(value: str) -> str:
    """RFC 4514 section 2.4 escaping of an attribute value."""
    out = "".join("\\" + c if c in _RFC4514_SPECIAL else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def _name(buf: bytes, start: int, end: int) -> str:
    """A DER Name (SEQUENCE OF RDN) as an RFC 4514 string: last RDN first, multi-valued RDNs joined by +."""
    rdns: list[str] = []
    for tag, s, e in _children(buf, start, end, MAX_RDNS):
        if tag != 0x31:
            raise _Bad("RDN is not a SET")
        parts = []
        for atag, a_s, a_e in _children(buf, s, e, 16):
            if atag != 0x30:
                raise _Bad("attribute is not a SEQUENCE")
            items = list(_children(buf, a_s, a_e, 2))
            if len(items) != 2 or items[0][0] != 0x06:
                raise _Bad("attribute without type and value")
            oid = _oid(buf[items[0][1]:items[0][2]])
            vtag, v_s, v_e = items[1]
            raw = buf[v_s:v_e]
            encoding = _STRINGS.get(vtag)
            if encoding is None:
                text = "#" + raw.hex()[:MAX_VALUE]  # not a string type: hex, in the spirit of RFC 4514 2.4
            else:
                text = _escape(strip_controls(raw.decode(encoding, errors="replace"), MAX_VALUE, collapse=False))
            parts.append(f"{_ATTRIBUTES.get(oid, oid)}={text}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def format_name(der: bytes) -> str | None:
    """An encoded Name (the SEQUENCE itself) as ``CN=..,O=..,C=..``; None if it is not a valid Name."""
    try:
        tag, s, e = _tlv(der, 0, len(der))
        if tag != 0x30:
            return None
        return _name(der, s, e)
    except _Bad:
        return None


@dataclass(frozen=True)
class CertInfo:
    """What camscan reads from a certificate."""

    subject: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


def _time(buf: bytes, tag: int, s: int, e: int) -> str:
    """UTCTime / GeneralizedTime as ``YYYY-MM-DDTHH:MM:SSZ`` (as written when it is not in DER form)."""
    text = buf[s:e].decode("ascii", errors="replace")
    if tag == 0x17 and len(text) == 13 and text[:12].isdigit():  # YYMMDDHHMMSSZ, RFC 5280 4.1.2.5.1
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    if len(text) == 15 and text[:14].isdigit() and text.endswith("Z"):
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}Z"
    return strip_controls(text, 40)


def parse_certificate(der: bytes) -> CertInfo | str:
    """Subject, issuer, validity and SHA-256 of a DER certificate, or why it cannot be read. Never raises."""
    if not der:
        return "empty certificate"
    if len(der) > MAX_CERT:
        return f"certificate of {len(der)} bytes exceeds the {MAX_CERT}-byte limit"
    try:
        tag, s, e = _tlv(der, 0, len(der))
        if tag != 0x30:
            raise _Bad("certificate is not a SEQUENCE")
        tag, ts, te = _tlv(der, s, e)  # TBSCertificate
        if tag != 0x30:
            raise _Bad("tbsCertificate is not a SEQUENCE")
        fields = list(_children(der, ts, te, 16))
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject (RFC 5280 section 4.1)
        if len(fields) < 5 or fields[0][0] != 0x02 or fields[2][0] != 0x30 or fields[4][0] != 0x30:
            raise _Bad("tbsCertificate lacks serial, issuer or subject")
        issuer = _name(der, fields[2][1], fields[2][2])
        subject = _name(der, fields[4][1], fields[4][2])
        not_before = not_after = ""
        if fields[3][0] == 0x30:
            times = list(_children(der, fields[3][1], fields[3][2], 2))
            if len(times) == 2:
                not_before = _time(der, *times[0])
                not_after = _time(der, *times[1])
    except _Bad as exc:
        return f"malformed certificate: {exc}"
    return CertInfo(subject=subject, issuer=issuer, not_before=not_before, not_after=not_after,
                    sha256=hashlib.sha256(der).hexdigest())


def cert_evidence(info: CertInfo) -> tuple[Evidence, ...]:
    """Evidence (source ``tls``): subject, issuer, not_before, not_after, sha256, self_signed."""
    ev = [Evidence("tls", "subject", info.subject), Evidence("tls", "issuer", info.issuer)]
    if info.not_before:
        ev.append(Evidence("tls", "not_before", info.not_before))
    if info.not_after:
        ev.append(Evidence("tls", "not_after", info.not_after))
    ev.append(Evidence("tls", "sha256", info.sha256))
    ev.append(Evidence("tls", "self_signed", "true" if info.self_signed else "false"))
    return tuple(ev)


def fetch_certificate(ip: str, port: int, timeout: float, transport: Transport = DIRECT,
                      deadline: float | None = None) -> bytes | str:
    """The DER certificate ``ip:port`` presents, or why there is none. ``timeout`` caps connect and
    handshake together (wall clock), so a device dribbling handshake bytes cannot hold the probe."""
    budget = Budget(timeout, deadline, timeout)  # and never past the scan's deadline
    try:
        stream = transport.connect(ip, port, budget, tls=True)
    except TransportError as exc:
        if exc.kind in ("wall", "deadline", "timeout"):
            return f"TLS handshake on port {port} timed out"
        if exc.kind == "tls":
            cause = exc.__cause__
            return f"TLS handshake on port {port} failed: {strip_controls(cause or exc.reason, 160)}"
        return f"TLS connect to port {port} failed: {exc.reason}"
    try:
        der = stream.peer_certificate()
    except (ssl.SSLError, OSError) as exc:
        return f"TLS handshake on port {port} failed: {strip_controls(exc, 160)}"
    finally:
        stream.close()
    if not der:
        return f"port {port} presented no certificate"
    if len(der) > MAX_CERT:
        return f"certificate of {len(der)} bytes exceeds the {MAX_CERT}-byte limit"
    return der


class TlsProbe:
    """Fetch and read one TLS port's certificate (over ``transport``)."""

    def __init__(self, timeout: float, transport: Transport = DIRECT, deadline: float | None = None) -> None:
        self.timeout = timeout
        self.transport = transport
        self.deadline = deadline

    def probe(self, ip: str, port: int) -> tuple[tuple[Evidence, ...], tuple[Skip, ...]]:
        """(evidence, skips) for ``ip:port``; every failure is a Skip with stage ``tls``."""
        der = fetch_certificate(ip, port, self.timeout, self.transport, self.deadline)
        if isinstance(der, str):
            return (), (Skip(ip, "tls", der),)
        info = parse_certificate(der)
        if isinstance(info, str):
            return (), (Skip(ip, "tls", f"port {port}: {info}"),)
        return cert_evidence(info), ()
