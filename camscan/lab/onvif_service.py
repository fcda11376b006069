"""The ONVIF device service of a fake device: SOAP 1.2 operations, WS-Security and HTTP Digest checks.

Pure request -> response logic over :class:`HttpRequest`/:class:`HttpResponse`; the HTTP framing,
latency and connection faults live in ``httpd.py``. Protocol facts: wsd-onvif.md §2 and §3.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from lxml import etree

from camscan.lab.device import Device, format_mac
from camscan.lab.soap import (
    MAX_SOAP_REQUEST_BYTES,
    NS_SOAP11,
    NS_SOAP12,
    NS_TDS,
    NS_TER,
    NS_TRT,
    NS_TT,
    NS_WSSE,
    NS_WSU,
    SOAP_CONTENT_TYPE,
    E,
    XmlRejected,
    child,
    envelope,
    parse_xml,
    soap_fault,
    text_of,
)

# Core §5.9.4: operations any client may call; everything else here is READ_SYSTEM.
PRE_AUTH_OPS = frozenset(
    {
        "GetSystemDateAndTime",
        "GetCapabilities",
        "GetServices",
        "GetServiceCapabilities",
        "GetHostname",
        "GetEndpointReference",
        "GetWsdlUrl",
    }
)
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

# Service namespace, default path and the GetCapabilities category name of each service a profile
# may list in `services`.
SERVICES: dict[str, tuple[str, str, str]] = {
    "device": (NS_TDS, "{onvif_path}", "Device"),
    "media": ("http://www.onvif.org/ver10/media/wsdl", "/onvif/media_service", "Media"),
    "media2": ("http://www.onvif.org/ver20/media/wsdl", "/onvif/media2_service", ""),
    "events": ("http://www.onvif.org/ver10/events/wsdl", "/onvif/event_service", "Events"),
    "imaging": ("http://www.onvif.org/ver20/imaging/wsdl", "/onvif/imaging_service", "Imaging"),
    "ptz": ("http://www.onvif.org/ver20/ptz/wsdl", "/onvif/ptz_service", "PTZ"),
    "analytics": ("http://www.onvif.org/ver20/analytics/wsdl", "/onvif/analytics_service", "Analytics"),
    "deviceio": ("http://www.onvif.org/ver10/deviceIO/wsdl", "/onvif/deviceIO_service", ""),
}
CAPABILITY_ORDER = ("Analytics", "Device", "Events", "Imaging", "Media", "PTZ")

# Digest nonces are stateless (timestamp + HMAC) so that any number of devices share one secret and
# no per-client table grows; they are valid this long (RFC 2617 leaves the lifetime to the server).
_DIGEST_SECRET = os.urandom(16)
DIGEST_NONCE_LIFETIME_S = 300


@dataclass
class HttpRequest:
    """One parsed HTTP request (header names lower-cased)."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    peer: str

    @property
    def path(self) -> str:
        """The request target without its query string."""
        return self.target.split("?", 1)[0]


@dataclass
class HttpResponse:
    """An HTTP response before framing; ``stream`` replaces ``body`` for huge replies."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    stream_length: int = 0


@dataclass
class AuthResult:
    """Outcome of the credential check of one request (never holds the password)."""

    credentialed: bool = False
    username: str = ""
    ok: bool = False
    reason: str = ""
    scheme: str = ""
    password_type: str = ""  # WS-Security: "digest" | "text" (what the client sent, right or wrong)


# --- WS-Security UsernameToken -----------------------------------------------------------------


def _parse_created(text: str) -> dt.datetime | None:
    """xs:dateTime as clients write it: Z or +00:00, optional fraction; naive means UTC."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text)
    if not m:
        return None
    base, frac, tz = m.groups()
    try:
        value = dt.datetime.fromisoformat(base)
    except ValueError:
        return None
    if frac:
        value = value.replace(microsecond=int((frac[1:] + "000000")[:6]))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        value = value - sign * dt.timedelta(hours=hours, minutes=minutes)
    return value.replace(tzinfo=dt.UTC)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce ‖ created ‖ password)) — WS-Security UsernameToken Profile 1.0 §3.1."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def check_ws_security(dev: Device, root: etree._Element, soap_ns: str) -> AuthResult:
    """Verify the UsernameToken in the SOAP header against the device's user and clock."""
    header = child(root, f"{{{soap_ns}}}Header")
    security = child(header, f"{{{NS_WSSE}}}Security")
    token = child(security, f"{{{NS_WSSE}}}UsernameToken")
    if token is None:
        return AuthResult()
    username = text_of(child(token, f"{{{NS_WSSE}}}Username"))
    res = AuthResult(credentialed=True, username=username, scheme="ws_security")
    pw_el = child(token, f"{{{NS_WSSE}}}Password")
    nonce_el = child(token, f"{{{NS_WSSE}}}Nonce")
    # Some clients put Created in the wsse namespace; accept both, as gSOAP does.
    created_el = child(token, f"{{{NS_WSU}}}Created", f"{{{NS_WSSE}}}Created")
    if username != dev["username"]:
        res.reason = "unknown user"
        return res
    if pw_el is None:
        res.reason = "no Password"
        return res
    # WSS UsernameToken Profile: a missing Type means PasswordText.
    res.password_type = "digest" if (pw_el.get("Type") or PASSWORD_TEXT).strip() == PASSWORD_DIGEST else "text"
    if res.password_type != "digest":
        res.reason = "PasswordText not accepted"
        return res
    if nonce_el is None or created_el is None:
        res.reason = "Nonce and Created are both required (Core §5.9.5)"
        return res
    try:
        nonce = base64.b64decode(text_of(nonce_el), validate=True)
    except (binascii.Error, ValueError):
        res.reason = "Nonce is not base64"
        return res
    created_text = text_of(created_el)
    created = _parse_created(created_text)
    if created is None:
        res.reason = "Created is not an xs:dateTime"
        return res
    expected = password_digest(nonce, created_text, dev["password"])
    if not hmac.compare_digest(expected.encode(), text_of(pw_el).encode()):
        res.reason = "digest mismatch"
        return res
    skew = abs((created - dev.now()).total_seconds())
    if skew > float(dev["auth_window_s"]):
        res.reason = f"Created is {skew:.0f} s from the device clock"
        return res
    res.ok = True
    return res


# --- HTTP Digest (RFC 2617) --------------------------------------------------------------------


def digest_realm(dev: Device) -> str:
    """The realm a device announces in WWW-Authenticate."""
    return dev.fill(dev["auth_realm"]) or dev["manufacturer"] or "camera"


def make_nonce(dev: Device, now: float | None = None) -> str:
    """A stateless nonce: hex timestamp + HMAC over it and the device name."""
    ts = int(now if now is not None else time.time())
    mac = hmac.new(_DIGEST_SECRET, f"{ts}:{dev.name}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"{ts:08x}{mac}"


def _nonce_fresh(dev: Device, nonce: str) -> bool:
    try:
        ts = int(nonce[:8], 16)
    except ValueError:
        return False
    if not hmac.compare_digest(make_nonce(dev, ts), nonce):
        return False
    return 0 <= time.time() - ts <= DIGEST_NONCE_LIFETIME_S


_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_digest_header(value: str) -> dict[str, str] | None:
    """The parameters of an ``Authorization: Digest ...`` header, or None for another scheme."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _AUTH_PARAM.finditer(rest)
    }


def check_http_digest(dev: Device, req: HttpRequest) -> AuthResult:
    """Verify an RFC 2617 Digest Authorization header (MD5, qop=auth or none)."""
    header = req.headers.get("authorization")
    if not header:
        return AuthResult()
    params = parse_digest_header(header)
    if params is None:
        return AuthResult(credentialed=True, reason="not a Digest Authorization", scheme="http")
    username = params.get("username", "")
    res = AuthResult(credentialed=True, username=username, scheme="http_digest")
    if username != dev["username"]:
        res.reason = "unknown user"
        return res
    if params.get("realm") != digest_realm(dev):
        res.reason = "wrong realm"
        return res
    if params.get("algorithm", "MD5").upper() != "MD5":
        res.reason = "unsupported algorithm"
        return res
    nonce = params.get("nonce", "")
    if not _nonce_fresh(dev, nonce):
        res.reason = "stale or foreign nonce"
        return res
    if params.get("uri") != req.target:
        res.reason = "uri does not match the request"
        return res

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"{username}:{params['realm']}:{dev['password']}")
    ha2 = md5(f"{req.method}:{params['uri']}")
    qop = params.get("qop")
    if qop == "auth":
        expected = md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
    elif qop is None:
        expected = md5(f"{ha1}:{nonce}:{ha2}")
    else:
        res.reason = f"unsupported qop {qop}"
        return res
    if not hmac.compare_digest(expected, params.get("response", "")):
        res.reason = "digest mismatch"
        return res
    res.ok = True
    return res


def www_authenticate(dev: Device) -> str:
    """The challenge sent with 401 responses."""
    return f'Digest realm="{digest_realm(dev)}", qop="auth", nonce="{make_nonce(dev)}", algorithm=MD5'


# --- responses ---------------------------------------------------------------------------------


def _tt(local: str, text: str | None = None, *children: E) -> E:
    return E(f"{{{NS_TT}}}{local}", text, children)


def _tds(local: str, text: str | None = None, *children: E, attrs: dict[str, str] | None = None) -> E:
    return E(f"{{{NS_TDS}}}{local}", text, children, attrs or {})


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _date_time(t: dt.datetime) -> tuple[E, E]:
    # tt:DateTime is a sequence Time then Date (onvif.xsd), as every capture shows.
    return (
        _tt(
            "Time", None, _tt("Hour", str(t.hour)), _tt("Minute", str(t.minute)), _tt("Second", str(t.second))
        ),
        _tt("Date", None, _tt("Year", str(t.year)), _tt("Month", str(t.month)), _tt("Day", str(t.day))),
    )


def op_get_system_date_and_time(dev: Device, req_el: etree._Element) -> E:
    """GetSystemDateAndTime (Core 8.3.6) from the device clock."""
    now = dev.now()
    parts = [
        _tt("DateTimeType", dev["date_time_type"]),
        _tt("DaylightSavings", _bool(dev["daylight_savings"])),
        _tt("TimeZone", None, _tt("TZ", dev["timezone"])),
    ]
    if not dev["omit_utc_time"]:
        parts.append(_tt("UTCDateTime", None, *_date_time(now)))
    if not dev["omit_local_time"]:
        local = now + dt.timedelta(seconds=int(dev["utc_offset_s"]))
        parts.append(_tt("LocalDateTime", None, *_date_time(local)))
    return _tds("GetSystemDateAndTimeResponse", None, _tds("SystemDateAndTime", None, *parts))


def op_get_device_information(dev: Device, req_el: etree._Element) -> E:
    """GetDeviceInformation (Core 8.3.1); values verbatim, padding and all."""
    return _tds(
        "GetDeviceInformationResponse",
        None,
        _tds("Manufacturer", dev["manufacturer"]),
        _tds("Model", dev["model"]),
        _tds("FirmwareVersion", dev["firmware"]),
        _tds("SerialNumber", dev["serial"]),
        _tds("HardwareId", dev["hardware_id"]),
    )


def _scope_category(scope: str) -> str:
    rest = scope.split("://", 1)[-1]
    parts = rest.split("/")
    return parts[1] if len(parts) > 1 else ""


def op_get_scopes(dev: Device, req_el: etree._Element) -> E:
    """GetScopes (Core 8.3.14): the discovery scopes with Fixed/Configurable."""
    configurable = set(dev["configurable_scopes"])
    items = []
    for scope in dev["wsd_scopes"]:
        value = dev.fill(scope)
        kind = "Configurable" if _scope_category(value) in configurable else "Fixed"
        items.append(_tds("Scopes", None, _tt("ScopeDef", kind), _tt("ScopeItem", value)))
    return _tds("GetScopesResponse", None, *items)


def op_get_network_interfaces(dev: Device, req_el: etree._Element) -> E:
    """GetNetworkInterfaces (Core 8.2.10): eth0 with the device MAC and its IPv4 address."""
    iface = _tds(
        "NetworkInterfaces",
        None,
        _tt("Enabled", "true"),
        _tt(
            "Info",
            None,
            _tt("Name", "eth0"),
            _tt("HwAddress", format_mac(dev.mac, dev["hwaddress_format"])),
            _tt("MTU", "1500"),
        ),
        _tt(
            "IPv4",
            None,
            _tt("Enabled", "true"),
            _tt(
                "Config",
                None,
                _tt("Manual", None, _tt("Address", dev.ip), _tt("PrefixLength", str(dev.prefixlen))),
                _tt("DHCP", "false"),
            ),
        ),
        attrs={"token": "eth0"},
    )
    return _tds("GetNetworkInterfacesResponse", None, iface)


def op_get_hostname(dev: Device, req_el: etree._Element) -> E:
    """GetHostname (Core 8.2.1)."""
    info = [_tt("FromDHCP", "false")]
    if dev["hostname"]:
        info.append(_tt("Name", dev["hostname"]))
    return _tds("GetHostnameResponse", None, _tds("HostnameInformation", None, *info))


def _service_xaddr(dev: Device, path: str) -> str:
    # `onvif_xaddr_host` makes a device name another host in its service addresses: a client must never
    # follow it there (and never with credentials).
    host = dev.fill(dev["onvif_xaddr_host"])
    if not host:
        host = dev.ip if dev.port == 80 else f"{dev.ip}:{dev.port}"
    return f"http://{host}{dev.fill(path)}"


def _device_service_capabilities() -> E:
    return _tds(
        "Capabilities",
        None,
        _tds("Network", attrs={"IPFilter": "false", "ZeroConfiguration": "false", "IPVersion6": "false"}),
        _tds("Security", attrs={"UsernameToken": "true", "HttpDigest": "true"}),
        _tds(
            "System", attrs={"DiscoveryResolve": "false", "DiscoveryBye": "true", "RemoteDiscovery": "false"}
        ),
    )


def op_get_services(dev: Device, req_el: etree._Element) -> E:
    """GetServices (Core 8.1.2.2): every service in the profile, on the device's own address."""
    include = text_of(child(req_el, f"{{{NS_TDS}}}IncludeCapability")).lower() in ("true", "1")
    major, _, minor = str(dev["service_version"]).partition(".")
    out = []
    for name in dev["services"]:
        ns, path, _ = SERVICES[name]
        parts = [_tds("Namespace", ns), _tds("XAddr", _service_xaddr(dev, path))]
        if include and name == "device":
            parts.append(_tds("Capabilities", None, _device_service_capabilities()))
        parts.append(_tds("Version", None, _tt("Major", major or "2"), _tt("Minor", minor or "0")))
        out.append(_tds("Service", None, *parts))
    return _tds("GetServicesResponse", None, *out)


class OnvifFault(Exception):
    """Raised by an operation to answer with a SOAP fault."""

    def __init__(self, status: int, code: str, subcodes: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.subcodes, self.reason = status, code, subcodes, reason


def _capability(dev: Device, category: str) -> E | None:
    services = {SERVICES[s][2]: s for s in dev["services"] if SERVICES[s][2]}
    if category not in services:
        return None
    xaddr = _tt("XAddr", _service_xaddr(dev, SERVICES[services[category]][1]))
    major, _, minor = str(dev["service_version"]).partition(".")
    if category == "Device":
        return _tt(
            "Device",
            None,
            xaddr,
            _tt(
                "Network",
                None,
                _tt("IPFilter", "false"),
                _tt("ZeroConfiguration", "false"),
                _tt("IPVersion6", _bool(dev["ipv6"])),
                _tt("DynDNS", "false"),
            ),
            _tt(
                "System",
                None,
                _tt("DiscoveryResolve", "false"),
                _tt("DiscoveryBye", _bool(dev["wsd_bye"])),
                _tt("RemoteDiscovery", "false"),
                _tt("SystemBackup", "false"),
                _tt("SystemLogging", "false"),
                _tt("FirmwareUpgrade", "false"),
                _tt("SupportedVersions", None, _tt("Major", major or "2"), _tt("Minor", minor or "0")),
            ),
            _tt(
                "Security",
                None,
                *(
                    _tt(name, "false")
                    for name in (
                        "TLS1.1",
                        "TLS1.2",
                        "OnboardKeyGeneration",
                        "AccessPolicyConfig",
                        "X.509Token",
                        "SAMLToken",
                        "KerberosToken",
                        "RELToken",
                    )
                ),
            ),
        )
    if category == "Media":
        return _tt(
            "Media",
            None,
            xaddr,
            _tt(
                "StreamingCapabilities",
                None,
                _tt("RTPMulticast", "false"),
                _tt("RTP_TCP", "true"),
                _tt("RTP_RTSP_TCP", "true"),
            ),
        )
    if category == "Events":
        return _tt(
            "Events",
            None,
            xaddr,
            _tt("WSSubscriptionPolicySupport", "true"),
            _tt("WSPullPointSupport", "true"),
            _tt("WSPausableSubscriptionManagerInterfaceSupport", "false"),
        )
    if category == "Analytics":
        return _tt(
            "Analytics", None, xaddr, _tt("RuleSupport", "true"), _tt("AnalyticsModuleSupport", "true")
        )
    return _tt(category, None, xaddr)


def op_get_capabilities(dev: Device, req_el: etree._Element) -> E:
    """GetCapabilities (Core 8.1.2.4); unknown or absent category -> ActionNotSupported/NoSuchService."""
    wanted = [text_of(c) for c in req_el if isinstance(c.tag, str) and c.tag == f"{{{NS_TDS}}}Category"]
    if not wanted or "All" in wanted:
        cats = list(CAPABILITY_ORDER)
    else:
        cats = [c for c in CAPABILITY_ORDER if c in wanted]
    caps = [c for c in (_capability(dev, cat) for cat in cats) if c is not None]
    if not caps:
        raise OnvifFault(
            500,
            f"{{{NS_SOAP12}}}Receiver",
            (f"{{{NS_TER}}}ActionNotSupported", f"{{{NS_TER}}}NoSuchService"),
            "The requested service is not supported",
        )
    return _tds("GetCapabilitiesResponse", None, _tds("Capabilities", None, *caps))


def op_get_endpoint_reference(dev: Device, req_el: etree._Element) -> E:
    """GetEndpointReference (Core 8.4.9): the discovery endpoint address."""
    return _tds("GetEndpointReferenceResponse", None, _tds("GUID", dev.fill(dev["wsd_address"])))


def op_get_video_sources(dev: Device, req_el: etree._Element) -> E:
    """Media GetVideoSources (Media 1.0, 5.2.1): one VideoSources per input, token VideoSource_<n>; what an
    ONVIF recorder says about the cameras behind it (a count, no identities)."""
    sources = [E(f"{{{NS_TRT}}}VideoSources", None,
                 (E(f"{{{NS_TT}}}Framerate", "25", (), {}),
                  E(f"{{{NS_TT}}}Resolution", None, (E(f"{{{NS_TT}}}Width", "1920", (), {}),
                                                    E(f"{{{NS_TT}}}Height", "1080", (), {})), {})),
                 {"token": f"VideoSource_{n}"})
               for n in range(1, int(dev["video_sources"]) + 1)]
    return E(f"{{{NS_TRT}}}GetVideoSourcesResponse", None, tuple(sources), {})


OPERATIONS: dict[str, Callable[[Device, etree._Element], E]] = {
    "GetSystemDateAndTime": op_get_system_date_and_time,
    "GetDeviceInformation": op_get_device_information,
    "GetScopes": op_get_scopes,
    "GetNetworkInterfaces": op_get_network_interfaces,
    "GetHostname": op_get_hostname,
    "GetServices": op_get_services,
    "GetCapabilities": op_get_capabilities,
    "GetEndpointReference": op_get_endpoint_reference,
}
MEDIA_OPERATIONS: dict[str, Callable[[Device, etree._Element], E]] = {"GetVideoSources": op_get_video_sources}


@dataclass
class OnvifOutcome:
    """A response plus the facts the request log records."""

    response: HttpResponse
    op: str = ""
    auth: AuthResult = field(default_factory=AuthResult)


def _soap_response(dev: Device, status: int, body: bytes) -> HttpResponse:
    return HttpResponse(status=status, body=body, content_type=SOAP_CONTENT_TYPE[dev["onvif_soap_version"]])


def fault_response(
    dev: Device, status: int, code: str, subcodes: tuple[str, ...], reason: str
) -> HttpResponse:
    """A SOAP fault in the device's style."""
    body = soap_fault(dev.style, code, subcodes, reason, soap_version=dev["onvif_soap_version"])
    return _soap_response(dev, status, body)


def _not_authorized(dev: Device) -> HttpResponse:
    remaining = max(0, int(dev["lockout_after"]) - dev.failed_logins)
    text = dev.fill(dev["auth_fault_text"], attempts=str(remaining))
    return fault_response(dev, 400, f"{{{NS_SOAP12}}}Sender", (f"{{{NS_TER}}}NotAuthorized",), text)


def _unauthorized_401(dev: Device) -> HttpResponse:
    http = dev["http"]
    return HttpResponse(
        status=401,
        body=dev.fill(http["unauthorized_body"]).encode(),
        content_type=http["unauthorized_content_type"] if http["unauthorized_body"] else None,
        headers=[("WWW-Authenticate", www_authenticate(dev))],
    )


def _authenticate(dev: Device, req: HttpRequest, root: etree._Element, soap_ns: str) -> AuthResult:
    scheme = dev["auth_scheme"]
    ws = check_ws_security(dev, root, soap_ns) if scheme in ("ws_security", "both") else AuthResult()
    http = check_http_digest(dev, req) if scheme in ("http_digest", "both") else AuthResult()
    if ws.ok or http.ok:
        return ws if ws.ok else http
    if ws.credentialed:
        return ws
    if http.credentialed:
        return http
    # Credentials in a scheme the device ignores still count as "sent" for the log.
    ignored = child(
        child(child(root, f"{{{soap_ns}}}Header"), f"{{{NS_WSSE}}}Security"), f"{{{NS_WSSE}}}UsernameToken"
    )
    if ignored is not None or "authorization" in req.headers:
        return AuthResult(credentialed=True, reason=f"scheme not accepted by this device ({scheme})")
    return AuthResult()


def handle_soap(dev: Device, req: HttpRequest) -> OnvifOutcome:
    """Answer one POST to an ONVIF service path."""
    if req.method != "POST":
        resp = HttpResponse(status=405, headers=[("Allow", "POST")])
        return OnvifOutcome(resp)
    try:
        root = parse_xml(req.body, MAX_SOAP_REQUEST_BYTES)
    except XmlRejected as exc:
        return OnvifOutcome(
            fault_response(
                dev, 400, f"{{{NS_SOAP12}}}Sender", (f"{{{NS_TER}}}WellFormed",), f"Well-formed Error: {exc}"
            )
        )
    if root.tag not in (f"{{{NS_SOAP12}}}Envelope", f"{{{NS_SOAP11}}}Envelope"):
        return OnvifOutcome(
            fault_response(
                dev, 400, f"{{{NS_SOAP12}}}Sender", (f"{{{NS_TER}}}WellFormed",), "not a SOAP envelope"
            )
        )
    soap_ns = root.tag[1:].split("}")[0]
    body = child(root, f"{{{soap_ns}}}Body")
    req_el = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if req_el is None:
        return OnvifOutcome(
            fault_response(dev, 400, f"{{{NS_SOAP12}}}Sender", (f"{{{NS_TER}}}InvalidArgs",), "empty Body")
        )
    ns, _, op = req_el.tag[1:].partition("}")
    auth = _authenticate(dev, req, root, soap_ns)
    outcome = OnvifOutcome(HttpResponse(status=500), op=op, auth=auth)

    if dev["fault"] == "soap_fault":
        outcome.response = fault_response(
            dev, 500, f"{{{NS_SOAP12}}}Receiver", (f"{{{NS_TER}}}Action",), "Internal error"
        )
        return outcome
    if not ((ns == NS_TDS and op in OPERATIONS) or (ns == NS_TRT and op in MEDIA_OPERATIONS)):
        outcome.response = fault_response(
            dev,
            500,
            f"{{{NS_SOAP12}}}Receiver",
            (f"{{{NS_TER}}}ActionNotSupported",),
            "Optional Action Not Implemented",
        )
        return outcome

    policy = dev["auth"]
    needs_auth = policy == "all" or (policy == "read_system" and op not in PRE_AUTH_OPS)
    locked = int(dev["lockout_after"]) > 0 and dev.failed_logins >= int(dev["lockout_after"])
    if auth.credentialed and not auth.ok:
        dev.failed_logins += 1
    elif auth.ok and locked:
        auth.ok = False
        auth.reason = "locked out after repeated failures"
    if (needs_auth or (dev["strict_preauth"] and auth.credentialed)) and not auth.ok:
        # Digest-capable devices challenge (401); username-token devices answer 400 + NotAuthorized
        # (wsd-onvif.md §3). A "both" device challenges unless a bad UsernameToken was sent.
        scheme = dev["auth_scheme"]
        if scheme == "http_digest" or (scheme == "both" and auth.scheme != "ws_security"):
            outcome.response = _unauthorized_401(dev)
        else:
            outcome.response = _not_authorized(dev)
        return outcome
    try:
        result = (OPERATIONS if ns == NS_TDS else MEDIA_OPERATIONS)[op](dev, req_el)
    except OnvifFault as f:
        outcome.response = fault_response(dev, f.status, f.code, f.subcodes, f.reason)
        return outcome
    outcome.response = _soap_response(
        dev, 200, envelope(dev.style, [result], soap_version=dev["onvif_soap_version"])
    )
    return outcome
