"""What a device's web server says before anyone logs in: headers, auth realm, page title, family paths.

The probe sends unauthenticated, read-only GETs: the root page and the family paths listed in
``camscan/data/http_paths.toml`` (which says what may be added there), on the device's web ports. It
never sends credentials, never submits a form, never follows a device to another host (at most one
redirect, and only to the same address), and treats every reply as hostile: each request has a
per-operation timeout and a wall-clock cap, and at most ``max_bytes`` of a body are read.

Codec (pure, tested on bytes, never raise): :func:`extract_title`, :func:`summarise_body`,
:func:`header_style`, :func:`doctype`, :func:`response_evidence` (challenges: :mod:`camscan.codec.auth`).
Recorded answers are replayed through the probe itself (:mod:`camscan.replay`). Source:
:class:`HttpProbe` (:mod:`camscan.probe.httpclient`: one keep-alive connection per web port, nothing read from
the environment, so no proxy or netrc is ever used).

Evidence (exact names):
``("http.status", path, code)``, ``("http.header", <lower-case name>, value)`` for the recorded headers,
``("http.realm", <scheme lower-case>, realm)``, ``("http.title", path, title)``,
``("http.path", path, summary)`` for a 200 on a family path, ``("http.redirect", path, location)``,
``("http.header_style", "names", "uppercase")`` when every header name is upper-case (Dahua style; Date,
Last-Modified and Etag in their usual spelling do not count), ``("http.doctype", path, declaration)`` when the
page starts with a document type declaration (``BOM <!doctype html>`` after a UTF-8 byte-order mark).
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import threading
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from camscan.codec import xmlsafe
from camscan.codec.auth import parse_challenges
from camscan.codec.text import strip_controls
from camscan.errors import DataError
from camscan.models import Evidence, Host, Skip
from camscan.probe.httpclient import Connection, HttpFailure
from camscan.transport import DIRECT, Transport, shared_context

log = logging.getLogger(__name__)

PATHS_FILE = Path(__file__).resolve().parent.parent / "data" / "http_paths.toml"
MAX_BODY = 256 << 10  # a login page is tens of KB; the title and an XML root need far less
MAX_HEADER_VALUE = 512
TITLE_SCAN = 64 << 10  # bytes searched for <title>
MAX_TITLE = 200
MAX_SUMMARY = 200
USER_AGENT = "Mozilla/5.0 (compatible; camscan)"
REDIRECTS = (301, 302, 303, 307, 308)


# ------------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class HttpPath:
    path: str
    family: str
    source: str


@dataclass(frozen=True)
class HttpPlan:
    """What to ask: web ports by scheme, paths, and which headers are evidence."""

    http_ports: tuple[int, ...]
    https_ports: tuple[int, ...]
    paths: tuple[HttpPath, ...]
    headers: tuple[str, ...]

    def services(self, ports: Iterable[int]) -> list[tuple[str, int]]:
        """(scheme, port) for every web port among ``ports``, in the plan's order."""
        wanted = set(ports)
        return ([("http", p) for p in self.http_ports if p in wanted]
                + [("https", p) for p in self.https_ports if p in wanted])


def load_plan(path: Path = PATHS_FILE) -> HttpPlan:
    """Load and check ``http_paths.toml``; DataError on any problem."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    ports = data.get("ports", {})
    try:
        http_ports = tuple(int(p) for p in ports.get("http", []))
        https_ports = tuple(int(p) for p in ports.get("https", []))
    except (TypeError, ValueError):
        raise DataError(f"{path}: ports must be integers") from None
    paths = []
    for i, raw in enumerate(data.get("path", [])):
        p = raw.get("path") if isinstance(raw, dict) else None
        # A path, not a URL: it can never name another host, carry whitespace or a query.
        if not isinstance(p, str) or not p.startswith("/") or p.startswith("//") or any(
                c.isspace() or c in "?#@" for c in p):
            raise DataError(f"{path}: path #{i + 1} must be an absolute path without query: {p!r}")
        if not raw.get("source"):
            raise DataError(f"{path}: path {p!r} needs a source")
        paths.append(HttpPath(p, str(raw.get("family", "generic")), str(raw["source"])))
    if not paths or paths[0].path != "/":
        raise DataError(f"{path}: the first path must be '/'")
    headers = tuple(str(h).lower() for h in data.get("headers", {}).get("record", []))
    return HttpPlan(http_ports, https_ports, tuple(paths), headers)


_plan_lock = threading.Lock()
_plan: HttpPlan | None = None


def default_plan() -> HttpPlan:
    """The packaged plan, loaded once."""
    global _plan
    with _plan_lock:
        if _plan is None:
            _plan = load_plan()
        return _plan


# ----------------------------------------------------------------------------------------------- codec
_TITLE = re.compile(rb"<title\b[^>]{0,256}>(.{0,4096}?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)


def extract_title(body: bytes, content_type: str = "") -> str | None:
    """The text of the first ``<title>`` (entities decoded, whitespace folded, capped); None if absent or
    empty. Only the first :data:`TITLE_SCAN` bytes are searched."""
    m = _TITLE.search(body[:TITLE_SCAN])
    if not m:
        return None
    raw = m.group(1)
    cm = _CHARSET.search(content_type or "")
    text = _decode(raw, cm.group(1) if cm else "utf-8")
    title = strip_controls(html.unescape(text), MAX_TITLE)
    return title or None


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", errors="replace")


def summarise_body(body: bytes, content_type: str = "") -> str:
    """A short description of a body: for XML, the root tag and up to five leaf ``name=value`` pairs
    (``ActivateStatus Activated=true``); otherwise its first characters."""
    head = body.lstrip()[:MAX_BODY]
    if head.startswith(b"<") and (b"<?xml" in head[:64] or "xml" in content_type.lower()):
        try:
            root = xmlsafe.parse(head, limit=MAX_BODY)
        except xmlsafe.UnsafeXML:
            root = None
        if root is not None:
            parts = [xmlsafe.local(root.tag)]
            for child in root:
                if len(parts) > 5:
                    break
                name = xmlsafe.local(child.tag)
                if name and not len(child):
                    parts.append(f"{name}={strip_controls(child.text, 40)}")
            return strip_controls(" ".join(parts), MAX_SUMMARY)
    cm = _CHARSET.search(content_type or "")
    return strip_controls(_decode(head[: MAX_SUMMARY * 4], cm.group(1) if cm else "utf-8"), MAX_SUMMARY)


# Standard headers that firmware writing its own names in capitals still sends in their usual spelling
# (nmap-service-probes, "Amcrest IP camera http interface": CONNECTION, CONTENT-LENGTH... with Date,
# Last-Modified and Etag as written by the library that adds them).
_STYLE_EXEMPT = frozenset({"Date", "Last-Modified", "Etag", "ETag"})


def header_style(names: Sequence[str]) -> str | None:
    """``uppercase`` when every header name (two or more, not counting Date/Last-Modified/Etag in their usual
    spelling) is written in capitals, as Dahua firmware does (``CONTENT-LENGTH:``); None otherwise."""
    lettered = [n for n in names if any(c.isalpha() for c in n) and n not in _STYLE_EXEMPT]
    if len(lettered) >= 2 and all(n == n.upper() for n in lettered):
        return "uppercase"
    return None


_BOM = b"\xef\xbb\xbf"
_DOCTYPE = re.compile(rb"<!doctype[ \t]+[a-z][^<>\r\n]{0,120}>", re.IGNORECASE)


def doctype(body: bytes) -> str | None:
    """How a page begins when it begins with a document type declaration: the declaration exactly as written
    (its case differs between web UIs), preceded by ``BOM `` when a UTF-8 byte-order mark comes first. None
    for any other body. Newer Hikvision web UIs send ``BOM <!doctype html>`` (nmap-service-probes)."""
    bom = body.startswith(_BOM)
    m = _DOCTYPE.match(body, len(_BOM) if bom else 0)
    if not m:
        return None
    return ("BOM " if bom else "") + m.group(0).decode("ascii", errors="replace")


@dataclass(frozen=True)
class RawResponse:
    """One HTTP answer as read off the wire (headers in original case and order, body capped)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]


def response_evidence(path: str, resp: RawResponse, record: Sequence[str], family_path: bool
                      ) -> list[Evidence]:
    """Evidence from one answer to ``GET path``. ``family_path`` marks a path other than the root, whose
    200 answer is summarised as ``http.path``."""
    ev = [Evidence("http.status", path, str(resp.status))]
    wanted = set(record)
    for name, value in resp.headers:
        low = name.lower()
        if low in wanted:
            ev.append(Evidence("http.header", low, strip_controls(value, MAX_HEADER_VALUE)))
    for value in resp.header("www-authenticate"):
        for scheme, params in parse_challenges(value):
            realm = strip_controls(params.get("realm", ""))
            if realm:
                ev.append(Evidence("http.realm", scheme, realm))
    style = header_style([k for k, _v in resp.headers])
    if style:
        ev.append(Evidence("http.header_style", "names", style))
    content_type = (resp.header("content-type") or [""])[0]
    prologue = doctype(resp.body)
    if prologue:
        ev.append(Evidence("http.doctype", path, prologue))
    title = extract_title(resp.body, content_type) if resp.body else None
    if title:
        ev.append(Evidence("http.title", path, title))
    if family_path and resp.status == 200 and resp.body:
        ev.append(Evidence("http.path", path, summarise_body(resp.body, content_type)))
    if resp.status in REDIRECTS:
        location = (resp.header("location") or [""])[0]
        if location:
            ev.append(Evidence("http.redirect", path, strip_controls(location, MAX_HEADER_VALUE)))
    return ev


# ------------------------------------------------------------------------------------------- transport
@dataclass
class HttpResult:
    """What one host's web ports said."""

    evidence: list[Evidence] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


class HttpProbe:
    """GET the plan's paths on a host's web ports (see the module docstring).

    One keep-alive connection per web port (:class:`camscan.probe.httpclient.Connection`): every request
    has the per-operation ``timeout`` and the wall-clock cap ``wall`` (connect to last byte), and none
    starts or runs past the scan's ``deadline``.
    """

    def __init__(self, timeout: float, max_bytes: int = MAX_BODY, plan: HttpPlan | None = None,
                 wall: float | None = None, deadline: float | None = None, transport: Transport = DIRECT) -> None:
        self.timeout = timeout
        self.transport = transport
        self.max_bytes = max(0, min(max_bytes, MAX_BODY))
        self.plan = plan or default_plan()
        self.wall = wall if wall is not None else 2 * timeout  # connect + read budget of one request
        self.deadline = deadline  # the scan's deadline (time.monotonic()): no request starts or runs past it

    def probe(self, ip: str, services: Sequence[tuple[str, int]]) -> HttpResult:
        """Evidence from every (scheme, port) in ``services`` on ``ip`` (an IPv4 address, never a name)."""
        result = HttpResult()
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            result.skips.append(Skip(ip, "http", "not an IPv4 address"))
            return result
        for scheme, port in services:
            with self._connection(ip, scheme, port) as conn:
                self._service(conn, ip, scheme, port, result)
        result.evidence = list(dict.fromkeys(result.evidence))
        return result

    def _connection(self, ip: str, scheme: str, port: int) -> Connection:
        return Connection(ip, port, tls=scheme == "https", timeout=self.timeout, wall=self.wall,
                          deadline=self.deadline, context=shared_context() if scheme == "https" else None,
                          user_agent=USER_AGENT, transport=self.transport)

    def _service(self, conn: Connection, ip: str, scheme: str, port: int, result: HttpResult) -> None:
        for entry in self.plan.paths:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                result.skips.append(Skip(ip, "http", f"{scheme}:{port}: scan deadline reached before "
                                                     f"{entry.path} was asked"))
                return
            got = self._get(conn, entry.path)
            if isinstance(got, str):
                result.skips.append(Skip(ip, "http", f"{scheme}:{port}{entry.path}: {got}"))
                if entry.path == "/":
                    return  # the server does not answer at all: the family paths would fail the same way
                continue
            result.evidence.extend(response_evidence(entry.path, got, self.plan.headers, entry.path != "/"))
            if got.status in REDIRECTS:
                self._redirect(conn, ip, f"{scheme}://{ip}:{port}{entry.path}", got, result)

    def _redirect(self, conn: Connection, ip: str, url: str, resp: RawResponse, result: HttpResult) -> None:
        """Follow a redirect (recorded as ``http.redirect``) once when it stays on the same address."""
        location = (resp.header("location") or [""])[0]
        if not location:
            return
        try:
            target = urlsplit(urljoin(url, location.strip()))
            same_host = target.scheme in ("http", "https") and target.hostname == ip
            port = target.port or (443 if target.scheme == "https" else 80)
        except ValueError:
            return
        if not same_host:
            return  # a device never steers the scanner to another host
        new_path = target.path or "/"
        path = new_path + (f"?{target.query}" if target.query else "")
        if any(c.isspace() or not c.isprintable() for c in path) or not path.startswith("/"):
            result.skips.append(Skip(ip, "http", f"redirect to {strip_controls(new_path, 80)}: not a usable path"))
            return
        if target.scheme == ("https" if conn.tls else "http") and port == conn.port:
            got = self._get(conn, path)
        else:
            with self._connection(ip, target.scheme, port) as other:
                got = self._get(other, path)
        if isinstance(got, str):
            result.skips.append(Skip(ip, "http", f"redirect to {new_path}: {got}"))
            return
        result.evidence.extend(response_evidence(new_path, got, self.plan.headers, False))

    def _get(self, conn: Connection, path: str) -> RawResponse | str:
        """One GET (no redirects, capped body, wall-clock cap); a RawResponse or the reason there is none."""
        try:
            resp = conn.request("GET", path, headers={"Accept": "*/*"}, max_bytes=self.max_bytes)
        except HttpFailure as exc:
            if exc.partial is not None and exc.kind not in ("wall", "deadline"):
                # The head arrived and the body broke off: the head is still evidence.
                log.debug("reading %s:%s%s failed: %s", conn.ip, conn.port, path, exc.reason)
                return RawResponse(exc.partial.status, exc.partial.headers.items_raw, exc.partial.body)
            return _reason(exc)
        return RawResponse(resp.status, resp.headers.items_raw, resp.body)


def _reason(exc: HttpFailure) -> str:
    if exc.kind == "deadline":
        return "scan deadline reached while waiting for the reply"
    if exc.kind == "wall":
        return ("no complete answer within the wall-clock cap" if exc.partial is not None
                else "no answer within the wall-clock cap")
    if exc.kind == "tls":
        return "TLS handshake failed"
    return exc.reason


def http_services(host: Host | None, open_ports: Iterable[int] = (), plan: HttpPlan | None = None
                  ) -> list[tuple[str, int]]:
    """(scheme, port) to probe on a host: its open web ports (from the sweep) plus the HTTP ports it
    advertised itself (SADP/DHIP ``http_port``, WS-Discovery XAddrs naming its own address)."""
    plan = plan or default_plan()
    found = list(plan.services(open_ports))
    if host is not None:
        extra: list[tuple[str, int]] = []
        for source in ("sadp", "dhip"):
            # isascii: str.isdigit() is also true for "¹" and other digits int() refuses (a device's choice)
            for v in host.values(source, "http_port"):
                if v.isascii() and v.isdigit() and 0 < int(v) < 65536:
                    extra.append(("http", int(v)))
            for v in host.values(source, "https_port"):
                if v.isascii() and v.isdigit() and 0 < int(v) < 65536:
                    extra.append(("https", int(v)))
        for x in host.xaddrs:
            try:
                parts = urlsplit(x)
                if parts.hostname == host.ip and parts.scheme in ("http", "https"):
                    extra.append((parts.scheme, parts.port or (443 if parts.scheme == "https" else 80)))
            except ValueError:
                continue
        found.extend(extra)
    return list(dict.fromkeys(found))
