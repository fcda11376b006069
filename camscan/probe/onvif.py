"""ONVIF device service through zeep: identity, scopes, MAC, hostname, services.

Pure helpers first (clock offset, WS-Security digest, fault classification), then :class:`OnvifProbe`,
which asks one device for everything it gives and returns evidence plus skips; it never raises for a
device's behaviour. The WSDL is our own minimal subset under ``camscan/data/onvif/``, parsed once per scan.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

import requests
from lxml import etree

from camscan.codec import xmlsafe
from camscan.codec.auth import digest_authorization, digest_params, digest_refusal
from camscan.codec.scopes import split_scope
from camscan.codec.text import strip_controls
from camscan.models import Credentials, Evidence, ProbeResult, Skip
from camscan.net import normalise_mac
from camscan.probe.httpclient import Connection, Headers, HttpFailure, Response
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)

WSDL = Path(__file__).resolve().parent.parent / "data" / "onvif" / "devicemgmt.wsdl"
BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
NS_ERR = "http://www.onvif.org/ver10/error"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PW_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
             "#PasswordDigest")
NONCE_B64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
# Devices accept a UsernameToken whose Created lies within a window of their own clock (WS-Security practice:
# a few minutes; MS WSE used 300 s). Below this offset we do not call the clock skewed.
SKEW_TOLERANCE = 5.0


# ---------------------------------------------------------------------------------------------- pure helpers

def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security UsernameToken PasswordDigest: Base64(SHA-1(nonce + created + password))."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def created_stamp(offset: float, now: datetime | None = None) -> str:
    """UTC xs:dateTime with a Z suffix, shifted by the device's clock offset (device - local, seconds)."""
    now = now or datetime.now(UTC)
    return (now + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def device_utc(sdt) -> datetime | None:
    """The UTC datetime in a GetSystemDateAndTime reply, or None when the device left it out or it is bogus."""
    try:
        utc = sdt.UTCDateTime
        d, t = utc.Date, utc.Time
        return datetime(int(d.Year), int(d.Month), int(d.Day), int(t.Hour), int(t.Minute), int(t.Second),
                        tzinfo=UTC)
    except (AttributeError, TypeError, ValueError, OverflowError):  # a year of 20 digits overflows datetime
        return None


def http_date(headers) -> datetime | None:
    try:
        value = headers.get("Date")
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def add_security_header(envelope, username: str, digest: str, nonce_b64: str, created: str):
    """Append a WS-Security UsernameToken (PasswordDigest) to a SOAP 1.2 envelope's Header (made if missing)."""
    header = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Header")
    if header is None:
        header = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Header")
        envelope.insert(0, header)
    sec = etree.SubElement(header, f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE, "wsu": NS_WSU})
    sec.set("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand", "true")
    tok = etree.SubElement(sec, f"{{{NS_WSSE}}}UsernameToken")
    etree.SubElement(tok, f"{{{NS_WSSE}}}Username").text = username
    etree.SubElement(tok, f"{{{NS_WSSE}}}Password", Type=PW_DIGEST).text = digest
    etree.SubElement(tok, f"{{{NS_WSSE}}}Nonce", EncodingType=NONCE_B64).text = nonce_b64
    etree.SubElement(tok, f"{{{NS_WSU}}}Created").text = created
    return envelope


class UsernameDigest:
    """zeep wsse plugin: a fresh UsernameToken (digest, never PasswordText) per request, Created shifted by
    the device's clock offset so a camera hours off still accepts valid credentials."""

    def __init__(self, credentials: Credentials, offset: float) -> None:
        self._credentials = credentials
        self.offset = offset

    def apply(self, envelope, headers):
        nonce = os.urandom(16)
        created = created_stamp(self.offset)
        add_security_header(envelope, self._credentials.username,
                            password_digest(nonce, created, self._credentials.password),
                            base64.b64encode(nonce).decode(), created)
        return envelope, headers

    def verify(self, envelope):
        return envelope

    def __repr__(self) -> str:
        return f"UsernameDigest(username={self._credentials.username!r})"


class DeviceError(Exception):
    """A call failed in a way that ends probing this device (transport-level trouble)."""


class HttpStatus(Exception):
    """A non-SOAP HTTP answer (e.g. 401 with an HTML page)."""

    def __init__(self, status: int, headers) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers


def is_not_authorized(exc: BaseException) -> bool:
    """True for the ONVIF 'Sender not Authorized' fault (ter:NotAuthorized) and HTTP 401/403."""
    from zeep.exceptions import Fault

    if isinstance(exc, HttpStatus):
        return exc.status in (401, 403)
    if isinstance(exc, Fault):
        for sub in exc.subcodes or ():
            if getattr(sub, "localname", str(sub)).endswith("NotAuthorized"):
                return True
        msg = (exc.message or "").lower()
        return "not authorized" in msg or "not authorised" in msg or "unauthorized" in msg
    return False


# --------------------------------------------------------------------------------------------- transport

class _Reply:
    """What zeep reads of an HTTP answer (``status_code``, ``headers``, ``content``, ``encoding``)."""

    __slots__ = ("status_code", "headers", "content", "encoding")

    def __init__(self, resp: Response) -> None:
        self.status_code = resp.status
        self.headers = resp.headers
        self.content = resp.body
        self.encoding = None


def _transport_class():
    from zeep.transports import Transport

    class SafeTransport(Transport):
        """zeep transport that loads only local files, caps reply size and wall time, never follows redirects.

        Calls go over one keep-alive :class:`~camscan.probe.httpclient.Connection` per device address, whose
        reads are bounded by the call's wall clock (a device trickling one byte a second cannot hold the
        probe) and by the scan's deadline. HTTP Digest, when the device wants it, is answered here: the
        first challenge is kept and later calls answer it up front (RFC 7616 ``nc`` counting), so each call
        is one round trip.
        """

        def __init__(self, timeout: float, max_bytes: int, session=None, wall: float | None = None) -> None:
            super().__init__(timeout=timeout, operation_timeout=timeout, session=session)
            self.max_bytes = max_bytes
            self.wall = wall if wall is not None else 2 * timeout
            self.deadline: float | None = None  # the scan's (monotonic): no call outlives it
            self.last_headers = None
            self.digest: Credentials | None = None  # answer HTTP Digest challenges with these
            self.link: Transport = DIRECT  # opens the device connection (the scan's transport)
            self._conn: Connection | None = None
            self._challenge: dict[str, str] | None = None
            self._nc = 0
            self.timed_out = False  # a call ended waiting for the device (not a refusal, not a bad reply)

        def load(self, url):
            if "://" in url and not url.startswith("file://"):
                raise DeviceError(f"refusing to fetch {url}: camscan loads schemas from the package only")
            return super().load(url)

        def close(self) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        def _connection(self, address: str) -> tuple[Connection, str]:
            parts = urlsplit(address)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DeviceError(f"not an HTTP address: {strip_controls(address, 80)!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            c = self._conn
            if c is None or (c.ip, c.port, c.tls) != (parts.hostname, port, parts.scheme == "https"):
                self.close()
                c = self._conn = Connection(parts.hostname, port, tls=parts.scheme == "https",
                                            timeout=self.operation_timeout, wall=self.wall,
                                            deadline=self.deadline, transport=self.link)
            return c, path

        def prime(self, challenge: dict[str, str]) -> None:
            """Answer this Digest challenge (from a 401 to an anonymous call) on the next call, up front."""
            self._challenge, self._nc = challenge, 0

        def _authorization(self, path: str) -> str | None:
            if self.digest is None or self._challenge is None:
                return None
            self._nc += 1
            return digest_authorization(self._challenge, "POST", path, self.digest.username,
                                        self.digest.password, nc=self._nc)

        def post(self, address, message, headers):
            if self.deadline is not None and self.deadline - time.monotonic() <= 0:
                raise DeviceError("scan deadline reached before this call")
            conn, path = self._connection(address)
            body = message if isinstance(message, bytes) else str(message).encode("utf-8")
            if (self.digest is not None or b"UsernameToken" in body) and self.link.credentials_for(
                    conn.ip, conn.port, challenged=True) is None:
                # where credentials are attached, the transport's policy has the last word (address, port)
                raise DeviceError(f"credentials withheld from {conn.ip}:{conn.port}: "
                                  f"{self.link.credentials_withheld(conn.ip, conn.port)}")
            sent = dict(headers)
            auth = self._authorization(path)
            if auth:
                sent["Authorization"] = auth
            resp = self._send(conn, path, body, sent)
            if resp.status == 401 and self.digest is not None:
                challenge = digest_params(resp.headers.all("WWW-Authenticate"))
                # Answer a challenge when the request carried no answer yet, or when the device says the
                # nonce we used went stale (RFC 7616 section 3.3). A 401 to an answer without stale=true means
                # the password is wrong, whatever the new nonce: no more attempts (lockout).
                if challenge is not None and (not auth or challenge.get("stale", "").lower() == "true"):
                    self._challenge, self._nc = challenge, 0
                    retry = self._authorization(path)
                    if retry:
                        sent["Authorization"] = retry
                        resp = self._send(conn, path, body, sent)
            self.last_headers = resp.headers
            if 300 <= resp.status < 400:
                location = strip_controls(resp.headers.get("Location", "?"), 200)
                raise DeviceError(f"HTTP {resp.status} redirect to {location!r} (not followed)")
            ctype = resp.headers.get("Content-Type", "")
            # 401 is "not authorized" whatever the body: some firmware sends its own XML (not a SOAP fault),
            # which zeep would turn into an unknown fault and the probe would go on sending credentials.
            if resp.status == 401 or (resp.status != 200 and "xml" not in ctype.lower()):
                raise HttpStatus(resp.status, resp.headers)
            if b"<!DOCTYPE" in resp.body or b"<!ENTITY" in resp.body:
                raise DeviceError("reply carries a DTD (refused: entities are never expanded)")
            return _Reply(resp)

        def _send(self, conn: Connection, path: str, body: bytes, headers: dict[str, str]) -> Response:
            # Never sent twice when it carries credentials (a resend after a hang-up could be a second
            # failed login): an HTTP Digest answer or a WS-Security token.
            resend = "Authorization" not in headers and b"UsernameToken" not in body
            try:
                resp = conn.request("POST", path, body, headers, max_bytes=self.max_bytes, resend=resend)
            except HttpFailure as exc:
                self.timed_out = exc.kind in ("timeout", "connect_timeout", "wall")
                raise DeviceError(self._why(exc)) from None
            except ValueError as exc:  # a header we would have to send with a line break in it
                raise DeviceError(f"cannot send the request: {exc}") from None
            if resp.truncated:
                raise DeviceError(f"reply larger than {self.max_bytes} bytes (stopped reading)")
            return resp

        def _why(self, exc: HttpFailure) -> str:
            if exc.kind == "wall":
                return f"no complete reply within {self.wall:g} s (too slow)"
            if exc.kind == "deadline":
                return "scan deadline reached while waiting for the reply"
            if exc.kind in ("timeout", "connect_timeout"):
                return f"timed out after {self.operation_timeout:g} s"
            if exc.kind in ("refused", "reset", "closed"):
                return exc.reason
            return f"HTTP error: {exc.reason}"

    return SafeTransport


def _challenge_values(exc: BaseException) -> list[str]:
    if not isinstance(exc, HttpStatus):
        return []
    if isinstance(exc.headers, Headers):
        return exc.headers.all("WWW-Authenticate")
    return [exc.headers.get("WWW-Authenticate", "")]


def _digest_challenge(exc: BaseException) -> bool:
    return any("digest" in v.lower() for v in _challenge_values(exc))


def asks_for_credentials(exc: BaseException) -> bool:
    """Whether a refusal asks for credentials: an HTTP 401 or an ONVIF NotAuthorized fault (a 403 forbids; it
    does not ask, and credentials are not sent to it)."""
    if isinstance(exc, HttpStatus):
        return exc.status == 401
    return is_not_authorized(exc)


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Caused by ", "] "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip("()'\" ")[:120]


# ------------------------------------------------------------------------------------ operations, cheaply

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
# Placeholders in a signed request template (replaced per request; never sent as such).
_SLOTS = {name: f"camscan-wsse-{name}-5d0f2c".encode() for name in ("username", "digest", "nonce", "created")}


class _Reading:
    """A reply element read through the schema zeep parsed: ``node.Name`` is the child zeep's type defines by
    that name, matched by its full qualified name (a vendor element of the same local name in another namespace
    is never taken). Complex children come back as ``_Reading``, simple ones as their text, repeated ones as a
    list; a name the schema does not define raises AttributeError, like zeep's objects.

    ``layouts`` is the cache of each schema element's children, keyed by the element's id: it belongs to one
    :class:`_Operation`, which holds the response element, and each entry holds its child elements, so no key's
    element is freed (and its id given to another object) while the cache lives. A cache shared by every
    operation of the process, as this once was, outlived a scan's schema: a later scan's element could get a
    freed one's id and be read with its layout, and calls came back empty at random (replays differed)."""

    __slots__ = ("_el", "_kids", "_layouts")

    def __init__(self, el, zelement, layouts: dict[int, dict[str, tuple[str, object, bool, bool]]]) -> None:
        self._el = el
        self._layouts = layouts
        self._kids = self._children(zelement, layouts)

    @staticmethod
    def _children(zelement, layouts: dict[int, dict[str, tuple[str, object, bool, bool]]]
                  ) -> dict[str, tuple[str, object, bool, bool]]:
        key = id(zelement)
        kids = layouts.get(key)
        if kids is None:
            kids = {}
            for name, child in getattr(zelement.type, "elements", ()):
                qname = getattr(child, "qname", None)
                if qname is None:  # xsd:any: what a vendor adds, never read
                    continue
                many = child.max_occurs == "unbounded" or (child.max_occurs or 1) > 1
                kids[name] = (qname.text, child, many, hasattr(child.type, "elements"))
            layouts[key] = kids
        return kids

    def __getattr__(self, name: str):
        try:
            qname, child, many, complex_ = self._kids[name]
        except KeyError:
            raise AttributeError(name) from None
        found = self._el.findall(qname)
        values = [_Reading(el, child, self._layouts) if complex_ else el.text for el in found]
        return values if many else (values[0] if values else None)


class _Operation:
    """One device-service operation with fixed arguments: the request zeep builds for it (envelope and HTTP
    headers, built once and reused), a signed template of it (the WS-Security header of
    :func:`add_security_header`, whose four values change per request), and what the reply is read with."""

    def __init__(self, client, binding, name: str, kwargs: dict) -> None:
        self.name = name
        self.binding = binding
        self.zop = binding.get(name)
        self.response = self.zop.output.body  # the response element zeep's schema defines
        self.layouts: dict[int, dict[str, tuple[str, object, bool, bool]]] = {}  # see _Reading
        envelope, headers = binding._create(name, (), kwargs, client=client, options={"address": "http://x/"})
        self.headers = dict(headers)
        self.body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        add_security_header(envelope, *(_SLOTS[k].decode() for k in ("username", "digest", "nonce", "created")))
        self.signed_template = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def signed(self, credentials: Credentials, offset: float) -> bytes:
        """The request with a fresh UsernameToken (nonce, Created shifted by the device's clock offset)."""
        if any(ord(c) < 0x20 for c in credentials.username):
            raise ValueError("the username has control characters (not XML compatible)")
        nonce = os.urandom(16)
        created = created_stamp(offset)
        values = {"username": xml_escape(credentials.username).encode(),
                  "digest": password_digest(nonce, created, credentials.password).encode(),
                  "nonce": base64.b64encode(nonce), "created": created.encode()}
        body = self.signed_template
        for key, slot in _SLOTS.items():
            body = body.replace(slot, values[key])
        return body

    def read(self, reply) -> _Reading | None:
        """The reply's response element, or the SOAP fault raised as zeep's Fault (zeep parses it)."""
        from zeep.exceptions import Fault, TransportError, XMLParseError

        if reply.status_code in (201, 202) and not reply.content:
            return None
        if reply.status_code != 200 and not reply.content:
            raise TransportError(f"Server returned HTTP status {reply.status_code} (no content available)",
                                 status_code=reply.status_code)
        try:
            doc = xmlsafe.parse(reply.content, limit=max(len(reply.content), 1))
        except xmlsafe.UnsafeXML as exc:
            if "DTD" in str(exc):
                raise DeviceError(f"{self.name}: reply carries a DTD or entities (refused)") from None
            raise DeviceError(f"malformed XML in the reply to {self.name}: {_short(exc)}") from None
        ns = doc.tag[1:].split("}", 1)[0] if doc.tag.startswith("{") else ""
        if xmlsafe.local(doc.tag) != "Envelope" or ns not in (SOAP12, SOAP11):
            raise XMLParseError(f"the reply to {self.name} is no SOAP envelope")
        body = doc.find(f"{{{ns}}}Body")
        fault = body.find(f"{{{ns}}}Fault") if body is not None else None
        if reply.status_code != 200 or fault is not None:
            if ns == SOAP12:
                self.binding.process_error(doc, self.zop)  # raises zeep's Fault
            raise Fault(message=xmlsafe.text(fault.find("faultstring")) if fault is not None else "Unknown fault",
                        code=xmlsafe.text(fault.find("faultcode")) if fault is not None else None)
        found = body.find(self.response.qname.text) if body is not None else None
        return _Reading(found, self.response, self.layouts) if found is not None else None


_preloaded: OnvifClientFactory | None = None


def _from_bytes(base, files: Mapping[str, bytes]):
    """A transport class that loads a WSDL subset's files from ``files`` (by file name), and nothing else."""
    texts = dict(files)

    class FromBytes(base):  # type: ignore[misc, valid-type]
        def load(self, url):
            data = texts.get(Path(str(url).removeprefix("file://")).name)
            if data is None:
                raise DeviceError(f"refusing to load {url}: not part of camscan's WSDL subset")
            return data

    return FromBytes


def preload() -> None:
    """Parse the WSDL now (and build one client, which imports what zeep imports lazily), for a scan that drops
    privileges first: the unprivileged process may not be able to read the package's files (a 0700 home)."""
    global _preloaded
    if _preloaded is None:
        _preloaded = OnvifClientFactory()
        _preloaded.client(1.0, 1024).create_service(BINDING, "http://192.0.2.1/onvif/device_service")
        for name, kwargs in OnvifProbe.OPERATIONS:
            _preloaded.operation(name, **kwargs)


class OnvifClientFactory:
    """Parses a WSDL once and hands out per-device zeep clients and operations that share it: by default the
    device service's (``devicemgmt.wsdl``); another service's subset (the recorders' media WSDL) with its own
    ``wsdl`` and ``binding``, loaded from ``files`` (name -> bytes read before privileges dropped) when given."""

    def __init__(self, wsdl: Path = WSDL, binding: str = BINDING, files: Mapping[str, bytes] | None = None) -> None:
        if _preloaded is not None and wsdl == WSDL and files is None:  # parsed before the scan dropped privileges
            self.__dict__.update(_preloaded.__dict__)
            return
        from zeep import Settings
        from zeep.wsdl import Document

        self._lock = threading.Lock()
        self._binding = binding
        self._Transport = _transport_class()
        # forbid_dtd/forbid_entities: device replies are hostile. strict=True: the schema subset itself is
        # tolerant (every field optional, trailing wildcards), while lxml's recover mode under strict=False
        # would quietly salvage broken XML and match vendor elements by local name alone.
        self.settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, xml_huge_tree=False)
        # zeep's Transport wants a requests Session; ours never uses it (calls go through post(), schemas are
        # local files), so every client shares this one instead of building its own.
        self._session = requests.Session()
        self._session.trust_env = False
        loader = self._Transport if files is None else _from_bytes(self._Transport, files)
        boot = loader(timeout=5, max_bytes=1 << 20, session=self._session)
        self.document = Document(str(wsdl), boot, settings=self.settings)
        self._template_client = None
        self._operations: dict[tuple, _Operation] = {}

    def client(self, timeout: float, max_bytes: int):
        from zeep import Client

        transport = self._Transport(timeout=timeout, max_bytes=max_bytes, session=self._session)
        return Client(self.document, transport=transport, settings=self.settings)

    def transport(self, timeout: float, max_bytes: int):
        """The HTTP side of one device's calls (a keep-alive connection, Digest, credential checks)."""
        return self._Transport(timeout=timeout, max_bytes=max_bytes, session=self._session)

    def operation(self, name: str, **kwargs) -> _Operation:
        """The operation ``name`` with these arguments, its request built by zeep on first use."""
        key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        op = self._operations.get(key)
        if op is None:
            with self._lock:
                op = self._operations.get(key)
                if op is None:
                    if self._template_client is None:
                        self._template_client = self.client(5.0, 1 << 20)
                    op = _Operation(self._template_client, self.document.bindings[self._binding], name, kwargs)
                    self._operations[key] = op
        return op


# ----------------------------------------------------------------------------------------------- the probe

class OnvifProbe:
    """Ask one device's ONVIF device service for its identity.

    Credentials come from the transport's credential seam (:meth:`camscan.transport.Transport.credentials_for`
    for the device-service address and port), never from anywhere else; they are tried once per device: a
    rejection stops their use on that device, since failures count towards lockout.
    """

    READ_SYSTEM = ("GetDeviceInformation", "GetScopes", "GetNetworkInterfaces")
    # Every call the probe may make (built ahead by preload): (operation, arguments).
    OPERATIONS = (("GetSystemDateAndTime", {}), ("GetDeviceInformation", {}), ("GetScopes", {}),
                  ("GetNetworkInterfaces", {}), ("GetHostname", {}), ("GetServices", {"IncludeCapability": False}),
                  ("GetCapabilities", {"Category": ["All"]}))

    def __init__(self, factory: OnvifClientFactory, timeout: float, max_bytes: int,
                 deadline: float | None = None, transport: Transport = DIRECT) -> None:
        self.factory = factory
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = deadline  # the scan's deadline (time.monotonic()): no call starts or runs past it
        self.transport = transport

    def probe(self, ip: str, url: str) -> ProbeResult:
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = 80  # the session refuses the address itself
        return _Session(self, ip, url, port).run()


class _Session:
    """The state of probing one device (clock offset, auth mode) for the length of one probe."""

    def __init__(self, probe: OnvifProbe, ip: str, url: str, port: int) -> None:
        from zeep.exceptions import Error as ZeepError

        self._ZeepError = ZeepError
        self.ip = ip
        self.url = url
        self.port = port
        self.link = probe.transport
        # None until the device asks (a NotAuthorized fault or a 401) and the transport's policy allows them
        # for this address and port; from then on, for the rest of this device's probe.
        self.creds: Credentials | None = None
        self.withheld: str | None = None  # why credentials were not sent although the device asked
        self.factory = probe.factory
        # The device's HTTP side; requests come from templates zeep built once per operation, replies are read
        # with the safe parser on the element names zeep's schema defines (see _Operation, _Reading).
        self.http = probe.factory.transport(probe.timeout, probe.max_bytes)
        self.http.deadline = probe.deadline
        self.http.link = probe.transport
        self.result = ProbeResult()
        self.offset: float | None = None
        self.auth = "anonymous"  # -> "wsse" | "digest" | "rejected" | "withheld"
        self.needs_auth: list[str] = []
        self.faults: dict[str, str] = {}  # op -> the SOAP fault (or other non-auth error) it got

    # each call: returns the reply, or None after recording why not; DeviceError ends the device
    def call(self, op: str, authenticated: bool, **kwargs):
        operation = self.factory.operation(op, **kwargs)
        self.http.digest = None
        body = operation.body
        if authenticated and self.auth == "digest":
            self.http.digest = self.creds
        elif authenticated:
            body = operation.signed(self.creds, self.offset or 0.0)
        return operation.read(self.http.post(self.url, body, operation.headers))

    def ask(self, op: str, **kwargs):
        """Call ``op`` anonymously, or with credentials once the device asked for them; None when it cannot be
        had. Credentials are never sent before a challenge: a device that answers anonymously never sees them."""
        use_creds = self.creds is not None and self.auth in ("wsse", "digest")
        try:
            return self.call(op, use_creds, **kwargs)
        except DeviceError:
            raise
        except (HttpStatus, self._ZeepError) as exc:
            self._raise_if_broken(op, exc)
            if not is_not_authorized(exc):
                self._note_fault(op, exc)
                return None
            if use_creds and self.auth == "wsse" and _digest_challenge(exc):
                # The device ignored the WS-Security header and asked for HTTP Digest: that was no login
                # attempt, so switching scheme once is not a retry of rejected credentials.
                return self._digest(op, exc, **kwargs)
            if use_creds:
                self._rejected(op)
                return None
            if self.auth in ("rejected", "withheld") or not asks_for_credentials(exc):
                self.needs_auth.append(op)
                return None
            # The device asked: credentials, if the transport's policy allows them at this address and port
            if self.creds is None:
                self.creds = self.link.credentials_for(self.ip, self.port, challenged=True)
                if self.creds is None:
                    self.needs_auth.append(op)
                    return None
            if _digest_challenge(exc):
                return self._digest(op, exc, **kwargs)
            self.auth = "wsse"
            return self._second_try(op, **kwargs)

    def _digest(self, op: str, exc: BaseException, **kwargs):
        """Answer the HTTP Digest challenge in ``exc``, unless it is one a careful client refuses (no qop)."""
        challenge = digest_params(_challenge_values(exc))
        refusal = digest_refusal(challenge) if challenge is not None else "no usable Digest challenge"
        if refusal is not None:
            self.auth = "withheld"
            self.withheld = f"credentials withheld: {refusal}"
            self.needs_auth.append(op)
            return None
        self.auth = "digest"
        self.http.prime(challenge)  # answered up front: no second anonymous round trip
        return self._second_try(op, **kwargs)

    def _second_try(self, op: str, **kwargs):
        try:
            return self.call(op, True, **kwargs)
        except DeviceError:
            raise
        except (HttpStatus, self._ZeepError) as exc:
            self._raise_if_broken(op, exc)
            if is_not_authorized(exc):
                self._rejected(op)
            else:
                self._note_fault(op, exc)
            return None

    def _raise_if_broken(self, op: str, exc: BaseException) -> None:
        """Unparsable or refused XML ends the device: the next call would only fail the same way."""
        from zeep.exceptions import (
            DTDForbidden,
            EntitiesForbidden,
            TransportError,
            XMLParseError,
            XMLSyntaxError,
        )

        if isinstance(exc, (DTDForbidden, EntitiesForbidden)):
            raise DeviceError(f"{op}: reply carries a DTD or entities (refused)")
        if isinstance(exc, (XMLSyntaxError, XMLParseError)) or (
                isinstance(exc, TransportError) and "invalid XML" in str(exc)):
            detail = str(exc).split("\n", 1)[0]
            raise DeviceError(f"malformed XML in the reply to {op}: {_short(Exception(detail))}")

    def _rejected(self, op: str) -> None:
        self.auth = "rejected"
        if self.offset is None:
            reason = ("not authorized: bad credentials, or clock skew (the device clock could not be read "
                      "to correct for it)")
        elif abs(self.offset) > SKEW_TOLERANCE:
            reason = (f"bad credentials: the device rejected the username/password even with its clock "
                      f"offset ({self.offset:+.0f} s) applied")
        else:
            reason = "bad credentials: the device rejected the username/password"
        self.result.skips.append(Skip(self.ip, f"onvif.{op}", reason))

    def _note_fault(self, op: str, exc: BaseException) -> None:
        msg = strip_controls(getattr(exc, "message", None) or str(exc), 200)  # device text: no control characters
        log.debug("%s %s: %s", self.ip, op, msg)
        self.faults[op] = _short(Exception(msg))
        self.result.evidence.append(Evidence(f"onvif.{op}", "error", self.faults[op]))

    def ev(self, source: str, fieldname: str, value) -> None:
        if value is None:
            return
        value = str(value).strip()
        if value:
            self.result.evidence.append(Evidence(source, fieldname, value))

    def run(self) -> ProbeResult:
        try:
            return self._run()
        finally:
            self.http.close()  # the device's kept-alive connection

    def _run(self) -> ProbeResult:
        try:
            self._clock()
            self._identity()
        except DeviceError as exc:
            self.result.skips.append(Skip(self.ip, "onvif", str(exc)))
            # Nothing heard from the device but silence, and no credentials went out: a device that was only
            # slow this once (a loaded network, a busy scanner) may be asked again (camscan.scheduler).
            self.result.again = self.http.timed_out and self.creds is None and not self.result.evidence
        except (self._ZeepError, etree.LxmlError, xmlsafe.UnsafeXML, ValueError, TypeError,
                AttributeError) as exc:
            self.result.skips.append(Skip(self.ip, "onvif", f"unusable reply: {_short(exc)}"))
        if "GetDeviceInformation" in self.faults and not any(
                e.source == "onvif.GetDeviceInformation" and e.field != "error" for e in self.result.evidence):
            # Optional operations may fault on a healthy device; the identity call faulting means the
            # device's ONVIF identity could not be read, which the report must say.
            self.result.skips.append(Skip(self.ip, "onvif.GetDeviceInformation",
                                          "SOAP fault instead of the device's identity: "
                                          f"{self.faults['GetDeviceInformation']}"))
        if self.needs_auth:
            why = (self.withheld or self.link.credentials_withheld(self.ip, self.port)
                   or "the device rejected the credentials")
            self.result.skips.append(Skip(self.ip, "onvif.auth",
                                          f"{', '.join(self.needs_auth)} need authentication: {why}"))
        return self.result

    def _clock(self) -> None:
        before = datetime.now(UTC)
        reply = self.ask("GetSystemDateAndTime")
        after = datetime.now(UTC)
        sdt = getattr(reply, "SystemDateAndTime", None)
        dev = device_utc(sdt) if sdt is not None else None
        if dev is None:
            dev = http_date(self.http.last_headers or {})
            source = "http.date"
        else:
            source = "onvif"
        if dev is not None:
            local = before + (after - before) / 2
            self.offset = (dev - local).total_seconds()
            self.ev("onvif.GetSystemDateAndTime", "clock_offset_s", f"{self.offset:.0f}")
            if abs(self.offset) > SKEW_TOLERANCE:
                self.ev("onvif.GetSystemDateAndTime", "clock_skew",
                        f"device clock is {self.offset:+.0f} s off (read from {source}); corrected for")

    def _identity(self) -> None:
        s = "onvif.GetDeviceInformation"
        info = self.ask("GetDeviceInformation")
        if info is not None:
            self.ev(s, "manufacturer", getattr(info, "Manufacturer", None))
            self.ev(s, "model", getattr(info, "Model", None))
            self.ev(s, "firmware", getattr(info, "FirmwareVersion", None))
            self.ev(s, "serial", getattr(info, "SerialNumber", None))
            self.ev(s, "hardware_id", getattr(info, "HardwareId", None))
        if self.auth == "rejected" and self.creds is not None:
            return  # stop here: more credentialed calls would only add failed attempts
        scopes = getattr(self.ask("GetScopes"), "Scopes", None)
        for item in scopes or ():
            raw = str(getattr(item, "ScopeItem", "") or "").strip()
            if raw:
                self.ev("onvif.GetScopes", "scope", raw)
                split = split_scope(raw)
                if split and split[1]:
                    self.ev("onvif.GetScopes", f"scope.{split[0]}", split[1])
        nics = getattr(self.ask("GetNetworkInterfaces"), "NetworkInterfaces", None)
        for nic in nics or ():
            info = getattr(nic, "Info", None)
            mac = normalise_mac(getattr(info, "HwAddress", None) if info is not None else None)
            if mac:
                self.ev("onvif.GetNetworkInterfaces", "mac", mac)
                self.result.mac = self.result.mac or mac
        hostname = getattr(self.ask("GetHostname"), "HostnameInformation", None)
        if hostname is not None:
            self.ev("onvif.GetHostname", "hostname", getattr(hostname, "Name", None))
        services = getattr(self.ask("GetServices", IncludeCapability=False), "Service", None)
        if services:
            for svc in services:
                self.ev("onvif.GetServices", "namespace", getattr(svc, "Namespace", None))
                self.ev("onvif.GetServices", "xaddr", getattr(svc, "XAddr", None))
        else:
            caps = getattr(self.ask("GetCapabilities", Category=["All"]), "Capabilities", None)
            for name in ("Device", "Media", "PTZ", "Events", "Imaging", "Analytics"):
                sub = getattr(caps, name, None) if caps is not None else None
                self.ev("onvif.GetCapabilities", "xaddr", getattr(sub, "XAddr", None) if sub else None)
