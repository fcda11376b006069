"""HTTP probe: the pure parsers on bytes, the data file, and the transport against loopback servers.

Header sets and pages here were written for these tests, modelled on what fingerprints.md quotes from real
devices (Hikvision ``App-webs/`` with ``Digest realm="hikvision"``, a Dahua NVR's upper-case header names
without a Server header, Hikvision's ``/SDK/activateStatus`` XML); values are made up.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from camscan.codec.auth import parse_challenges
from camscan.errors import DataError
from camscan.models import Evidence, Host
from camscan.probe.http import (
    HttpPlan,
    HttpProbe,
    RawResponse,
    default_plan,
    doctype,
    extract_title,
    header_style,
    http_services,
    load_plan,
    response_evidence,
    summarise_body,
)

ACTIVATE_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ActivateStatus version="2.0" '
                b'xmlns="http://www.isapi.org/ver20/XMLSchema">\n<Activated>false</Activated>\n</ActivateStatus>\n')


# ----------------------------------------------------------------------------------------------- parsers
@pytest.mark.parametrize("value, expected", [
    ('Basic realm="hikvision"', [("basic", {"realm": "hikvision"})]),
    ('Digest realm="Login to 5A00000PAZ00011", qop="auth", nonce="abc", opaque="x"',
     [("digest", {"realm": "Login to 5A00000PAZ00011", "qop": "auth", "nonce": "abc", "opaque": "x"})]),
    ('Digest realm="IP Camera(12345)", nonce="n", stale="FALSE", Basic realm="/"',
     [("digest", {"realm": "IP Camera(12345)", "nonce": "n", "stale": "FALSE"}), ("basic", {"realm": "/"})]),
    ('digest REALM=unquoted,nonce=1', [("digest", {"realm": "unquoted", "nonce": "1"})]),
    (r'Basic realm="a \"quoted\" realm"', [("basic", {"realm": 'a "quoted" realm'})]),
    ('Basic realm="unterminated', [("basic", {"realm": "unterminated"})]),
    ('realm="no scheme"', [("", {"realm": "no scheme"})]),
    ("Negotiate", [("negotiate", {})]),
    ("", []),
    ("\x00\x01 ;;; =", []),
])
def test_parse_challenges(value, expected):
    assert parse_challenges(value) == expected


@pytest.mark.parametrize("body, ctype, title", [
    (b"<html><head><title>WEB SERVICE</title></head></html>", "", "WEB SERVICE"),
    (b"<HTML><TITLE lang='en'>\n  NETSurveillance\tWEB \n</TITLE>", "", "NETSurveillance WEB"),
    (b"<title>Caf&eacute; &amp; &#x4E2D;</title>", "", "Caf\u00e9 & \u4e2d"),
    ("<title>\u7f51\u7edc\u6444\u50cf\u673a</title>".encode("gbk"), "text/html; charset=GBK",
     "\u7f51\u7edc\u6444\u50cf\u673a"),
    (b"<title>x</title>", "text/html; charset=no-such-codec", "x"),
    (b"<title></title>", "", None),
    (b"<title>never closed", "", None),
    (b"<p>no title</p>", "", None),
    (b"<title>" + b"A" * 3000 + b"</title>", "", "A" * 199 + "\u2026"),
    (b"<title>\x1b[2Jevil\x07</title>", "", "[2Jevil"),
])
def test_extract_title(body, ctype, title):
    assert extract_title(body, ctype) == title


def test_summaries():
    assert summarise_body(ACTIVATE_XML, "application/xml") == "ActivateStatus Activated=false"
    assert summarise_body(b'<!DOCTYPE x><x/>', "text/xml").startswith("<!DOCTYPE")
    assert summarise_body(b"plain " * 100, "text/plain") == ("plain " * 34).strip()[:199] + "\u2026"
    assert summarise_body(b'{"a": 1}', "application/json") == '{"a": 1}'


def test_header_style():
    assert header_style(["CONNECTION", "CONTENT-LENGTH", "CACHE-CONTROL"]) == "uppercase"
    assert header_style(["Connection", "CONTENT-LENGTH"]) is None
    assert header_style(["CONNECTION"]) is None
    assert header_style([]) is None
    # Dahua firmware writes its own names in capitals; the standard Date/Last-Modified/Etag keep their spelling
    # (nmap-service-probes, "Amcrest IP camera http interface")
    assert header_style(["CONNECTION", "Date", "Last-Modified", "Etag", "CONTENT-LENGTH"]) == "uppercase"
    assert header_style(["CONNECTION", "Date", "Server"]) is None
    assert header_style(["Date", "Last-Modified", "CONNECTION"]) is None


def test_doctype_prologue():
    assert doctype(b"\xef\xbb\xbf<!doctype html>\r\n<html>") == "BOM <!doctype html>"
    assert doctype(b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN">') == (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN">')
    assert doctype(b"<html><!doctype html>") is None
    assert doctype(b"\xef\xbb\xbf") is None and doctype(b"") is None
    assert doctype(b"<!doctype html" + b"x" * 500 + b">") is None  # capped, not a prologue


def test_response_evidence_hikvision_style():
    resp = RawResponse(401, (("Server", "App-webs/"),
                             ("WWW-Authenticate", 'Digest qop="auth", realm="hikvision", nonce="x"'),
                             ("Set-Cookie", "session=secret"), ("Content-Type", "text/html")),
                       b"<html><title>Document Error: Unauthorized</title></html>")
    ev = response_evidence("/", resp, default_plan().headers, False)
    assert Evidence("http.status", "/", "401") in ev
    assert Evidence("http.header", "server", "App-webs/") in ev
    assert Evidence("http.realm", "digest", "hikvision") in ev
    assert Evidence("http.title", "/", "Document Error: Unauthorized") in ev
    assert not any("secret" in e.value for e in ev)
    assert not any(e.source == "http.path" for e in ev)


def test_response_evidence_family_path_and_uppercase():
    resp = RawResponse(200, (("CONTENT-TYPE", "application/xml"), ("CONTENT-LENGTH", str(len(ACTIVATE_XML)))),
                       ACTIVATE_XML)
    ev = response_evidence("/SDK/activateStatus", resp, default_plan().headers, True)
    assert Evidence("http.path", "/SDK/activateStatus", "ActivateStatus Activated=false") in ev
    assert Evidence("http.header_style", "names", "uppercase") in ev


# --------------------------------------------------------------------------------------------- data file
def test_packaged_plan():
    plan = default_plan()
    assert plan.paths[0].path == "/"
    paths = [p.path for p in plan.paths]
    assert "/SDK/activateStatus" in paths
    assert not any("login" in p.lower() and "rpc" in p.lower() for p in paths)
    assert 80 in plan.http_ports and 443 in plan.https_ports and 8000 not in plan.http_ports
    assert plan.services([443, 80, 554]) == [("http", 80), ("https", 443)]


@pytest.mark.parametrize("path", ["http://other/", "//other/x", "/a?auth=YWRtaW4", "/a b", "x"])
def test_plan_refuses_paths_that_are_not_local_paths(tmp_path: Path, path: str):
    f = tmp_path / "p.toml"
    f.write_text(f'[[path]]\npath = "/"\nsource = "s"\n[[path]]\npath = "{path}"\nsource = "s"\n')
    with pytest.raises(DataError):
        load_plan(f)


def test_http_services_from_sweep_and_discovery():
    host = Host(ip="127.0.0.1",
                evidence=(Evidence("sadp", "http_port", "81"), Evidence("dhip", "http_port", "x")),
                xaddrs=("http://127.0.0.1:8999/onvif/device_service", "http://192.0.2.1/onvif/device_service"))
    assert http_services(host, [80, 554, 443]) == [("http", 80), ("https", 443), ("http", 81), ("http", 8999)]


# ------------------------------------------------------------------------------------------ loopback
class Device(BaseHTTPRequestHandler):
    """A camera-like web server: routes below, requests recorded."""

    requests: list[tuple[str, dict]] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        Device.requests.append((self.path, dict(self.headers)))
        if self.path == "/":
            self._send(302, b"", [("Location", "/doc/page/login.asp?_1234")])
        elif self.path.startswith("/doc/page/login.asp"):
            self._send(200, b"<html><head><title>Login</title></head></html>",
                       [("Content-Type", "text/html")])
        elif self.path == "/SDK/activateStatus":
            self._send(200, ACTIVATE_XML, [("Content-Type", "application/xml")])
        elif self.path == "/dahua":
            # Dahua style: no Server header, upper-case names, two challenges in two headers.
            self.send_response_only(401)
            for k, v in [("CONNECTION", "close"), ("CONTENT-LENGTH", "0"), ("CACHE-CONTROL", "max-age=0"),
                         ("WWW-AUTHENTICATE",
                          'Digest realm="Login to 5A00000PAZ00011", qop="auth", nonce="1"'),
                         ("WWW-AUTHENTICATE", 'Basic realm="Login to 5A00000PAZ00011"')]:
                self.send_header(k, v)
            self.end_headers()
        elif self.path == "/away":
            self._send(302, b"", [("Location", "http://192.0.2.99/steal")])
        else:
            self._send(404, b"<title>404 Not Found</title>", [("Content-Type", "text/html")])

    def _send(self, code: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(code)
        self.send_header("Server", "App-webs/")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    Device.requests = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Device)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join(5)


def test_loopback_probe(server):
    result = HttpProbe(timeout=2).probe("127.0.0.1", [("http", server)])
    ev = result.evidence
    assert Evidence("http.status", "/", "302") in ev
    assert Evidence("http.redirect", "/", "/doc/page/login.asp?_1234") in ev
    assert Evidence("http.title", "/doc/page/login.asp", "Login") in ev  # the one same-host redirect followed
    assert Evidence("http.header", "server", "App-webs/") in ev
    assert Evidence("http.path", "/SDK/activateStatus", "ActivateStatus Activated=false") in ev
    assert result.skips == []
    for _path, headers in Device.requests:
        assert "Authorization" not in headers and "Cookie" not in headers


def test_redirect_to_another_host_is_recorded_not_followed(server):
    plan = load_plan()
    plan = HttpPlan(plan.http_ports, plan.https_ports,
                    (plan.paths[0], type(plan.paths[0])("/away", "test", "test")), plan.headers)
    # Following it would reach 192.0.2.99: the conftest guard would fail the test.
    result = HttpProbe(timeout=2, plan=plan).probe("127.0.0.1", [("http", server)])
    assert Evidence("http.redirect", "/away", "http://192.0.2.99/steal") in result.evidence
    assert [p for p, _h in Device.requests].count("/away") == 1


def test_raw_header_case_and_repeated_headers_survive(server):
    plan = load_plan()
    plan = HttpPlan(plan.http_ports, plan.https_ports,
                    (type(plan.paths[0])("/dahua", "test", "test"),), plan.headers)
    result = HttpProbe(timeout=2, plan=plan).probe("127.0.0.1", [("http", server)])
    assert Evidence("http.header_style", "names", "uppercase") in result.evidence
    assert Evidence("http.realm", "digest", "Login to 5A00000PAZ00011") in result.evidence
    assert Evidence("http.realm", "basic", "Login to 5A00000PAZ00011") in result.evidence
    assert not any(e.field == "server" for e in result.evidence)


def test_refused_port_is_one_skip():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = HttpProbe(timeout=1).probe("127.0.0.1", [("http", port)])
    assert result.evidence == []
    assert len(result.skips) == 1 and "refused" in result.skips[0].reason


def test_not_an_address_is_refused():
    result = HttpProbe(timeout=1).probe("camera.example", [("http", 80)])
    assert result.skips and result.skips[0].reason == "not an IPv4 address"


class _Dribbler:
    """Answers every connection with one header byte every 50 ms, forever (a slowloris device)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        conns = []
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
                c.sendall(b"HTTP/1.1 200 OK\r\n")
                conns.append(c)
                self.accepted += 1
            except TimeoutError:
                pass
            for c in list(conns):
                try:
                    c.sendall(b"X")
                except OSError:
                    conns.remove(c)
            time.sleep(0.05)
        for c in conns:
            c.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_wall_clock_cap_stops_a_dribbling_device():
    d = _Dribbler()
    try:
        probe = HttpProbe(timeout=1.0, wall=0.6)
        result = probe.probe("127.0.0.1", [("http", d.port)])
    finally:
        d.close()
    assert d.accepted == 1  # one request (the root failed, the family paths are not tried), capped
    assert result.skips and "wall-clock" in result.skips[0].reason


class _BigBody(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<title>big</title>")
        try:
            for _ in range(4000):
                self.wfile.write(b"x" * 1024)
        except OSError:
            pass


def test_body_is_capped():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _BigBody)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        result = HttpProbe(timeout=2, max_bytes=4096).probe("127.0.0.1", [("http", srv.server_address[1])])
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)
    assert Evidence("http.title", "/", "big") in result.evidence


